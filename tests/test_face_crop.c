/* test_face_crop.c — face_crop_aug_range (engine/data/face_crop.h): face boxes read from file
 * names as sd-scripts' load_image_with_face_info does, crop_target's placement worked out by
 * hand for fixed scales, the jitter's asymmetric floor-division bounds and random_crop's
 * clamps over many draws, the pixels of one crop against sd-scripts' (committed fixture,
 * within one level for OpenCV's area resize), and the batches using it only without
 * buckets, with sd-scripts' SDXL size conditioning of that path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "engine/data/batches.h"
#include "engine/data/face_crop.h"
#include "engine/data/image_load.h"

static void test_names(void)
{
    face_box f;
    CHECK(face_crop_parse_name("/d/img_300_262_210_180.png", &f) == 1 && f.cx == 300 && f.cy == 262 &&
          f.w == 210 && f.h == 180, "five fields");
    CHECK(face_crop_parse_name("/d/p_+5_-3_007_8.jpg", &f) == 1 && f.cx == 5 && f.cy == -3 && f.w == 7 &&
          f.h == 8, "signs and leading zeros as int()");
    CHECK(face_crop_parse_name("/d/b_c_d_e.png", &f) == 0 && f.cx == 0, "four fields: no face");
    CHECK(face_crop_parse_name("/a_b_c_d_e/photo.png", &f) == 0, "fields of the folder do not count");
    CHECK(face_crop_parse_name("/d/x_1_2_three_4.png", &f) == -1, "not a number");
    CHECK(face_crop_parse_name("/d/my_dog_1_2_3.png", &f) == -1, "'dog' is the fourth from last");
}

static void test_placements(void)
{
    image_placement p;
    data_rng r = data_rng_make(1, DATA_RNG_SAMPLE, 1, 0);
    bucket_reso t = {512, 512};
    /* 1024x768, face 200 at (600, 300), [2.5, 2.5]: 512 / 500 > 1 so scale 1; crop at
     * y = 300 - 256 = 44, x = 600 - 256 = 344 */
    CHECK(face_crop_place(1024, 768, t, (face_box){600, 300, 200, 150}, 2.5, 2.5, false, &r, &p) == 0 &&
          p.resized.width == 1024 && p.resized.height == 768 && p.crop_x == 344 && p.crop_y == 44,
          "scale 1: %dx%d at %d,%d", p.resized.width, p.resized.height, p.crop_x, p.crop_y);
    /* face 400, [2, 2]: min_scale max(512/768, 512/800) = 2/3 → 683x512; centre (400, 200);
     * y = 200 - 256 → 0, x = 144 */
    CHECK(face_crop_place(1024, 768, t, (face_box){600, 300, 400, 150}, 2, 2, false, &r, &p) == 0 &&
          p.resized.width == 683 && p.resized.height == 512 && p.crop_x == 144 && p.crop_y == 0,
          "scale 2/3: %dx%d at %d,%d", p.resized.width, p.resized.height, p.crop_x, p.crop_y);
    /* already the training size: as it is */
    CHECK(face_crop_place(512, 512, t, (face_box){100, 100, 50, 50}, 1, 3, true, &r, &p) == 0 &&
          p.resized.width == 512 && p.crop_x == 0 && p.crop_y == 0, "same size");
    /* smaller than the target: sd-scripts' assertion */
    CHECK(face_crop_place(400, 600, t, (face_box){100, 100, 50, 50}, 1, 3, false, &r, &p) == -1,
          "smaller image refused");

    /* jitter: 600x520, face 210 at (300, 262), [1, 2]: scale 1 (min_scale capped);
     * x = 44 + randint(-210 // 20 = -11, 10) → [33, 54]; y = 6 + [-11, 10] clamped to [0, 8] */
    int xmin = 1000, xmax = -1, ymin = 1000, ymax = -1;
    for (uint32_t i = 0; i < 4000; i++) {
        r = data_rng_make(3, DATA_RNG_SAMPLE, 1, i);
        face_crop_place(600, 520, t, (face_box){300, 262, 210, 180}, 1, 2, false, &r, &p);
        xmin = p.crop_x < xmin ? p.crop_x : xmin;
        xmax = p.crop_x > xmax ? p.crop_x : xmax;
        ymin = p.crop_y < ymin ? p.crop_y : ymin;
        ymax = p.crop_y > ymax ? p.crop_y : ymax;
    }
    CHECK(xmin == 33 && xmax == 54, "jitter x in [%d, %d], want [33, 54]", xmin, xmax);
    CHECK(ymin == 0 && ymax == 8, "jitter y in [%d, %d], want [0, 8]", ymin, ymax);
    /* no jitter for a face of 50 (not > 512 // 10 = 51) */
    r = data_rng_make(3, DATA_RNG_SAMPLE, 1, 0);
    face_crop_place(600, 520, t, (face_box){300, 262, 50, 40}, 1, 2, false, &r, &p);
    CHECK(p.crop_x == 44, "small face: no jitter (%d)", p.crop_x);

    /* random_crop: both axes anywhere in range, scale in [min, max] */
    bool low = false, high = false;
    for (uint32_t i = 0; i < 2000; i++) {
        r = data_rng_make(4, DATA_RNG_SAMPLE, 1, i);
        CHECK(face_crop_place(1024, 768, t, (face_box){600, 300, 200, 150}, 1, 4, true, &r, &p) == 0,
              "random crop");
        CHECK(p.crop_x >= 0 && p.crop_x <= p.resized.width - 512 && p.crop_y >= 0 &&
              p.crop_y <= p.resized.height - 512, "random crop in range");
        CHECK(p.resized.height >= 512 && p.resized.height <= 768, "scale in range");
        low |= p.resized.height < 530;
        high |= p.resized.height > 740;
    }
    CHECK(low && high, "scales spread over [2/3, 1]");
}

static void test_pixels(void)
{
    const char *top = getenv("top_srcdir");
    char path[1200], src_path[1200], want_path[1200];
    snprintf(path, sizeof path, "%s/tests/fixtures/data_subsets/face.txt", top ? top : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "no %s", path);
    if (!f)
        return;
    char src[256], want[256];
    int W, H, cx, cy, fw, fh, rw, rh, px, py;
    double lo, hi;
    int n = fscanf(f, "face %255s %d %d %d %d %d %d %lf %lf %d %d %d %d %255s", src, &W, &H, &cx, &cy,
                   &fw, &fh, &lo, &hi, &rw, &rh, &px, &py, want);
    fclose(f);
    CHECK(n == 14, "face.txt: %d fields", n);
    if (n != 14)
        return;
    snprintf(src_path, sizeof src_path, "%s/tests/fixtures/data/%s", top ? top : ".", src);
    snprintf(want_path, sizeof want_path, "%s/tests/fixtures/data_subsets/%s", top ? top : ".", want);
    image_rgb8 img, ref;
    error_info err = {0};
    if (image_load(src_path, NULL, &img, &err) != 0 || image_load(want_path, NULL, &ref, &err) != 0) {
        CHECK(0, "load: %s", err.message);
        return;
    }
    image_placement p = {0};
    data_rng r = data_rng_make(1, DATA_RNG_SAMPLE, 1, 0);
    CHECK(face_crop_place(img.width, img.height, (bucket_reso){W, H}, (face_box){cx, cy, fw, fh}, lo, hi,
                          false, &r, &p) == 0, "place");
    CHECK(p.resized.width == rw && p.resized.height == rh && p.crop_x == px && p.crop_y == py,
          "placement %dx%d at %d,%d; sd-scripts %dx%d at %d,%d", p.resized.width, p.resized.height,
          p.crop_x, p.crop_y, rw, rh, px, py);
    float *chw = malloc(sizeof(float) * 3 * (size_t)W * H);
    CHECK(image_prepare(&img, &p, RESIZE_AUTO, chw, &err) == 0, "prepare: %s", err.message);
    int worst = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            for (int c = 0; c < 3; c++) {
                int got = (int)((chw[(size_t)c * W * H + (size_t)y * W + x] + 1.0f) * 127.5f + 0.5f);
                int d = abs(got - ref.data[((size_t)y * W + x) * 3 + c]);
                worst = d > worst ? d : worst;
            }
    CHECK(worst <= 1, "face crop pixels differ from sd-scripts' by %d levels", worst);
    free(chw);
    image_free(&img);
    image_free(&ref);
}

static void test_batches(bool buckets)
{
    static dataset_image imgs[2] = {{.path = "/nonexistent/f/me_600_300_200_150.png", .width = 1024,
                                     .height = 768},
                                    {.path = "/nonexistent/f/plain.png", .width = 1024, .height = 768}};
    static dataset_subset sub;
    sub = (dataset_subset){.image_dir = "/nonexistent/f", .class_tokens = "", .num_repeats = 20,
                           .caption_extension = ".txt", .has_options = true,
                           .opt = {.flip_aug = true, .face_crop_lo = 2.5, .face_crop_hi = 2.5},
                           .images = imgs, .image_count = 2};
    dataset_group g = {.buckets = {512, 512, 256, 1024, 64, buckets, false}, .batch_size = 1,
                       .subsets = &sub, .subset_count = 1};
    dataset_set set = {.groups = &g, .group_count = 1};
    batch_settings s = {.prior_loss_weight = 1};
    batches b;
    error_info err = {0};
    CHECK(batches_init(&b, &set, &s, 9, &err) == 0, "batches: %s", err.message);
    batches_epoch(&b, 1);
    batch bt;
    int face = 0, flipped = 0;
    while (batches_next(&b, &bt, &err) == 1) {
        const batch_sample *sm = &bt.samples[0];
        bool named = strstr(sm->image_path, "me_") != NULL;
        bool at_face = sm->place.resized.width == 1024 && sm->place.crop_x == 344 && sm->place.crop_y == 44;
        if (named && !buckets) {
            face++;
            CHECK(at_face, "face sample placed at %d,%d", sm->place.crop_x, sm->place.crop_y);
            /* sd-scripts' non-bucket path: original size = target, left = W when flipped */
            CHECK(sm->orig_w == 512 && sm->orig_h == 512 && sm->crop_top == 0 &&
                  sm->crop_left == (sm->place.flip ? 512 : 0), "SDXL conditioning");
            flipped += sm->place.flip;
        } else {
            /* the usual cover resize and centre crop: 683x512 at x 85 for 512x512; with buckets
             * the 576x448 bucket (aspect 1.286 nearest 1.333): 597x448 at x 10 */
            int rw = buckets ? 597 : 683, cx = buckets ? 10 : 85;
            CHECK(sm->place.resized.width == rw && sm->place.crop_x == cx && sm->place.crop_y == 0,
                  "%s %s: usual placement %dx%d at %d,%d", buckets ? "buckets" : "no buckets",
                  sm->image_path, sm->place.resized.width, sm->place.resized.height, sm->place.crop_x,
                  sm->place.crop_y);
        }
    }
    CHECK(buckets ? face == 0 : face == 20, "face samples %d", face);
    CHECK(buckets || (flipped > 2 && flipped < 18), "flips %d", flipped);
    batches_free(&b);
}

int main(void)
{
    test_names();
    test_placements();
    test_pixels();
    test_batches(false);
    test_batches(true);
    return failures != 0;
}
