/* test_finetune.c — fine-tuning subsets (metadata_file, engine/dataset_finetune.c) as
 * sd-scripts' FineTuningDataset reads them: relative keys under image_dir, absolute keys as
 * they are, extensionless keys (merge_captions_to_metadata's stems) found with an image
 * extension, caption + caption_separator + tags, image_size taken from the metadata, missing
 * images left out with a note, the .jsonl form with enable_wildcard's per-line tags, and the
 * refusals (DreamBooth and fine-tuning subsets mixed, relative keys without image_dir, no
 * metadata file). Expected captions and counts are written out by hand below. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "config.h"
#include "engine/data/batches.h"
#include "plan.h"
#include "tests/bmp_fixture.h"

static char tmp[64];

static void write_file(const char *rel, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static void make_files(void)
{
    char p[256], text[2048];
    snprintf(p, sizeof p, "%s/img", tmp);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/abs", tmp);
    mkdir(p, 0755);
    static const char *const names[] = {"img/a.bmp", "img/c.bmp", "img/f.bmp", "abs/e.bmp", "img/w.bmp"};
    for (int i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, names[i]);
        bmp_fixture_write(p, 64, 64, 0);
    }
    snprintf(text, sizeof text,
             "{\n"
             "  \"a.bmp\": {\"caption\": \"a photo\", \"tags\": \"red, blue\"},\n"
             "  \"c\": {\"caption\": \"stem key\", \"tags\": \"\"},\n"
             "  \"%s/abs/e.bmp\": {\"tags\": \"only tags\"},\n"
             "  \"missing.bmp\": {\"caption\": \"x\"},\n"
             "  \"f.bmp\": {\"caption\": \"sized\", \"image_size\": [640, 384], \"train_resolution\": [512, 512]}\n"
             "}\n", tmp);
    write_file("meta_cap.json", text);
    write_file("meta.jsonl", "{\"image_path\": \"w.bmp\", \"caption\": \"line one\\n\\nline two\", "
                             "\"tags\": \"t1\\nt2\"}\n");
    write_file("rel.json", "{\"a.bmp\": {\"caption\": \"x\"}}\n");
}

static int load(config *cfg, const char *fmt, error_info *err)
{
    char path[256], text[4096];
    snprintf(path, sizeof path, "%s/dataset.toml", tmp);
    snprintf(text, sizeof text, fmt, tmp, tmp, tmp, tmp);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    config_init(cfg);
    config_warnings w = {0};
    int rc = config_load(cfg, path, &w, err);
    config_warnings_free(&w);
    if (rc == 0)
        rc = config_set(cfg, "enable_bucket=true", err);
    return rc;
}

static const char *toml_ok =
    "[[datasets]]\n"
    "resolution = 512\n"
    "num_repeats = 2\n"
    "  [[datasets.subsets]]\n"
    "  metadata_file = '%s/meta_cap.json'\n"
    "  image_dir = '%s/img'\n"
    "[[datasets]]\n"
    "resolution = 512\n"
    "  [[datasets.subsets]]\n"
    "  metadata_file = '%s/meta.jsonl'\n"
    "  image_dir = '%s/img'\n"
    "  enable_wildcard = true\n";

static const dataset_image *find(const dataset_subset *s, const char *suffix)
{
    for (size_t i = 0; i < s->image_count; i++) {
        size_t n = strlen(s->images[i].path), k = strlen(suffix);
        if (n >= k && strcmp(s->images[i].path + n - k, suffix) == 0)
            return &s->images[i];
    }
    return NULL;
}

static void test_plan(void)
{
    config cfg;
    error_info err = {0};
    CHECK(load(&cfg, toml_ok, &err) == 0, "load: %s", err.message);
    plan p;
    int rc = plan_compute(&cfg, "test", &p, &err);
    CHECK(rc == 0, "plan: [%s] %s", err.key, err.message);
    if (rc != 0 || p.data.group_count != 2) {
        plan_free(&p);
        config_free(&cfg);
        return;
    }
    const dataset_subset *s = &p.data.groups[0].subsets[0], *w = &p.data.groups[1].subsets[0];
    CHECK(s->metadata_file && !s->is_reg && s->num_repeats == 2, "subset");
    CHECK(s->image_count == 4, "images %zu (missing.bmp left out)", s->image_count);
    bool noted = false;
    for (size_t i = 0; i < p.data.note_count; i++)
        noted |= strstr(p.data.notes[i], "missing.bmp") != NULL;
    CHECK(noted, "a note names missing.bmp");
    const dataset_image *a = find(s, "/img/a.bmp"), *c = find(s, "/img/c.bmp"),
                        *e = find(s, "/abs/e.bmp"), *f = find(s, "/img/f.bmp");
    CHECK(a && c && e && f, "images found: a %p c %p e %p f %p", (void *)a, (void *)c, (void *)e,
          (void *)f);
    if (a && c && e && f) {
        /* caption + "," + tags; empty tags add nothing; no caption: the tags alone */
        CHECK(!strcmp(a->caption, "a photo,red, blue"), "a: \"%s\"", a->caption);
        CHECK(!strcmp(c->caption, "stem key"), "c (stem key): \"%s\"", c->caption);
        CHECK(!strcmp(e->caption, "only tags"), "e (absolute key): \"%s\"", e->caption);
        CHECK(f->width == 640 && f->height == 384, "f: size from the metadata %dx%d", f->width, f->height);
        CHECK(a->width == 64 && a->height == 64, "a: size from the file");
        CHECK(a->tags && !strcmp(a->tags, "red, blue") && !c->tags, "tags kept for the tag frequency");
    }
    CHECK(w->image_count == 1 && w->opt.captions.enable_wildcard, "jsonl subset");
    if (w->image_count == 1)
        CHECK(!strcmp(w->images[0].caption, "line one,t1,t2\nline two,t1,t2"), "wildcard: \"%s\"",
              w->images[0].caption);
    /* 4 images x 2 + 1 x 1 */
    CHECK(p.train_samples == 9 && p.reg_samples == 0, "samples %lld", p.train_samples);

    batch_settings bs = {.prior_loss_weight = 1};
    batches b;
    rc = batches_init(&b, &p.data, &bs, 3, &err);
    CHECK(rc == 0, "batches: %s", err.message);
    if (rc == 0) {
        int one = 0, two = 0;
        for (int ep = 1; ep <= 10; ep++) {
            batches_epoch(&b, ep);
            batch bt;
            while (batches_next(&b, &bt, &err) == 1)
                for (int i = 0; i < bt.count; i++) {
                    const batch_sample *sm = &bt.samples[i];
                    if (strstr(sm->image_path, "/a.bmp"))
                        CHECK(!strcmp(sm->caption, "a photo,red, blue"), "a caption \"%s\"", sm->caption);
                    if (strstr(sm->image_path, "/w.bmp")) {
                        /* enable_wildcard: one line of the caption per draw */
                        one += !strcmp(sm->caption, "line one,t1,t2");
                        two += !strcmp(sm->caption, "line two,t1,t2");
                    }
                }
        }
        CHECK(one + two == 10 && one > 0 && two > 0, "wildcard lines %d %d", one, two);
        batches_free(&b);
    }
    plan_free(&p);
    config_free(&cfg);
}

static void refused(const char *fmt, const char *key, const char *what)
{
    config cfg;
    error_info err = {0};
    plan p = {0};
    int rc = load(&cfg, fmt, &err);
    if (rc == 0)
        rc = plan_compute(&cfg, "test", &p, &err);
    CHECK(rc != 0, "%s: expected a refusal", what);
    CHECK(strstr(err.key, key) != NULL, "%s: refusal names %s: [%s] %s", what, key, err.key, err.message);
    plan_free(&p);
    config_free(&cfg);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "/tmp/loratty-test-finetune-XXXXXX");
    if (!mkdtemp(tmp))
        return 1;
    make_files();
    test_plan();
    refused("[[datasets]]\n  [[datasets.subsets]]\n  metadata_file = '%s/meta_cap.json'\n  image_dir = '%s/img'\n"
            "  [[datasets.subsets]]\n  image_dir = '%s/img'\n",
            "metadata_file", "DreamBooth and fine-tuning subsets mixed");
    refused("[[datasets]]\n  [[datasets.subsets]]\n  metadata_file = '%s/rel.json'\n",
            "image_dir", "relative keys without image_dir");
    refused("[[datasets]]\n  [[datasets.subsets]]\n  metadata_file = '%s/nothing.json'\n",
            "metadata_file", "no metadata file");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0)
        return 1;
    return failures != 0;
}
