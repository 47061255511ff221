/* monitor.h — the run monitor: progress, ETA, loss and learning-rate plots, memory, saves, a
 * log tail and the latest sample image of one run, rebuilt from its events.jsonl (replayed
 * from the start, then followed), so it can be opened and closed at any time without the run
 * noticing. Plain curses; plots and images are written over it with term_overlay() because
 * Debian's CDK links narrow ncurses (see tui/plot.h).
 *
 * monitor_model_* is the screen's data, fed one event at a time (unit-testable without a
 * terminal); monitor_show and monitor_attach are the screen. */
#ifndef LORATTY_TUI_MONITOR_H
#define LORATTY_TUI_MONITOR_H

#include <stdbool.h>
#include <stddef.h>

#include "src/events.h"
#include "src/run.h"
#include "tui/term.h"

#define MONITOR_LOG_LINES 64
#define MONITOR_SAVES 4

typedef struct monitor_log_line {
    bool error;
    char text[240];            /* ASCII (the screen is narrow curses) */
} monitor_log_line;

typedef struct monitor_save {
    char kind[16];
    long long step;
    char path[1024];
} monitor_save;

typedef struct monitor_model {
    bool started;
    long long steps, epochs, batches_per_epoch, buckets;
    char device[64];
    char output[1024];

    long long step, total, epoch;
    double loss, loss_smooth, lr, it_per_s, eta_s;
    long long memory_bytes;
    double val_loss;                     /* the latest validation loss; NAN: none yet */
    long long val_step;
    double *val_x, *val_y;               /* every validation: step, loss */
    size_t val_n, val_cap;

    /* one entry per progress event, x = step */
    double *x, *loss_raw, *loss_sm, *lrs;
    size_t n, cap;

    monitor_save saves[MONITOR_SAVES];   /* newest last */
    int save_count;                      /* all saves seen */

    monitor_log_line log[MONITOR_LOG_LINES];   /* ring */
    int log_next, log_count;

    char sample_path[4096];
    char sample_prompt[240];
    long long sample_step;
    int sample_version;                  /* bumped on every sample event */

    bool done;
    char status[16];
    int exit_code;
    bool paused;                         /* as asked from this monitor */
} monitor_model;

void monitor_model_init(monitor_model *m);
void monitor_model_free(monitor_model *m);
/* Folds one event into the model. Returns -1 only when memory runs out. */
int monitor_model_apply(monitor_model *m, const events_event *e);
/* Adds a line to the log tail (the monitor's own messages too). */
void monitor_model_log(monitor_model *m, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The i-th newest log line (0 = newest), NULL past the end. */
const monitor_log_line *monitor_model_log_line(const monitor_model *m, int i);

/* "1h02m", "3m20s", "45s", "-" */
void monitor_format_eta(double seconds, char *buf, size_t size);
/* "3.2 GiB", "512 MiB", "-" */
void monitor_format_bytes(long long bytes, char *buf, size_t size);

typedef struct monitor_options {
    term_sixel_mode sixel;
} monitor_options;

typedef enum monitor_exit {
    MONITOR_QUIT,              /* q: leave the monitor */
    MONITOR_FORMS,             /* F8: go to the forms */
} monitor_exit;

/* Shows the monitor of run inside an active curses session (the forms' stdscr) until the
 * user leaves it. The caller redraws its own screen afterwards. */
monitor_exit monitor_show(const run_info *run, const monitor_options *opts, const term_caps *caps,
                          bool color);

/* `loratty --attach`: starts curses, shows the monitor, restores the terminal on every way
 * out (signals too); F8 then opens the forms with the run's preset. Returns the exit
 * status. */
int monitor_attach(const run_info *run, const monitor_options *opts);

#endif
