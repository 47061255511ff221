/* image_resize.h — resizing and cropping a training image to its bucket exactly as
 * sd-scripts' trim_and_resize_if_required (library/train_util.py) and resize_image
 * (library/utils.py) do, then the [-1, 1] CHW float tensor the VAE takes.
 *
 * sd-scripts resizes with OpenCV's INTER_AREA when the image shrinks in both directions and
 * with PIL's LANCZOS otherwise, unless resize_interpolation names another filter: "lanczos"
 * and "box" go through PIL, "area", "bilinear", "bicubic", "nearest" through OpenCV. We
 * reimplement each: PIL's filters with PIL's own 22-bit fixed-point arithmetic (bit-exact in
 * our tests), OpenCV's in double precision with a final round-to-nearest-even (OpenCV rounds
 * its fixed-point or float intermediates differently per code path, so these agree within one
 * 8-bit level; tests/test_resize.c states it). */
#ifndef LORATTY_DATA_IMAGE_RESIZE_H
#define LORATTY_DATA_IMAGE_RESIZE_H

#include <stdbool.h>

#include "engine/buckets.h"
#include "engine/data/color_aug.h"
#include "engine/data/image_load.h"
#include "error.h"

typedef enum resize_interp {
    RESIZE_AUTO,       /* sd-scripts' default: area when shrinking both sides, else lanczos */
    RESIZE_AREA,       /* cv2.INTER_AREA */
    RESIZE_LANCZOS,    /* PIL Image.LANCZOS (also "lanczos4", as sd-scripts maps it) */
    RESIZE_BOX,        /* PIL Image.BOX */
    RESIZE_BILINEAR,   /* cv2.INTER_LINEAR ("bilinear", "linear") */
    RESIZE_BICUBIC,    /* cv2.INTER_CUBIC ("bicubic", "cubic") */
    RESIZE_NEAREST,    /* cv2.INTER_NEAREST_EXACT */
} resize_interp;

/* sd-scripts' resize_interpolation names; NULL or "" is RESIZE_AUTO. -1 when unknown. */
int resize_interp_parse(const char *name, resize_interp *out, error_info *err);
/* The filter sd-scripts uses for a w×h → rw×rh resize under `interp`. */
resize_interp resize_interp_resolve(resize_interp interp, int w, int h, int rw, int rh);

/* in → out of rw × rh (out allocated here). A same-size resize copies. An alpha plane
 * (in->alpha) is resized with the same filter; PIL's filters then work on premultiplied
 * colours as PIL resizes RGBA (transparent pixels come out black), OpenCV's per channel. */
int image_resize(const image_rgb8 *in, int rw, int rh, resize_interp interp, image_rgb8 *out,
                 error_info *err);

/* Where trim_and_resize_if_required crops the resized image: the centre (excess // 2) unless
 * random_crop, then the offsets come from the caller's random draw in [0, excess]. */
typedef struct image_placement {
    bucket_reso bucket;      /* the crop size = the training size */
    bucket_reso resized;     /* the size before the crop (buckets_select) */
    int crop_x, crop_y;      /* top-left of the crop inside the resized image */
    bool flip;               /* flip_aug: mirrored after the crop */
    color_aug color;         /* color_aug's draw, applied to the crop before the flip */
} image_placement;

/* Centered crop offsets for a placement whose bucket and resized size are set. */
void image_placement_center(image_placement *p);

/* Resize + crop + color_aug + flip, then x / 127.5 − 1 into chw [3, bucket.h, bucket.w] (torchvision's
 * ToTensor then Normalize(0.5, 0.5), as sd-scripts' image_transforms). */
int image_prepare(const image_rgb8 *img, const image_placement *p, resize_interp interp,
                  float *chw, error_info *err);
/* The same with img's alpha plane (image_load's keep_alpha) resized, cropped and flipped
 * alike into alpha [bucket.h, bucket.w] as a / 255 (1 where img has none): sd-scripts'
 * alpha_mask. chw or alpha may be NULL. */
int image_prepare_alpha(const image_rgb8 *img, const image_placement *p, resize_interp interp,
                        float *chw, float *alpha, error_info *err);

/* SDXL's size conditioning for one sample (sdxl_train_util): get_crop_ltrb's crop top-left
 * of the original fitted into the bucket, with its flipped variant, as sd-scripts computes it
 * in Python floats and truncates with int(). Crop offsets from random_crop are not reflected
 * (sd-scripts does not either). */
void image_sdxl_crop_top_left(bucket_reso bucket, int orig_w, int orig_h, bool flipped,
                              int *top, int *left);

#endif
