/* test_dataset_options.c — per-subset and per-dataset options of an sd-scripts dataset config
 * as the plan and the batches apply them (sd-scripts' config_util lookup: subset → dataset →
 * general → command line → default): repeats, class tokens, caption extension (a "." added),
 * is_reg, flips and caption settings per subset; resolution, batch size and bucket settings
 * per dataset with adjust_min_max_bucket_reso_by_steps; two datasets whose buckets share a
 * resolution still batch apart; refusals naming the key (color_aug with cache_latents,
 * min_bucket_reso above the resolution); network_multiplier's warning; cache_info's
 * metadata_cache.json written, then read instead of the folder. Expected numbers are worked
 * out by hand in the comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "engine/data/batches.h"
#include "fileio.h"
#include "plan.h"
#include "tests/bmp_fixture.h"

static char tmp[64];


static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void path_of(char *out, size_t n, const char *rel)
{
    snprintf(out, n, "%s/%s", tmp, rel);
}

static void make_images(void)
{
    static const char *const dirs[] = {"a", "reg", "c", "d", "f"};
    char p[256];
    for (int i = 0; i < 5; i++) {
        path_of(p, sizeof p, dirs[i]);
        mkdir(p, 0755);
    }
    for (int i = 0; i < 2; i++) {   /* a: 64x64, no captions: class tokens */
        snprintf(p, sizeof p, "%s/a/%d.bmp", tmp, i);
        bmp_fixture_write(p, 64, 64, 128);
    }
    snprintf(p, sizeof p, "%s/reg/r.bmp", tmp);
    bmp_fixture_write(p, 64, 64, 128);
    snprintf(p, sizeof p, "%s/reg/r.caption", tmp);   /* the command line's extension */
    write_text(p, "x, y, z\n");
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/c/%d.bmp", tmp, i);
        bmp_fixture_write(p, 128, 64, 128);
        snprintf(p, sizeof p, "%s/c/%d.txt", tmp, i);
        write_text(p, "a, b, c, d\n");
    }
    snprintf(p, sizeof p, "%s/d/0.bmp", tmp);
    bmp_fixture_write(p, 64, 64, 128);
    snprintf(p, sizeof p, "%s/f/x_1_2_three_4.bmp", tmp);   /* not a face name sd-scripts reads */
    bmp_fixture_write(p, 64, 64, 128);
}

static const char *dataset_toml =
    "[general]\n"
    "shuffle_caption = true\n"
    "keep_tokens = 1\n"
    "caption_dropout_rate = 0.25\n"
    "\n"
    "[[datasets]]\n"
    "resolution = 64\n"
    "batch_size = 2\n"
    "enable_bucket = false\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%s/a'\n"
    "  num_repeats = 3\n"
    "  class_tokens = 'sks dog'\n"
    "  caption_extension = 'txt'\n"
    "  flip_aug = true\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%s/reg'\n"
    "  is_reg = true\n"
    "\n"
    "[[datasets]]\n"
    "resolution = [128, 64]\n"
    "max_bucket_reso = 200\n"
    "caption_extension = '.txt'\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%s/c'\n"
    "  num_repeats = 2\n"
    "  shuffle_caption = false\n"
    "  keep_tokens = 2\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%s/d'\n"
    "  num_repeats = 3\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%s/c'\n"
    "  num_repeats = 5\n";

static int load(config *cfg, const char *toml_text, error_info *err)
{
    char path[256], text[4096];
    path_of(path, sizeof path, "dataset.toml");
    snprintf(text, sizeof text, toml_text, tmp, tmp, tmp, tmp, tmp);
    write_text(path, text);
    config_init(cfg);
    config_warnings w = {0};
    int rc = config_load(cfg, path, &w, err);
    config_warnings_free(&w);
    /* the command line: buckets on, min 100 (→ 64 by the step), caption extension .caption */
    const char *sets[] = {"enable_bucket=true", "min_bucket_reso=100", "max_bucket_reso=512",
                          "caption_extension=.caption", "train_batch_size=1"};
    for (size_t i = 0; rc == 0 && i < sizeof sets / sizeof *sets; i++)
        rc = config_set(cfg, sets[i], err);
    return rc;
}

static void test_plan(void)
{
    config cfg;
    error_info err = {0};
    CHECK(load(&cfg, dataset_toml, &err) == 0, "load: %s", err.message);
    plan p;
    int rc = plan_compute(&cfg, "test", &p, &err);
    CHECK(rc == 0, "plan: %s (%s)", err.message, err.key);
    if (rc != 0) {
        plan_free(&p);
        config_free(&cfg);
        return;
    }
    CHECK(p.data.group_count == 2, "groups %zu", p.data.group_count);
    const dataset_group *g1 = &p.data.groups[0], *g2 = &p.data.groups[1];
    /* dataset 1: its own resolution and batch size, bucketing off although the CLI has it on */
    CHECK(!g1->buckets.enabled && g1->buckets.width == 64 && g1->buckets.height == 64,
          "g1 buckets %d %dx%d", g1->buckets.enabled, g1->buckets.width, g1->buckets.height);
    CHECK(g1->batch_size == 2, "g1 batch %d", g1->batch_size);
    /* dataset 2: [128, 64], buckets from the CLI, min 100 → 64, max 200 → 256, batch 1 */
    CHECK(g2->buckets.enabled && g2->buckets.width == 128 && g2->buckets.height == 64,
          "g2 buckets %d %dx%d", g2->buckets.enabled, g2->buckets.width, g2->buckets.height);
    CHECK(g2->buckets.min_reso == 64 && g2->buckets.max_reso == 256 && g2->buckets.steps == 64,
          "g2 min %d max %d steps %d", g2->buckets.min_reso, g2->buckets.max_reso, g2->buckets.steps);
    CHECK(g2->batch_size == 1, "g2 batch %d", g2->batch_size);
    /* the second subset of c is a duplicate: ignored with a note */
    CHECK(g1->subset_count == 2 && g2->subset_count == 2, "subsets %zu %zu", g1->subset_count,
          g2->subset_count);
    bool dup = false;
    for (size_t i = 0; i < p.data.note_count; i++)
        dup |= strstr(p.data.notes[i], "same image_dir") != NULL;
    CHECK(dup, "duplicate subset note");
    const dataset_subset *a = &g1->subsets[0], *reg = &g1->subsets[1], *c = &g2->subsets[0],
                         *d = &g2->subsets[1];
    CHECK(a->num_repeats == 3 && !a->is_reg && reg->is_reg && reg->num_repeats == 1,
          "repeats/is_reg");
    CHECK(!strcmp(a->class_tokens, "sks dog") && !strcmp(reg->class_tokens, ""), "class tokens");
    CHECK(!strcmp(a->caption_extension, ".txt"), "a ext %s", a->caption_extension);
    CHECK(!strcmp(reg->caption_extension, ".caption"), "reg ext %s", reg->caption_extension);
    CHECK(!strcmp(c->caption_extension, ".txt"), "c ext (dataset level) %s", c->caption_extension);
    CHECK(a->opt.flip_aug && !reg->opt.flip_aug && !c->opt.flip_aug, "flip_aug per subset");
    /* general: shuffle, keep 1, dropout 0.25; c overrides shuffle and keep */
    CHECK(reg->opt.captions.shuffle_caption && reg->opt.captions.keep_tokens == 1, "reg captions");
    CHECK(!c->opt.captions.shuffle_caption && c->opt.captions.keep_tokens == 2, "c captions");
    CHECK(c->opt.captions.caption_dropout_rate == 0.25 && d->opt.captions.caption_dropout_rate == 0.25,
          "dropout from general");
    CHECK(a->image_count == 2 && reg->image_count == 1 && c->image_count == 3 && d->image_count == 1,
          "images %zu %zu %zu %zu", a->image_count, reg->image_count, c->image_count, d->image_count);
    /* train samples 2·3 + 3·2 + 1·3 = 15; the reg image balances dataset 1's 6 samples */
    CHECK(p.train_samples == 15, "train samples %lld", p.train_samples);
    CHECK(p.reg_samples == 6, "reg samples %lld", p.reg_samples);
    /* dataset 1: 64x64 holds 6 + 6 = 12 samples, batch 2 → 6 batches; dataset 2: 128x64 holds
     * 6 and 64x64 holds 3, batch 1 → 9; an epoch is 15 batches. The plan's 64x64 line adds
     * both datasets: 15 samples. */
    CHECK(p.batches_per_epoch == 15, "batches per epoch %lld", p.batches_per_epoch);
    CHECK(p.bucket_count == 2 && p.buckets[0].width == 64 && p.buckets[0].count == 15 &&
          p.buckets[1].width == 128 && p.buckets[1].count == 6, "plan buckets");

    /* the plan print shows each dataset and the options of each subset */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    plan_print(&p, &cfg, f);
    fclose(f);
    CHECK(strstr(buf, "Dataset 1: resolution 64x64, batch size 2, no buckets") != NULL, "print g1:\n%s", buf);
    CHECK(strstr(buf, "Dataset 2: resolution 128x64, batch size 1, buckets 64..256 step 64") != NULL,
          "print g2");
    CHECK(strstr(buf, "flip_aug, shuffle_caption, keep_tokens=1, caption_dropout_rate=0.25, "
                      "captions .txt, class_tokens=\"sks dog\"") != NULL, "print a's options");
    free(buf);

    /* the batches: every flip comes from subset a; c's captions keep their order (or drop);
     * reg's caption keeps its first tag */
    batch_settings bs = {.prior_loss_weight = 0.5};
    batches b;
    rc = batches_init(&b, &p.data, &bs, 7, &err);
    CHECK(rc == 0, "batches: %s", err.message);
    if (rc == 0) {
        CHECK(batches_per_epoch(&b) == 15, "batches per epoch %zu", batches_per_epoch(&b));
        long long flips_a = 0, flips_other = 0, dropped = 0, c_seen = 0, reg_seen = 0;
        for (int ep = 1; ep <= 8; ep++) {
            batches_epoch(&b, ep);
            batch bt;
            while (batches_next(&b, &bt, &err) == 1)
                for (int i = 0; i < bt.count; i++) {
                    const batch_sample *s = &bt.samples[i];
                    bool in_a = strstr(s->image_path, "/a/") != NULL;
                    if (s->place.flip && in_a)
                        flips_a++;
                    else if (s->place.flip)
                        flips_other++;
                    CHECK(s->flip_aug == in_a, "sample flip_aug %s", s->image_path);
                    if (strstr(s->image_path, "/c/")) {
                        c_seen++;
                        dropped += s->caption[0] == '\0';
                        CHECK(!s->caption[0] || !strcmp(s->caption, "a, b, c, d"), "c caption \"%s\"",
                              s->caption);
                    }
                    if (strstr(s->image_path, "/reg/")) {
                        reg_seen++;
                        CHECK(s->loss_weight == 0.5f, "reg weight");
                        CHECK(!s->caption[0] || !strncmp(s->caption, "x, ", 3), "reg caption \"%s\"",
                              s->caption);
                    }
                    if (in_a)   /* no caption file: the class tokens (or dropped) */
                        CHECK(!s->caption[0] || !strcmp(s->caption, "sks dog"), "a caption \"%s\"",
                              s->caption);
                }
        }
        /* 8 epochs x 6 samples of a: about half flipped; nothing else ever flips */
        CHECK(flips_a > 8 && flips_a < 40 && flips_other == 0, "flips a %lld other %lld", flips_a,
              flips_other);
        CHECK(c_seen == 48 && reg_seen == 48, "seen c %lld reg %lld", c_seen, reg_seen);
        CHECK(dropped > 2 && dropped < 30, "c dropped %lld of 48 at rate 0.25", dropped);
        batches_free(&b);
    }
    plan_free(&p);
    config_free(&cfg);
}

static void expect_refusal(const char *toml_text, const char *set, const char *key, const char *what)
{
    config cfg;
    error_info err = {0};
    plan p = {0};
    /* refused when the config is read or when the plan is made */
    int rc = load(&cfg, toml_text, &err);
    if (rc == 0 && set)
        CHECK(config_set(&cfg, set, &err) == 0, "set %s", set);
    if (rc == 0)
        rc = plan_compute(&cfg, "test", &p, &err);
    CHECK(rc != 0, "%s: expected a refusal", what);
    CHECK(strstr(err.key, key) != NULL || strstr(err.message, key) != NULL,
          "%s: refusal names %s: [%s] %s", what, key, err.key, err.message);
    plan_free(&p);
    config_free(&cfg);
}

static void test_refusals(void)
{
    char text[1024];
    {   /* network_multiplier: sd-scripts no longer applies it, a warning says so */
        snprintf(text, sizeof text, "%s", "[[datasets]]\nnetwork_multiplier = 0.5\n"
                                          "  [[datasets.subsets]]\n  image_dir = '%s/a'\n");
        config cfg;
        error_info err = {0};
        plan p = {0};
        int rc = load(&cfg, text, &err);
        if (rc == 0)
            rc = plan_compute(&cfg, "test", &p, &err);
        bool warned = false;
        for (size_t i = 0; i < p.warning_count; i++)
            warned |= strstr(p.warnings[i], "datasets.network_multiplier has no effect") != NULL;
        CHECK(rc == 0 && warned, "network_multiplier: %s, %s", rc ? err.message : "planned",
              warned ? "warned" : "no warning");
        plan_free(&p);
        config_free(&cfg);
    }
    snprintf(text, sizeof text, "%s", "[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '%s/a'\n"
                                      "  color_aug = true\n");
    expect_refusal(text, "cache_latents=true", "color_aug", "color_aug with cache_latents");
    snprintf(text, sizeof text, "%s", "[[datasets]]\nresolution = 64\nmin_bucket_reso = 128\n"
                                      "  [[datasets.subsets]]\n  image_dir = '%s/a'\n");
    expect_refusal(text, NULL, "min_bucket_reso", "min_bucket_reso above the resolution");
    snprintf(text, sizeof text, "%s", "[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '%s/a'\n"
                                      "  keep_tokens = 'two'\n");
    expect_refusal(text, NULL, "keep_tokens", "a string for keep_tokens");
    snprintf(text, sizeof text, "%s", "[[datasets]]\nresolution = 64\nenable_bucket = false\n"
                                      "  [[datasets.subsets]]\n  image_dir = '%s/f'\n"
                                      "  face_crop_aug_range = [2.0, 3.0]\n");
    expect_refusal(text, NULL, "face_crop_aug_range", "a face name without numbers");
    snprintf(text, sizeof text, "%s", "[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '%s/a'\n"
                                      "  face_crop_aug_range = [3.0, 2.0]\n");
    expect_refusal(text, NULL, "face_crop_aug_range", "lo above hi");
}

/* cache_info: the first plan writes <image_dir>/metadata_cache.json (path → caption with the
 * class tokens' fallback, resolution); later ones read it instead of the folder, so a new
 * image and a changed caption are not seen; a broken file is refused naming cache_info. */
static void test_cache_info(void)
{
    char p[256], q[300];
    path_of(p, sizeof p, "ci");
    mkdir(p, 0755);
    for (int i = 0; i < 3; i++) {
        snprintf(q, sizeof q, "%s/%d.bmp", p, i);
        bmp_fixture_write(q, 64 + 64 * i, 64, 128);
    }
    snprintf(q, sizeof q, "%s/0.txt", p);
    write_text(q, "first caption\n");
    const char *toml = "[[datasets]]\nresolution = 64\n  [[datasets.subsets]]\n  image_dir = '%s/ci'\n"
                       "  cache_info = true\n  class_tokens = 'tok'\n  caption_extension = '.txt'\n";
    for (int round = 0; round < 2; round++) {
        config cfg;
        error_info err = {0};
        plan pl = {0};
        int rc = load(&cfg, toml, &err);
        if (rc == 0)
            rc = plan_compute(&cfg, "test", &pl, &err);
        CHECK(rc == 0, "cache_info round %d: %s", round, err.message);
        const dataset_subset *sub = rc == 0 ? &pl.data.groups[0].subsets[0] : NULL;
        CHECK(sub && sub->image_count == 3 && sub->images[2].width == 192,
              "cache_info round %d: %zu images", round, sub ? sub->image_count : 0);
        if (sub && sub->image_count == 3) {
            char *cap = NULL;
            CHECK(dataset_image_caption(sub, &sub->images[0], false, &cap, &err) == 0 && cap &&
                      !strcmp(cap, "first caption"),
                  "round %d: caption %s", round, cap ? cap : "(none)");
            free(cap);
        }
        plan_free(&pl);
        config_free(&cfg);
        if (round == 0) {   /* the file sd-scripts writes; then the folder changes */
            snprintf(q, sizeof q, "%s/metadata_cache.json", p);
            size_t len = 0;
            char *json = fileio_read_all(q, &len, &err);
            char want[600];
            snprintf(want, sizeof want, "\"%s/1.bmp\": {\n    \"caption\": \"tok\",\n    \"resolution\": [\n"
                     "      128,\n      64\n    ]\n  }", p);
            CHECK(json && strstr(json, want), "metadata_cache.json:\n%s", json ? json : err.message);
            free(json);
            snprintf(q, sizeof q, "%s/0.txt", p);
            write_text(q, "changed caption\n");
            snprintf(q, sizeof q, "%s/3.bmp", p);
            bmp_fixture_write(q, 64, 64, 128);
        }
    }
    snprintf(q, sizeof q, "%s/metadata_cache.json", p);
    write_text(q, "{\"x.png\": {\"caption\": \"c\"}}");
    config cfg;
    error_info err = {0};
    plan pl = {0};
    int rc = load(&cfg, toml, &err);
    if (rc == 0)
        rc = plan_compute(&cfg, "test", &pl, &err);
    CHECK(rc != 0 && !strcmp(err.key, "cache_info") && strstr(err.file, "metadata_cache.json"),
          "a broken metadata_cache.json: %s (%s)", err.message, err.key);
    plan_free(&pl);
    config_free(&cfg);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-test-dsopt-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    make_images();
    test_plan();
    test_refusals();
    test_cache_info();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return 1;
    return failures != 0;
}
