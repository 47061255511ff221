/* run.h — run directories: where a training run lives, how it is started detached from the
 * terminal, and how its state is read back.
 *
 * A run directory is $XDG_STATE_HOME/loratty/runs/<YYYYmmdd-HHMMSS>-<output_name>/ (default
 * ~/.local/state) and holds preset.toml (the preset as started), events.jsonl (src/events.h),
 * pid, output.log (the process's stdout and stderr) and control, a FIFO that takes one command
 * per line: stop, pause, resume, save, sample. A run's state is derived from its events and
 * whether its pid is alive, so a monitor can come and go without the run noticing. */
#ifndef LORATTY_RUN_H
#define LORATTY_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "error.h"

typedef enum run_state {
    RUN_STATE_RUNNING,
    RUN_STATE_FINISHED,
    RUN_STATE_STOPPED,
    RUN_STATE_FAILED,
} run_state;

typedef struct run_info {
    char dir[4096];
    char name[256];            /* the directory's base name */
    pid_t pid;                 /* 0 when no pid file */
    bool alive;
    run_state state;
    long long step, total;     /* last progress (total from the start event before any) */
    time_t started;            /* start event, else the directory's time */
    char preset[4096];         /* the preset path the run was started with */
    char output[4096];         /* the LoRA file it writes */
    int exit_code;             /* from the done event */
    char message[1024];        /* the last error event's text */
} run_info;

const char *run_state_name(run_state state);

/* $XDG_STATE_HOME/loratty/runs (or ~/.local/state/loratty/runs), not created. */
int run_root(char *buf, size_t size, error_info *err);

/* Creates a new run directory for output_name (made safe for a file name) with the preset
 * copied in, the control FIFO and an empty events.jsonl. Fills dir. */
int run_dir_create(const char *preset_path, const char *output_name, char *dir, size_t size,
                   error_info *err);
/* Makes sure an existing run directory has its FIFO and records pid (the running process). */
int run_dir_claim(const char *dir, pid_t pid, error_info *err);

/* Starts `loratty --run PRESET --run-dir DIR` detached: its own session (setsid), stdin from
 * /dev/null, stdout and stderr to DIR/output.log, SIGHUP ignored, so closing the terminal or
 * losing SSH never stops it. exe is the loratty binary (NULL: /proc/self/exe). Fills run. */
int run_start(const char *exe, const char *preset_path, const char *output_name, run_info *run,
              error_info *err);

/* Reads the run in dir: pid, events (replayed), state. */
int run_info_load(const char *dir, run_info *info, error_info *err);

/* All runs under run_root(), oldest first. */
int run_list(run_info **runs, size_t *count, error_info *err);

/* A run by name: NULL or "" = the latest; a path to a directory; else the newest run whose
 * name, or name after its "YYYYmmdd-HHMMSS-" stamp (the output name), starts with `name`. */
int run_find(const char *name, run_info *info, error_info *err);

/* Sends one command line (stop, pause, resume, save, sample) to the run's control FIFO.
 * Fails with a message when the run is not reading it. */
int run_control(const run_info *run, const char *command, error_info *err);

/* Engine side: opens the control FIFO for non-blocking reads (-1 with err on failure). */
int run_control_open(const char *dir, error_info *err);
/* Reads the next complete command into cmd; returns 1, or 0 when none is waiting. */
int run_control_poll(int fd, char *cmd, size_t size);

#endif
