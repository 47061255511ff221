/* face_crop.h — sd-scripts' face_crop_aug_range (BaseDataset.load_image_with_face_info and
 * crop_target in library/train_util.py at 48d368f).
 *
 * The face comes from the file name: when the stem split on "_" has at least five fields,
 * the last four are int(face centre x), int(centre y), int(face width), int(height) (as
 * kohya's face-detection cropping tool names its outputs; a field that is not a number makes
 * sd-scripts stop, so the plan refuses it). Only without buckets, and only for an image whose
 * face centre x is > 0, the image is scaled and cropped around the face instead of the usual
 * resize and centre crop:
 *
 *   face = max(w, h); size = min(H, W) of the training resolution
 *   min_scale = min(1, max(max(H / ih, W / iw), size / (face · hi)))
 *   max_scale = min(1, max(min_scale, size / (face · lo)))
 *   scale = min_scale if min_scale >= max_scale else uniform(min_scale, max_scale)
 *   resized = int(ih · scale + 0.5) × int(iw · scale + 0.5), the centre scaled the same way
 *   per axis (height first): p = centre − target // 2, then with random_crop
 *     p += randint(0, r) + randint(0, r) − r, r = max(length − centre, centre);
 *   else, when lo != hi and face > size // 10 and face >= 40,
 *     p += randint(−face // 20, face // 20) (Python's floor division: −(−face // 20) may
 *     exceed face // 20 by one); then p is clamped to [0, length − target].
 *   An image already of the training size is used as it is. */
#ifndef LORATTY_DATA_FACE_CROP_H
#define LORATTY_DATA_FACE_CROP_H

#include <stdbool.h>

#include "engine/data/data_rng.h"
#include "engine/data/image_resize.h"

typedef struct face_box {
    int cx, cy, w, h;      /* all 0: none */
} face_box;

/* 1 with *out filled when the name carries a face, 0 when it does not (fewer than five
 * fields), -1 when one of the last four fields is not an integer. */
int face_crop_parse_name(const char *path, face_box *out);

/* The placement (resized size, crop offsets) crop_target gives an iw × ih image with face f
 * for a target × target training size (target.width, target.height), the range [lo, hi].
 * -1 when the image is smaller than the target (sd-scripts' "internal error. small scale"). */
int face_crop_place(int iw, int ih, bucket_reso target, face_box f, double lo, double hi,
                    bool random_crop, data_rng *r, image_placement *out);

#endif
