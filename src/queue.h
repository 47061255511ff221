/* queue.h — the run queue: presets that train one after another (kohya_ss issues #174, #2950).
 *
 * The queue is a text file, $XDG_STATE_HOME/loratty/queue (default ~/.local/state), one
 * absolute preset path a line, rewritten atomically under a lock (QUEUE.lock) so `--queue add`
 * and a running queue never lose each other's changes. A queue runner takes the first preset,
 * runs `loratty --run PRESET` and waits for it to end, then takes the next, until the queue is
 * empty. It waits while any other run is alive (one GPU, one run), and it stops, leaving the
 * rest queued, when a run was stopped by the user (exit status 130). The runner holds a lock on
 * QUEUE.runner (its pid inside) for as long as it lives and names the preset it is running in
 * QUEUE.current, so `--queue list` and the TUI can show it. */
#ifndef LORATTY_QUEUE_H
#define LORATTY_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"

typedef struct queue {
    char **presets;            /* absolute paths, in run order */
    size_t count;
} queue;

/* $XDG_STATE_HOME/loratty/queue (or ~/.local/state/loratty/queue); the folder is not created. */
int queue_default_path(char *buf, size_t size, error_info *err);

/* Reads the queue file; a missing file is an empty queue. Lines starting with '#' are comments. */
int queue_load(const char *path, queue *q, error_info *err);
void queue_free(queue *q);

/* Appends presets (each must exist; stored as absolute paths). *position (may be NULL) gets
 * the 1-based place of the first one added. */
int queue_add(const char *path, const char *const *presets, size_t n, size_t *position,
              error_info *err);
/* Removes entry `number` (1-based, as --queue list shows it); removed gets its path. */
int queue_remove(const char *path, size_t number, char *removed, size_t size, error_info *err);
/* Takes the first entry off: returns 1 and fills preset, 0 when the queue is empty, -1. */
int queue_pop(const char *path, char *preset, size_t size, error_info *err);

typedef struct queue_runner {
    bool active;               /* a runner holds the lock */
    pid_t pid;
    char current[4096];        /* the preset it is running, "" while it waits or between runs */
} queue_runner;

void queue_runner_status(const char *path, queue_runner *status);

typedef struct queue_run_options {
    /* The program each entry is run with as `EXE --run PRESET`; NULL = this loratty
     * (/proc/self/exe). Tests pass a stub script here. */
    const char *exe;
    bool wait_for_runs;        /* wait while another run (run_list) is alive before each start */
    unsigned poll_ms;          /* how often to look while waiting (0 = 2000) */
} queue_run_options;

/* The runner, in the calling process: runs entries until the queue is empty or a run was
 * stopped by the user. Progress lines go to stderr. Returns 0, or -1 with err (another runner
 * holds the lock, a run could not be started). */
int queue_run(const char *path, const queue_run_options *opts, error_info *err);

/* Starts `EXE --queue runner` detached like a run (setsid, stdin /dev/null, stdout and stderr
 * appended to QUEUE.log, SIGHUP ignored), so it survives the terminal and SSH. exe NULL = this
 * loratty. Fills *pid. */
int queue_start(const char *path, const char *exe, pid_t *pid, error_info *err);

#endif
