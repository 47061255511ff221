/* monitor_model.c — the run monitor's data: events folded into the numbers, series, saves,
 * log tail and sample the screen shows. No curses here, so it is tested on its own. */
#include "tui/monitor.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void monitor_model_init(monitor_model *m)
{
    memset(m, 0, sizeof *m);
    m->loss = m->loss_smooth = m->lr = m->it_per_s = m->eta_s = m->val_loss = NAN;
}

void monitor_model_free(monitor_model *m)
{
    free(m->x);
    free(m->loss_raw);
    free(m->loss_sm);
    free(m->lrs);
    free(m->val_x);
    free(m->val_y);
    monitor_model_init(m);
}

/* Narrow curses cannot print UTF-8 or control bytes: keep printable ASCII. */
static void ascii_copy(char *out, size_t size, const char *in)
{
    size_t n = 0;
    for (; *in && n + 1 < size; in++) {
        unsigned char c = (unsigned char)*in;
        out[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : c == '\t' ? ' ' : '?';
    }
    out[n] = 0;
}

void monitor_model_log(monitor_model *m, bool error, const char *fmt, ...)
{
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    monitor_log_line *l = &m->log[m->log_next];
    l->error = error;
    ascii_copy(l->text, sizeof l->text, text);
    m->log_next = (m->log_next + 1) % MONITOR_LOG_LINES;
    if (m->log_count < MONITOR_LOG_LINES)
        m->log_count++;
}

const monitor_log_line *monitor_model_log_line(const monitor_model *m, int i)
{
    if (i < 0 || i >= m->log_count)
        return NULL;
    return &m->log[(m->log_next - 1 - i + 2 * MONITOR_LOG_LINES) % MONITOR_LOG_LINES];
}

static int grow(monitor_model *m)
{
    if (m->n < m->cap)
        return 0;
    size_t cap = m->cap ? m->cap * 2 : 256;
    double **arrays[] = {&m->x, &m->loss_raw, &m->loss_sm, &m->lrs};
    for (size_t i = 0; i < 4; i++) {
        double *p = realloc(*arrays[i], cap * sizeof *p);
        if (!p)
            return -1;
        *arrays[i] = p;
    }
    m->cap = cap;
    return 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

int monitor_model_apply(monitor_model *m, const events_event *e)
{
    switch (e->type) {
    case EVENTS_START:
        m->started = true;
        m->steps = m->total = e->steps;
        m->epochs = e->epochs;
        m->batches_per_epoch = e->batches_per_epoch;
        m->buckets = e->bucket_total;
        ascii_copy(m->device, sizeof m->device, e->device);
        ascii_copy(m->output, sizeof m->output, e->output);
        monitor_model_log(m, false, "start: %lld steps, %lld epochs of %lld batches, %lld bucket%s, "
                          "device %s", e->steps, e->epochs, e->batches_per_epoch, e->bucket_total,
                          e->bucket_total == 1 ? "" : "s", e->device[0] ? e->device : "?");
        break;
    case EVENTS_PROGRESS:
        if (grow(m) != 0)
            return -1;
        m->step = e->step;
        if (e->total)
            m->total = e->total;
        m->epoch = e->epoch;
        m->loss = e->loss;
        m->loss_smooth = e->loss_smooth;
        m->lr = e->lr;
        m->it_per_s = e->it_per_s;
        m->eta_s = e->eta_s;
        m->memory_bytes = e->memory_bytes;
        m->x[m->n] = (double)e->step;
        m->loss_raw[m->n] = e->loss;
        m->loss_sm[m->n] = e->loss_smooth;
        m->lrs[m->n] = e->lr;
        m->n++;
        break;
    case EVENTS_SAMPLE:
        snprintf(m->sample_path, sizeof m->sample_path, "%s", e->path);
        ascii_copy(m->sample_prompt, sizeof m->sample_prompt, e->prompt);
        m->sample_step = e->step;
        m->sample_version++;
        monitor_model_log(m, false, "sample at step %lld: %s", e->step, base_name(e->path));
        break;
    case EVENTS_VALIDATION:
        if (m->val_n == m->val_cap) {
            size_t cap = m->val_cap ? m->val_cap * 2 : 64;
            double *x = realloc(m->val_x, cap * sizeof *x);
            if (x)
                m->val_x = x;
            double *y = x ? realloc(m->val_y, cap * sizeof *y) : NULL;
            if (!y)
                return -1;
            m->val_y = y;
            m->val_cap = cap;
        }
        m->val_x[m->val_n] = (double)e->step;
        m->val_y[m->val_n++] = e->loss;
        m->val_loss = e->loss;
        m->val_step = e->step;
        if (!strcmp(e->kind, "epoch"))
            monitor_model_log(m, false, "validation loss %.4f at the end of epoch %lld (step %lld)",
                              e->loss, e->epoch, e->step);
        else
            monitor_model_log(m, false, "validation loss %.4f at step %lld", e->loss, e->step);
        break;
    case EVENTS_SAVE: {
        if (m->save_count >= MONITOR_SAVES)
            memmove(&m->saves[0], &m->saves[1], (MONITOR_SAVES - 1) * sizeof m->saves[0]);
        monitor_save *s = &m->saves[m->save_count < MONITOR_SAVES ? m->save_count : MONITOR_SAVES - 1];
        ascii_copy(s->kind, sizeof s->kind, e->kind[0] ? e->kind : "lora");
        ascii_copy(s->path, sizeof s->path, e->path);
        s->step = e->step;
        m->save_count++;
        monitor_model_log(m, false, "saved %s at step %lld: %s", s->kind, e->step, s->path);
        break;
    }
    case EVENTS_LOG:
        if (!strcmp(e->level, "warning") || !strcmp(e->level, "warn"))
            monitor_model_log(m, false, "warning: %s", e->text);
        else if (!strcmp(e->level, "debug"))
            break;
        else
            monitor_model_log(m, false, "%s", e->text);
        /* the run logs "paused (send resume to go on)" and "resumed" */
        if (!strncmp(e->text, "paused", 6))
            m->paused = true;
        else if (!strncmp(e->text, "resumed", 7))
            m->paused = false;
        break;
    case EVENTS_ERROR:
        monitor_model_log(m, true, "error: %s", e->text);
        break;
    case EVENTS_DONE:
        m->done = true;
        ascii_copy(m->status, sizeof m->status, e->status);
        m->exit_code = e->exit_code;
        m->paused = false;
        monitor_model_log(m, strcmp(e->status, "finished") != 0, "done: %s (exit status %d)",
                          e->status, e->exit_code);
        break;
    case EVENTS_UNKNOWN:
        monitor_model_log(m, false, "(an event of type \"%s\" this loratty does not know)",
                          e->type_name);
        break;
    }
    return 0;
}

void monitor_format_eta(double s, char *buf, size_t size)
{
    if (!isfinite(s) || s < 0) {
        snprintf(buf, size, "-");
        return;
    }
    long long t = (long long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, size, "%lldh%02lldm", t / 3600, t % 3600 / 60);
    else if (t >= 60)
        snprintf(buf, size, "%lldm%02llds", t / 60, t % 60);
    else
        snprintf(buf, size, "%llds", t);
}

void monitor_format_bytes(long long b, char *buf, size_t size)
{
    if (b <= 0)
        snprintf(buf, size, "-");
    else if (b >= 1LL << 30)
        snprintf(buf, size, "%.1f GiB", (double)b / (1LL << 30));
    else
        snprintf(buf, size, "%lld MiB", (b + (1LL << 19)) >> 20);
}
