/* test_loss_mask.c — masked_loss's mask pipeline and loss (engine/data/loss_mask.h,
 * image_prepare_alpha, latent_cache with alpha_mask, k_loss_*_masked):
 *   - the area average by hand (a 4x4 into 2x2, a 5x3 into 2x2 with overlapping windows)
 *     and against torch's F.interpolate(mode="area") (tests/fixtures/masked_loss/area.txt);
 *     flipping before or after the average gives the same floats;
 *   - a conditioning image's R value → (r / 255 − 0.5) / 0.5 / 2 + 0.5: 0 → 0, 255 → 1, the
 *     rest within 1e-7 of r / 255;
 *   - the mask is placed like its image: an alpha plane (cv2 filters) and a conditioning
 *     image equal to the image's R channel give the R channel's mask through resize, centre
 *     and off-centre crops and flips; PIL's RGBA resize (premultiplied colours, lanczos and
 *     box) byte for byte against Pillow (make_masked_loss_fixtures.py); an image without
 *     alpha masks nothing; a conditioning image of the wrong size is refused;
 *   - keep_alpha loads the stored colours and the alpha plane;
 *   - the latent cache keeps the alpha mask on disk, reads it back, and re-encodes when
 *     alpha_mask is switched (the latents change: stored colours instead of white);
 *   - the masked loss: a case worked by hand, a mask of ones equals the unmasked loss and
 *     gradient bit for bit, the gradient is zero exactly where the mask is 0 and matches
 *     finite differences elsewhere (l2, l1, huber). */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <stb_image_write.h>

#include "engine/data/image_load.h"
#include "engine/data/latent_cache.h"
#include "engine/data/loss_mask.h"
#include "kernels/ops_loss.h"

static char tmp[256];

static void fixture(char *out, size_t n, const char *name)
{
    const char *top = getenv("top_srcdir");
    snprintf(out, n, "%s/tests/fixtures/masked_loss/%s", top ? top : ".", name);
}

static void load(const char *path, bool keep_alpha, image_rgb8 *img)
{
    error_info err = {0};
    image_load_options o = {.keep_alpha = keep_alpha};
    if (image_load(path, &o, img, &err) != 0)
        fail_msg("%s: %s", path, err.message);
}

static void test_area_by_hand(void **state)
{
    (void)state;
    const float a[16] = {1, 2, 3, 4,
                         5, 6, 7, 8,
                         9, 10, 11, 12,
                         13, 14, 15, 16};
    float o[4];
    loss_mask_area(a, 4, 4, o, 2, 2);
    /* (1+2+5+6)/4, (3+4+7+8)/4, (9+10+13+14)/4, (11+12+15+16)/4 */
    const float want[4] = {3.5f, 5.5f, 11.5f, 13.5f};
    for (int i = 0; i < 4; i++)
        assert_true(o[i] == want[i]);
    /* 5 rows into 2: rows 0..2 and 2..4 (floor(i·5/2) .. ceil((i+1)·5/2)); 3 columns into
     * 2: columns 0..1 and 1..2 */
    const float b[15] = {0, 1, 2,
                         3, 4, 5,
                         6, 7, 8,
                         9, 10, 11,
                         12, 13, 14};
    loss_mask_area(b, 5, 3, o, 2, 2);
    const float want2[4] = {(0 + 1 + 3 + 4 + 6 + 7) / 6.0f, (1 + 2 + 4 + 5 + 7 + 8) / 6.0f,
                            (6 + 7 + 9 + 10 + 12 + 13) / 6.0f, (7 + 8 + 10 + 11 + 13 + 14) / 6.0f};
    for (int i = 0; i < 4; i++)
        assert_float_equal(o[i], want2[i], 1e-6);
    /* the same size copies */
    loss_mask_area(a, 4, 4, o, 1, 1);
    assert_true(o[0] == 8.5f);
}

/* torch's area interpolation of the fixture's alpha plane */
static void test_area_torch(void **state)
{
    (void)state;
    char path[600];
    fixture(path, sizeof path, "rgba_37x29.png");
    image_rgb8 img;
    load(path, true, &img);
    assert_non_null(img.alpha);
    float *m = malloc(sizeof *m * (size_t)img.width * img.height);
    for (int i = 0; i < img.width * img.height; i++)
        m[i] = (float)img.alpha[i] / 255.0f;
    fixture(path, sizeof path, "area.txt");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int H, W, h, w, cases = 0;
    while (fscanf(f, "%d %d %d %d", &H, &W, &h, &w) == 4) {
        assert_int_equal(H, img.height);
        assert_int_equal(W, img.width);
        float got[64], flipped[64], mirrored[64];
        loss_mask_area(m, H, W, got, h, w);
        for (int i = 0; i < h * w; i++) {
            float want;
            assert_int_equal(fscanf(f, "%f", &want), 1);
            if (fabsf(got[i] - want) > 2e-7f)
                fail_msg("%dx%d → %dx%d [%d]: %.9g, torch %.9g", W, H, w, h, i, got[i], want);
        }
        /* flip then average = average then flip, exactly */
        float *fm = malloc(sizeof *fm * (size_t)W * H);
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                fm[y * W + x] = m[y * W + W - 1 - x];
        loss_mask_area(fm, H, W, flipped, h, w);
        memcpy(mirrored, got, sizeof(float) * (size_t)(h * w));
        loss_mask_flip(mirrored, h, w);
        assert_memory_equal(flipped, mirrored, sizeof(float) * (size_t)(h * w));
        free(fm);
        cases++;
    }
    fclose(f);
    assert_int_equal(cases, 2);
    free(m);
    image_free(&img);
}

static void test_r_channel(void **state)
{
    (void)state;
    assert_true(loss_mask_from_r(0) == 0.0f);
    assert_true(loss_mask_from_r(255) == 1.0f);
    for (int r = 0; r < 256; r++)
        assert_float_equal(loss_mask_from_r((uint8_t)r), r / 255.0, 1e-7);
    /* sd-scripts' documentation: 127 weighs about 0.5 */
    assert_float_equal(loss_mask_from_r(127), 0.498, 1e-3);
}

/* A 37x29 RGB source whose R equals a pattern, written as an RGBA PNG (alpha = R) and as a
 * conditioning PNG (R, with G and B unrelated). */
static void write_sources(const char *rgba_path, const char *cond_path, const char *plain_path)
{
    int w = 37, h = 29;
    unsigned char *rgba = malloc((size_t)w * h * 4), *rgb = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            unsigned char r = (unsigned char)((x * 7 + y * 13 + (x * y) % 11) * 3 % 256);
            unsigned char *o = rgba + ((size_t)y * w + x) * 4, *c = rgb + ((size_t)y * w + x) * 3;
            o[0] = r, o[1] = (unsigned char)(x * 6), o[2] = (unsigned char)(y * 8), o[3] = r;
            c[0] = r, c[1] = (unsigned char)(255 - r), c[2] = (unsigned char)(x + y);
        }
    assert_int_not_equal(stbi_write_png(rgba_path, w, h, 4, rgba, w * 4), 0);
    assert_int_not_equal(stbi_write_png(cond_path, w, h, 3, rgb, w * 3), 0);
    for (size_t i = 0; i < (size_t)w * h; i++)   /* an opaque image: no alpha channel */
        memcpy(rgb + i * 3, rgba + i * 4, 3);
    assert_int_not_equal(stbi_write_png(plain_path, w, h, 3, rgb, w * 3), 0);
    free(rgba);
    free(rgb);
}

/* The masks follow the image: for each placement the alpha mask, the conditioning mask and
 * the image's own R channel (through the same transform, R → mask weight) agree. */
static void test_mask_follows_image(void **state)
{
    (void)state;
    char rgba_path[400], cond_path[400], plain_path[400];
    snprintf(rgba_path, sizeof rgba_path, "%s/img.png", tmp);
    snprintf(cond_path, sizeof cond_path, "%s/cond.png", tmp);
    snprintf(plain_path, sizeof plain_path, "%s/plain.png", tmp);
    write_sources(rgba_path, cond_path, plain_path);
    image_rgb8 img, plain;
    load(rgba_path, true, &img);
    load(plain_path, true, &plain);
    assert_non_null(img.alpha);
    assert_null(plain.alpha);
    /* keep_alpha: the stored colours (R = alpha, so compositing on white would change them) */
    image_rgb8 comp;
    load(rgba_path, false, &comp);
    assert_memory_not_equal(img.data, comp.data, (size_t)img.width * img.height * 3);
    image_free(&comp);
    struct { bucket_reso bucket, resized; int cx, cy; bool flip; resize_interp interp; } cases[] = {
        {{32, 24}, {32, 25}, -1, -1, false, RESIZE_AUTO},    /* area down, centre crop */
        {{32, 24}, {32, 25}, -1, -1, true, RESIZE_AUTO},     /* flipped */
        {{16, 16}, {21, 16}, 3, 0, true, RESIZE_AUTO},       /* off-centre crop (random_crop) */
        {{40, 32}, {41, 32}, 1, 0, false, RESIZE_BILINEAR},  /* enlarged */
        {{24, 24}, {37, 29}, 7, 2, true, RESIZE_AUTO},       /* crop only */
        {{32, 24}, {32, 25}, -1, -1, true, RESIZE_BICUBIC},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        image_placement p = {.bucket = cases[k].bucket, .resized = cases[k].resized,
                             .flip = cases[k].flip};
        image_placement_center(&p);
        if (cases[k].cx >= 0)
            p.crop_x = cases[k].cx, p.crop_y = cases[k].cy;
        int bw = p.bucket.width, bh = p.bucket.height, f = 8, h = bh / f, w = bw / f;
        size_t n = (size_t)bw * bh;
        float *chw = malloc(sizeof *chw * 3 * n), *alpha = malloc(sizeof *alpha * n);
        float *work = malloc(sizeof *work * 3 * n), *want = malloc(sizeof *want * n);
        float m_alpha[64], m_cond[64], m_want[64], m_plain[64];
        error_info err = {0};
        assert_int_equal(image_prepare_alpha(&img, &p, cases[k].interp, chw, alpha, &err), 0);
        for (size_t i = 0; i < n; i++)   /* the image's R through the same transform */
            want[i] = chw[i] / 2.0f + 0.5f;
        loss_mask_area(want, bh, bw, m_want, h, w);
        loss_mask_area(alpha, bh, bw, m_alpha, h, w);
        if (loss_mask_condition(cond_path, 37, 29, &p, cases[k].interp, f, work, m_cond, &err) != 0)
            fail_msg("condition: %s", err.message);
        for (int i = 0; i < h * w; i++) {
            if (fabsf(m_alpha[i] - m_want[i]) > 1e-6f || fabsf(m_cond[i] - m_want[i]) > 1e-6f)
                fail_msg("case %zu [%d]: alpha %.9g, conditioning %.9g, image R %.9g", k, i,
                         m_alpha[i], m_cond[i], m_want[i]);
        }
        /* an image without alpha: ones */
        assert_int_equal(image_prepare_alpha(&plain, &p, cases[k].interp, NULL, alpha, &err), 0);
        loss_mask_area(alpha, bh, bw, m_plain, h, w);
        for (int i = 0; i < h * w; i++)
            assert_true(m_plain[i] == 1.0f);
        free(chw), free(alpha), free(work), free(want);
    }
    /* a conditioning image of another size than its training image */
    image_placement p = {.bucket = {32, 24}, .resized = {32, 25}};
    image_placement_center(&p);
    float work[3 * 32 * 24], m[12];
    error_info err = {0};
    assert_int_equal(loss_mask_condition(cond_path, 38, 29, &p, RESIZE_AUTO, 8, work, m, &err), -1);
    assert_non_null(strstr(err.message, "37x29"));
    assert_string_equal(err.key, "conditioning_data_dir");
    image_free(&img);
    image_free(&plain);
}

/* PIL resizes RGBA premultiplied: lanczos and box against Pillow, byte for byte. */
static void test_pil_rgba(void **state)
{
    (void)state;
    const struct { const char *name; int w, h; resize_interp interp; } cases[] = {
        {"rgba_37x29_61x47_lanczos.png", 61, 47, RESIZE_LANCZOS},
        {"rgba_37x29_23x40_box.png", 23, 40, RESIZE_BOX},
    };
    char path[600];
    fixture(path, sizeof path, "rgba_37x29.png");
    image_rgb8 src;
    load(path, true, &src);
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        image_rgb8 want, got;
        fixture(path, sizeof path, cases[k].name);
        load(path, true, &want);
        error_info err = {0};
        assert_int_equal(image_resize(&src, cases[k].w, cases[k].h, cases[k].interp, &got, &err), 0);
        size_t n = (size_t)cases[k].w * cases[k].h;
        assert_non_null(got.alpha);
        assert_memory_equal(got.alpha, want.alpha, n);
        size_t bad = 0;
        for (size_t i = 0; i < n * 3; i++)
            bad += got.data[i] != want.data[i];
        if (bad)
            fail_msg("%s: %zu of %zu colour bytes differ from Pillow", cases[k].name, bad, n * 3);
        image_free(&want);
        image_free(&got);
    }
    image_free(&src);
}

static int calls;

static int stub_encode(void *ctx, const float *chw, int H, int W, float *lat, error_info *err)
{
    (void)ctx, (void)err;
    calls++;
    for (int y = 0; y < H / 8; y++)
        for (int x = 0; x < W / 8; x++)
            lat[y * (W / 8) + x] = chw[(size_t)y * 8 * W + x * 8];
    return 0;
}

static void test_latent_cache_alpha(void **state)
{
    (void)state;
    char image[400];
    snprintf(image, sizeof image, "%s/cached.png", tmp);
    char cond[400], plain[400];
    snprintf(cond, sizeof cond, "%s/cond2.png", tmp);
    snprintf(plain, sizeof plain, "%s/plain2.png", tmp);
    write_sources(image, cond, plain);
    latent_encoder enc = {stub_encode, NULL, 1, 8, "vae|1|1"};
    image_placement p = {.bucket = {32, 24}, .resized = {32, 25}};
    image_placement_center(&p);
    error_info err = {0};
    latent_entry e1, e2, e3;
    calls = 0;
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, true, true, &e1, &err), 0);
    assert_int_equal(calls, 2);
    assert_non_null(e1.mask);
    /* the mask is the area average of the placed alpha */
    image_rgb8 img;
    load(image, true, &img);
    float alpha[32 * 24], chw[3 * 32 * 24], want[12];
    assert_int_equal(image_prepare_alpha(&img, &p, RESIZE_AUTO, chw, alpha, &err), 0);
    loss_mask_area(alpha, 24, 32, want, 3, 4);
    assert_memory_equal(e1.mask, want, sizeof want);
    /* the latents came from the stored colours */
    for (int i = 0; i < 12; i++)
        assert_true(e1.latents[i] == chw[(i / 4) * 8 * 32 + (i % 4) * 8]);
    image_free(&img);
    /* read back from disk with the mask */
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, true, true, &e2, &err), 0);
    assert_int_equal(calls, 2);
    assert_true(e2.from_disk);
    assert_memory_equal(e2.mask, e1.mask, sizeof want);
    assert_memory_equal(e2.latents, e1.latents, 12 * sizeof(float));
    latent_entry_free(&e2);
    /* alpha_mask off: re-encoded from the colours composited on white, no mask */
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, false, true, &e3, &err), 0);
    assert_int_equal(calls, 4);
    assert_false(e3.from_disk);
    assert_null(e3.mask);
    assert_memory_not_equal(e3.latents, e1.latents, 12 * sizeof(float));
    /* and on again: re-encoded once more */
    assert_int_equal(latent_cache_get(&enc, image, &p, RESIZE_AUTO, true, true, true, &e2, &err), 0);
    assert_int_equal(calls, 6);
    assert_memory_equal(e2.mask, e1.mask, sizeof want);
    latent_entry_free(&e1);
    latent_entry_free(&e2);
    latent_entry_free(&e3);
}

/* pred − target for one sample of C = 2 channels of 1x2: d = (1, 2 | 3, 4), mask (1, 0.5) */
static void test_loss_by_hand(void **state)
{
    (void)state;
    const float pred[8] = {1, 2, 3, 4, 0, 0, 0, 2}, target[8] = {0};
    const float mask[4] = {1, 0.5f, 0, 1};
    const float weight[2] = {2, 1};
    float loss, per[2];
    /* l2: (1·1 + 4·0.5 + 9·1 + 16·0.5) / 4 = 5, ×2 = 10; sample 2: (0 + 0 + 0 + 4·1) / 4 = 1 */
    k_loss_forward_masked(&loss, per, pred, target, weight, NULL, mask, 2, K_LOSS_L2, 2, 4);
    assert_true(per[0] == 10.0f);
    assert_true(per[1] == 1.0f);
    assert_true(loss == 5.5f);
    /* l1: (1 + 1 + 3 + 2) / 4 · 2 = 3.5 */
    k_loss_forward_masked(&loss, per, pred, target, weight, NULL, mask, 2, K_LOSS_L1, 1, 4);
    assert_true(per[0] == 3.5f);
    /* gradient of the l2 batch loss: 2 d · w · m / (N · M) */
    float g[8] = {0}, one = 1.0f;
    k_loss_backward_masked(g, &one, pred, target, weight, NULL, mask, 2, K_LOSS_L2, 2, 4);
    const float want[8] = {0.5f, 0.5f, 1.5f, 1.0f, 0, 0, 0, 0.5f};
    for (int i = 0; i < 8; i++)
        assert_float_equal(g[i], want[i], 1e-7);
}

static float frand(unsigned *s)
{
    *s = *s * 1664525u + 1013904223u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

static void test_loss_ones_and_gradient(void **state)
{
    (void)state;
    enum { N = 3, C = 4, HW = 20, M = C * HW };
    float pred[N * M], target[N * M], ones[N * HW], mask[N * HW], weight[N], c[N];
    unsigned seed = 11;
    for (int i = 0; i < N * M; i++)
        pred[i] = frand(&seed), target[i] = frand(&seed);
    for (int i = 0; i < N * HW; i++) {
        ones[i] = 1.0f;
        mask[i] = i % 3 == 0 ? 0.0f : (float)(i % 7) / 6.0f;
    }
    for (int n = 0; n < N; n++)
        weight[n] = 0.5f + (float)n, c[n] = 0.1f + 0.2f * (float)n;
    for (int t = K_LOSS_L2; t <= K_LOSS_HUBER; t++) {
        float l0, l1, p0[N], p1[N], g0[N * M] = {0}, g1[N * M] = {0}, gm[N * M] = {0}, dl = 0.7f;
        k_loss_forward(&l0, p0, pred, target, weight, c, (k_loss_type)t, N, M);
        k_loss_forward_masked(&l1, p1, pred, target, weight, c, ones, HW, (k_loss_type)t, N, M);
        assert_memory_equal(&l0, &l1, sizeof l0);
        assert_memory_equal(p0, p1, sizeof p0);
        k_loss_backward(g0, &dl, pred, target, weight, c, (k_loss_type)t, N, M);
        k_loss_backward_masked(g1, &dl, pred, target, weight, c, ones, HW, (k_loss_type)t, N, M);
        assert_memory_equal(g0, g1, sizeof g0);
        k_loss_backward_masked(gm, &dl, pred, target, weight, c, mask, HW, (k_loss_type)t, N, M);
        for (int n = 0; n < N; n++)
            for (int i = 0; i < M; i++) {
                size_t at = (size_t)n * M + i;
                float m = mask[n * HW + i % HW];
                if (m == 0.0f) {
                    assert_true(gm[at] == 0.0f);
                    continue;
                }
                /* finite differences of dl · loss in double */
                double h = 1e-3, lp, lm;
                float saved = pred[at], l;
                pred[at] = saved + (float)h;
                k_loss_forward_masked(&l, NULL, pred, target, weight, c, mask, HW, (k_loss_type)t, N, M);
                lp = l;
                pred[at] = saved - (float)h;
                k_loss_forward_masked(&l, NULL, pred, target, weight, c, mask, HW, (k_loss_type)t, N, M);
                lm = l;
                pred[at] = saved;
                double fd = dl * (lp - lm) / (2 * h);
                if (fabs(fd - gm[at]) > 2e-4 + 1e-2 * fabs(fd))
                    fail_msg("%s [%zu]: gradient %.7g, finite differences %.7g",
                             k_loss_type_name((k_loss_type)t), at, gm[at], fd);
            }
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "%s/loratty-loss-mask.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_area_by_hand),
        cmocka_unit_test(test_area_torch),
        cmocka_unit_test(test_r_channel),
        cmocka_unit_test(test_mask_follows_image),
        cmocka_unit_test(test_pil_rgba),
        cmocka_unit_test(test_latent_cache_alpha),
        cmocka_unit_test(test_loss_by_hand),
        cmocka_unit_test(test_loss_ones_and_gradient),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
