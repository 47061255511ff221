/* loss_mask.c — masked_loss's masks: area average, conditioning images; see loss_mask.h. */
#include "engine/data/loss_mask.h"

#include <stddef.h>

#include "engine/data/image_load.h"

void loss_mask_area(const float *src, int H, int W, float *dst, int h, int w)
{
    for (int i = 0; i < h; i++) {
        /* ATen's start_index / end_index: floor(i·H/h), ceil((i+1)·H/h) */
        int y0 = (int)((long long)i * H / h), y1 = (int)(((long long)(i + 1) * H + h - 1) / h);
        for (int j = 0; j < w; j++) {
            int x0 = (int)((long long)j * W / w), x1 = (int)(((long long)(j + 1) * W + w - 1) / w);
            double sum = 0.0;
            for (int y = y0; y < y1; y++)
                for (int x = x0; x < x1; x++)
                    sum += src[(size_t)y * W + x];
            dst[(size_t)i * w + j] = (float)(sum / ((double)(y1 - y0) * (x1 - x0)));
        }
    }
}

float loss_mask_from_r(uint8_t r)
{
    float v = ((float)r / 255.0f - 0.5f) / 0.5f;   /* ToTensor, Normalize([0.5], [0.5]) */
    return v / 2.0f + 0.5f;
}

int loss_mask_condition(const char *path, int want_w, int want_h, const image_placement *place,
                        resize_interp interp, int f, float *work, float *mask, error_info *err)
{
    image_load_options lo = {.keep_stored_colour = true};   /* load_image: convert("RGB") */
    image_rgb8 img;
    if (image_load(path, &lo, &img, err) != 0)
        return -1;
    if (img.width != want_w || img.height != want_h) {
        int w = img.width, h = img.height;
        image_free(&img);
        return error_set(err, path, 0, 0, "conditioning_data_dir", "the mask is %dx%d but its "
                         "training image is %dx%d; a conditioning image must have the training "
                         "image's size", w, h, want_w, want_h);
    }
    image_placement p = *place;
    p.color = (color_aug){0};   /* sd-scripts augments only the training image */
    int rc = image_prepare(&img, &p, interp, work, err);
    image_free(&img);
    if (rc != 0)
        return -1;
    int bw = p.bucket.width, bh = p.bucket.height;
    size_t plane = (size_t)bw * bh;
    /* the R plane holds the transformed (r / 255 − 0.5) / 0.5, as loss_mask_from_r */
    for (size_t i = 0; i < plane; i++)
        work[i] = work[i] / 2.0f + 0.5f;
    loss_mask_area(work, bh, bw, mask, bh / f, bw / f);
    return 0;
}

void loss_mask_flip(float *m, int h, int w)
{
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w / 2; x++) {
            float *row = m + (size_t)y * w, t = row[x];
            row[x] = row[w - 1 - x];
            row[w - 1 - x] = t;
        }
}
