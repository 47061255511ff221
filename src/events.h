/* events.h — the event stream of a training run: the one encoder and the one decoder.
 *
 * A run reports what it does as JSON lines (one object per line, a "type" key and a "t"
 * timestamp): start, progress, sample, save, log, error, done, validation. The engine process appends them
 * to <run dir>/events.jsonl (and optionally to a pipe); the run monitor and `--list-runs`
 * replay that file. Everything that writes or reads an event goes through here, so the
 * format is defined in exactly one place. */
#ifndef LORATTY_EVENTS_H
#define LORATTY_EVENTS_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"

typedef enum events_type {
    EVENTS_START,
    EVENTS_PROGRESS,
    EVENTS_SAMPLE,
    EVENTS_SAVE,
    EVENTS_LOG,
    EVENTS_ERROR,
    EVENTS_VALIDATION,
    EVENTS_DONE,
    EVENTS_UNKNOWN,      /* decoded line with a type this build does not know */
} events_type;

#define EVENTS_MAX_BUCKETS 32
#define EVENTS_TEXT_MAX 1024
#define EVENTS_PATH_MAX 4096

typedef struct events_bucket {
    int width, height;
    long long count;
} events_bucket;

/* One event. Only the fields of its type are meaningful; strings are always NUL-terminated
 * (cut when longer than their buffer). */
typedef struct events_event {
    events_type type;
    char type_name[32];          /* as found in the line (for EVENTS_UNKNOWN) */
    double time;                 /* Unix seconds; 0 = unknown */

    /* start: the resolved plan */
    long long steps, epochs, batches_per_epoch;
    events_bucket buckets[EVENTS_MAX_BUCKETS];
    int bucket_count;            /* buckets listed (at most EVENTS_MAX_BUCKETS) */
    long long bucket_total;      /* buckets in the plan */
    char device[64];
    char preset[EVENTS_PATH_MAX];
    char output[EVENTS_PATH_MAX];

    /* progress (step and total also for sample and save) */
    long long step, total;
    long long epoch;
    double loss, loss_smooth, lr, it_per_s, eta_s;
    long long memory_bytes;

    /* sample, save */
    char path[EVENTS_PATH_MAX];
    char prompt[EVENTS_TEXT_MAX];
    char kind[16];               /* save: "lora" or "state" */

    /* log, error */
    char level[16];              /* log: "info", "warning", "debug" */
    char text[EVENTS_TEXT_MAX];

    /* done */
    char status[16];             /* "finished", "stopped" or "failed" */
    int exit_code;

    /* validation: step, epoch, loss (the validation loss), kind ("epoch": at an epoch's end,
     * "step": validate_every_n_steps) and the divergence from the training loss average */
    double divergence;
} events_event;

const char *events_type_name(events_type type);
/* Current time in Unix seconds, for events_event.time. */
double events_now(void);
/* A zeroed event of `type` stamped with the current time. */
void events_init(events_event *e, events_type type);

/* Encodes one event as a JSON object followed by '\n'. Malloc'd; NULL when out of memory. */
char *events_encode(const events_event *e);
/* Decodes one line (without or with its '\n'). Returns 0 (an unknown type is not an error:
 * type becomes EVENTS_UNKNOWN with type_name set), or -1 with err when the line is not a JSON
 * object with a string "type". */
int events_decode(const char *line, size_t len, events_event *e, error_info *err);

/* Incremental reader: feed it bytes as they arrive (a line may be split across reads), take
 * complete events out. */
typedef struct events_reader {
    char *buf;
    size_t len, cap;
    long long line;              /* lines consumed so far (for messages) */
} events_reader;

void events_reader_init(events_reader *r);
void events_reader_free(events_reader *r);
int events_reader_feed(events_reader *r, const void *data, size_t len);   /* -1: out of memory */
/* Takes the next complete line. Returns 1 with *e filled, 0 when no complete line is buffered,
 * -1 with err for a malformed line (which is dropped; call again for the next one). */
int events_reader_next(events_reader *r, events_event *e, error_info *err);
/* At the end of the stream: the buffered partial line, if any. Returns 1 with *e when it
 * parses (the writer died after the data but before the newline), 0 when there was nothing,
 * -1 with err when it is a truncated line (it is dropped). */
int events_reader_finish(events_reader *r, events_event *e, error_info *err);
/* Reads what fd has now into the reader. Returns bytes read, 0 at end of file, -1 on error. */
long events_reader_read_fd(events_reader *r, int fd);

/* Writer: appends to a file (usually <run dir>/events.jsonl) and optionally to a pipe. */
typedef struct events_writer {
    int fd;                      /* the file, -1 when none */
    int pipe_fd;                 /* -1 when none; dropped after the reader goes away */
} events_writer;

/* Opens (creates, appends) path; pipe_fd may be -1. */
int events_writer_open(events_writer *w, const char *path, int pipe_fd, error_info *err);
/* Writes one event as one write(2) per destination; fsyncs the file after save and done
 * events so they survive a crash. A broken pipe only closes the pipe (SIGPIPE must be ignored
 * by the caller). Returns 0 or -1 with err (file write failed). */
int events_write(events_writer *w, const events_event *e, error_info *err);
void events_writer_close(events_writer *w);

#endif
