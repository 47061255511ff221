/* events.c — encoding and decoding the JSON-lines event stream (jansson), the incremental
 * line reader and the appending writer. See events.h for the format. */
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const type_names[] = {
    [EVENTS_START] = "start",
    [EVENTS_PROGRESS] = "progress",
    [EVENTS_SAMPLE] = "sample",
    [EVENTS_SAVE] = "save",
    [EVENTS_LOG] = "log",
    [EVENTS_ERROR] = "error",
    [EVENTS_DONE] = "done",
    [EVENTS_VALIDATION] = "validation",
    [EVENTS_UNKNOWN] = "unknown",
};

const char *events_type_name(events_type type)
{
    return (unsigned)type <= EVENTS_UNKNOWN ? type_names[type] : "unknown";
}

double events_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void events_init(events_event *e, events_type type)
{
    memset(e, 0, sizeof *e);
    e->type = type;
    snprintf(e->type_name, sizeof e->type_name, "%s", events_type_name(type));
    e->time = events_now();
}

/* JSON has no NaN or infinity: a missing number is written as null. */
static json_t *number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static int put(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new(obj, key, value);
}

char *events_encode(const events_event *e)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    int bad = put(o, "type", json_string(events_type_name(e->type)));
    bad |= put(o, "t", json_real(e->time));
    switch (e->type) {
    case EVENTS_START: {
        bad |= put(o, "steps", json_integer(e->steps));
        bad |= put(o, "epochs", json_integer(e->epochs));
        bad |= put(o, "batches_per_epoch", json_integer(e->batches_per_epoch));
        json_t *b = json_array();
        for (int i = 0; b && i < e->bucket_count && i < EVENTS_MAX_BUCKETS; i++)
            bad |= json_array_append_new(b, json_pack("{s:i,s:i,s:I}", "width", e->buckets[i].width,
                                                      "height", e->buckets[i].height, "count",
                                                      (json_int_t)e->buckets[i].count));
        bad |= put(o, "buckets", b);
        bad |= put(o, "bucket_total", json_integer(e->bucket_total > e->bucket_count
                                                       ? e->bucket_total : e->bucket_count));
        bad |= put(o, "device", json_string(e->device));
        bad |= put(o, "preset", json_string(e->preset));
        bad |= put(o, "output", json_string(e->output));
        break;
    }
    case EVENTS_PROGRESS:
        bad |= put(o, "step", json_integer(e->step));
        bad |= put(o, "total", json_integer(e->total));
        bad |= put(o, "epoch", json_integer(e->epoch));
        bad |= put(o, "loss", number(e->loss));
        bad |= put(o, "loss_smooth", number(e->loss_smooth));
        bad |= put(o, "lr", number(e->lr));
        bad |= put(o, "it_per_s", number(e->it_per_s));
        bad |= put(o, "eta_s", number(e->eta_s));
        bad |= put(o, "memory_bytes", json_integer(e->memory_bytes));
        break;
    case EVENTS_SAMPLE:
        bad |= put(o, "path", json_string(e->path));
        bad |= put(o, "prompt", json_string(e->prompt));
        bad |= put(o, "step", json_integer(e->step));
        break;
    case EVENTS_SAVE:
        bad |= put(o, "path", json_string(e->path));
        bad |= put(o, "kind", json_string(e->kind));
        bad |= put(o, "step", json_integer(e->step));
        break;
    case EVENTS_LOG:
        bad |= put(o, "level", json_string(e->level[0] ? e->level : "info"));
        bad |= put(o, "text", json_string(e->text));
        break;
    case EVENTS_ERROR:
        bad |= put(o, "text", json_string(e->text));
        break;
    case EVENTS_DONE:
        bad |= put(o, "status", json_string(e->status));
        bad |= put(o, "exit_code", json_integer(e->exit_code));
        break;
    case EVENTS_VALIDATION:
        bad |= put(o, "step", json_integer(e->step));
        bad |= put(o, "epoch", json_integer(e->epoch));
        bad |= put(o, "kind", json_string(e->kind));
        bad |= put(o, "loss", number(e->loss));
        bad |= put(o, "divergence", number(e->divergence));
        break;
    case EVENTS_UNKNOWN:
        break;
    }
    /* jansson refuses invalid UTF-8 (json_string returns NULL, set_new fails): say so */
    char *s = bad ? NULL : json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    json_decref(o);
    if (!s)
        return NULL;
    size_t n = strlen(s);
    char *line = realloc(s, n + 2);
    if (!line) {
        free(s);
        return NULL;
    }
    line[n] = '\n';
    line[n + 1] = 0;
    return line;
}

static long long get_int(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    if (json_is_real(v))
        return (long long)json_real_value(v);
    return 0;
}

static double get_num(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void get_str(json_t *o, const char *key, char *out, size_t size)
{
    const char *s = json_string_value(json_object_get(o, key));
    snprintf(out, size, "%s", s ? s : "");
}

int events_decode(const char *line, size_t len, events_event *e, error_info *err)
{
    memset(e, 0, sizeof *e);
    e->type = EVENTS_UNKNOWN;
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return error_set(err, NULL, 0, jerr.column, NULL, "not a JSON event: %s", jerr.text);
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!json_is_object(o) || !type) {
        json_decref(o);
        return error_set(err, NULL, 0, 0, NULL, "not an event: no \"type\"");
    }
    snprintf(e->type_name, sizeof e->type_name, "%s", type);
    for (int t = 0; t < EVENTS_UNKNOWN; t++)
        if (strcmp(type, type_names[t]) == 0)
            e->type = (events_type)t;
    e->time = get_num(o, "t");
    if (!isfinite(e->time))
        e->time = 0;
    switch (e->type) {
    case EVENTS_START: {
        e->steps = get_int(o, "steps");
        e->epochs = get_int(o, "epochs");
        e->batches_per_epoch = get_int(o, "batches_per_epoch");
        json_t *b = json_object_get(o, "buckets");
        size_t i;
        json_t *item;
        json_array_foreach(b, i, item) {
            if (e->bucket_count == EVENTS_MAX_BUCKETS)
                break;
            events_bucket *k = &e->buckets[e->bucket_count++];
            k->width = (int)get_int(item, "width");
            k->height = (int)get_int(item, "height");
            k->count = get_int(item, "count");
        }
        e->bucket_total = get_int(o, "bucket_total");
        if (e->bucket_total < e->bucket_count)
            e->bucket_total = e->bucket_count;
        get_str(o, "device", e->device, sizeof e->device);
        get_str(o, "preset", e->preset, sizeof e->preset);
        get_str(o, "output", e->output, sizeof e->output);
        break;
    }
    case EVENTS_PROGRESS:
        e->step = get_int(o, "step");
        e->total = get_int(o, "total");
        e->epoch = get_int(o, "epoch");
        e->loss = get_num(o, "loss");
        e->loss_smooth = get_num(o, "loss_smooth");
        e->lr = get_num(o, "lr");
        e->it_per_s = get_num(o, "it_per_s");
        e->eta_s = get_num(o, "eta_s");
        e->memory_bytes = get_int(o, "memory_bytes");
        break;
    case EVENTS_SAMPLE:
    case EVENTS_SAVE:
        get_str(o, "path", e->path, sizeof e->path);
        get_str(o, "prompt", e->prompt, sizeof e->prompt);
        get_str(o, "kind", e->kind, sizeof e->kind);
        e->step = get_int(o, "step");
        break;
    case EVENTS_LOG:
    case EVENTS_ERROR:
        get_str(o, "level", e->level, sizeof e->level);
        get_str(o, "text", e->text, sizeof e->text);
        break;
    case EVENTS_DONE:
        get_str(o, "status", e->status, sizeof e->status);
        e->exit_code = (int)get_int(o, "exit_code");
        break;
    case EVENTS_VALIDATION:
        e->step = get_int(o, "step");
        e->epoch = get_int(o, "epoch");
        get_str(o, "kind", e->kind, sizeof e->kind);
        e->loss = get_num(o, "loss");
        e->divergence = get_num(o, "divergence");
        break;
    case EVENTS_UNKNOWN:
        break;
    }
    json_decref(o);
    return 0;
}

void events_reader_init(events_reader *r)
{
    memset(r, 0, sizeof *r);
}

void events_reader_free(events_reader *r)
{
    free(r->buf);
    memset(r, 0, sizeof *r);
}

int events_reader_feed(events_reader *r, const void *data, size_t len)
{
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *p = realloc(r->buf, cap);
        if (!p)
            return -1;
        r->buf = p;
        r->cap = cap;
    }
    memcpy(r->buf + r->len, data, len);
    r->len += len;
    return 0;
}

/* Drops the first n bytes of the buffer. */
static void consume(events_reader *r, size_t n)
{
    memmove(r->buf, r->buf + n, r->len - n);
    r->len -= n;
    r->line++;
}

static int decode_line(events_reader *r, size_t n, events_event *e, error_info *err)
{
    /* blank lines are allowed (an editor's trailing newline) */
    size_t i = 0;
    while (i < n && (r->buf[i] == ' ' || r->buf[i] == '\t' || r->buf[i] == '\r'))
        i++;
    if (i == n)
        return 0;
    if (events_decode(r->buf, n, e, err) != 0) {
        if (err)
            err->line = (int)r->line + 1;
        return -1;
    }
    return 1;
}

int events_reader_next(events_reader *r, events_event *e, error_info *err)
{
    for (;;) {
        char *nl = r->len ? memchr(r->buf, '\n', r->len) : NULL;
        if (!nl)
            return 0;
        size_t n = (size_t)(nl - r->buf);
        int rc = decode_line(r, n, e, err);
        consume(r, n + 1);
        if (rc != 0)
            return rc;
    }
}

int events_reader_finish(events_reader *r, events_event *e, error_info *err)
{
    if (!r->len)
        return 0;
    size_t n = r->len;
    int rc = decode_line(r, n, e, err);
    consume(r, n);
    if (rc < 0 && err) {
        char msg[sizeof err->message - 32];
        snprintf(msg, sizeof msg, "%.700s", err->message);
        snprintf(err->message, sizeof err->message, "truncated last line (%s)", msg);
    }
    return rc;
}

long events_reader_read_fd(events_reader *r, int fd)
{
    char buf[65536];
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -1;
    if (n > 0 && events_reader_feed(r, buf, (size_t)n) != 0)
        return -1;
    return (long)n;
}

int events_writer_open(events_writer *w, const char *path, int pipe_fd, error_info *err)
{
    w->pipe_fd = pipe_fd;
    w->fd = -1;
    if (!path)
        return 0;
    w->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (w->fd < 0)
        return error_set(err, path, 0, 0, NULL, "cannot open the event log: %s", strerror(errno));
    return 0;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int events_write(events_writer *w, const events_event *e, error_info *err)
{
    char *line = events_encode(e);
    if (!line)
        return error_set(err, NULL, 0, 0, NULL, "cannot encode a %s event (text is not UTF-8?)",
                         events_type_name(e->type));
    size_t n = strlen(line);
    int rc = 0;
    if (w->fd >= 0) {
        /* O_APPEND and one write per line: a reader never sees two events interleaved */
        if (write_all(w->fd, line, n) != 0)
            rc = error_set(err, NULL, 0, 0, NULL, "cannot write the event log: %s", strerror(errno));
        else if ((e->type == EVENTS_SAVE || e->type == EVENTS_DONE) && fsync(w->fd) != 0)
            rc = error_set(err, NULL, 0, 0, NULL, "cannot sync the event log: %s", strerror(errno));
    }
    if (w->pipe_fd >= 0 && write_all(w->pipe_fd, line, n) != 0) {
        close(w->pipe_fd);   /* the monitor went away; the run goes on */
        w->pipe_fd = -1;
    }
    free(line);
    return rc;
}

void events_writer_close(events_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    if (w->pipe_fd >= 0)
        close(w->pipe_fd);
    w->fd = w->pipe_fd = -1;
}
