/* test_events.c — the event stream: every type survives encode → decode, a line split across
 * reads comes out once, a truncated last line is reported and dropped, an unknown type and a
 * malformed line are reported without stopping the reader, and the writer appends lines
 * that the reader and the run monitor's model read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "src/events.h"
#include "src/fileio.h"
#include "src/run.h"
#include "tui/monitor.h"

static events_event *make(events_type type)
{
    events_event *e = malloc(sizeof *e);
    assert_non_null(e);
    events_init(e, type);
    e->time = 1763900000.25;
    switch (type) {
    case EVENTS_START:
        e->steps = 200;
        e->epochs = 4;
        e->batches_per_epoch = 50;
        e->buckets[0] = (events_bucket){512, 512, 160};
        e->buckets[1] = (events_bucket){448, 576, 40};
        e->bucket_count = 2;
        e->bucket_total = 2;
        strcpy(e->device, "cuda");
        strcpy(e->preset, "/home/u/p.toml");
        strcpy(e->output, "/home/u/out/zqx \"ring\".safetensors");
        break;
    case EVENTS_PROGRESS:
        e->step = 17;
        e->total = 200;
        e->epoch = 1;
        e->loss = 0.123456;
        e->loss_smooth = 0.13;
        e->lr = 1e-4;
        e->it_per_s = 1.25;
        e->eta_s = NAN;               /* not known yet: written as null */
        e->memory_bytes = 6442450944LL;
        break;
    case EVENTS_SAMPLE:
        strcpy(e->path, "/runs/s/sample-17.png");
        strcpy(e->prompt, "a zqx ring, caf\xc3\xa9");
        e->step = 17;
        break;
    case EVENTS_SAVE:
        strcpy(e->path, "/runs/out.safetensors");
        strcpy(e->kind, "lora");
        e->step = 100;
        break;
    case EVENTS_LOG:
        strcpy(e->level, "warning");
        strcpy(e->text, "line one\nline two\ttabbed");
        break;
    case EVENTS_ERROR:
        strcpy(e->text, "CUDA out of memory");
        break;
    case EVENTS_DONE:
        strcpy(e->status, "stopped");
        e->exit_code = 130;
        break;
    case EVENTS_VALIDATION:
        e->step = 120;
        e->epoch = 3;
        strcpy(e->kind, "epoch");
        e->loss = 0.0625;
        e->divergence = -0.015625;
        break;
    case EVENTS_UNKNOWN:
        break;
    }
    return e;
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int t = 0; t < EVENTS_UNKNOWN; t++) {
        events_event *a = make((events_type)t), *b = malloc(sizeof *b);
        char *line = events_encode(a);
        assert_non_null(line);
        size_t n = strlen(line);
        assert_true(n > 0 && line[n - 1] == '\n');
        assert_null(memchr(line, '\n', n - 1));     /* one line, whatever the text holds */
        error_info err = {0};
        assert_int_equal(events_decode(line, n, b, &err), 0);
        assert_int_equal(b->type, a->type);
        assert_string_equal(b->type_name, events_type_name(a->type));
        assert_true(fabs(b->time - a->time) < 1e-3);
        assert_true(b->steps == a->steps && b->epochs == a->epochs);
        assert_true(b->batches_per_epoch == a->batches_per_epoch);
        assert_int_equal(b->bucket_count, a->bucket_count);
        for (int i = 0; i < a->bucket_count; i++)
            assert_memory_equal(&b->buckets[i], &a->buckets[i], sizeof a->buckets[i]);
        assert_string_equal(b->device, a->device);
        assert_string_equal(b->preset, a->preset);
        assert_string_equal(b->output, a->output);
        assert_true(b->step == a->step && b->total == a->total && b->epoch == a->epoch);
        assert_true(b->memory_bytes == a->memory_bytes);
        if (t == EVENTS_PROGRESS) {
            assert_true(fabs(b->loss - a->loss) < 1e-12);
            assert_true(fabs(b->loss_smooth - a->loss_smooth) < 1e-12);
            assert_true(fabs(b->lr - a->lr) < 1e-18);
            assert_true(fabs(b->it_per_s - a->it_per_s) < 1e-12);
            assert_true(isnan(b->eta_s));
        }
        assert_string_equal(b->path, a->path);
        assert_string_equal(b->prompt, a->prompt);
        assert_string_equal(b->kind, a->kind);
        assert_string_equal(b->text, a->text);
        if (t == EVENTS_LOG)
            assert_string_equal(b->level, a->level);
        if (t == EVENTS_VALIDATION)
            assert_true(b->loss == a->loss && b->divergence == a->divergence);
        assert_string_equal(b->status, a->status);
        assert_int_equal(b->exit_code, a->exit_code);
        free(line);
        free(a);
        free(b);
    }
}

/* Feeds `text` to a reader in pieces of `chunk` bytes; returns the types seen, in order. */
static int read_chunks(const char *text, size_t chunk, char *types, int *errors)
{
    events_reader r;
    events_reader_init(&r);
    events_event *e = malloc(sizeof *e);
    int n = 0;
    *errors = 0;
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += chunk) {
        size_t k = len - off < chunk ? len - off : chunk;
        assert_int_equal(events_reader_feed(&r, text + off, k), 0);
        int rc;
        error_info err = {0};
        while ((rc = events_reader_next(&r, e, &err)) != 0) {
            if (rc < 0)
                (*errors)++;
            else
                types[n++] = e->type == EVENTS_UNKNOWN ? 'u' : e->type_name[0];
        }
    }
    error_info err = {0};
    int rc = events_reader_finish(&r, e, &err);
    if (rc < 0) {
        (*errors)++;
        assert_non_null(strstr(err.message, "truncated"));
    } else if (rc > 0)
        types[n++] = e->type_name[0];
    types[n] = 0;
    free(e);
    events_reader_free(&r);
    return n;
}

static void test_partial_and_truncated(void **state)
{
    (void)state;
    const char *text =
        "{\"type\":\"start\",\"t\":1,\"steps\":10}\n"
        "\n"
        "{\"type\":\"progress\",\"t\":2,\"step\":1,\"total\":10,\"loss\":0.5}\n"
        "{\"type\":\"telemetry\",\"t\":3,\"gpu\":\"x\"}\n"
        "this is not json\n"
        "{\"type\":\"save\",\"t\":4,\"path\":\"a\",\"kind\":\"lora\"}\n"
        "{\"type\":\"done\",\"t\":5,\"sta";
    char types[32];
    int errors;
    /* byte by byte, in odd pieces and at once: the same events */
    size_t chunks[] = {1, 3, 7, 4096};
    for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
        int n = read_chunks(text, chunks[i], types, &errors);
        assert_int_equal(n, 4);
        assert_string_equal(types, "spus");
        assert_int_equal(errors, 2);   /* the non-JSON line and the truncated last line */
    }
    /* a last line without its newline that is complete still counts */
    int n = read_chunks("{\"type\":\"error\",\"t\":1,\"text\":\"x\"}", 5, types, &errors);
    assert_int_equal(n, 1);
    assert_string_equal(types, "e");
    assert_int_equal(errors, 0);

    events_event *e = malloc(sizeof *e);
    error_info err = {0};
    assert_int_equal(events_decode("[1,2]", 5, e, &err), -1);
    assert_int_equal(events_decode("{\"t\":1}", 7, e, &err), -1);
    assert_int_equal(events_decode("{\"type\":\"x-new\"}\n", 17, e, &err), 0);
    assert_int_equal(e->type, EVENTS_UNKNOWN);
    assert_string_equal(e->type_name, "x-new");
    free(e);
}

static void test_writer_and_model(void **state)
{
    (void)state;
    char dir[] = "/tmp/loratty-events.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    int p[2];
    assert_int_equal(pipe(p), 0);
    events_writer w;
    error_info err = {0};
    assert_int_equal(events_writer_open(&w, path, p[1], &err), 0);
    for (int t = 0; t < EVENTS_UNKNOWN; t++) {
        events_event *e = make((events_type)t);
        assert_int_equal(events_write(&w, e, &err), 0);
        free(e);
    }
    events_writer_close(&w);

    /* the pipe got the same bytes as the file */
    size_t flen;
    char *file = fileio_read_all(path, &flen, &err);
    assert_non_null(file);
    char *piped = malloc(flen + 1);
    assert_int_equal(read(p[0], piped, flen + 1), (ssize_t)flen);
    assert_memory_equal(file, piped, flen);
    close(p[0]);

    monitor_model m;
    monitor_model_init(&m);
    events_reader r;
    events_reader_init(&r);
    int fd = open(path, O_RDONLY);
    while (events_reader_read_fd(&r, fd) > 0) {}
    close(fd);
    events_event *e = malloc(sizeof *e);
    int count = 0;
    while (events_reader_next(&r, e, &err) == 1) {
        assert_int_equal(monitor_model_apply(&m, e), 0);
        count++;
    }
    assert_int_equal(count, EVENTS_UNKNOWN);
    assert_true(m.started && m.done);
    assert_int_equal(m.total, 200);
    assert_int_equal(m.step, 17);
    assert_int_equal((int)m.n, 1);
    assert_int_equal(m.save_count, 1);
    assert_string_equal(m.saves[0].kind, "lora");
    assert_int_equal(m.sample_version, 1);
    assert_true(m.val_loss == 0.0625 && m.val_step == 120);
    assert_true(m.val_n == 1 && m.val_x[0] == 120.0 && m.val_y[0] == 0.0625);
    assert_string_equal(m.status, "stopped");
    const monitor_log_line *last = monitor_model_log_line(&m, 0);
    assert_non_null(strstr(last->text, "done: stopped"));
    assert_true(last->error);
    /* the log tail keeps only ASCII: the narrow-curses screen cannot show more */
    for (int i = 0; monitor_model_log_line(&m, i); i++)
        for (const char *c = monitor_model_log_line(&m, i)->text; *c; c++)
            assert_true(*c >= 0x20 && *c < 0x7f);

    /* run_info_load derives the state from the same file: no pid, a done event */
    run_info info;
    assert_int_equal(run_info_load(dir, &info, &err), 0);
    assert_int_equal(info.state, RUN_STATE_STOPPED);
    assert_int_equal(info.exit_code, 130);
    assert_int_equal(info.step, 17);
    assert_string_equal(info.message, "CUDA out of memory");

    char fmt[32];
    monitor_format_eta(3725, fmt, sizeof fmt);
    assert_string_equal(fmt, "1h02m");
    monitor_format_eta(200, fmt, sizeof fmt);
    assert_string_equal(fmt, "3m20s");
    monitor_format_bytes(6442450944LL, fmt, sizeof fmt);
    assert_string_equal(fmt, "6.0 GiB");

    free(e);
    free(file);
    free(piped);
    events_reader_free(&r);
    monitor_model_free(&m);
    unlink(path);
    rmdir(dir);
}

/* run_start with /bin/true standing in for loratty: a run directory with the preset, a FIFO
 * and a pid; the process is gone at once without a done event, so the run reads as failed. */
static void test_run_start(void **state)
{
    (void)state;
    char dir[] = "/tmp/loratty-runs.XXXXXX";
    assert_non_null(mkdtemp(dir));
    setenv("XDG_STATE_HOME", dir, 1);
    char preset[256];
    snprintf(preset, sizeof preset, "%s/p.toml", dir);
    error_info err = {0};
    assert_int_equal(fileio_write_atomic(preset, "[basic]\n", 8, &err), 0);
    run_info run;
    assert_int_equal(run_start("/bin/true", preset, "my/lora", &run, &err), 0);
    assert_true(run.pid > 0);
    assert_non_null(strstr(run.name, "-my_lora"));
    char path[4300];
    snprintf(path, sizeof path, "%s/preset.toml", run.dir);
    assert_int_equal(access(path, R_OK), 0);
    for (int i = 0; i < 100 && run.alive; i++) {
        usleep(20000);
        assert_int_equal(run_info_load(run.dir, &run, &err), 0);
    }
    assert_false(run.alive);
    assert_int_equal(run.state, RUN_STATE_FAILED);
    assert_int_not_equal(run_control(&run, "stop", &err), 0);   /* nobody reads the FIFO */
    run_info found;
    assert_int_equal(run_find("my_lora", &found, &err), 0);
    assert_string_equal(found.name, run.name);
    assert_int_equal(run_find(NULL, &found, &err), 0);
    assert_int_not_equal(run_find("nothing-like-it", &found, &err), 0);
    char cmd[8300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_partial_and_truncated),
        cmocka_unit_test(test_writer_and_model),
        cmocka_unit_test(test_run_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
