/* test_train_metadata.c — the dataset keys of a LoRA's metadata as train_network.py writes
 * them. With a dataset config (a dataset_config file, or [[datasets]] in the preset: the same
 * text) its `if use_user_config:` branch: ss_datasets, one object per dataset (counts with
 * repeats, its own buckets with the reg images balanced, its tag frequency, each subset's
 * options, class_tokens and is_reg or metadata_file), ss_tag_frequency / ss_dataset_dirs
 * merged across datasets, and none of the legacy keys. In folder mode its `else:` branch:
 * the legacy keys (bucket settings None / False without buckets, tags of every folder, reg
 * ones too, lower-cased beyond ASCII, the mean aspect-ratio error summed as numpy does), and
 * no ss_datasets. Every expected value is worked out by hand from sd-scripts' code in the
 * comments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "engine/lora/lora_file.h"
#include "engine/models/checkpoint.h"
#include "engine/train/train_run_config.h"
#include "plan.h"
#include "tests/bmp_fixture.h"

static char tmp[64];

/* A black BMP of w x h under tmp (only its size matters). */
static void write_bmp(const char *rel, int w, int h)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    bmp_fixture_write(path, w, h, 0);
}

static void write_text(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void make_dir(const char *rel)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    mkdir(path, 0755);
}

/* Dataset 1 (DreamBooth, buckets): a/train t1 128x64 "Red, blue, red", t2 64x64
 * "blue, green, Café", t3 64x128 without caption (class tokens); reg r1 64x64, r2 128x64
 * without captions. Dataset 2: b/train (the same folder name) u1 64x64 with a two-line
 * caption, u2 96x64 without one. Dataset 3 (fine-tuning): ft/meta_ft.json naming f1, f2.
 * Folder mode: fold/img/3_Cat c1..c9 (sizes in test_folders; c1 captioned), an empty
 * fold/img/2_empty, fold/reg/1_cat q1 64x64. */
static void make_images(void)
{
    static const char *const dirs[] = {"a", "a/train", "reg", "b", "b/train", "ft", "fold",
                                       "fold/img", "fold/img/3_Cat", "fold/img/2_empty",
                                       "fold/reg", "fold/reg/1_cat"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        make_dir(dirs[i]);
    write_bmp("a/train/t1.bmp", 128, 64);
    write_text("a/train/t1.txt", "Red, blue, red\n");
    write_bmp("a/train/t2.bmp", 64, 64);
    write_text("a/train/t2.txt", "blue, green, Caf\xc3\xa9\n");
    write_bmp("a/train/t3.bmp", 64, 128);
    write_bmp("reg/r1.bmp", 64, 64);
    write_bmp("reg/r2.bmp", 128, 64);
    write_bmp("b/train/u1.bmp", 64, 64);
    write_text("b/train/u1.txt", "Blue, Yellow\n\nsecond line, x\n");
    write_bmp("b/train/u2.bmp", 96, 64);
    write_bmp("ft/f1.bmp", 64, 64);
    write_bmp("ft/f2.bmp", 64, 64);
    write_text("ft/meta_ft.json",
               "{\"f1.bmp\": {\"caption\": \"a photo\", \"tags\": \"Tag A, tag b\", \"image_size\": [64, 64]},\n"
               " \"f2.bmp\": {\"caption\": \"another\", \"image_size\": [64, 64]}}\n");
    static const int cat_sizes[9][2] = {{64, 64}, {64, 128}, {64, 80}, {100, 64}, {64, 96},
                                        {112, 64}, {72, 64}, {64, 72}, {64, 96}};
    for (int i = 0; i < 9; i++) {
        char name[64];
        snprintf(name, sizeof name, "fold/img/3_Cat/c%d.bmp", i + 1);
        write_bmp(name, cat_sizes[i][0], cat_sizes[i][1]);
    }
    /* "Cat, sitting,<NBSP>ÉCOLE<IDEOGRAPHIC SPACE>, ΟΔΟΣ ΣΟΦΟΣ, İ" */
    write_text("fold/img/3_Cat/c1.txt", "Cat, sitting,\xc2\xa0\xc3\x89" "COLE\xe3\x80\x80, "
               "\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x9f\xce\xa6\xce\x9f\xce\xa3, \xc4\xb0\n");
    write_bmp("fold/reg/1_cat/q1.bmp", 64, 64);
}

static const char *dataset_toml =
    "[general]\n"
    "shuffle_caption = true\n"
    "keep_tokens = 1\n"
    "caption_extension = '.txt'\n"
    "\n"
    "[[datasets]]\n"
    "resolution = [128, 64]\n"
    "batch_size = 2\n"
    "enable_bucket = true\n"
    "min_bucket_reso = 64\n"
    "max_bucket_reso = 200\n"
    "resize_interpolation = 'bicubic'\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%1$s/a/train'\n"
    "  num_repeats = 3\n"
    "  class_tokens = 'sks char'\n"
    "  flip_aug = true\n"
    "  caption_prefix = 'pre'\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%1$s/reg'\n"
    "  is_reg = true\n"
    "  num_repeats = 2\n"
    "  class_tokens = 'char'\n"
    "  resize_interpolation = 'cubic'\n"
    "\n"
    "[[datasets]]\n"
    "resolution = 64\n"
    "batch_size = 1\n"
    "enable_bucket = false\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '%1$s/b/train'\n"
    "  num_repeats = 2\n"
    "  color_aug = true\n"
    "  random_crop = true\n"
    "  shuffle_caption = false\n"
    "  keep_tokens_separator = '|||'\n"
    "  secondary_separator = ';;;'\n"
    "  enable_wildcard = true\n"
    "  caption_suffix = 'suf'\n"
    "\n"
    "[[datasets]]\n"
    "resolution = 64\n"
    "batch_size = 3\n"
    "enable_bucket = false\n"
    "  [[datasets.subsets]]\n"
    "  metadata_file = '%1$s/ft/meta_ft.json'\n"
    "  image_dir = '%1$s/ft'\n";

/* The command line under the dataset config (sd-scripts' argparse level): its
 * resize_interpolation is datasets 2 and 3's. */
static const char *const cli_settings[] = {
    "resize_interpolation=lanczos", "enable_bucket=true", "bucket_no_upscale=false",
    "min_bucket_reso=64", "max_bucket_reso=256", "caption_extension=.txt", "train_batch_size=4",
    "cache_latents=false", "cache_latents_to_disk=false", "resolution=64"};

/* Dataset 1 (train_util.DreamBoothDataset, BucketManager):
 * - num_train_images 3 images x 3 = 9; num_reg_images 2 x 2 = 4 (before balancing).
 * - max_bucket_reso 200 is raised to the step (adjust_min_max_bucket_reso_by_steps):
 *   200 + 64 - 200 % 64 = 256; min 64 stays.
 * - buckets: make_bucket_resolutions((128, 64), 64, 256, 64), max_area 8192: (64, 64) from
 *   sqrt; width 64 → height 8192 // 64 = 128 → (64, 128), (128, 64); width 128 → 64, the
 *   same pair; 192 and 256 give heights under 64. Each image's own size is a bucket.
 *   Train: 3 samples in each. Reg balancing to 9: r1, r2 registered with 2 each (n = 4),
 *   then +1 in turn: r1 3, r2 3, r1 4, r2 4, r1 5 (n = 9). So (64, 64) 3 + 5 = 8,
 *   (64, 128) 3, (128, 64) 3 + 4 = 7; bucket_info keys are the indices sorted by (w, h).
 *   mean_img_ar_error: every image has a bucket of its own size, so each |ar error| is 0 and
 *   np.mean gives the float 0.0.
 * - tag_frequency: every subset's folder, reg included; tags split on ",", stripped,
 *   lower-cased; t3 and the reg images read their class tokens.
 * - the train subset's resize_interpolation comes from the dataset ("bicubic"). */
#define DS1_SUBSETS                                                                            \
    "[{\"img_count\": 3, \"num_repeats\": 3, \"color_aug\": false, \"flip_aug\": true, "         \
    "\"random_crop\": false, \"shuffle_caption\": true, \"keep_tokens\": 1, "                    \
    "\"keep_tokens_separator\": \"\", \"secondary_separator\": null, \"enable_wildcard\": false, " \
    "\"caption_prefix\": \"pre\", \"caption_suffix\": null, \"resize_interpolation\": "          \
    "\"bicubic\", \"image_dir\": \"train\", \"class_tokens\": \"sks char\", \"is_reg\": false}, " \
    "{\"img_count\": 2, \"num_repeats\": 2, \"color_aug\": false, \"flip_aug\": false, "         \
    "\"random_crop\": false, \"shuffle_caption\": true, \"keep_tokens\": 1, "                    \
    "\"keep_tokens_separator\": \"\", \"secondary_separator\": null, \"enable_wildcard\": false, " \
    "\"caption_prefix\": null, \"caption_suffix\": null, \"resize_interpolation\": \"cubic\", "   \
    "\"image_dir\": \"reg\", \"class_tokens\": \"char\", \"is_reg\": true}]"
#define DS1_TAGS                                                                               \
    "\"train\": {\"red\": 2, \"blue\": 2, \"green\": 1, \"caf\\u00e9\": 1, \"sks char\": 1}, "    \
    "\"reg\": {\"char\": 2}"
#define DS1                                                                                    \
    "{\"is_dreambooth\": true, \"batch_size_per_device\": 2, \"num_train_images\": 9, "         \
    "\"num_reg_images\": 4, \"resolution\": [128, 64], \"enable_bucket\": true, "               \
    "\"min_bucket_reso\": 64, \"max_bucket_reso\": 256, \"tag_frequency\": {" DS1_TAGS "}, "    \
    "\"bucket_info\": {\"buckets\": {\"0\": {\"resolution\": [64, 64], \"count\": 8}, "          \
    "\"1\": {\"resolution\": [64, 128], \"count\": 3}, \"2\": {\"resolution\": [128, 64], "      \
    "\"count\": 7}}, \"mean_img_ar_error\": 0.0}, \"resize_interpolation\": \"bicubic\", "     \
    "\"subsets\": " DS1_SUBSETS "}"

/* Dataset 2: 2 images x 2 = 4, no buckets: min/max_bucket_reso and bucket_info None. The
 * dataset and the subset take the command line's "lanczos"; no class_tokens: None. With
 * enable_wildcard read_caption joins the caption's non-empty lines with "\n", so one tag
 * spans them; u2 has no caption and no class tokens: "". */
#define DS2                                                                                    \
    "{\"is_dreambooth\": true, \"batch_size_per_device\": 1, \"num_train_images\": 4, "         \
    "\"num_reg_images\": 0, \"resolution\": [64, 64], \"enable_bucket\": false, "               \
    "\"min_bucket_reso\": null, \"max_bucket_reso\": null, \"tag_frequency\": {\"train\": "     \
    "{\"blue\": 1, \"yellow\\nsecond line\": 1, \"x\": 1}}, \"bucket_info\": null, "            \
    "\"resize_interpolation\": \"lanczos\", \"subsets\": [{\"img_count\": 2, \"num_repeats\": 2, " \
    "\"color_aug\": true, \"flip_aug\": false, \"random_crop\": true, \"shuffle_caption\": false, " \
    "\"keep_tokens\": 1, \"keep_tokens_separator\": \"|||\", \"secondary_separator\": \";;;\", " \
    "\"enable_wildcard\": true, \"caption_prefix\": null, \"caption_suffix\": \"suf\", "        \
    "\"resize_interpolation\": \"lanczos\", \"image_dir\": \"train\", \"class_tokens\": null, " \
    "\"is_reg\": false}]}"

/* Dataset 3 (FineTuningDataset): 2 entries x 1; its tag frequency is the metadata's tags
 * under the metadata file's name; the subset has metadata_file instead of class_tokens. */
#define DS3_TAGS "\"meta_ft.json\": {\"tag a\": 1, \"tag b\": 1}"
#define DS3                                                                                    \
    "{\"is_dreambooth\": false, \"batch_size_per_device\": 3, \"num_train_images\": 2, "        \
    "\"num_reg_images\": 0, \"resolution\": [64, 64], \"enable_bucket\": false, "               \
    "\"min_bucket_reso\": null, \"max_bucket_reso\": null, \"tag_frequency\": {" DS3_TAGS "}, " \
    "\"bucket_info\": null, \"resize_interpolation\": \"lanczos\", \"subsets\": [{"            \
    "\"img_count\": 2, \"num_repeats\": 1, \"color_aug\": false, \"flip_aug\": false, "         \
    "\"random_crop\": false, \"shuffle_caption\": true, \"keep_tokens\": 1, "                    \
    "\"keep_tokens_separator\": \"\", \"secondary_separator\": null, \"enable_wildcard\": false, " \
    "\"caption_prefix\": null, \"caption_suffix\": null, \"resize_interpolation\": \"lanczos\", " \
    "\"image_dir\": \"ft\", \"metadata_file\": \"meta_ft.json\"}]}"

static const char *const legacy_keys[] = {
    "ss_batch_size_per_device", "ss_total_batch_size", "ss_resolution", "ss_color_aug",
    "ss_flip_aug", "ss_random_crop", "ss_shuffle_caption", "ss_enable_bucket",
    "ss_bucket_no_upscale", "ss_min_bucket_reso", "ss_max_bucket_reso", "ss_keep_tokens",
    "ss_reg_dataset_dirs", "ss_bucket_info"};

static void expect(const lora_metadata *md, const char *key, const char *want, const char *what)
{
    const char *got = lora_metadata_get(md, key);
    CHECK(got && !strcmp(got, want), "%s: %s =\n  %s\nwant\n  %s", what, key, got ? got : "(missing)",
          want);
}

/* The metadata of cfg's run; 0 when it was built. */
static int build(config *cfg, const char *origin, lora_metadata *md, const char *what)
{
    error_info err = {0};
    plan p;
    int rc = plan_compute(cfg, origin, &p, &err);
    CHECK(rc == 0, "%s: plan: %s (%s)", what, err.message, err.key);
    if (rc == 0) {
        train_run_info info = {.family = CKPT_SD1, .started_at = (double)time(NULL)};
        rc = train_metadata_build(md, cfg, &p, &info, &err);
        CHECK(rc == 0, "%s: metadata: %s", what, err.message);
    }
    plan_free(&p);
    return rc;
}

static void check_dataset_config_keys(const lora_metadata *md, const char *what)
{
    expect(md, "ss_datasets", "[" DS1 ", " DS2 ", " DS3 "]", what);
    /* merged: a folder name's tags once, from the first dataset that has it */
    expect(md, "ss_tag_frequency", "{" DS1_TAGS ", " DS3_TAGS "}", what);
    /* merged dirs: no reg subset, the second "train" numbered */
    expect(md, "ss_dataset_dirs", "{\"train\": {\"n_repeats\": 3, \"img_count\": 3}, "
                                  "\"train (2)\": {\"n_repeats\": 2, \"img_count\": 2}, "
                                  "\"meta_ft.json\": {\"n_repeats\": 1, \"img_count\": 2}}", what);
    /* 9 + 4 + 2 training samples, 4 reg; batches 2 x (8, 3, 7) → 4 + 2 + 4, 4 x 1, 2 / 3 → 1 */
    expect(md, "ss_num_train_images", "15", what);
    expect(md, "ss_num_reg_images", "4", what);
    expect(md, "ss_num_batches_per_epoch", "15", what);
    expect(md, "ss_resize_interpolation", "lanczos", what);
    for (size_t i = 0; i < sizeof legacy_keys / sizeof *legacy_keys; i++)
        CHECK(!lora_metadata_get(md, legacy_keys[i]), "%s: %s written with a dataset config", what,
              legacy_keys[i]);
}

static int set_all(config *cfg, const char *const *sets, size_t n, error_info *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = config_set(cfg, sets[i], err);
    return rc;
}

/* The same datasets from a dataset_config file and inline in the preset. */
static void test_dataset_config(void)
{
    char text[8192], path[256];
    snprintf(text, sizeof text, dataset_toml, tmp);
    write_text("dataset.toml", text);
    snprintf(text, sizeof text, "[model]\ndataset_config = \"%s/dataset.toml\"\n", tmp);
    write_text("run.toml", text);

    static const char *const files[] = {"run.toml", "dataset.toml"};
    static const char *const what[] = {"dataset_config file", "[[datasets]] in the preset"};
    for (int k = 0; k < 2; k++) {
        config cfg;
        config_init(&cfg);
        config_warnings w = {0};
        error_info err = {0};
        snprintf(path, sizeof path, "%s/%s", tmp, files[k]);
        int rc = config_load(&cfg, path, &w, &err);
        config_warnings_free(&w);
        if (rc == 0)
            rc = set_all(&cfg, cli_settings, sizeof cli_settings / sizeof *cli_settings, &err);
        CHECK(rc == 0, "%s: load: %s (%s)", what[k], err.message, err.key);
        lora_metadata md = {0};
        if (rc == 0 && build(&cfg, path, &md, what[k]) == 0)
            check_dataset_config_keys(&md, what[k]);
        lora_metadata_free(&md);
        config_free(&cfg);
    }
}

/* Folder mode's tag frequency (BaseDataset.set_tag_frequency for every folder that exists):
 * - 2_empty has no images: {} (its subset is dropped afterwards, so not in ss_dataset_dirs).
 * - 3_Cat: c1's caption split on ",": "Cat" → "cat"; "sitting"; "<NBSP>ÉCOLE<U+3000>"
 *   stripped (both are str.isspace()) and lowered → "école"; "ΟΔΟΣ ΣΟΦΟΣ" → "οδος σοφος":
 *   a Σ after a letter and before none is final ς, the one after the space is σ; "İ" lowers
 *   to "i" + U+0307. c2..c9 have no caption: the class tokens "Cat" → cat 1 + 8 = 9.
 * - the reg folder 1_cat: q1's class tokens "cat". */
#define FOLDER_TAGS                                                                            \
    "{\"2_empty\": {}, \"3_Cat\": {\"cat\": 9, \"sitting\": 1, \"\\u00e9cole\": 1, "              \
    "\"\\u03bf\\u03b4\\u03bf\\u03c2 \\u03c3\\u03bf\\u03c6\\u03bf\\u03c2\": 1, \"i\\u0307\": 1}, "        \
    "\"1_cat\": {\"cat\": 1}}"

/* Folder mode: the `else:` branch. fold/img/3_Cat: 9 images, 3 repeats = 27 samples;
 * fold/reg/1_cat: 1 image, balanced to 27. Values from the command line (args), batch 2 x
 * accumulation 2. With buckets (resolution 64, min 70 → 64 and max 200 → 256 by the steps):
 * make_bucket_resolutions((64, 64), 64, 256, 64) has only (64, 64) (width 128 gives height
 * 4096 // 128 // 64 * 64 = 0), so every image is there: 27 + 27 = 54 samples. Each image's
 * ar error is |64/64 - w/h| (select_bucket), in order c1..c9 then the reg q1:
 *   0, 0.5, 1 - 0.8 = 0.19999999999999996, 0.5625, 1 - 0.6666666666666666 =
 *   0.33333333333333337, 0.75, 0.125, 1 - 0.8888888888888888 = 0.11111111111111116,
 *   0.33333333333333337, 0.
 * np.mean sums ten values pairwise: the first eight in lanes, ((0 + 0.5) + (0.19999999999999996
 * + 0.5625)) + ((0.33333333333333337 + 0.75) + (0.125 + 0.11111111111111116)) = (0.5 + 0.7625)
 * + (1.0833333333333335 + 0.23611111111111116) = 2.581944444444445, then + 0.33333333333333337
 * + 0 = 2.9152777777777783; / 10 = 0.29152777777777783 (a running sum gives 2.915277777777778
 * and 0.2915277777777778). Without buckets the dataset's min/max_bucket_reso are None, its
 * bucket_no_upscale False (even when set) and bucket_info None. */
static void test_folders(void)
{
    char set_img[300], set_reg[300];
    snprintf(set_img, sizeof set_img, "train_data_dir=%s/fold/img", tmp);
    snprintf(set_reg, sizeof set_reg, "reg_data_dir=%s/fold/reg", tmp);
    const char *const sets[] = {set_img, set_reg, "resolution=64", "min_bucket_reso=70",
                                "max_bucket_reso=200", "train_batch_size=2",
                                "gradient_accumulation_steps=2", "keep_tokens=2", "flip_aug=true",
                                "shuffle_caption=true", "caption_extension=.txt",
                                "cache_latents=false", "cache_latents_to_disk=false"};
    static const struct {
        const char *enable, *no_upscale;
        const char *kv[5][2];
    } cases[] = {
        {"enable_bucket=true", "bucket_no_upscale=false",
         {{"ss_enable_bucket", "True"}, {"ss_bucket_no_upscale", "False"},
          {"ss_min_bucket_reso", "64"}, {"ss_max_bucket_reso", "256"},
          {"ss_bucket_info", "{\"buckets\": {\"0\": {\"resolution\": [64, 64], \"count\": 54}}, "
                             "\"mean_img_ar_error\": 0.29152777777777783}"}}},
        {"enable_bucket=false", "bucket_no_upscale=true",
         {{"ss_enable_bucket", "False"}, {"ss_bucket_no_upscale", "False"},
          {"ss_min_bucket_reso", "None"}, {"ss_max_bucket_reso", "None"},
          {"ss_bucket_info", "null"}}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char what[64];
        snprintf(what, sizeof what, "folders, %s", cases[c].enable);
        config cfg;
        config_init(&cfg);
        error_info err = {0};
        int rc = set_all(&cfg, sets, sizeof sets / sizeof *sets, &err);
        if (rc == 0)
            rc = config_set(&cfg, cases[c].enable, &err);
        if (rc == 0)
            rc = config_set(&cfg, cases[c].no_upscale, &err);
        CHECK(rc == 0, "%s: %s (%s)", what, err.message, err.key);
        lora_metadata md = {0};
        if (rc == 0 && build(&cfg, "folders", &md, what) == 0) {
            static const char *const kv[][2] = {
                {"ss_batch_size_per_device", "2"}, {"ss_total_batch_size", "4"},
                {"ss_resolution", "(64, 64)"}, {"ss_color_aug", "False"}, {"ss_flip_aug", "True"},
                {"ss_random_crop", "False"}, {"ss_shuffle_caption", "True"}, {"ss_keep_tokens", "2"},
                {"ss_dataset_dirs", "{\"3_Cat\": {\"n_repeats\": 3, \"img_count\": 9}}"},
                {"ss_reg_dataset_dirs", "{\"1_cat\": {\"n_repeats\": 1, \"img_count\": 1}}"},
                {"ss_num_train_images", "27"}, {"ss_num_reg_images", "1"},
                {"ss_tag_frequency", FOLDER_TAGS}};
            for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
                expect(&md, kv[i][0], kv[i][1], what);
            for (size_t i = 0; i < 5; i++)
                expect(&md, cases[c].kv[i][0], cases[c].kv[i][1], what);
            CHECK(!lora_metadata_get(&md, "ss_datasets"), "%s: ss_datasets written", what);
        }
        lora_metadata_free(&md);
        config_free(&cfg);
    }
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-test-meta-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    make_images();
    test_dataset_config();
    test_folders();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return 1;
    return failures != 0;
}
