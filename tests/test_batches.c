/* test_batches.c — an epoch's batches as sd-scripts builds them (batches.h): every image once
 * per repeat, reg images balanced to the training count (reg_balance.h, shared with the
 * plan) with loss weight prior_loss_weight, batches never mixing buckets, Σ ceil(n/batch)
 * batches per epoch, a per-epoch order that depends only on (seed, epoch) so that a resume at
 * (epoch, position) continues identically, flips and random crops in range, captions
 * processed (class tokens when there is no caption file). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "engine/data/batches.h"
#include "engine/data/reg_balance.h"

static dataset_image imgs_a[5], imgs_b[2], imgs_reg[3];
static char names[10][64];

static dataset_set make_set(int batch_size)
{
    static dataset_subset subs[3];
    static dataset_group group;
    static const int sizes[10][2] = {{512, 512}, {640, 384}, {500, 500}, {384, 640}, {1024, 1024},
                                     {600, 360}, {512, 512}, {512, 512}, {640, 384}, {300, 520}};
    dataset_image *all[10] = {&imgs_a[0], &imgs_a[1], &imgs_a[2], &imgs_a[3], &imgs_a[4],
                              &imgs_b[0], &imgs_b[1], &imgs_reg[0], &imgs_reg[1], &imgs_reg[2]};
    for (int i = 0; i < 10; i++) {
        snprintf(names[i], sizeof names[i], "/nonexistent/loratty/img%d.png", i);
        *all[i] = (dataset_image){.path = names[i], .width = sizes[i][0], .height = sizes[i][1]};
    }
    subs[0] = (dataset_subset){.image_dir = "/nonexistent/a", .class_tokens = "sks dog",
                               .num_repeats = 3, .caption_extension = ".txt",
                               .images = imgs_a, .image_count = 5};
    subs[1] = (dataset_subset){.image_dir = "/nonexistent/b", .class_tokens = "sks cat",
                               .num_repeats = 2, .caption_extension = ".txt",
                               .images = imgs_b, .image_count = 2};
    subs[2] = (dataset_subset){.image_dir = "/nonexistent/reg", .class_tokens = "dog",
                               .num_repeats = 1, .is_reg = true, .caption_extension = ".txt",
                               .images = imgs_reg, .image_count = 3};
    group = (dataset_group){.buckets = {512, 512, 256, 1024, 64, true, false},
                            .batch_size = batch_size, .subsets = subs, .subset_count = 3};
    return (dataset_set){.groups = &group, .group_count = 1};
}

static void test_reg_balance(void **state)
{
    (void)state;
    dataset_set set = make_set(2);
    /* 19 train samples; reg: 1 each (3), then +1 in turn until 19: 7, 6, 6 */
    long long *r = reg_balance_repeats(&set.groups[0], 19);
    assert_int_equal(r[0], 7);
    assert_int_equal(r[1], 6);
    assert_int_equal(r[2], 6);
    free(r);
    r = reg_balance_repeats(&set.groups[0], 2);   /* fewer train samples: third image unused */
    assert_int_equal(r[0], 1);
    assert_int_equal(r[1], 1);
    assert_int_equal(r[2], 0);
    free(r);
}

static void test_epoch_contents(void **state)
{
    (void)state;
    dataset_set set = make_set(2);
    batch_settings s = {.captions = {.caption_separator = ",", .caption_prefix = "photo of"},
                        .prior_loss_weight = 0.5, .flip_aug = true};
    batches b;
    error_info err = {0};
    assert_int_equal(batches_init(&b, &set, &s, 1234, &err), 0);
    size_t per_image[10] = {0};
    long long total = 0, flips = 0, reg = 0;
    batches_epoch(&b, 1);
    batch bt;
    int n_batches = 0;
    while (batches_next(&b, &bt, &err) == 1) {
        n_batches++;
        assert_true(bt.count >= 1 && bt.count <= 2);
        for (int k = 0; k < bt.count; k++) {
            const batch_sample *sm = &bt.samples[k];
            assert_int_equal(sm->place.bucket.width, bt.bucket.width);   /* one bucket */
            assert_int_equal(sm->place.bucket.height, bt.bucket.height);
            int idx = atoi(strstr(sm->image_path, "img") + 3);
            per_image[idx]++;
            total++;
            flips += sm->place.flip;
            if (sm->is_reg) {
                reg++;
                assert_true(sm->loss_weight == 0.5f);
                assert_string_equal(sm->caption, "photo of dog");
            } else {
                assert_true(sm->loss_weight == 1.0f);
                assert_string_equal(sm->caption, idx < 5 ? "photo of sks dog" : "photo of sks cat");
            }
            /* centred crop */
            int ex = sm->place.resized.width - sm->place.bucket.width;
            assert_int_equal(sm->place.crop_x, ex / 2);
        }
    }
    static const size_t want[10] = {3, 3, 3, 3, 3, 2, 2, 7, 6, 6};
    for (int i = 0; i < 10; i++)
        assert_int_equal(per_image[i], want[i]);
    assert_int_equal(total, 19 + 19);
    assert_int_equal(reg, 19);
    assert_int_equal(n_batches, (int)batches_per_epoch(&b));
    /* Σ ceil(count / 2) over the buckets */
    size_t expect_batches = 0;
    for (size_t i = 0; i < b.bucket_count; i++)
        expect_batches += (b.buckets[i].count + 1) / 2;
    assert_int_equal(n_batches, expect_batches);
    printf("# %zu buckets, %d batches, %lld flips of %lld\n", b.bucket_count, n_batches, flips, total);
    assert_true(flips > 8 && flips < 30);
    batches_free(&b);
}

/* the sequence of (image id, flip) of an epoch from a position on */
static size_t trace(batches *b, size_t *ids, size_t cap)
{
    batch bt;
    size_t n = 0;
    error_info err = {0};
    while (batches_next(b, &bt, &err) == 1)
        for (int k = 0; k < bt.count && n < cap; k++)
            ids[n++] = bt.samples[k].image_id * 2 + bt.samples[k].place.flip;
    return n;
}

static void test_order_and_resume(void **state)
{
    (void)state;
    dataset_set set = make_set(3);
    batch_settings s = {.captions = {.caption_separator = ",", .shuffle_caption = true},
                        .prior_loss_weight = 1.0, .flip_aug = true, .random_crop = true};
    batches a, b;
    error_info err = {0};
    assert_int_equal(batches_init(&a, &set, &s, 7, &err), 0);
    assert_int_equal(batches_init(&b, &set, &s, 7, &err), 0);
    size_t t1[64], t2[64], t3[64];
    batches_epoch(&a, 3);
    size_t n1 = trace(&a, t1, 64);
    batches_epoch(&a, 1);   /* an earlier epoch in between must not matter */
    trace(&a, t2, 64);
    batches_epoch(&a, 3);
    size_t n2 = trace(&a, t2, 64);
    assert_int_equal(n1, n2);
    assert_memory_equal(t1, t2, n1 * sizeof *t1);
    /* resume: b seeks to (3, 4) and continues as a did after its 4th batch */
    batches_epoch(&a, 3);
    batch bt;
    size_t skipped = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(batches_next(&a, &bt, &err), 1);
        skipped += (size_t)bt.count;
    }
    int ep;
    size_t pos;
    batches_position(&a, &ep, &pos);
    assert_int_equal(ep, 3);
    assert_int_equal(pos, 4);
    batches_seek(&b, ep, pos);
    size_t n3 = trace(&b, t3, 64);
    assert_int_equal(n3, n1 - skipped);
    assert_memory_equal(t3, t1 + skipped, n3 * sizeof *t3);
    /* another epoch: another order */
    batches_epoch(&a, 4);
    size_t n4 = trace(&a, t2, 64);
    assert_int_equal(n4, n1);
    assert_true(memcmp(t1, t2, n1 * sizeof *t1) != 0);
    /* random crops stay inside the resized image */
    batches_epoch(&a, 2);
    int moved = 0;
    while (batches_next(&a, &bt, &err) == 1)
        for (int k = 0; k < bt.count; k++) {
            const image_placement *p = &bt.samples[k].place;
            assert_true(p->crop_x >= 0 && p->crop_x + p->bucket.width <= p->resized.width);
            assert_true(p->crop_y >= 0 && p->crop_y + p->bucket.height <= p->resized.height);
            moved += p->crop_x != (p->resized.width - p->bucket.width) / 2
                     || p->crop_y != (p->resized.height - p->bucket.height) / 2;
        }
    assert_true(moved > 0);
    batches_free(&a);
    batches_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reg_balance),
        cmocka_unit_test(test_epoch_contents),
        cmocka_unit_test(test_order_and_resume),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
