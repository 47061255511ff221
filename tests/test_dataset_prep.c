/* test_dataset_prep.c — kohya_ss's Dreambooth/LoRA folder preparation: from generated images in
 * a temp dir it builds img/40_zqx woman, reg/1_woman, log and model, with the images and only
 * the caption files that belong to an image (hard-linked on the same file system, copied when
 * asked); refuses a source without images, bad prompts and repeats, and a non-empty
 * destination unless merging; and "copy info to fields" sets the four folder parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "src/config.h"
#include "src/dataset_prep.h"

static char tmp[256];

static void put(const char *rel, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void mk(const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    assert_int_equal(mkdir(path, 0755), 0);
}

/* stat of tmp/rel: 0 when absent */
static int kind(const char *rel, struct stat *st)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    if (stat(path, st) != 0)
        return 0;
    return S_ISDIR(st->st_mode) ? 'd' : 'f';
}

static char *read_rel(const char *rel)
{
    char path[1024];
    static char buf[256];
    snprintf(path, sizeof path, "%s/%s", tmp, rel);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "%s/loratty-prep.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(tmp));
    mk("src");
    put("src/a.png", "png a");
    put("src/b.JPG", "jpg b");
    put("src/c.webp", "webp c");
    put("src/a.txt", "zqx woman, smiling");
    put("src/b.caption", "zqx woman, outdoors");
    put("src/orphan.txt", "no image for me");
    put("src/notes.md", "not a dataset file");
    mk("src/sub");
    put("src/sub/d.png", "nested");
    mk("regsrc");
    put("regsrc/r1.png", "reg 1");
    put("regsrc/r2.jpeg", "reg 2");
    mk("empty");
    put("empty/only.txt", "captions, no images");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static dataset_prep_request request(const char *dest)
{
    static char src[512], reg[512], dst[512];
    snprintf(src, sizeof src, "%s/src", tmp);
    snprintf(reg, sizeof reg, "%s/regsrc", tmp);
    snprintf(dst, sizeof dst, "%s/%s", tmp, dest);
    return (dataset_prep_request){.instance_prompt = " zqx ", .class_prompt = "woman",
                                  .train_images = src, .repeats = 40, .reg_images = reg,
                                  .reg_repeats = 1, .dest = dst};
}

static void test_layout(void **state)
{
    (void)state;
    dataset_prep_request req = request("out");
    dataset_prep_result res;
    error_info err = {0};
    assert_int_equal(dataset_prep_build(&req, &res, &err), 0);
    struct stat st;
    assert_int_equal(kind("out/img/40_zqx woman", &st), 'd');
    assert_int_equal(kind("out/reg/1_woman", &st), 'd');
    assert_int_equal(kind("out/log", &st), 'd');
    assert_int_equal(kind("out/model", &st), 'd');
    assert_int_equal(kind("out/img/40_zqx woman/a.png", &st), 'f');
    assert_true(st.st_nlink >= 2);   /* same file system: hard-linked */
    assert_int_equal(kind("out/img/40_zqx woman/b.JPG", &st), 'f');
    assert_int_equal(kind("out/img/40_zqx woman/c.webp", &st), 'f');
    assert_string_equal(read_rel("out/img/40_zqx woman/a.txt"), "zqx woman, smiling");
    assert_string_equal(read_rel("out/img/40_zqx woman/b.caption"), "zqx woman, outdoors");
    /* only images and their captions: no orphan caption, no other file, no subfolder */
    assert_int_equal(kind("out/img/40_zqx woman/orphan.txt", &st), 0);
    assert_int_equal(kind("out/img/40_zqx woman/notes.md", &st), 0);
    assert_int_equal(kind("out/img/40_zqx woman/sub", &st), 0);
    assert_int_equal(kind("out/reg/1_woman/r1.png", &st), 'f');
    assert_int_equal(kind("out/reg/1_woman/r2.jpeg", &st), 'f');
    assert_int_equal((int)res.images, 3);
    assert_int_equal((int)res.captions, 2);
    assert_int_equal((int)res.reg_images, 2);
    assert_int_equal((int)res.skipped, 3);
    assert_int_equal((int)(res.linked + res.copied), 7);
    assert_true(strstr(res.train_data_dir, "/out/img") != NULL);
    assert_true(strstr(res.reg_data_dir, "/out/reg") != NULL);
    assert_true(strstr(res.output_dir, "/out/model") != NULL);
    assert_true(strstr(res.logging_dir, "/out/log") != NULL);
    /* the source is untouched */
    assert_int_equal(kind("src/orphan.txt", &st), 'f');
    assert_string_equal(read_rel("src/a.txt"), "zqx woman, smiling");

    /* "Copy info to respective fields" */
    config cfg;
    config_init(&cfg);
    char skipped[256];
    assert_int_equal(dataset_prep_apply(&res, &cfg, skipped, sizeof skipped, &err), 0);
    assert_string_equal(config_string(&cfg, "train_data_dir"), res.train_data_dir);
    assert_string_equal(config_string(&cfg, "reg_data_dir"), res.reg_data_dir);
    assert_string_equal(config_string(&cfg, "output_dir"), res.output_dir);
    /* what --run would refuse is left alone, and said */
    const param *logging = params_find("logging_dir");
    if (logging->support == SUPPORT_NOT_YET) {
        assert_string_equal(config_string(&cfg, "logging_dir"), "");
        assert_string_equal(skipped, "logging_dir");
    } else {
        assert_string_equal(config_string(&cfg, "logging_dir"), res.logging_dir);
        assert_string_equal(skipped, "");
    }
    assert_true(cfg.dirty);
    config_free(&cfg);
}

static void test_copy_no_reg(void **state)
{
    (void)state;
    dataset_prep_request req = request("copy");
    req.reg_images = "";
    req.class_prompt = "";
    req.repeats = 10;
    req.copy_only = true;
    dataset_prep_result res;
    error_info err = {0};
    assert_int_equal(dataset_prep_build(&req, &res, &err), 0);
    struct stat st;
    assert_int_equal(kind("copy/img/10_zqx/a.png", &st), 'f');
    assert_int_equal((int)st.st_nlink, 1);
    assert_string_equal(read_rel("copy/img/10_zqx/a.png"), "png a");
    assert_int_equal(kind("copy/reg", &st), 0);
    assert_int_equal((int)res.copied, 5);
    assert_int_equal((int)res.linked, 0);
    assert_string_equal(res.reg_data_dir, "");

    /* a config that had a reg folder loses it */
    config cfg;
    config_init(&cfg);
    assert_int_equal(config_set_value_text(&cfg, params_find("reg_data_dir"), "/old/reg", "t", &err), 0);
    assert_int_equal(dataset_prep_apply(&res, &cfg, NULL, 0, &err), 0);
    assert_string_equal(config_string(&cfg, "reg_data_dir"), "");
    config_free(&cfg);
}

static void test_refusals(void **state)
{
    (void)state;
    dataset_prep_result res;
    error_info err = {0};
    struct stat st;

    dataset_prep_request req = request("none");
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty", tmp);
    req.train_images = empty;
    assert_int_equal(dataset_prep_build(&req, &res, &err), -1);
    assert_non_null(strstr(err.message, "no images"));
    assert_int_equal(kind("none", &st), 0);   /* nothing was created */

    req = request("bad");
    req.instance_prompt = "  ";
    memset(&err, 0, sizeof err);
    assert_int_equal(dataset_prep_build(&req, &res, &err), -1);
    assert_string_equal(err.key, "instance prompt");

    req = request("bad");
    req.instance_prompt = "a/b";
    assert_int_equal(dataset_prep_build(&req, &res, &err), -1);
    assert_non_null(strstr(err.message, "folder name"));

    req = request("bad");
    req.class_prompt = "";   /* reg images need a class to name their folder */
    assert_int_equal(dataset_prep_build(&req, &res, &err), -1);
    assert_string_equal(err.key, "class prompt");

    req = request("bad");
    req.repeats = 0;
    assert_int_equal(dataset_prep_build(&req, &res, &err), -1);
    assert_string_equal(err.key, "repeats");
    assert_int_equal(kind("bad", &st), 0);

    /* a destination that holds files: asked first, merged when told to */
    mk("busy");
    put("busy/mine.txt", "keep me");
    req = request("busy");
    assert_int_equal(dataset_prep_build(&req, &res, &err), DATASET_PREP_NOT_EMPTY);
    assert_non_null(strstr(err.message, "not empty"));
    assert_int_equal(kind("busy/img", &st), 0);
    req.merge = true;
    assert_int_equal(dataset_prep_build(&req, &res, &err), 0);
    assert_int_equal(kind("busy/img/40_zqx woman/a.png", &st), 'f');
    assert_string_equal(read_rel("busy/mine.txt"), "keep me");
    /* merging again replaces the same names without complaint */
    assert_int_equal(dataset_prep_build(&req, &res, &err), 0);
    assert_int_equal((int)res.images, 3);
}

static void test_plan_names(void **state)
{
    (void)state;
    dataset_prep_request req = {.instance_prompt = "sks", .class_prompt = "dog",
                                .train_images = "/x", .repeats = 7, .reg_images = "/y",
                                .reg_repeats = 2, .dest = "/data/dog/"};
    dataset_prep_result res;
    error_info err = {0};
    assert_int_equal(dataset_prep_plan(&req, &res, &err), 0);
    assert_string_equal(res.img_dir, "/data/dog/img/7_sks dog");
    assert_string_equal(res.reg_dir, "/data/dog/reg/2_dog");
    assert_string_equal(res.train_data_dir, "/data/dog/img");
    assert_string_equal(res.output_dir, "/data/dog/model");
    assert_string_equal(res.logging_dir, "/data/dog/log");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_names),
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_copy_no_reg),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
