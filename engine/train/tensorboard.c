/* tensorboard.c — TensorFlow event files for the training logs (see tensorboard.h).
 *
 * Protobuf by hand: tensorboard.Event is wall_time = 1 (double), step = 2 (int64),
 * file_version = 3 (string), summary = 5 (Summary), source_metadata = 10 (SourceMetadata);
 * Summary.value = 1 (repeated Value); Value.tag = 1 (string), Value.simple_value = 2 (float,
 * in a oneof, so written even when 0); SourceMetadata.writer = 1 (string). Fields go out in
 * field-number order and proto3 leaves out zero scalars (step 0), as SerializeToString does,
 * so the bytes equal tensorboard's own writer's. */
#include "engine/train/tensorboard.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define TB_MAX_TAG 512

/* generate_step_logs builds a Python dict: a key set twice keeps its first place and takes the
 * last value. Events are written in the dict's order. */
#define TB_MAX_LOGS 256

typedef struct step_logs {
    int n;
    char tag[TB_MAX_LOGS][96];
    double value[TB_MAX_LOGS];
} step_logs;

struct tb_writer {
    FILE *f;
    int failed;      /* a write failed: tb_flush / tb_close report it */
    char path[4352];
    uint8_t rec[TB_MAX_TAG + 64];
    step_logs logs;  /* tb_log_step's scratch, so a step allocates nothing */
};

/* The n of the file name: tensorboard's process-wide _global_uid. */
static atomic_uint tb_file_counter;

/* ---- CRC32C ---- */

static uint32_t crc_table[256];
static atomic_int crc_table_ready;

static void crc_init(void)
{
    if (atomic_load(&crc_table_ready))
        return;
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc_table[i] = c;
    }
    atomic_store(&crc_table_ready, 1);
}

uint32_t tb_crc32c(const void *data, size_t n)
{
    crc_init();
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t tb_masked_crc32c(const void *data, size_t n)
{
    uint32_t c = tb_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/* ---- protobuf pieces ---- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_le(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; i++)
        p[i] = (uint8_t)(v >> (8 * i));
    return (size_t)bytes;
}

static size_t put_double(uint8_t *p, int field, double x)
{
    uint64_t bits;
    memcpy(&bits, &x, sizeof bits);
    p[0] = (uint8_t)(field << 3 | 1);  /* wire type 1: fixed64 */
    return 1 + put_le(p + 1, bits, 8);
}

static size_t put_bytes(uint8_t *p, int field, const void *s, size_t n)
{
    size_t k = 0;
    p[k++] = (uint8_t)(field << 3 | 2);  /* wire type 2: length-delimited */
    k += put_varint(p + k, n);
    memcpy(p + k, s, n);
    return k + n;
}

/* ---- file ---- */

static double now_seconds(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* TFRecord framing around one serialized Event. */
static int write_record(tb_writer *tb, const uint8_t *data, size_t n, error_info *err)
{
    uint8_t head[12], foot[4];
    put_le(head, n, 8);
    put_le(head + 8, tb_masked_crc32c(head, 8), 4);
    put_le(foot, tb_masked_crc32c(data, n), 4);
    if (fwrite(head, 1, 12, tb->f) != 12 || fwrite(data, 1, n, tb->f) != n ||
        fwrite(foot, 1, 4, tb->f) != 4) {
        tb->failed = 1;
        return error_set(err, tb->path, 0, 0, "", "writing the event file: %s", strerror(errno));
    }
    return 0;
}

static int mkdir_p(const char *dir, error_info *err)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf)
        return error_set(err, dir, 0, 0, "", "bad log folder name");
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST)
            return error_set(err, buf, 0, 0, "", "can't create the log folder: %s",
                             strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return error_set(err, dir, 0, 0, "", "the log folder is not a folder");
    return 0;
}

tb_writer *tb_open_at(const char *dir, double wall_time, error_info *err)
{
    if (!(wall_time > 0))
        wall_time = now_seconds();
    if (mkdir_p(dir, err) != 0)
        return NULL;
    char host[256];
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    tb_writer *tb = calloc(1, sizeof *tb);
    if (!tb) {
        error_set(err, dir, 0, 0, "", "out of memory");
        return NULL;
    }
    unsigned n = atomic_fetch_add(&tb_file_counter, 1);
    int len = snprintf(tb->path, sizeof tb->path, "%s/events.out.tfevents.%010lld.%s.%ld.%u",
                       dir, (long long)wall_time, host, (long)getpid(), n);
    if (len < 0 || (size_t)len >= sizeof tb->path) {
        free(tb);
        error_set(err, dir, 0, 0, "", "log folder name too long");
        return NULL;
    }
    tb->f = fopen(tb->path, "wb");
    if (!tb->f) {
        error_set(err, tb->path, 0, 0, "", "can't create the event file: %s", strerror(errno));
        free(tb);
        return NULL;
    }
    /* Event{wall_time, file_version "brain.Event:2", source_metadata{writer}} */
    static const char version[] = "brain.Event:2", writer[] = "loratty";
    uint8_t meta[64];
    size_t m = put_bytes(meta, 1, writer, sizeof writer - 1);
    size_t k = put_double(tb->rec, 1, wall_time);
    k += put_bytes(tb->rec + k, 3, version, sizeof version - 1);
    k += put_bytes(tb->rec + k, 10, meta, m);
    if (write_record(tb, tb->rec, k, err) != 0 || tb_flush(tb, err) != 0) {
        fclose(tb->f);
        free(tb);
        return NULL;
    }
    return tb;
}

tb_writer *tb_open(const char *dir, error_info *err)
{
    return tb_open_at(dir, now_seconds(), err);
}

const char *tb_path(const tb_writer *tb)
{
    return tb->path;
}

int tb_scalar(tb_writer *tb, const char *tag, int64_t step, double value, double wall_time,
              error_info *err)
{
    size_t tag_len = strlen(tag);
    if (tag_len > TB_MAX_TAG)
        return error_set(err, tb->path, 0, 0, "", "tag too long (%zu bytes)", tag_len);
    if (!(wall_time > 0))
        wall_time = now_seconds();

    /* Summary.Value{tag = 1, simple_value = 2} */
    uint8_t value_msg[TB_MAX_TAG + 16];
    size_t v = put_bytes(value_msg, 1, tag, tag_len);
    float fv = (float)value;
    uint32_t fbits;
    memcpy(&fbits, &fv, sizeof fbits);
    value_msg[v++] = 2 << 3 | 5;  /* wire type 5: fixed32 */
    v += put_le(value_msg + v, fbits, 4);
    /* Summary{value = 1} */
    uint8_t summary[TB_MAX_TAG + 24];
    size_t s = put_bytes(summary, 1, value_msg, v);
    /* Event{wall_time = 1, step = 2, summary = 5} */
    size_t k = put_double(tb->rec, 1, wall_time);
    if (step != 0) {
        tb->rec[k++] = 2 << 3 | 0;  /* wire type 0: varint; negative int64 takes 10 bytes */
        k += put_varint(tb->rec + k, (uint64_t)step);
    }
    k += put_bytes(tb->rec + k, 5, summary, s);
    return write_record(tb, tb->rec, k, err);
}

int tb_flush(tb_writer *tb, error_info *err)
{
    if (fflush(tb->f) != 0)
        tb->failed = 1;
    if (tb->failed)
        return error_set(err, tb->path, 0, 0, "", "writing the event file failed");
    return 0;
}

int tb_close(tb_writer *tb, error_info *err)
{
    if (!tb)
        return 0;
    int rc = tb_flush(tb, err);
    if (fclose(tb->f) != 0 && rc == 0)
        rc = error_set(err, tb->path, 0, 0, "", "closing the event file: %s", strerror(errno));
    free(tb);
    return rc;
}

int tb_run_dir(char *buf, size_t size, const char *logging_dir, const char *log_prefix,
               const char *tracker, time_t t, error_info *err)
{
    struct tm tm;
    char stamp[32];
    if (!localtime_r(&t, &tm) || strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm) == 0)
        return error_set(err, "", 0, 0, "logging_dir", "can't format the run time");
    int n = snprintf(buf, size, "%s/%s%s/%s", logging_dir, log_prefix ? log_prefix : "", stamp,
                     tracker ? tracker : "network_train");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, "", 0, 0, "logging_dir", "log folder name too long");
    return 0;
}

/* ---- sd-scripts' step logs ---- */

static int logs_set(step_logs *l, const char *tag, double value, error_info *err)
{
    for (int i = 0; i < l->n; i++)
        if (strcmp(l->tag[i], tag) == 0) {
            l->value[i] = value;
            return 0;
        }
    if (l->n == TB_MAX_LOGS || strlen(tag) >= sizeof l->tag[0])
        return error_set(err, "", 0, 0, "", "too many or too long log tags (%s)", tag);
    snprintf(l->tag[l->n], sizeof l->tag[0], "%s", tag);
    l->value[l->n++] = value;
    return 0;
}

static int logs_fill(step_logs *l, const tb_step_log *s, error_info *err)
{
    char tag[128], desc[64];
    int rc = logs_set(l, "loss/current", s->loss_current, err);
    rc |= logs_set(l, "loss/average", s->loss_average, err);
    if (s->has_max_norm) {
        rc |= logs_set(l, "max_norm/keys_scaled", s->keys_scaled, err);
        rc |= logs_set(l, "max_norm/max_key_norm", s->max_key_norm, err);
        rc |= logs_set(l, "norm/avg_key_norm", s->avg_key_norm, err);
    }
    for (int i = 0; i < s->n_groups && rc == 0; i++) {
        if (s->desc) {
            snprintf(desc, sizeof desc, "%s", s->desc[i]);
        } else {
            /* sd-scripts: idx = i - (0 if unet_only else -1), so "textencoder" never shows */
            int idx = i - (s->unet_only ? 0 : -1);
            if (idx == -1)
                snprintf(desc, sizeof desc, "textencoder");
            else if (s->n_groups > 2)
                snprintf(desc, sizeof desc, "group%d", idx);
            else
                snprintf(desc, sizeof desc, "unet");
        }
        snprintf(tag, sizeof tag, "lr/%s", desc);
        rc |= logs_set(l, tag, s->lr[i], err);
        if (s->d) {
            snprintf(tag, sizeof tag, "lr/d*lr/%s", desc);
            rc |= logs_set(l, tag, s->d[i] * s->lr[i], err);
        }
    }
    /* The `else:` after that for loop runs every time (nothing breaks), adding these too. */
    int idx = 0;
    if (!s->unet_only && s->n_groups > 0 && rc == 0) {
        rc |= logs_set(l, "lr/textencoder", s->lr[0], err);
        idx = 1;
    }
    for (int i = idx; i < s->n_groups && rc == 0; i++) {
        snprintf(tag, sizeof tag, "lr/group%d", i);
        rc |= logs_set(l, tag, s->lr[i], err);
        if (s->d) {
            snprintf(tag, sizeof tag, "lr/d*lr/group%d", i);
            rc |= logs_set(l, tag, s->d[i] * s->lr[i], err);
        }
    }
    return rc ? -1 : 0;
}

int tb_logs_d_lr(const char *optimizer_type)
{
    return strncasecmp(optimizer_type, "dadapt", 6) == 0 || strcasecmp(optimizer_type, "prodigy") == 0;
}

int tb_log_step(tb_writer *tb, int64_t step, double wall_time, const tb_step_log *s,
                error_info *err)
{
    step_logs *l = &tb->logs;
    l->n = 0;
    int rc = logs_fill(l, s, err);
    for (int i = 0; i < l->n && rc == 0; i++)
        rc = tb_scalar(tb, l->tag[i], step, l->value[i], wall_time, err);
    if (rc == 0)
        rc = tb_flush(tb, err);
    return rc;
}

int tb_log_epoch(tb_writer *tb, int epoch, double loss_epoch_average, double wall_time,
                 error_info *err)
{
    if (tb_scalar(tb, "loss/epoch_average", epoch, loss_epoch_average, wall_time, err) != 0)
        return -1;
    return tb_flush(tb, err);
}
