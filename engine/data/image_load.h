/* image_load.h — decoding a training image into 8-bit RGB, as sd-scripts' load_image
 * (library/train_util.py) sees it: PIL's Image.open(path).convert("RGB").
 *
 * What that means, checked in sd-scripts at 48d368f:
 *  - Alpha is DROPPED, not composited: PIL's RGBA→RGB (and LA→RGB, P-with-transparency→RGB)
 *    keeps the stored colour of every pixel, whatever its alpha, so a cut-out whose hidden
 *    pixels happen to be black trains on a black background. loratty composites images with
 *    alpha on white instead (what a user who saves a cut-out expects, and what the issue
 *    asks for); `keep_stored_colour` gives sd-scripts' behaviour exactly. With alpha_mask
 *    sd-scripts loads RGBA instead and trains on the stored colours: `keep_alpha`.
 *  - Grayscale and palette images become RGB (grey replicated, palette looked up).
 *  - EXIF orientation is NOT applied: load_image never calls ImageOps.exif_transpose, so a
 *    JPEG whose camera wrote "rotate 90°" trains sideways, and its bucket comes from the
 *    stored width × height. image_load follows that by default; image_exif_orientation and
 *    image_apply_orientation implement PIL's exif_transpose for callers that opt in.
 *  - A file that does not decode (unknown format, truncated, empty) is an error naming the
 *    file; the caller reports it and skips the image. PIL refuses truncated JPEGs (no EOI
 *    marker) unless LOAD_TRUNCATED_IMAGES is set; stb_image would pad them with grey, so we
 *    check for the marker ourselves.
 *
 * png, jpg/jpeg, bmp are decoded by stb_image, webp by libwebp; the format is sniffed from
 * the content (as PIL does), not from the extension. */
#ifndef LORATTY_DATA_IMAGE_LOAD_H
#define LORATTY_DATA_IMAGE_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Interleaved 8-bit RGB, rows top to bottom: pixel (x, y) at data[(y·width + x)·3]. */
typedef struct image_rgb8 {
    int width, height;
    uint8_t *data;
    uint8_t *alpha;           /* keep_alpha: [height · width], NULL when the file has none */
} image_rgb8;

typedef struct image_load_options {
    bool exif_transpose;      /* apply the JPEG's EXIF orientation (sd-scripts: no) */
    bool keep_stored_colour;  /* drop alpha as PIL's convert("RGB") (sd-scripts) instead of
                                 compositing on white (loratty's default) */
    bool keep_alpha;          /* alpha_mask: sd-scripts' load_image(path, alpha=True), i.e.
                                 convert("RGBA"): the stored colours and the alpha plane in
                                 out->alpha (NULL without alpha: the same as all 255) */
} image_load_options;

/* Decodes `path`; opts may be NULL (the defaults). On error out is left empty. */
int image_load(const char *path, const image_load_options *opts, image_rgb8 *out,
               error_info *err);
/* The same over bytes in memory; `label` names the image in messages. */
int image_decode(const uint8_t *buf, size_t len, const char *label,
                 const image_load_options *opts, image_rgb8 *out, error_info *err);
void image_free(image_rgb8 *img);

/* The EXIF Orientation (tag 0x0112 in IFD0 of the APP1 "Exif" segment) of a JPEG: 1..8,
 * or 1 when the file is not a JPEG, has no EXIF, or the EXIF is malformed. Reads only
 * inside buf. */
int image_exif_orientation(const uint8_t *buf, size_t len);
/* PIL's exif_transpose for orientation 2..8 (1 and anything else: unchanged):
 * 2 mirror, 3 rotate 180, 4 flip vertically, 5 transpose, 6 rotate 90° clockwise,
 * 7 transverse, 8 rotate 90° counter-clockwise. Reallocates img->data. */
int image_apply_orientation(image_rgb8 *img, int orientation, error_info *err);

#endif
