/* test_latent_cache.c — cache_latents_to_disk (latent_cache.h) with a stub encoder (8x8 mean
 * pooling into 4 channels, counting its calls): the first request encodes (twice with
 * flip_aug) and writes `<stem>_<W>x<H>.loratty-latents`; the next reads it without encoding;
 * another VAE identity, another crop, a flip_aug change or a corrupt file re-encode; flipped
 * latents are the mirror of the plain ones; the VAE identity follows the file's size/mtime. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "engine/data/latent_cache.h"
#include "fileio.h"

static char tmp[256], image[400];
static int calls;

static int stub_encode(void *ctx, const float *chw, int H, int W, float *lat, error_info *err)
{
    (void)ctx, (void)err;
    calls++;
    int h = H / 8, w = W / 8;
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                double s = 0;
                for (int dy = 0; dy < 8; dy++)
                    for (int dx = 0; dx < 8; dx++)
                        s += chw[((size_t)(c % 3) * H + y * 8 + dy) * W + x * 8 + dx];
                lat[((size_t)c * h + y) * w + x] = (float)(s / 64.0 * (c + 1));
            }
    return 0;
}

static void test_disk_cache(void **state)
{
    (void)state;
    latent_encoder enc = {stub_encode, NULL, 4, 8, "vae-a|100|1"};
    image_placement p = {.bucket = {32, 24}, .resized = {32, 25}};
    image_placement_center(&p);
    error_info err = {0};
    latent_entry e1, e2;
    calls = 0;
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, false, true, &e1, &err), 0);
    assert_int_equal(calls, 2);
    assert_false(e1.from_disk);
    char path[600];
    assert_int_equal(latent_cache_path(image, p.bucket, path, sizeof path), 0);
    assert_non_null(strstr(path, "/src_32x24.loratty-latents"));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    /* mirror: 8-pixel blocks are aligned on a 32-wide bucket */
    for (int c = 0; c < 4; c++)
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 4; x++)
                assert_float_equal(e1.flipped[(c * 3 + y) * 4 + x], e1.latents[(c * 3 + y) * 4 + 3 - x], 1e-6);
    /* again: from the file, same values */
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, false, true, &e2, &err), 0);
    assert_int_equal(calls, 2);
    assert_true(e2.from_disk);
    assert_memory_equal(e1.latents, e2.latents, sizeof(float) * 4 * 3 * 4);
    assert_memory_equal(e1.flipped, e2.flipped, sizeof(float) * 4 * 3 * 4);
    latent_entry_free(&e2);
    /* another VAE: re-encoded, then cached again under the new identity */
    snprintf(enc.identity, sizeof enc.identity, "vae-b|100|2");
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, false, true, &e2, &err), 0);
    assert_int_equal(calls, 4);
    assert_false(e2.from_disk);
    latent_entry_free(&e2);
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, false, true, &e2, &err), 0);
    assert_int_equal(calls, 4);
    assert_true(e2.from_disk);
    latent_entry_free(&e2);
    /* another crop of the same bucket, and no flip_aug: re-encoded */
    p.crop_y = 1;
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, false, true, &e2, &err), 0);
    assert_int_equal(calls, 6);
    latent_entry_free(&e2);
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, false, false, true, &e2, &err), 0);
    assert_int_equal(calls, 7);
    assert_null(e2.flipped);
    latent_entry_free(&e2);
    /* a corrupt file is re-encoded and rewritten */
    assert_int_equal(fileio_write_atomic(path, "garbage", 7, &err), 0);
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, false, false, true, &e2, &err), 0);
    assert_int_equal(calls, 8);
    latent_entry_free(&e2);
    /* memory only: always encodes, writes nothing new */
    unlink(path);
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, false, false, false, &e2, &err), 0);
    assert_int_equal(calls, 9);
    assert_int_not_equal(stat(path, &st), 0);
    latent_entry_free(&e2);
    latent_entry_free(&e1);
    /* a bucket the VAE cannot encode, a missing image */
    image_placement bad = {.bucket = {30, 24}, .resized = {30, 24}};
    assert_int_equal(latent_cache_get(&enc, image, &bad, RESIZE_AUTO, false, false, false, &e2, &err), -1);
    assert_int_equal(latent_cache_get(&enc, "/nonexistent/x.png", &p, RESIZE_AUTO, false, false, false, &e2, &err), -1);
}

static void test_vae_identity(void **state)
{
    (void)state;
    char vae[400], id1[600], id2[600];
    snprintf(vae, sizeof vae, "%s/vae.safetensors", tmp);
    error_info err = {0};
    assert_int_equal(fileio_write_atomic(vae, "1234", 4, &err), 0);
    assert_int_equal(latent_vae_identity(vae, id1, sizeof id1, &err), 0);
    assert_int_equal(fileio_write_atomic(vae, "123456", 6, &err), 0);
    assert_int_equal(latent_vae_identity(vae, id2, sizeof id2, &err), 0);
    assert_string_not_equal(id1, id2);
    assert_int_equal(latent_vae_identity("/nonexistent/vae", id2, sizeof id2, &err), -1);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-latents-XXXXXX");
    assert_non_null(mkdtemp(tmp));
    const char *top = getenv("top_srcdir");
    char src[600];
    snprintf(src, sizeof src, "%s/tests/fixtures/data/src_37x29.png", top ? top : ".");
    snprintf(image, sizeof image, "%s/src.png", tmp);
    size_t len;
    error_info err = {0};
    char *data = fileio_read_all(src, &len, &err);
    if (!data || fileio_write_atomic(image, data, len, &err) != 0)
        return 1;
    free(data);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_cache),
        cmocka_unit_test(test_vae_identity),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        rc = 1;
    return rc;
}
