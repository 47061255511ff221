/* test_masked_loss_dataset.c — masked_loss in the dataset config and the plan:
 *   - subsets with conditioning_data_dir pair each image with the first image file of its
 *     stem in that folder (a.bmp before a.png, and a.png is then not "extra"); a [general]
 *     class_tokens and the command line's alpha_mask do not reach them; a subset with
 *     alpha_mask (or the command line's) carries it to its samples; the samples carry the
 *     conditioning image and the image's size; the plan print names both sources;
 *   - refusals naming the key and the file: a training image without a mask, a mask without a
 *     training image, a mask of another size, conditioning_data_dir on some subsets of a
 *     dataset only, beside metadata_file, is_reg, alpha_mask, class_tokens, random_crop, a
 *     folder that does not exist, conditioning_data_dir without masked_loss, masked_loss
 *     without any mask source, masks with training_mode vae. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "check.h"
#include "config.h"
#include "engine/data/batches.h"
#include "plan.h"
#include "tests/bmp_fixture.h"

static char tmp[64];

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void bmp(const char *rel, int w, int h)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    bmp_fixture_write(p, w, h, 200);
}

static void dir(const char *rel)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", tmp, rel);
    mkdir(p, 0755);
}

/* img: 0, 1 (64x64), masks m: 0.bmp, 0.png (the second of stem 0), 1.bmp; alpha: a0;
 * and the broken variants: missing (no mask for 2), extra (9 has no image), small (a 32x32
 * mask) */
static void make_images(void)
{
    const char *dirs[] = {"img", "m", "alpha", "img2", "m2", "m3", "m4"};
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++)
        dir(dirs[i]);
    bmp("img/0.bmp", 64, 64);
    bmp("img/1.bmp", 64, 64);
    bmp("m/0.bmp", 64, 64);
    bmp("m/1.bmp", 64, 64);
    char p[256];
    snprintf(p, sizeof p, "%s/m/0.png", tmp);
    unsigned char px[4 * 4 * 3] = {0};
    stbi_write_png(p, 4, 4, 3, px, 12);
    bmp("alpha/a0.bmp", 64, 64);
    bmp("img2/0.bmp", 64, 64);
    bmp("img2/1.bmp", 64, 64);
    bmp("img2/2.bmp", 64, 64);
    bmp("m2/0.bmp", 64, 64);   /* 1 and 2 missing */
    bmp("m3/0.bmp", 64, 64);
    bmp("m3/1.bmp", 64, 64);
    bmp("m3/9.bmp", 64, 64);   /* extra */
    bmp("m4/0.bmp", 64, 64);
    bmp("m4/1.bmp", 32, 32);   /* another size */
}

/* %1$s is the temporary folder */
static int load(config *cfg, const char *toml_text, const char *const *sets, error_info *err)
{
    char path[256], text[4096];
    snprintf(path, sizeof path, "%s/dataset.toml", tmp);
    char *t = text;
    for (const char *s = toml_text; *s && t < text + sizeof text - 80; s++) {   /* @ → tmp */
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
    const char *base[] = {"resolution=64,64", "enable_bucket=false", "train_batch_size=1",
                          "masked_loss=true"};
    for (size_t i = 0; rc == 0 && i < sizeof base / sizeof *base; i++)
        rc = config_set(cfg, base[i], err);
    for (size_t i = 0; rc == 0 && sets && sets[i]; i++)
        rc = config_set(cfg, sets[i], err);
    return rc;
}

static const char *good_toml =
    "[general]\n"
    "class_tokens = 'general tokens'\n"
    "[[datasets]]\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '@/img'\n"
    "  conditioning_data_dir = '@/m'\n"
    "  flip_aug = true\n"
    "[[datasets]]\n"
    "  [[datasets.subsets]]\n"
    "  image_dir = '@/alpha'\n";

static void test_pairing(void)
{
    config cfg;
    error_info err = {0};
    const char *sets[] = {"alpha_mask=true", NULL};
    CHECK(load(&cfg, good_toml, sets, &err) == 0, "load: %s", err.message);
    plan p;
    int rc = plan_compute(&cfg, "test", &p, &err);
    CHECK(rc == 0, "plan: %s (%s)", err.message, err.key);
    if (rc != 0) {
        plan_free(&p);
        config_free(&cfg);
        return;
    }
    const dataset_subset *c = &p.data.groups[0].subsets[0], *a = &p.data.groups[1].subsets[0];
    CHECK(c->conditioning_data_dir && strstr(c->conditioning_data_dir, "/m"), "conditioning dir");
    CHECK(!c->opt.alpha_mask, "the command line's alpha_mask reaches a conditioning subset");
    CHECK(a->opt.alpha_mask, "the command line's alpha_mask does not reach a plain subset");
    CHECK(!strcmp(c->class_tokens, ""), "class tokens \"%s\" from [general]", c->class_tokens);
    CHECK(c->image_count == 2, "images %zu", c->image_count);
    if (c->image_count == 2) {
        CHECK(c->images[0].cond_path && strstr(c->images[0].cond_path, "/m/0.bmp"), "pair 0: %s",
              c->images[0].cond_path ? c->images[0].cond_path : "none");
        CHECK(c->images[1].cond_path && strstr(c->images[1].cond_path, "/m/1.bmp"), "pair 1");
    }
    CHECK(!a->images[0].cond_path, "alpha subset has no conditioning image");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    plan_print(&p, &cfg, f);
    fclose(f);
    CHECK(strstr(buf, "conditioning_data_dir=") && strstr(buf, "alpha_mask"), "plan print:\n%s", buf);
    free(buf);

    batch_settings bs = {.prior_loss_weight = 1};
    batches b;
    rc = batches_init(&b, &p.data, &bs, 3, &err);
    CHECK(rc == 0, "batches: %s", err.message);
    if (rc == 0) {
        batches_epoch(&b, 1);
        batch bt;
        int seen = 0;
        while (batches_next(&b, &bt, &err) == 1)
            for (int i = 0; i < bt.count; i++, seen++) {
                const batch_sample *s = &bt.samples[i];
                bool cond = strstr(s->image_path, "/img/") != NULL;
                CHECK(cond == (s->cond_path != NULL), "%s: cond_path", s->image_path);
                CHECK(cond == !s->alpha_mask, "%s: alpha_mask", s->image_path);
                CHECK(s->image_w == 64 && s->image_h == 64, "image size");
            }
        CHECK(seen == 3, "samples %d", seen);
        batches_free(&b);
    }
    plan_free(&p);
    config_free(&cfg);
}

static void expect_refusal(const char *toml_text, const char *set, const char *key,
                           const char *what, const char *mention)
{
    config cfg;
    error_info err = {0};
    plan p = {0};
    const char *sets[] = {set, NULL};
    int rc = load(&cfg, toml_text, sets, &err);
    if (rc == 0)
        rc = plan_compute(&cfg, "test", &p, &err);
    CHECK(rc != 0, "%s: expected a refusal", what);
    CHECK(strstr(err.key, key) != NULL, "%s: refusal names %s: [%s] %s", what, key, err.key,
          err.message);
    CHECK(!mention || strstr(err.message, mention) || strstr(err.file, mention),
          "%s: the message does not name %s: %s (%s)", what, mention, err.message, err.file);
    plan_free(&p);
    config_free(&cfg);
}

#define ONE(img, masks, extra) \
    "[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '@/" img "'\n" \
    "  conditioning_data_dir = '@/" masks "'\n" extra

static void test_refusals(void)
{
    expect_refusal(ONE("img2", "m2", ""), NULL, "conditioning_data_dir", "missing masks", "1.bmp");
    expect_refusal(ONE("img", "m3", ""), NULL, "conditioning_data_dir", "extra mask", "9.bmp");
    expect_refusal(ONE("img", "m4", ""), NULL, "conditioning_data_dir", "mask size", "32x32");
    expect_refusal(ONE("img", "nowhere", ""), NULL, "conditioning_data_dir", "no folder",
                   "not a folder");
    expect_refusal(ONE("img", "m", "  [[datasets.subsets]]\n  image_dir = '@/alpha'\n"), NULL,
                   "conditioning_data_dir", "some subsets only", "every subset");
    expect_refusal(ONE("img", "m", "  is_reg = true\n"), NULL, "is_reg", "is_reg", NULL);
    expect_refusal(ONE("img", "m", "  alpha_mask = true\n"), NULL, "alpha_mask", "alpha_mask", NULL);
    expect_refusal(ONE("img", "m", "  class_tokens = 'x'\n"), NULL, "class_tokens", "class_tokens",
                   NULL);
    expect_refusal(ONE("img", "m", "  random_crop = true\n"), NULL, "random_crop", "random_crop",
                   NULL);
    expect_refusal("[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '@/img'\n"
                   "  metadata_file = '@/meta.json'\n  conditioning_data_dir = '@/m'\n", NULL,
                   "conditioning_data_dir", "metadata_file", "metadata_file");
    expect_refusal(ONE("img", "m", ""), "masked_loss=false", "masked_loss", "without masked_loss",
                   "conditioning_data_dir");
    expect_refusal("[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '@/alpha'\n", NULL,
                   "masked_loss", "no mask source", "alpha_mask");
    expect_refusal("[[datasets]]\n  [[datasets.subsets]]\n  image_dir = '@/alpha'\n"
                   "  alpha_mask = true\n", "training_mode=vae", "masked_loss", "vae", "vae");
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-masked-ds.XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    make_images();
    test_pairing();
    test_refusals();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        failures++;
    return failures != 0;
}
