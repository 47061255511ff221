/* test_color_aug.c — sd-scripts' color_aug (engine/data/color_aug.h) against cv2: the 8-bit
 * BGR↔HSV conversions over every colour (FNV-1a of all outputs, from
 * tests/golden/make_data_subsets_fixtures.py; HSV2BGR on cv2's scalar and vector paths), the
 * hue shifts and gammas of sd-scripts'
 * AugHelper on a real image (committed PNGs, byte-exact), image_prepare applying the draw
 * before the flip, the draw's odds (p 0.33, half hue, half gamma, in range), and the batches
 * drawing it only for subsets with color_aug. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/data/batches.h"
#include "engine/data/color_aug.h"
#include "engine/data/image_load.h"
#include "engine/data/image_resize.h"

static char dir[1024];

static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static void test_conversions(uint64_t want_hsv, uint64_t want_scalar, uint64_t want_vector)
{
    uint64_t h = 0xcbf29ce484222325ull;
    uint8_t in[3], out[3];
    for (int b = 0; b < 256; b++)
        for (int g = 0; g < 256; g++)
            for (int r = 0; r < 256; r++) {
                in[0] = (uint8_t)b, in[1] = (uint8_t)g, in[2] = (uint8_t)r;
                color_aug_bgr2hsv(in, out);
                h = fnv(h, out, 3);
            }
    CHECK(h == want_hsv, "BGR2HSV over all colours: %016llx, cv2 %016llx", (unsigned long long)h,
          (unsigned long long)want_hsv);
    for (int vector = 0; vector < 2; vector++) {
        h = 0xcbf29ce484222325ull;
        for (int hh = 0; hh < 180; hh++)
            for (int s = 0; s < 256; s++)
                for (int v = 0; v < 256; v++) {
                    in[0] = (uint8_t)hh, in[1] = (uint8_t)s, in[2] = (uint8_t)v;
                    color_aug_hsv2bgr(in, out, vector);
                    h = fnv(h, out, 3);
                }
        uint64_t want = vector ? want_vector : want_scalar;
        CHECK(h == want, "HSV2BGR (%s) over all (h, s, v): %016llx, cv2 %016llx",
              vector ? "vector" : "scalar", (unsigned long long)h, (unsigned long long)want);
    }
    /* cv2 gets these only with the fused 1 - s·h: (1, 153, 25) → BGR (10, 10, 25) rounded;
     * the vector code truncates (0, 1, 1) → (0, 0, 1) where the scalar code gives (1, 1, 1) */
    in[0] = 1, in[1] = 153, in[2] = 25;
    color_aug_hsv2bgr(in, out, false);
    CHECK(out[0] == 10 && out[1] == 10 && out[2] == 25, "hsv2bgr(1,153,25) = %d %d %d", out[0],
          out[1], out[2]);
    in[0] = 0, in[1] = 1, in[2] = 1;
    color_aug_hsv2bgr(in, out, true);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 1, "vector hsv2bgr(0,1,1) = %d %d %d", out[0],
          out[1], out[2]);
    color_aug_hsv2bgr(in, out, false);
    CHECK(out[0] == 1 && out[1] == 1 && out[2] == 1, "scalar hsv2bgr(0,1,1) = %d %d %d", out[0],
          out[1], out[2]);
}

static int load_png(const char *name, image_rgb8 *img)
{
    char path[1200];
    error_info err = {0};
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (image_load(path, NULL, img, &err) != 0) {
        CHECK(0, "load %s: %s", path, err.message);
        return -1;
    }
    return 0;
}

static void test_case(const char *kind, double amount, const char *src_name, const char *want_name)
{
    char src_path[1100];
    snprintf(src_path, sizeof src_path, "../data/%s", src_name);
    image_rgb8 src, want;
    if (load_png(src_path, &src) != 0)
        return;
    if (load_png(want_name, &want) != 0) {
        image_free(&src);
        return;
    }
    color_aug a = {strcmp(kind, "hue") == 0 ? COLOR_AUG_HUE : COLOR_AUG_GAMMA, amount};
    uint8_t lut[256];
    if (a.kind == COLOR_AUG_GAMMA)
        color_aug_gamma_lut(&a, lut);
    /* 37 columns: 0..31 go through cv2's vector code, 32..36 through its scalar code */
    size_t n = (size_t)src.width * src.height, bad = 0;
    int vector_end = src.width - src.width % COLOR_AUG_CV_LANES;
    for (size_t i = 0; i < n; i++) {
        uint8_t px[3] = {src.data[3 * i], src.data[3 * i + 1], src.data[3 * i + 2]};
        color_aug_pixel(&a, lut, px, (int)(i % (size_t)src.width) < vector_end);
        bad += memcmp(px, want.data + 3 * i, 3) != 0;
    }
    CHECK(bad == 0, "%s %g: %zu of %zu pixels differ from sd-scripts'", kind, amount, bad, n);

    /* image_prepare: no resize (bucket = image), the draw applied, then the flip */
    image_placement p = {.bucket = {src.width, src.height}, .resized = {src.width, src.height},
                         .flip = true, .color = a};
    float *chw = malloc(sizeof(float) * 3 * n);
    error_info err = {0};
    CHECK(image_prepare(&src, &p, RESIZE_AUTO, chw, &err) == 0, "prepare: %s", err.message);
    size_t wrong = 0;
    for (int y = 0; y < src.height; y++)
        for (int x = 0; x < src.width; x++)
            for (int c = 0; c < 3; c++) {
                uint8_t v = want.data[((size_t)y * src.width + (src.width - 1 - x)) * 3 + c];
                float f = chw[(size_t)c * n + (size_t)y * src.width + x];
                wrong += f != ((float)v / 255.0f - 0.5f) / 0.5f;
            }
    CHECK(wrong == 0, "%s %g: image_prepare differs at %zu values", kind, amount, wrong);
    free(chw);
    image_free(&src);
    image_free(&want);
}

static void test_draws(void)
{
    int none = 0, hue = 0, gamma = 0;
    for (uint32_t i = 0; i < 30000; i++) {
        data_rng r = data_rng_make(99, DATA_RNG_SAMPLE, 1, i);
        color_aug a = color_aug_draw(&r);
        if (a.kind == COLOR_AUG_NONE)
            none++;
        else if (a.kind == COLOR_AUG_HUE) {
            hue++;
            CHECK((a.amount >= 0 && a.amount <= 8) || (a.amount >= 172 && a.amount < 180),
                  "hue shift %g", a.amount);
        } else {
            gamma++;
            CHECK(a.amount >= 0.95 && a.amount <= 1.05, "gamma %g", a.amount);
        }
    }
    /* 0.33 · 30000 = 9900 augmented (σ ≈ 81), half of them hue */
    CHECK(hue + gamma > 9500 && hue + gamma < 10300, "augmented %d of 30000", hue + gamma);
    CHECK(hue > 4600 && gamma > 4600, "hue %d gamma %d", hue, gamma);
    (void)none;
}

static void test_batches(void)
{
    static dataset_image imgs[2] = {{.path = "/nonexistent/c/0.png", .width = 64, .height = 64},
                                    {.path = "/nonexistent/p/0.png", .width = 64, .height = 64}};
    static dataset_subset subs[2];
    subs[0] = (dataset_subset){.image_dir = "/nonexistent/c", .class_tokens = "", .num_repeats = 50,
                               .caption_extension = ".txt", .has_options = true,
                               .opt = {.color_aug = true}, .images = &imgs[0], .image_count = 1};
    subs[1] = (dataset_subset){.image_dir = "/nonexistent/p", .class_tokens = "", .num_repeats = 50,
                               .caption_extension = ".txt", .has_options = true,
                               .images = &imgs[1], .image_count = 1};
    dataset_group g = {.buckets = {64, 64, 64, 64, 64, false, false}, .batch_size = 4,
                       .subsets = subs, .subset_count = 2};
    dataset_set set = {.groups = &g, .group_count = 1};
    batch_settings s = {.prior_loss_weight = 1};
    batches b;
    error_info err = {0};
    CHECK(batches_init(&b, &set, &s, 5, &err) == 0, "batches: %s", err.message);
    batches_epoch(&b, 1);
    batch bt;
    int aug_c = 0, aug_p = 0;
    while (batches_next(&b, &bt, &err) == 1)
        for (int i = 0; i < bt.count; i++) {
            bool c = strstr(bt.samples[i].image_path, "/c/") != NULL;
            if (bt.samples[i].place.color.kind != COLOR_AUG_NONE)
                (void)(c ? aug_c++ : aug_p++);
        }
    CHECK(aug_c > 5 && aug_c < 30 && aug_p == 0, "augmented: color_aug subset %d of 50, other %d",
          aug_c, aug_p);
    batches_free(&b);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(dir, sizeof dir, "%s/tests/fixtures/data_subsets", top ? top : ".");
    char path[1100];
    snprintf(path, sizeof path, "%s/color_aug.txt", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "no %s", path);
    if (!f)
        return 1;
    char line[512], kind[16], src[256], want[256];
    unsigned long long hsv = 0, scalar = 0, vector = 0;
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        double amount;
        if (sscanf(line, "hsv %llx", &hsv) == 1 || sscanf(line, "bgr_scalar %llx", &scalar) == 1 ||
            sscanf(line, "bgr_vector %llx", &vector) == 1)
            continue;
        if (sscanf(line, "aug %15s %lf %255s %255s", kind, &amount, src, want) == 4) {
            test_case(kind, amount, src, want);
            cases++;
        }
    }
    fclose(f);
    CHECK(hsv && scalar && vector && cases == 7, "fixture: %d cases", cases);
    test_conversions(hsv, scalar, vector);
    test_draws();
    test_batches();
    return failures != 0;
}
