/* test_validation_split.c — validation_split as sd-scripts splits:
 *   - py_random against CPython 3 (printed by `random.seed(n); random.getrandbits(32)` and
 *     `random.shuffle(list(range(10)))`): seeds 0, 42, 1234, 2^40 + 5, -7, and a shuffle of
 *     1000;
 *   - split_train_val on sd-scripts' own test case (tests/test_validation.py: 7 paths, split
 *     0.2, seed 1234 → training path2 3 6 5 1 4, validation path7), the ceil / round rule
 *     (10 images at 0.35: 7 train, 4 validate, one image in both; 0.25: 8 and 2, Python's
 *     round half to even), reg subsets kept whole and left out of validation, the fallback
 *     seed, the copied subset settings;
 *   - sd-scripts' validation timesteps, np.linspace(min, max, 6, dtype=int)[1:-1], against
 *     numpy's output;
 *   - the plan: folder mode and dataset configs ([general] and per-dataset split and seed),
 *     the counts and the --check line; refusals naming the key: a fine-tuning or conditioning
 *     dataset, training_mode finetune, validation_split out of [0, 1] in a dataset config;
 *     validate_every_n_steps without a split warns. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "engine/data/py_random.h"
#include "engine/train/train_run_internal.h"
#include "plan.h"
#include "tests/bmp_fixture.h"

static char tmp[64];

static void python_random(void)
{
    py_random r;
    py_random_seed(&r, 1234);
    const uint32_t first[] = {4150886329u, 3342196574u, 1892932127u};
    for (int i = 0; i < 3; i++) {
        uint32_t v = py_random_u32(&r);
        CHECK(v == first[i], "seed 1234 output %d: %u, CPython %u", i, v, first[i]);
    }
    static const struct {
        long long seed;
        int order[10];
    } cases[] = {{0, {7, 8, 1, 5, 3, 4, 2, 0, 9, 6}},
                 {42, {7, 3, 2, 8, 5, 6, 9, 4, 0, 1}},
                 {1234, {2, 8, 3, 5, 6, 4, 9, 0, 1, 7}},
                 {(1ll << 40) + 5, {1, 2, 3, 6, 7, 0, 5, 4, 9, 8}},
                 {-7, {8, 3, 1, 4, 7, 0, 9, 6, 2, 5}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int x[10];
        for (int i = 0; i < 10; i++)
            x[i] = i;
        py_random_seed(&r, cases[c].seed);
        py_random_shuffle(&r, x, 10, sizeof x[0]);
        CHECK(!memcmp(x, cases[c].order, sizeof x), "seed %lld: shuffle differs from CPython's (first %d)",
              cases[c].seed, x[0]);
    }
    int *big = malloc(1000 * sizeof *big);
    for (int i = 0; i < 1000; i++)
        big[i] = i;
    py_random_seed(&r, 42);
    py_random_shuffle(&r, big, 1000, sizeof *big);
    const int head[] = {776, 507, 895, 922, 33, 483, 85, 750}, tail[] = {25, 114, 654};
    CHECK(!memcmp(big, head, sizeof head) && !memcmp(big + 997, tail, sizeof tail),
          "shuffle of 1000 with seed 42 differs from CPython's: %d %d ... %d", big[0], big[1], big[999]);
    free(big);
}

/* a hand-made set: one group, subsets of n images named <prefix>1..n */
static dataset_subset *add_subset(dataset_group *g, const char *prefix, size_t n, bool reg)
{
    g->subsets = realloc(g->subsets, (g->subset_count + 1) * sizeof *g->subsets);
    dataset_subset *s = &g->subsets[g->subset_count++];
    memset(s, 0, sizeof *s);
    s->image_dir = strdup(prefix);
    s->class_tokens = strdup("tok");
    s->caption_extension = strdup(".txt");
    s->num_repeats = 3;
    s->is_reg = reg;
    s->has_options = true;
    s->opt_strings[0] = strdup("pre, ");
    s->opt.captions.caption_prefix = s->opt_strings[0];
    s->opt.captions.keep_tokens_separator = "";
    s->opt.flip_aug = true;
    s->images = calloc(n, sizeof *s->images);
    s->image_count = s->image_capacity = n;
    for (size_t i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s%zu", prefix, i + 1);
        s->images[i].path = strdup(name);
        s->images[i].width = (int)i + 1;
        s->images[i].height = 7;
    }
    return s;
}

static bool names_are(const dataset_subset *s, const char *const *names, size_t n)
{
    if (s->image_count != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(s->images[i].path, names[i]))
            return false;
    return true;
}

static void split_rules(void)
{
    error_info err = {0};
    /* sd-scripts' tests/test_validation.py */
    dataset_set set = {0}, val;
    set.groups = calloc(1, sizeof *set.groups);
    set.group_count = 1;
    set.groups[0].validation_split = 0.2;
    set.groups[0].has_validation_seed = true;
    set.groups[0].validation_seed = 1234;
    set.groups[0].batch_size = 2;
    add_subset(&set.groups[0], "path", 7, false);
    add_subset(&set.groups[0], "reg", 5, true);
    CHECK(dataset_split_validation(&set, &val, 99, "t", &err) == 0, "split: %s", err.message);
    const char *train[] = {"path2", "path3", "path6", "path5", "path1", "path4"}, *held[] = {"path7"};
    CHECK(names_are(&set.groups[0].subsets[0], train, 6), "training images not sd-scripts' (%zu, first %s)",
          set.groups[0].subsets[0].image_count, set.groups[0].subsets[0].images[0].path);
    CHECK(set.groups[0].subsets[0].images[0].width == 2, "the sizes did not move with the paths");
    CHECK(set.groups[0].subsets[1].image_count == 5 && !strcmp(set.groups[0].subsets[1].images[0].path, "reg1"),
          "the reg subset was split or shuffled");
    CHECK(val.group_count == 1 && val.groups[0].subset_count == 1, "validation: %zu groups, %zu subsets",
          val.group_count, val.group_count ? val.groups[0].subset_count : 0);
    if (val.group_count == 1 && val.groups[0].subset_count == 1) {
        const dataset_subset *v = &val.groups[0].subsets[0];
        CHECK(names_are(v, held, 1), "validation images not sd-scripts' (%zu)", v->image_count);
        CHECK(v->num_repeats == 3 && !v->is_reg && v->opt.flip_aug && !strcmp(v->class_tokens, "tok") &&
              !strcmp(v->caption_extension, ".txt") && val.groups[0].batch_size == 2,
              "the validation subset lost its settings");
        CHECK(v->opt.captions.caption_prefix && v->opt.captions.caption_prefix == v->opt_strings[0] &&
              !strcmp(v->opt.captions.caption_prefix, "pre, "),
              "the caption prefix does not point at the copy's own string");
    }
    dataset_set_free(&set);
    dataset_set_free(&val);

    /* ceil / round: 10 images at 0.35 keep 7 and hold out 4 (one in both); at 0.25, 8 and 2;
     * no seed in the group: the fallback (the training seed) */
    const double splits[] = {0.35, 0.25};
    const size_t keep[] = {7, 8}, hold[] = {4, 2};
    for (int k = 0; k < 2; k++) {
        memset(&set, 0, sizeof set);
        set.groups = calloc(2, sizeof *set.groups);
        set.group_count = 2;
        set.groups[0].validation_split = splits[k];
        add_subset(&set.groups[0], "a", 10, false);
        add_subset(&set.groups[1], "b", 4, false);   /* a dataset without a split */
        CHECK(dataset_split_validation(&set, &val, 42, "t", &err) == 0, "split: %s", err.message);
        const dataset_subset *t = &set.groups[0].subsets[0];
        CHECK(t->image_count == keep[k], "split %.2f: %zu training images, want %zu", splits[k],
              t->image_count, keep[k]);
        CHECK(set.groups[1].subsets[0].image_count == 4, "the dataset without a split lost images");
        CHECK(val.group_count == 1, "%zu validation groups", val.group_count);
        if (val.group_count == 1) {
            const dataset_subset *v = &val.groups[0].subsets[0];
            CHECK(v->image_count == hold[k], "split %.2f: %zu validation images, want %zu", splits[k],
                  v->image_count, hold[k]);
            /* CPython: random.seed(42); shuffle(range(10)) = 7 3 2 8 5 6 9 4 0 1, so the
             * order is a8 a4 a3 a9 a6 a7 a10 a5 a1 a2 */
            const char *seed42 = k == 0 ? "a10" : "a1";   /* train[6] / val[0] */
            CHECK(!strcmp(k == 0 ? t->images[6].path : v->images[0].path, seed42),
                  "split %.2f: not shuffled with the fallback seed 42", splits[k]);
            if (k == 0)
                CHECK(!strcmp(v->images[0].path, t->images[6].path),
                      "0.35: the shared image (sd-scripts' ceil / round) is not in both sets");
        }
        dataset_set_free(&set);
        dataset_set_free(&val);
    }

    /* a fine-tuning subset is refused */
    memset(&set, 0, sizeof set);
    set.groups = calloc(1, sizeof *set.groups);
    set.group_count = 1;
    set.groups[0].validation_split = 0.5;
    dataset_subset *ft = add_subset(&set.groups[0], "m", 4, false);
    ft->metadata_file = strdup("meta.json");
    CHECK(dataset_split_validation(&set, &val, 1, "t", &err) != 0 && !strcmp(err.key, "validation_split") &&
              strstr(err.message, "metadata_file"),
          "a fine-tuning dataset was split: %s", err.message);
    dataset_set_free(&set);
    dataset_set_free(&val);
}

static void timesteps(void)
{
    static const struct {
        int lo, hi, t[4];
    } cases[] = {{0, 1000, {200, 400, 600, 800}}, {100, 900, {260, 420, 580, 740}},
                 {0, 999, {199, 399, 599, 799}},  {7, 513, {108, 209, 310, 411}},
                 {0, 1, {0, 0, 0, 0}}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int t[TRUN_VAL_TIMESTEPS];
        trun_val_timesteps(cases[c].lo, cases[c].hi, t);
        CHECK(!memcmp(t, cases[c].t, sizeof t), "linspace(%d, %d): %d %d %d %d", cases[c].lo, cases[c].hi,
              t[0], t[1], t[2], t[3]);
    }
}

/* ---- the plan, from real folders ---- */

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void folder(const char *rel, int n)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    mkdir(p, 0755);
    for (int i = 0; i < n; i++) {
        char f[300];
        snprintf(f, sizeof f, "%s/%02d.bmp", p, i);
        bmp_fixture_write(f, 64, 64, 100);
    }
}

/* a preset (@ → tmp) and --set lines; plan_compute's rc */
static int plan_of(const char *toml_text, const char *const *sets, plan *p, config *cfg, error_info *err)
{
    char path[256], text[4096];
    snprintf(path, sizeof path, "%s/preset.toml", tmp);
    char *t = text;
    for (const char *s = toml_text; *s && t < text + sizeof text - 80; s++) {
        if (*s == '@')
            t += sprintf(t, "%s", tmp);
        else
            *t++ = *s;
    }
    *t = '\0';
    write_text(path, text);
    config_init(cfg);
    config_warnings w = {0};
    int rc = config_load(cfg, path, &w, err);
    config_warnings_free(&w);
    const char *base[] = {"resolution=64,64", "enable_bucket=false", "train_batch_size=2", "seed=7"};
    for (size_t i = 0; rc == 0 && i < sizeof base / sizeof *base; i++)
        rc = config_set(cfg, base[i], err);
    for (size_t i = 0; rc == 0 && sets && sets[i]; i++)
        rc = config_set(cfg, sets[i], err);
    memset(p, 0, sizeof *p);
    return rc == 0 ? plan_compute(cfg, path, p, err) : rc;
}

static bool printed(const plan *p, const config *cfg, const char *needle)
{
    char buf[8192] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    plan_print(p, cfg, f);
    fclose(f);
    if (!strstr(buf, needle))
        fprintf(stderr, "--- plan ---\n%s---\n", buf);
    return strstr(buf, needle) != NULL;
}

static void plans(void)
{
    folder("train", 0);
    folder("train/5_cat", 10);
    folder("reg", 0);
    folder("reg/1_animal", 6);
    folder("more", 3);
    config cfg;
    plan p;
    error_info err = {0};

    /* folder mode: 10 images at 0.35 → 7 train (+1 shared) and 4 validate, 5 repeats */
    const char *folders = "[model]\ntrain_data_dir = '@/train'\n[folders]\nreg_data_dir = '@/reg'\n";
    const char *s1[] = {"validation_split=0.35", "validate_every_n_steps=3", NULL};
    CHECK(plan_of(folders, s1, &p, &cfg, &err) == 0, "plan: %s", err.message);
    CHECK(p.train_images == 7 && p.train_samples == 35 && p.reg_images == 6, "training %lld images "
          "(%lld samples), reg %lld", p.train_images, p.train_samples, p.reg_images);
    CHECK(p.validation_images == 4 && p.validation_samples == 20 && p.validation_batches == 10,
          "validation %lld images, %lld samples, %lld batches", p.validation_images, p.validation_samples,
          p.validation_batches);
    CHECK(printed(&p, &cfg, "Validation:      4 images (20 samples with repeats), 10 batches x 4 "
                            "timesteps, at the end of every epoch and every 3 steps"),
          "--check does not show the validation");
    CHECK(printed(&p, &cfg, "5_cat: 1 image is both trained on and validated"),
          "--check does not note the image in both sets");
    plan_free(&p);
    config_free(&cfg);

    /* without a split: no validation set, and a warning for the validation keys */
    const char *s2[] = {"validate_every_n_steps=3", NULL};
    CHECK(plan_of(folders, s2, &p, &cfg, &err) == 0, "plan: %s", err.message);
    CHECK(p.validation.group_count == 0 && p.train_images == 10, "a split without validation_split");
    bool warned = false;
    for (size_t i = 0; i < p.warning_count; i++)
        warned |= strstr(p.warnings[i], "validate_every_n_steps has no effect") != NULL;
    CHECK(warned, "no warning for validate_every_n_steps without a split");
    plan_free(&p);
    config_free(&cfg);

    /* a dataset config: [general]'s split and seed, a second dataset with its own 0 */
    const char *toml = "[model]\ndataset_config = '@/ds.toml'\n";
    char ds[1024];
    snprintf(ds, sizeof ds, "[general]\nvalidation_split = 0.5\nvalidation_seed = 3\n"
             "[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '%s/train/5_cat'\n  num_repeats = 2\n"
             "[[datasets]]\nvalidation_split = 0\n  [[datasets.subsets]]\n  image_dir = '%s/more'\n",
             tmp, tmp);
    char dsp[256];
    snprintf(dsp, sizeof dsp, "%s/ds.toml", tmp);
    write_text(dsp, ds);
    CHECK(plan_of(toml, NULL, &p, &cfg, &err) == 0, "plan: %s", err.message);
    CHECK(p.train_images == 5 + 3 && p.validation_images == 5 && p.validation_samples == 10 &&
          p.validation.group_count == 1, "dataset config: %lld training, %lld validation images, %zu groups",
          p.train_images, p.validation_images, p.validation.group_count);
    plan_free(&p);
    config_free(&cfg);

    /* refusals */
    snprintf(ds, sizeof ds, "[[datasets]]\nvalidation_split = 1.5\n  [[datasets.subsets]]\n"
             "  image_dir = '%s/more'\n", tmp);
    write_text(dsp, ds);
    CHECK(plan_of(toml, NULL, &p, &cfg, &err) != 0 && !strcmp(err.key, "validation_split") && err.line == 2,
          "validation_split 1.5 in a dataset config: %s (line %d)", err.message, err.line);
    plan_free(&p);
    config_free(&cfg);
    const char *s3[] = {"validation_split=0.5", "training_mode=finetune", NULL};
    CHECK(plan_of(folders, s3, &p, &cfg, &err) != 0 && !strcmp(err.key, "validation_split") &&
              strstr(err.message, "training_mode finetune"),
          "training_mode finetune with a split: %s", err.message);
    plan_free(&p);
    config_free(&cfg);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-valsplit.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    python_random();
    split_rules();
    timesteps();
    plans();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    if (!failures)
        printf("validation split: CPython's random, sd-scripts' split_train_val, numpy's linspace and "
               "the plan agree\n");
    return failures != 0;
}
