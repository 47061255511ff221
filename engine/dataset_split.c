/* dataset_split.c — sd-scripts' validation split (train_util.split_train_val, as
 * DreamBoothDataset applies it per subset); see dataset_split_validation in dataset.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data/py_random.h"
#include "engine/dataset_internal.h"

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void free_image(dataset_image *img)
{
    free(img->path);
    free(img->caption);
    free(img->tags);
    free(img->cond_path);
}

static int copy_image(dataset_image *dst, const dataset_image *src)
{
    *dst = *src;
    dst->path = dup_or_null(src->path);
    dst->caption = dup_or_null(src->caption);
    dst->tags = dup_or_null(src->tags);
    dst->cond_path = dup_or_null(src->cond_path);
    return dst->path ? 0 : -1;
}

/* everything of a subset but its images; the caption settings point at the copy's strings */
static int copy_subset_settings(dataset_subset *dst, const dataset_subset *src)
{
    *dst = *src;
    dst->images = NULL;
    dst->image_count = dst->image_capacity = 0;
    dst->unreadable = 0;
    dst->image_dir = dup_or_null(src->image_dir);
    dst->metadata_file = dup_or_null(src->metadata_file);
    dst->conditioning_data_dir = dup_or_null(src->conditioning_data_dir);
    dst->class_tokens = dup_or_null(src->class_tokens);
    dst->caption_extension = dup_or_null(src->caption_extension);
    size_t n = sizeof src->opt_strings / sizeof *src->opt_strings;
    for (size_t i = 0; i < n; i++)
        dst->opt_strings[i] = dup_or_null(src->opt_strings[i]);
    caption_settings *c = &dst->opt.captions;
    const caption_settings *sc = &src->opt.captions;
    const char **fields[] = {&c->caption_prefix, &c->caption_suffix, &c->keep_tokens_separator,
                             &c->caption_separator, &c->secondary_separator};
    const char *const src_fields[] = {sc->caption_prefix, sc->caption_suffix, sc->keep_tokens_separator,
                                      sc->caption_separator, sc->secondary_separator};
    for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
        for (size_t i = 0; i < n; i++)   /* a field is one of the strings or a literal */
            if (src_fields[f] && src_fields[f] == src->opt_strings[i]) {
                *fields[f] = dst->opt_strings[i];
                break;
            }
    return (src->image_dir && !dst->image_dir) || (src->class_tokens && !dst->class_tokens) ||
           (src->caption_extension && !dst->caption_extension) ? -1 : 0;
}

/* split_train_val on one subset: shuffles its images, keeps the training part in `train`
 * and copies the validation part into `val` */
static int split_subset(dataset_subset *train, dataset_subset *val, double split, long long seed,
                        dataset_set *notes)
{
    py_random r;
    py_random_seed(&r, seed);
    py_random_shuffle(&r, train->images, train->image_count, sizeof *train->images);
    size_t n = train->image_count;
    size_t keep = (size_t)ceil((double)n * (1.0 - split));
    size_t held = (size_t)nearbyint((double)n * split);   /* round half to even, as Python */
    if (keep > n)
        keep = n;
    if (held > n)
        held = n;
    if (held) {
        val->images = calloc(held, sizeof *val->images);
        if (!val->images)
            return -1;
        val->image_capacity = held;
        for (size_t i = n - held; i < n; i++)
            if (copy_image(&val->images[val->image_count++], &train->images[i]) != 0)
                return -1;
    }
    if (keep + held > n)
        dataset_add_note(notes, "%s: %zu image%s both trained on and validated (sd-scripts keeps "
                         "ceil(%zu x %g) for training and holds out round(%zu x %g))", train->image_dir,
                         keep + held - n, keep + held - n == 1 ? " is" : "s are", n, 1.0 - split, n, split);
    for (size_t i = keep; i < n; i++)
        free_image(&train->images[i]);
    train->image_count = keep;
    return 0;
}

int dataset_split_validation(dataset_set *train, dataset_set *val, long long fallback_seed,
                             const char *origin, error_info *err)
{
    memset(val, 0, sizeof *val);
    size_t splits = 0;
    for (size_t gi = 0; gi < train->group_count; gi++)
        splits += train->groups[gi].validation_split > 0.0;
    if (!splits)
        return 0;
    val->groups = calloc(splits, sizeof *val->groups);
    if (!val->groups)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    for (size_t gi = 0; gi < train->group_count; gi++) {
        dataset_group *g = &train->groups[gi];
        if (g->validation_split <= 0.0)
            continue;
        for (size_t si = 0; si < g->subset_count; si++) {
            const dataset_subset *sub = &g->subsets[si];
            if (sub->metadata_file || sub->conditioning_data_dir)
                return error_set(err, origin, 0, 0, "validation_split", "dataset %zu: validation_split "
                                 "holds out images of image_dir subsets only; sd-scripts does not split "
                                 "a %s dataset (it would validate on the training images); set "
                                 "validation_split for the image_dir datasets alone", gi + 1,
                                 sub->metadata_file ? "fine-tuning (metadata_file)" : "conditioning_data_dir");
        }
        dataset_group *vg = &val->groups[val->group_count++];
        *vg = *g;
        vg->subsets = NULL;
        vg->subset_count = 0;
        long long seed = g->has_validation_seed ? g->validation_seed : fallback_seed;
        for (size_t si = 0; si < g->subset_count; si++) {
            dataset_subset *sub = &g->subsets[si];
            if (sub->is_reg)   /* sd-scripts: reg images are never held out */
                continue;
            dataset_subset *vs = dataset_add_subset(vg);
            if (copy_subset_settings(vs, sub) != 0 ||
                split_subset(sub, vs, g->validation_split, seed, train) != 0)
                return error_set(err, NULL, 0, 0, NULL, "out of memory");
        }
    }
    return 0;
}
