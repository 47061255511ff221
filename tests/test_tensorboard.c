/* test_tensorboard.c — the TensorBoard event writer (engine/train/tensorboard.c):
 * CRC32C against published check values; the event files byte for byte against the ones
 * tensorboard's own EventFileWriter wrote (tests/fixtures/tensorboard/, made by
 * tests/golden/make_tensorboard_fixtures.py): plain scalars, and sd-scripts'
 * generate_step_logs tags for several optimizer cases through tb_log_step; the file name and
 * sd-scripts' run folder layout; errors. With TB_KEEP_DIR set the files stay there, for
 * `make_tensorboard_fixtures.py --read-back`. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/train/tensorboard.h"


#include "tests/check.h"

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static void test_crc32c(void)
{
    /* RFC 3720 B.4 (iSCSI) and the CRC catalogue's check value. */
    unsigned char buf[32];
    CHECK(tb_crc32c("123456789", 9) == 0xE3069283u, "check value %08x", tb_crc32c("123456789", 9));
    CHECK(tb_crc32c("", 0) == 0, "empty");
    memset(buf, 0, 32);
    CHECK(tb_crc32c(buf, 32) == 0x8A9136AAu, "32 zeros %08x", tb_crc32c(buf, 32));
    memset(buf, 0xFF, 32);
    CHECK(tb_crc32c(buf, 32) == 0x62A8AB43u, "32 ones %08x", tb_crc32c(buf, 32));
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)i;
    CHECK(tb_crc32c(buf, 32) == 0x46DD794Eu, "incrementing %08x", tb_crc32c(buf, 32));
    for (int i = 0; i < 32; i++)
        buf[i] = (unsigned char)(31 - i);
    CHECK(tb_crc32c(buf, 32) == 0x113FDB5Cu, "decrementing %08x", tb_crc32c(buf, 32));
    /* masked CRC of a TFRecord length 0x48, from a file torch's SummaryWriter wrote */
    unsigned char len[8] = {0x48};
    CHECK(tb_masked_crc32c(len, 8) == 0x9d4892feu, "masked %08x", tb_masked_crc32c(len, 8));
}

/* Compares the event file with the fixture, saying where they first differ. */
static void compare_file(const char *path, const char *fixture)
{
    size_t n_got = 0, n_want = 0;
    unsigned char *got = read_all(path, &n_got), *want = read_all(fixture, &n_want);
    CHECK(got && want, "can't read %s or %s", path, fixture);
    if (got && want) {
        size_t i = 0;
        while (i < n_got && i < n_want && got[i] == want[i])
            i++;
        CHECK(n_got == n_want && i == n_got, "%s: %zu bytes vs %zu in %s, first difference at %zu",
              path, n_got, n_want, fixture, i);
        if (n_got == n_want && i == n_got)
            printf("%s: %zu bytes identical to tensorboard's\n", fixture, n_got);
    }
    free(got);
    free(want);
}

/* events.out.tfevents.<%010d time>.<hostname>.<pid>.<n> */
static void check_name(const char *path, long long t)
{
    char host[256], prefix[600];
    gethostname(host, sizeof host);
    host[255] = '\0';
    snprintf(prefix, sizeof prefix, "/events.out.tfevents.%010lld.%s.%ld.", t, host, (long)getpid());
    const char *p = strstr(path, prefix);
    CHECK(p != NULL, "file name %s does not contain %s", path, prefix);
    if (p) {
        const char *n = p + strlen(prefix);
        CHECK(*n && strspn(n, "0123456789") == strlen(n), "file counter in %s", path);
    }
}

static double json_value(json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        return strcmp(s, "nan") == 0 ? NAN : strcmp(s, "inf") == 0 ? INFINITY : -INFINITY;
    }
    return json_number_value(v);
}

static json_t *load_fixture(const char *srcdir, const char *name, char *tfevents, size_t size)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/fixtures/tensorboard/%s.json", srcdir, name);
    snprintf(tfevents, size, "%s/tests/fixtures/tensorboard/%s.tfevents", srcdir, name);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    return root;
}

static void test_scalars(const char *srcdir, const char *dir, char *out_path, size_t size)
{
    char fixture[4096];
    json_t *root = load_fixture(srcdir, "scalars", fixture, sizeof fixture);
    if (!root)
        return;
    error_info err = {0};
    double t0 = json_number_value(json_object_get(root, "open_wall_time"));
    tb_writer *tb = tb_open_at(dir, t0, &err);
    CHECK(tb != NULL, "tb_open_at: %s", err.message);
    if (tb) {
        size_t i;
        json_t *e;
        json_array_foreach(json_object_get(root, "events"), i, e) {
            int rc = tb_scalar(tb, json_string_value(json_object_get(e, "tag")),
                               json_integer_value(json_object_get(e, "step")),
                               json_value(json_object_get(e, "value")),
                               json_number_value(json_object_get(e, "wall_time")), &err);
            CHECK(rc == 0, "tb_scalar: %s", err.message);
        }
        snprintf(out_path, size, "%s", tb_path(tb));
        CHECK(tb_close(tb, &err) == 0, "tb_close: %s", err.message);
        check_name(out_path, (long long)t0);
        compare_file(out_path, fixture);
    }
    json_decref(root);
}

static void test_steps(const char *srcdir, const char *dir, char *out_path, size_t size)
{
    char fixture[4096];
    json_t *root = load_fixture(srcdir, "steps", fixture, sizeof fixture);
    if (!root)
        return;
    error_info err = {0};
    tb_writer *tb = tb_open_at(dir, json_number_value(json_object_get(root, "open_wall_time")), &err);
    CHECK(tb != NULL, "tb_open_at: %s", err.message);
    size_t i, g;
    json_t *c, *v;
    json_array_foreach(json_object_get(root, "steps"), i, c) {
        if (!tb)
            break;
        const char *desc[16];
        double lr[16], d[16];
        json_t *jdesc = json_object_get(c, "lr_descriptions"), *jd = json_object_get(c, "d");
        json_t *norm = json_object_get(c, "max_norm");
        json_array_foreach(json_object_get(c, "lrs"), g, v) {
            lr[g] = json_number_value(v);
            d[g] = json_is_array(jd) ? json_number_value(json_array_get(jd, g)) : 0;
            desc[g] = json_is_array(jdesc) ? json_string_value(json_array_get(jdesc, g)) : NULL;
        }
        const char *opt = json_string_value(json_object_get(c, "optimizer_type"));
        tb_step_log s = {
            .loss_current = json_number_value(json_object_get(c, "loss_current")),
            .loss_average = json_number_value(json_object_get(c, "loss_average")),
            .has_max_norm = json_is_object(norm),
            .keys_scaled = json_number_value(json_object_get(norm, "keys_scaled")),
            .max_key_norm = json_number_value(json_object_get(norm, "max_key_norm")),
            .avg_key_norm = json_number_value(json_object_get(norm, "avg_key_norm")),
            .n_groups = (int)json_array_size(json_object_get(c, "lrs")),
            .desc = json_is_array(jdesc) ? desc : NULL,
            .lr = lr,
            .d = tb_logs_d_lr(opt) ? d : NULL,
            .unet_only = json_is_true(json_object_get(c, "unet_only")),
        };
        CHECK((s.d != NULL) == json_is_array(jd), "%s: tb_logs_d_lr", opt);
        int rc = tb_log_step(tb, json_integer_value(json_object_get(c, "step")),
                             json_number_value(json_object_get(c, "wall_time")), &s, &err);
        CHECK(rc == 0, "tb_log_step %s: %s", json_string_value(json_object_get(c, "name")), err.message);
    }
    json_array_foreach(json_object_get(root, "epochs"), i, c) {
        if (!tb)
            break;
        int rc = tb_log_epoch(tb, (int)json_integer_value(json_object_get(c, "epoch")),
                              json_number_value(json_object_get(c, "loss_epoch_average")),
                              json_number_value(json_object_get(c, "wall_time")), &err);
        CHECK(rc == 0, "tb_log_epoch: %s", err.message);
    }
    if (tb) {
        snprintf(out_path, size, "%s", tb_path(tb));
        CHECK(tb_close(tb, &err) == 0, "tb_close: %s", err.message);
        compare_file(out_path, fixture);
    }
    json_decref(root);
}

static void test_run_dir(void)
{
    char buf[256];
    error_info err = {0};
    setenv("TZ", "UTC", 1);
    tzset();
    CHECK(tb_run_dir(buf, sizeof buf, "logs", "lora_", NULL, 1700000000, &err) == 0, "%s", err.message);
    CHECK(strcmp(buf, "logs/lora_20231114221320/network_train") == 0, "run dir %s", buf);
    CHECK(tb_run_dir(buf, sizeof buf, "/x", NULL, "mine", 0, &err) == 0, "%s", err.message);
    CHECK(strcmp(buf, "/x/19700101000000/mine") == 0, "run dir %s", buf);
    CHECK(tb_run_dir(buf, 10, "logs", NULL, NULL, 0, &err) != 0, "too long must fail");
    CHECK(tb_logs_d_lr("dadaptation") && tb_logs_d_lr("DAdaptAdaGrad") && tb_logs_d_lr("prodigy") &&
              !tb_logs_d_lr("ProdigyPlusScheduleFree") && !tb_logs_d_lr("AdamW"),
          "tb_logs_d_lr");
}

static void test_errors(const char *dir)
{
    char path[4300];
    error_info err = {0};
    snprintf(path, sizeof path, "%s/plainfile", dir);
    FILE *f = fopen(path, "w");
    if (f)
        fclose(f);
    snprintf(path, sizeof path, "%s/plainfile/sub", dir);
    CHECK(tb_open(path, &err) == NULL && err.message[0], "a folder under a file must fail");
    snprintf(path, sizeof path, "%s/plainfile", dir);
    CHECK(tb_open(path, &err) == NULL, "a file as the folder must fail");
    unlink(path);
    CHECK(tb_close(NULL, &err) == 0, "tb_close(NULL)");

    /* two writers in one process: counter goes up, tag too long refused */
    snprintf(path, sizeof path, "%s/two", dir);
    tb_writer *a = tb_open(path, &err), *b = tb_open(path, &err);
    CHECK(a && b && strcmp(tb_path(a), tb_path(b)) != 0, "two writers, two files");
    char tag[600];
    memset(tag, 'x', sizeof tag - 1);
    tag[sizeof tag - 1] = '\0';
    if (a) {
        CHECK(tb_scalar(a, tag, 1, 1.0, 0, &err) != 0, "a 599-byte tag must be refused");
        CHECK(tb_scalar(a, "ok", 1, 1.0, 0, &err) == 0, "%s", err.message);
        unlink(tb_path(a));
    }
    if (b)
        unlink(tb_path(b));
    tb_close(a, &err);
    tb_close(b, &err);
    rmdir(path);
}

int main(void)
{
    const char *srcdir = getenv("top_srcdir");
    if (!srcdir)
        srcdir = ".";
    const char *keep = getenv("TB_KEEP_DIR");
    char base[4096], scalars_dir[4200], steps_dir[4400], run[4300];
    if (keep) {
        snprintf(base, sizeof base, "%s", keep);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(base, sizeof base, "%s/test_tensorboard.XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(base)) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(scalars_dir, sizeof scalars_dir, "%s/scalars", base);
    snprintf(run, sizeof run, "%s/steps", base);
    error_info err = {0};
    CHECK(tb_run_dir(steps_dir, sizeof steps_dir, run, "loratty", NULL, time(NULL), &err) == 0,
          "%s", err.message);

    test_crc32c();
    char out1[8192] = "", out2[8192] = "";
    test_scalars(srcdir, scalars_dir, out1, sizeof out1);
    test_steps(srcdir, steps_dir, out2, sizeof out2);
    test_run_dir();
    test_errors(base);

    if (!keep) {
        unlink(out1);
        unlink(out2);
        rmdir(scalars_dir);
        rmdir(steps_dir);
        char *slash = strrchr(steps_dir, '/');  /* .../steps/loratty<time>/network_train */
        *slash = '\0';
        rmdir(steps_dir);
        rmdir(run);
        rmdir(base);
    }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("test_tensorboard: all passed\n");
    return 0;
}
