/* color_aug.h — sd-scripts' color_aug (AugHelper.color_aug in library/train_util.py at
 * 48d368f), applied to the bucket-sized 8-bit image before the flip:
 *
 *   with p = 0.33 (random() <= 0.33): either (random() > 0.5) a hue shift: uniform(-8, 8),
 *   +180 when negative, added to OpenCV's 8-bit HSV hue (0..179) modulo 180 and truncated
 *   back to uint8; or a "gamma": every 0..255 channel value raised to uniform(0.95, 1.05),
 *   clipped to 255 and truncated (numpy 2: the power is computed in float64).
 *
 * sd-scripts hands cv2.COLOR_BGR2HSV / COLOR_HSV2BGR the RGB array PIL gave it, so red and
 * blue are swapped in the HSV round trip; we do the same, so a given shift changes the same
 * pixels in the same way. The conversions are OpenCV's 8-bit ones: RGB2HSV_b with its integer
 * tables in 12-bit fixed point; HSV2RGB_b in float sectors, which OpenCV's vector code
 * truncates to 8 bits while its scalar code rounds to nearest even. cvtColor runs a row in
 * vector blocks (32 pixels in cv2 on x86-64, AVX2) and the rest of the row (width mod 32)
 * through the scalar code; we do the same, so bucket widths that are multiples of 32 are all
 * "vector". Checked against cv2 over every colour on both paths (tests/test_color_aug.c with
 * committed cv2 outputs). */
#ifndef LORATTY_DATA_COLOR_AUG_H
#define LORATTY_DATA_COLOR_AUG_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/data/data_rng.h"

typedef enum color_aug_kind {
    COLOR_AUG_NONE = 0,
    COLOR_AUG_HUE,      /* amount: the hue shift in [0, 180) as added (negative + 180) */
    COLOR_AUG_GAMMA,    /* amount: the exponent in [0.95, 1.05] */
} color_aug_kind;

typedef struct color_aug {
    color_aug_kind kind;
    double amount;
} color_aug;

/* Pixels per vector block of cv2's HSV2BGR (x86-64 AVX2 build). */
#define COLOR_AUG_CV_LANES 32

/* One draw of color_aug from r (two or three uniforms, as sd-scripts' calls). */
color_aug color_aug_draw(data_rng *r);

/* OpenCV's cvtColor for one pixel: 8-bit BGR → HSV (H 0..179) and back (`vector`: as the
 * vector code computes it). */
void color_aug_bgr2hsv(const uint8_t bgr[3], uint8_t hsv[3]);
void color_aug_hsv2bgr(const uint8_t hsv[3], uint8_t bgr[3], bool vector);

/* Transforms one RGB pixel in place; a gamma needs lut (color_aug_gamma_lut's). `vector`:
 * the pixel's column is below width - width % COLOR_AUG_CV_LANES. */
void color_aug_pixel(const color_aug *a, const uint8_t *lut, uint8_t rgb[3], bool vector);
/* The gamma table of `a` (COLOR_AUG_GAMMA): lut[v] = min(255, v^amount) truncated. */
void color_aug_gamma_lut(const color_aug *a, uint8_t lut[256]);

#endif
