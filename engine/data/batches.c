/* batches.c — sd-scripts' epoch order of buckets and batches; see batches.h. */
#include "engine/data/batches.h"

#include <stdlib.h>
#include <string.h>

#include "engine/data/reg_balance.h"

static int add_image(batches *b, size_t *cap, const dataset_image *img, const dataset_subset *sub,
                     const dataset_group *g, const bucket_reso *list, size_t n, long long repeats,
                     error_info *err)
{
    if (b->image_count == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        batch_image *grown = realloc(b->images, *cap * sizeof *grown);
        if (!grown)
            return error_set(err, img->path, 0, 0, NULL, "out of memory");
        b->images = grown;
    }
    batch_image *bi = &b->images[b->image_count];
    *bi = (batch_image){.image = img, .subset = sub, .repeats = repeats,
                        .opt = sub->has_options ? &sub->opt : &b->fallback};
    bi->bucket = buckets_select(&g->buckets, list, n, img->width, img->height, &bi->resized);
    /* sd-scripts crops around the face only without buckets (BaseDataset.__getitem__) */
    if (bi->opt->face_crop_hi > 0 && !g->buckets.enabled && face_crop_parse_name(img->path, &bi->face) < 0)
        return error_set(err, img->path, 0, 0, "face_crop_aug_range", "the last four _ fields of the "
                         "file name are not the face's centre and size");
    if (bi->face.cx <= 0)
        bi->face = (face_box){0};
    if (dataset_image_caption(sub, img, bi->opt->captions.enable_wildcard, &bi->caption, err) != 0)
        return -1;
    b->image_count++;
    return 0;
}

static batch_bucket *bucket_for(batches *b, bucket_reso r, int batch_size, size_t first)
{
    for (size_t i = first; i < b->bucket_count; i++)
        if (b->buckets[i].reso.width == r.width && b->buckets[i].reso.height == r.height)
            return &b->buckets[i];
    batch_bucket *grown = realloc(b->buckets, (b->bucket_count + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    b->buckets = grown;
    b->buckets[b->bucket_count] = (batch_bucket){.reso = r, .batch_size = batch_size};
    return &b->buckets[b->bucket_count++];
}

static int cmp_bucket(const void *x, const void *y)
{
    const batch_bucket *a = x, *c = y;
    if (a->reso.width != c->reso.width)
        return a->reso.width < c->reso.width ? -1 : 1;
    return (a->reso.height > c->reso.height) - (a->reso.height < c->reso.height);
}

/* One group: its images (train, then reg with balanced repeats) into its own buckets, which
 * are sorted by (w, h) as BucketManager.sort does. */
static int add_group(batches *b, size_t *cap, const dataset_group *g, error_info *err)
{
    bucket_reso list[512];
    size_t n = buckets_make_resolutions(&g->buckets, list, 512);
    if (n > 512)
        n = 512;
    size_t first_image = b->image_count, first_bucket = b->bucket_count;
    long long train = 0;
    for (size_t si = 0; si < g->subset_count; si++) {
        const dataset_subset *sub = &g->subsets[si];
        if (sub->is_reg || sub->num_repeats < 1)
            continue;
        for (size_t i = 0; i < sub->image_count; i++)
            if (add_image(b, cap, &sub->images[i], sub, g, list, n, sub->num_repeats, err))
                return -1;
        train += (long long)sub->image_count * sub->num_repeats;
    }
    long long *reg = reg_balance_repeats(g, train);
    if (!reg)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    size_t k = 0;
    for (size_t si = 0; si < g->subset_count; si++) {
        const dataset_subset *sub = &g->subsets[si];
        if (!sub->is_reg)
            continue;
        for (size_t i = 0; i < sub->image_count; i++, k++)
            if (reg[k] > 0 && add_image(b, cap, &sub->images[i], sub, g, list, n, reg[k], err)) {
                free(reg);
                return -1;
            }
    }
    free(reg);
    for (size_t id = first_image; id < b->image_count; id++) {
        batch_image *bi = &b->images[id];
        batch_bucket *bk = bucket_for(b, bi->bucket, g->batch_size > 0 ? g->batch_size : 1,
                                      first_bucket);
        size_t *grown = bk ? realloc(bk->slots, (bk->count + (size_t)bi->repeats) * sizeof *grown) : NULL;
        if (!grown)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        bk->slots = grown;
        for (long long r = 0; r < bi->repeats; r++)
            bk->slots[bk->count++] = id;
    }
    qsort(b->buckets + first_bucket, b->bucket_count - first_bucket, sizeof *b->buckets, cmp_bucket);
    return 0;
}

int batches_init(batches *b, const dataset_set *set, const batch_settings *s, uint64_t seed,
                 error_info *err)
{
    memset(b, 0, sizeof *b);
    b->settings = *s;
    b->seed = seed;
    b->fallback = (dataset_options){.captions = s->captions, .flip_aug = s->flip_aug,
                                    .random_crop = s->random_crop, .interp = s->interp};
    size_t cap = 0;
    for (size_t gi = 0; gi < set->group_count; gi++)
        if (add_group(b, &cap, &set->groups[gi], err) != 0) {
            batches_free(b);
            return -1;
        }
    for (size_t i = 0; i < b->bucket_count; i++) {
        b->chunk_count += (b->buckets[i].count + b->buckets[i].batch_size - 1) / b->buckets[i].batch_size;
        if (b->buckets[i].batch_size > b->max_batch)
            b->max_batch = b->buckets[i].batch_size;
    }
    b->chunks = calloc(b->chunk_count ? b->chunk_count : 1, sizeof *b->chunks);
    b->samples = calloc(b->max_batch ? (size_t)b->max_batch : 1, sizeof *b->samples);
    b->captions = calloc(b->max_batch ? (size_t)b->max_batch : 1, sizeof *b->captions);
    if (!b->chunks || !b->samples || !b->captions) {
        batches_free(b);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    return 0;
}

static int cmp_size(const void *x, const void *y)
{
    size_t a = *(const size_t *)x, c = *(const size_t *)y;
    return (a > c) - (a < c);
}

static void shuffle(void *base, size_t n, size_t size, data_rng *r)
{
    unsigned char tmp[16], *v = base;
    for (size_t i = n; i-- > 1;) {
        size_t j = data_rng_below(r, i + 1);
        memcpy(tmp, v + i * size, size);
        memcpy(v + i * size, v + j * size, size);
        memcpy(v + j * size, tmp, size);
    }
}

void batches_epoch(batches *b, int epoch)
{
    b->epoch = epoch;
    b->position = 0;
    /* the slots are re-sorted first, so an epoch's order depends on (seed, epoch) only and
     * not on the epochs before it (sd-scripts reshuffles in place: same rules, resumable) */
    size_t c = 0;
    for (size_t i = 0; i < b->bucket_count; i++) {
        batch_bucket *bk = &b->buckets[i];
        qsort(bk->slots, bk->count, sizeof *bk->slots, cmp_size);
        data_rng r = data_rng_make(b->seed, DATA_RNG_ORDER, (uint32_t)epoch, (uint32_t)i);
        shuffle(bk->slots, bk->count, sizeof *bk->slots, &r);
        for (size_t start = 0; start < bk->count; start += (size_t)bk->batch_size)
            b->chunks[c++] = (batch_chunk){(uint32_t)i, (uint32_t)start};
    }
    data_rng r = data_rng_make(b->seed, DATA_RNG_ORDER, (uint32_t)epoch, UINT32_MAX);
    shuffle(b->chunks, b->chunk_count, sizeof *b->chunks, &r);
}

int batches_next(batches *b, batch *out, error_info *err)
{
    for (int i = 0; i < b->max_batch; i++) {
        free(b->captions[i]);
        b->captions[i] = NULL;
    }
    if (b->position >= b->chunk_count)
        return 0;
    size_t chunk_index = b->position++;
    const batch_chunk *ch = &b->chunks[chunk_index];
    const batch_bucket *bk = &b->buckets[ch->bucket];
    size_t end = ch->start + (size_t)bk->batch_size;
    if (end > bk->count)
        end = bk->count;
    const batch_settings *s = &b->settings;
    *out = (batch){.bucket = bk->reso, .count = (int)(end - ch->start), .samples = b->samples};
    for (size_t k = ch->start; k < end; k++) {
        int n = (int)(k - ch->start);
        const batch_image *bi = &b->images[bk->slots[k]];
        const dataset_options *o = bi->opt;
        /* draws keyed by the sample's slot in the epoch: chunk and place in it */
        uint32_t slot = (uint32_t)(chunk_index * (size_t)b->max_batch + (size_t)n);
        data_rng rs = data_rng_make(b->seed, DATA_RNG_SAMPLE, (uint32_t)b->epoch, slot);
        data_rng rc = data_rng_make(b->seed, DATA_RNG_CAPTION, (uint32_t)b->epoch, slot);
        batch_sample *sm = &b->samples[n];
        *sm = (batch_sample){.image_path = bi->image->path, .image_id = bk->slots[k],
                             .is_reg = bi->subset->is_reg,
                             .loss_weight = bi->subset->is_reg ? (float)s->prior_loss_weight : 1.0f,
                             .orig_w = bi->image->width, .orig_h = bi->image->height};
        sm->interp = o->interp;
        sm->flip_aug = o->flip_aug;
        sm->alpha_mask = o->alpha_mask;
        sm->cond_path = bi->image->cond_path;
        sm->image_w = bi->image->width;
        sm->image_h = bi->image->height;
        sm->place.bucket = bi->bucket;
        sm->place.resized = bi->resized;
        sm->place.flip = o->flip_aug && data_rng_uniform(&rs) < 0.5;
        image_placement_center(&sm->place);
        if (bi->face.cx > 0) {
            if (face_crop_place(bi->image->width, bi->image->height, bi->bucket, bi->face,
                                o->face_crop_lo, o->face_crop_hi, o->random_crop, &rs, &sm->place) != 0)
                return error_set(err, bi->image->path, 0, 0, "face_crop_aug_range", "the image is "
                                 "smaller than the resolution %dx%d", bi->bucket.width, bi->bucket.height);
        } else if (o->random_crop) {   /* random.randint(0, excess), width first as sd-scripts */
            int ex = bi->resized.width - bi->bucket.width, ey = bi->resized.height - bi->bucket.height;
            if (ex > 0)
                sm->place.crop_x = (int)data_rng_below(&rs, (size_t)ex + 1);
            if (ey > 0)
                sm->place.crop_y = (int)data_rng_below(&rs, (size_t)ey + 1);
        }
        if (o->color_aug)
            sm->place.color = color_aug_draw(&rs);
        if (bi->face.cx > 0) {
            /* the non-bucket path: original size = the crop, crop_ltrb (0, 0, 0, 0), so a
             * flipped sample's left is the target width minus right = W */
            sm->orig_w = bi->bucket.width;
            sm->orig_h = bi->bucket.height;
            sm->crop_top = 0;
            sm->crop_left = sm->place.flip ? bi->bucket.width : 0;
        } else {
            image_sdxl_crop_top_left(bi->bucket, bi->image->width, bi->image->height, sm->place.flip,
                                     &sm->crop_top, &sm->crop_left);
        }
        b->captions[n] = caption_process(&o->captions, bi->caption, b->epoch, b->step,
                                         s->max_train_steps, &rc);
        if (!b->captions[n])
            return error_set(err, bi->image->path, 0, 0, NULL, "out of memory");
        sm->caption = b->captions[n];
    }
    return 1;
}

void batches_position(const batches *b, int *epoch, size_t *position)
{
    *epoch = b->epoch;
    *position = b->position;
}

void batches_seek(batches *b, int epoch, size_t position)
{
    batches_epoch(b, epoch);
    b->position = position < b->chunk_count ? position : b->chunk_count;
}

size_t batches_per_epoch(const batches *b)
{
    return b->chunk_count;
}

void batches_free(batches *b)
{
    for (size_t i = 0; i < b->image_count; i++)
        free(b->images[i].caption);
    free(b->images);
    for (size_t i = 0; i < b->bucket_count; i++)
        free(b->buckets[i].slots);
    free(b->buckets);
    free(b->chunks);
    if (b->captions)
        for (int i = 0; i < b->max_batch; i++)
            free(b->captions[i]);
    free(b->captions);
    free(b->samples);
    memset(b, 0, sizeof *b);
}
