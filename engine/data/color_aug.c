/* color_aug.c — sd-scripts' color augmentation with OpenCV's 8-bit HSV; see color_aug.h. */
#include "engine/data/color_aug.h"

#include <math.h>

#define HSV_SHIFT 12

/* OpenCV's tables: saturate_cast<int>((255 << 12) / (1.0 * i)) and (180 << 12) / (6.0 * i),
 * rounded to nearest (ties to even, as cvRound) */
static int sdiv(int i)
{
    return i ? (int)lrint((double)(255 << HSV_SHIFT) / i) : 0;
}

static int hdiv(int i)
{
    return i ? (int)lrint((double)(180 << HSV_SHIFT) / (6.0 * i)) : 0;
}

void color_aug_bgr2hsv(const uint8_t bgr[3], uint8_t hsv[3])
{
    int b = bgr[0], g = bgr[1], r = bgr[2];
    int v = b > g ? b : g, vmin = b < g ? b : g;
    v = v > r ? v : r;
    vmin = vmin < r ? vmin : r;
    int diff = v - vmin;
    int vr = v == r ? -1 : 0, vg = v == g ? -1 : 0;
    int s = (diff * sdiv(v) + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    int h = (vr & (g - b)) + (~vr & ((vg & (b - r + 2 * diff)) + (~vg & (r - g + 4 * diff))));
    h = (h * hdiv(diff) + (1 << (HSV_SHIFT - 1))) >> HSV_SHIFT;
    h += h < 0 ? 180 : 0;
    hsv[0] = (uint8_t)h;
    hsv[1] = (uint8_t)s;
    hsv[2] = (uint8_t)v;
}

/* cvRound (nearest, ties to even) on the scalar path, v_trunc on the vector path */
static uint8_t to_u8(float x, bool vector)
{
    float y = x * 255.f;
    long q = vector ? (long)y : lrintf(y);
    return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

void color_aug_hsv2bgr(const uint8_t hsv[3], uint8_t bgr[3], bool vector)
{
    static const int sector_data[6][3] = {{1, 3, 0}, {1, 0, 2}, {3, 0, 1},
                                          {0, 2, 1}, {0, 1, 3}, {2, 1, 0}};
    float h = hsv[0], s = hsv[1] * (1.f / 255.f), v = hsv[2] * (1.f / 255.f);
    float b, g, r;
    if (s == 0) {
        b = g = r = v;
    } else {
        h *= 6.f / 180.f;
        while (h >= 6)
            h -= 6;
        int sector = (int)floorf(h);
        h -= (float)sector;
        if (sector < 0 || sector >= 6) {
            sector = 0;
            h = 0.f;
        }
        /* cv2 on x86-64 computes 1 - s·h with one rounding (FMA) on both paths; fmaf gives
         * the same bytes on any machine. The vector path has no s == 0 case and takes the
         * sector as trunc(h) mod 6, which is the same for h in [0, 6). */
        float tab[4] = {v, v * (1.f - s), v * fmaf(-s, h, 1.f), v * fmaf(-s, 1.f - h, 1.f)};
        b = tab[sector_data[sector][0]];
        g = tab[sector_data[sector][1]];
        r = tab[sector_data[sector][2]];
    }
    bgr[0] = to_u8(b, vector);
    bgr[1] = to_u8(g, vector);
    bgr[2] = to_u8(r, vector);
}

color_aug color_aug_draw(data_rng *r)
{
    color_aug a = {COLOR_AUG_NONE, 0};
    if (data_rng_uniform(r) > 0.33)
        return a;
    if (data_rng_uniform(r) > 0.5) {
        double shift = -8.0 + 16.0 * data_rng_uniform(r);   /* random.uniform(-8, 8) */
        a = (color_aug){COLOR_AUG_HUE, shift < 0 ? 180.0 + shift : shift};
    } else {
        a = (color_aug){COLOR_AUG_GAMMA, 0.95 + 0.1 * data_rng_uniform(r)};
    }
    return a;
}

void color_aug_gamma_lut(const color_aug *a, uint8_t lut[256])
{
    for (int v = 0; v < 256; v++) {
        double x = pow((double)v, a->amount);
        lut[v] = (uint8_t)(x > 255.0 ? 255.0 : x);   /* np.clip then astype: truncation */
    }
}

void color_aug_pixel(const color_aug *a, const uint8_t *lut, uint8_t rgb[3], bool vector)
{
    if (a->kind == COLOR_AUG_GAMMA) {
        for (int c = 0; c < 3; c++)
            rgb[c] = lut[rgb[c]];
    } else if (a->kind == COLOR_AUG_HUE) {
        /* the RGB array goes in as if it were BGR, as in sd-scripts */
        uint8_t hsv[3];
        color_aug_bgr2hsv(rgb, hsv);
        hsv[0] = (uint8_t)fmod((double)hsv[0] + a->amount, 180.0);
        color_aug_hsv2bgr(hsv, rgb, vector);
    }
}
