/* main.c — the loratty command line: which face to show (TUI, headless run, check, import,
 * export, inspect) and how errors reach the user. Exit status: 0 success, 1 run failed,
 * 2 usage or configuration error, 130 stopped by the user after a graceful save. */
#include "build_config.h"

#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "error.h"
#include "events.h"
#include "params.h"
#include "plan.h"
#include "presets.h"
#include "queue.h"
#include "run.h"
#include "shapes.h"
#include "engine/inspect.h"
#include "engine/train/train_run_config.h"
#include "engine/models/new_model_cli.h"
#include "engine/sample/sample_cli.h"
#include "tui/keys.h"
#include "tui/monitor.h"
#include "tui/tui.h"

enum { EXIT_RUN_FAILED = 1, EXIT_USAGE = 2, EXIT_STOPPED = 130 };

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: loratty [OPTION]... [PRESET]\n"
        "Train LoRA adapters for Stable Diffusion 1.x, 2.x and SDXL from a terminal.\n"
        "\n"
        "With no option, opens the parameter forms (and the preset, if given).\n"
        "\n"
        "  --run PRESET          train headless with PRESET (in a new run directory)\n"
        "  --list-runs           list the runs: name, state, step, start time, output\n"
        "  --queue add PRESET... queue presets to train one after another\n"
        "  --queue list          show the queue (and what its runner is running)\n"
        "  --queue remove N      take entry N off the queue\n"
        "  --queue run           run the queue in the background, one preset at a time\n"
        "  --attach [RUN]        open the monitor of a run (the latest, or the newest\n"
        "                        whose name starts with RUN, or a run directory)\n"
        "  --check PRESET        validate PRESET and print the plan: images per folder,\n"
        "                        repeats, steps per epoch, total and warmup steps, buckets\n"
        "  --import FILE         read a kohya_ss GUI .json, an sd-scripts run .toml or a\n"
        "                        dataset .toml and write it as a loratty preset\n"
        "  -o, --output FILE     where --import writes (default: standard output)\n"
        "  --print-command PRESET\n"
        "                        print the sd-scripts run TOML, the dataset TOML and the\n"
        "                        accelerate command kohya_ss would run for PRESET\n"
        "  --set KEY=VALUE       override a parameter (repeatable); KEY is a name such as\n"
        "                        learning_rate or a table.name such as basic.learning_rate\n"
        "  --inspect FILE        print the metadata and tensors of a .safetensors file\n"
        "  --sample --model PATH --prompt TEXT -o OUT.png [--negative TEXT] [--steps N]\n"
        "           [--cfg S] [--seed N] [--width W] [--height H] [--sampler NAME]\n"
        "           [--lora FILE[:WEIGHT]]... [--clip-skip N] [--vae PATH]\n"
        "                        generate one image (see loratty(1) for every option)\n"
        "  --new-model CONFIG_DIR -o OUT.safetensors [--seed N]\n"
        "           [--save-precision float|fp16|bf16]\n"
        "                        a randomly initialised model from a diffusers config\n"
        "                        folder, saved as one single-file checkpoint\n"
        "  --make-shapes DIR [--count N] [--seed S] [--size PX] [--repeats R] [--objects K]\n"
        "                        write a captioned data set of plain shapes (2000 64x64\n"
        "                        images, up to K shapes each) as the kohya folder DIR/R_shapes\n"
        "  --sixel=auto|on|off   sample images as sixel graphics in the TUI\n"
        "  -h, --help            show this help and exit\n"
        "  -V, --version         show the version and exit\n"
        "\n"
        "Exit status: 0 success, 1 the run failed, 2 usage or configuration error,\n"
        "130 stopped by the user after a graceful save.\n"
        "See loratty(1) and loratty.toml(5).\n");
}

/* The last message report() printed, for --run's error event. */
static char last_report[2048];

static void report(const error_info *err)
{
    error_format(err, last_report, sizeof last_report);
    fprintf(stderr, "loratty: %s\n", last_report);
}

static void print_warnings(const config_warnings *w)
{
    for (size_t i = 0; i < w->count; i++)
        fprintf(stderr, "loratty: warning: %s\n", w->lines[i]);
}

typedef struct cli {
    const char *run, *check, *import, *output, *print_command, *inspect, *preset;
    const char *sixel;
    const char *run_dir;       /* hidden --run-dir: the run directory run_start made */
    const char *queue;         /* --queue's action: add, list, remove, run (runner: hidden) */
    bool list_runs, attach;
    const char **sets;
    size_t set_count;
} cli;

static int apply_sets(const cli *args, config *cfg, error_info *err)
{
    for (size_t i = 0; i < args->set_count; i++)
        if (config_set(cfg, args->sets[i], err) != 0)
            return -1;
    return 0;
}

/* Loads PRESET and applies the --set overrides, then validates. A run and its plan take
 * additional_parameters as sd-scripts' command line would, over the preset and under --set
 * (which may set additional_parameters itself); --print-command keeps them for the command it
 * prints, as kohya_ss does. */
static int load_config(const cli *args, const char *path, config *cfg, bool strict_warnings,
                       bool additional)
{
    error_info err = {0};
    config_warnings warnings = {0};
    int rc = config_load(cfg, path, &warnings, &err);
    if (rc == 0)
        rc = apply_sets(args, cfg, &err);
    if (rc == 0 && additional && config_string(cfg, "additional_parameters")[0])
        rc = config_apply_additional_parameters(cfg, &warnings, &err) != 0 || apply_sets(args, cfg, &err) != 0;
    if (rc != 0 || strict_warnings)
        print_warnings(&warnings);
    config_warnings_free(&warnings);
    if (rc != 0) {
        report(&err);
        return -1;
    }
    if (config_validate(cfg, &err) != 0) {
        report(&err);
        return -1;
    }
    return 0;
}

static int command_check(const cli *args)
{
    config cfg;
    config_init(&cfg);
    int status = 0;
    if (load_config(args, args->check, &cfg, true, true) != 0)
        status = EXIT_USAGE;
    else {
        plan p;
        error_info err = {0};
        int rc = plan_compute(&cfg, args->check, &p, &err);
        plan_print(&p, &cfg, stdout);
        if (rc != 0) {
            report(&err);
            status = EXIT_USAGE;
        } else {
            bool first = true;
            for (size_t i = 0; i < params_count; i++) {
                const param *q = &params_table[i];
                if (q->support != SUPPORT_NOT_YET || config_is_default(&cfg, q))
                    continue;
                if (first)
                    printf("Not supported by loratty's engine yet (--run refuses these until it is):\n");
                first = false;
                char *text = config_value_text(&cfg, q);
                printf("  %s.%s = %s\n", params_table_name(q), q->name, text);
                free(text);
            }
        }
        plan_free(&p);
    }
    config_free(&cfg);
    return status;
}

/* --run's event log; a run that fails before it has a directory only prints. */
static events_writer run_events = {-1, -1};

static void run_event_text(events_type type, const char *level, const char *text)
{
    events_event *e = malloc(sizeof *e);
    if (!e)
        return;
    events_init(e, type);
    snprintf(e->level, sizeof e->level, "%s", level ? level : "");
    snprintf(e->text, sizeof e->text, "%s", text);
    events_write(&run_events, e, NULL);
    free(e);
}

static int run_finish(int status)
{
    events_event *e = malloc(sizeof *e);
    if (e) {
        events_init(e, EVENTS_DONE);
        snprintf(e->status, sizeof e->status, "%s", status == 0 ? "finished"
                                                     : status == EXIT_STOPPED ? "stopped" : "failed");
        e->exit_code = status;
        events_write(&run_events, e, NULL);
        free(e);
    }
    events_writer_close(&run_events);
    return status;
}

static int run_open_events(const char *dir)
{
    error_info err = {0};
    char path[4200];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    if (run_dir_claim(dir, getpid(), &err) != 0 || events_writer_open(&run_events, path, -1, &err) != 0) {
        report(&err);
        return -1;
    }
    return 0;
}

static void run_start_event(const config *cfg, const plan *p, const char *preset)
{
    events_event *e = malloc(sizeof *e);
    if (!e)
        return;
    events_init(e, EVENTS_START);
    e->steps = p->total_steps;
    e->epochs = p->epochs;
    e->batches_per_epoch = p->batches_per_epoch;
    e->bucket_total = (long long)p->bucket_count;
    for (size_t i = 0; i < p->bucket_count && i < EVENTS_MAX_BUCKETS; i++) {
        e->buckets[i] = (events_bucket){p->buckets[i].width, p->buckets[i].height, p->buckets[i].count};
        e->bucket_count++;
    }
#ifdef HAVE_CUDA
    snprintf(e->device, sizeof e->device, "cuda");
#else
    snprintf(e->device, sizeof e->device, "cpu");
#endif
    char abs[4096];
    snprintf(e->preset, sizeof e->preset, "%s", realpath(preset, abs) ? abs : preset);
    const char *dir = config_string(cfg, "output_dir");
    snprintf(e->output, sizeof e->output, "%s%s%s.%s", dir, *dir ? "/" : "",
             config_string(cfg, "output_name"), config_string(cfg, "save_model_as"));
    events_write(&run_events, e, NULL);
    free(e);
}

/* ---- --run: the training itself (engine/train/train_run.h) ---- */

static volatile sig_atomic_t run_signals;

/* SIGINT / SIGTERM: finish the step, save, stop; a second SIGINT leaves at once (saves are
 * atomic, so the last good file stays). */
static void run_on_signal(int sig)
{
    if (run_signals && sig == SIGINT)
        _exit(EXIT_STOPPED);
    run_signals++;
}

typedef struct run_ctx {
    int control_fd;
    bool tty;
    long long every;           /* plain progress line every N steps when not a TTY */
    bool progress_shown;
} run_ctx;

/* A message line after a progress line redrawn in place: move below it first. */
static void end_progress_line(run_ctx *r)
{
    if (r->progress_shown && r->tty)
        fputc('\n', stdout);
    r->progress_shown = false;
}

static void run_hook_log(void *ctx, const char *level, const char *text)
{
    run_ctx *r = ctx;
    end_progress_line(r);
    fprintf(stdout, "%s%s\n", strcmp(level, "info") ? "warning: " : "", text);
    fflush(stdout);
    run_event_text(EVENTS_LOG, level, text);
}

static void run_hook_progress(void *ctx, const train_run_progress *p)
{
    run_ctx *r = ctx;
    events_event *e = malloc(sizeof *e);
    if (e) {
        events_init(e, EVENTS_PROGRESS);
        e->step = p->step;
        e->total = p->total;
        e->epoch = p->epoch;
        e->loss = p->loss;
        e->loss_smooth = p->loss_avg;
        e->lr = p->lr;
        e->it_per_s = p->it_per_s;
        e->eta_s = p->eta_s;
        e->memory_bytes = p->memory_bytes;
        events_write(&run_events, e, NULL);
        free(e);
    }
    if (!r->tty && p->step % r->every != 0 && p->step != 1 && p->step != p->total)
        return;
    long long eta = (long long)(p->eta_s + 0.5);
    printf("%sstep %lld/%lld  epoch %lld/%lld  loss %.4f  avg %.4f  lr %.3g  %.2f it/s  "
           "ETA %lld:%02lld:%02lld  mem %lld MB%s", r->tty ? "\r\033[K" : "", p->step, p->total,
           p->epoch, p->epochs, p->loss, p->loss_avg, p->lr, p->it_per_s, eta / 3600,
           eta / 60 % 60, eta % 60, p->memory_bytes >> 20, r->tty ? "" : "\n");
    fflush(stdout);
    r->progress_shown = true;
}

static void run_hook_saved(void *ctx, const char *path, const char *kind, long long step)
{
    events_event *e = malloc(sizeof *e);
    if (e) {
        events_init(e, EVENTS_SAVE);
        snprintf(e->path, sizeof e->path, "%s", path);
        snprintf(e->kind, sizeof e->kind, "%s", kind);
        e->step = step;
        events_write(&run_events, e, NULL);
        free(e);
    }
    char line[4200];
    snprintf(line, sizeof line, "saved %s %s", !strcmp(kind, "state") ? "state" : !strcmp(kind, "model") ? "model" : "LoRA", path);
    run_ctx *r = ctx;
    end_progress_line(r);
    printf("%s\n", line);
    fflush(stdout);
}

static void run_hook_sampled(void *ctx, const char *path, const char *prompt, long long step)
{
    events_event *e = malloc(sizeof *e);
    if (e) {
        events_init(e, EVENTS_SAMPLE);
        snprintf(e->path, sizeof e->path, "%s", path);
        snprintf(e->prompt, sizeof e->prompt, "%s", prompt);
        e->step = step;
        events_write(&run_events, e, NULL);
        free(e);
    }
    run_ctx *r = ctx;
    end_progress_line(r);
    printf("sample %s\n", path);
    fflush(stdout);
}

static void run_hook_validated(void *ctx, const train_run_validation *v)
{
    events_event *e = malloc(sizeof *e);
    if (e) {
        events_init(e, EVENTS_VALIDATION);
        e->step = v->step;
        e->epoch = v->epoch;
        snprintf(e->kind, sizeof e->kind, "%s", v->by_epoch ? "epoch" : "step");
        e->loss = v->loss;
        e->divergence = v->divergence;
        events_write(&run_events, e, NULL);
        free(e);
    }
    run_ctx *r = ctx;
    end_progress_line(r);
    printf("validation loss %.4f at %s %lld (training average %.4f)\n", v->loss,
           v->by_epoch ? "the end of epoch" : "step", v->by_epoch ? v->epoch : v->step,
           v->loss - v->divergence);
    fflush(stdout);
}

typedef struct run_md_ctx {
    const config *cfg;
    const plan *p;
} run_md_ctx;

static run_md_ctx run_md;

static int run_hook_metadata(void *ctx, const train_run_info *info, lora_metadata *md, error_info *err)
{
    (void)ctx;
    return train_metadata_build(md, run_md.cfg, run_md.p, info, err);
}

static train_control run_hook_control(void *ctx)
{
    run_ctx *r = ctx;
    bool paused = false;
    for (;;) {
        if (run_signals)
            return TRAIN_STOP;
        char cmd[64];
        int got = r->control_fd >= 0 ? run_control_poll(r->control_fd, cmd, sizeof cmd) : 0;
        if (got == 1) {
            if (!strcmp(cmd, "stop"))
                return TRAIN_STOP;
            if (!strcmp(cmd, "pause")) {
                if (!paused)
                    run_hook_log(ctx, "info", "paused (send resume to go on)");
                paused = true;
            } else if (!strcmp(cmd, "resume")) {
                if (paused)
                    run_hook_log(ctx, "info", "resumed");
                paused = false;
            } else if (!strcmp(cmd, "save"))
                return TRAIN_SAVE_NOW;
            else if (!strcmp(cmd, "sample"))
                return TRAIN_SAMPLE_NOW;
            continue;
        }
        if (!paused)
            return TRAIN_CONTINUE;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* Trains with the validated config and its plan; returns the exit status. */
static int run_train(const config *cfg, const plan *p, const char *run_dir)
{
    error_info err = {0};
    train_run_settings s;
    train_run_strings strs;
    if (train_run_settings_from_config(&s, &strs, cfg, p, &err) != 0) {
        report(&err);
        return EXIT_USAGE;
    }
    run_ctx r = {.control_fd = -1, .tty = isatty(STDOUT_FILENO) != 0};
    r.every = p->total_steps >= 200 ? p->total_steps / 20 : 10;
    if (run_dir) {
        r.control_fd = run_control_open(run_dir, &err);
        if (r.control_fd < 0)
            fprintf(stderr, "loratty: warning: no control FIFO: %s\n", err.message);
    }
    for (size_t i = 0; i < p->data.note_count; i++)
        run_hook_log(&r, "warning", p->data.notes[i]);
    run_md = (run_md_ctx){cfg, p};
    train_run_hooks h = {&r, run_hook_log, run_hook_progress, run_hook_saved, run_hook_sampled,
                         run_hook_metadata, run_hook_control, run_hook_validated};
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = run_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    int usage = 0;
    int rc = train_run(&s, &h, &usage, &err);
    if (r.progress_shown && r.tty)
        fputc('\n', stdout);
    if (r.control_fd >= 0)
        close(r.control_fd);
    if (rc < 0) {
        report(&err);
        return usage ? EXIT_USAGE : EXIT_RUN_FAILED;
    }
    if (rc == TRAIN_RUN_STOPPED) {
        snprintf(last_report, sizeof last_report, "stopped by the user; the LoRA was saved");
        fprintf(stderr, "loratty: %s\n", last_report);
        return EXIT_STOPPED;
    }
    return 0;
}

static int command_run(const cli *args)
{
    if (args->run_dir && run_open_events(args->run_dir) != 0)
        return EXIT_USAGE;
    char line[1200];
    snprintf(line, sizeof line, "loratty %s: run of %s (pid %ld)", PACKAGE_VERSION, args->run,
             (long)getpid());
    run_event_text(EVENTS_LOG, "info", line);
    config cfg;
    config_init(&cfg);
    int status = 0;
    error_info err = {0};
    plan p;
    if (load_config(args, args->run, &cfg, true, true) != 0)
        status = EXIT_USAGE;
    else if (plan_compute(&cfg, args->run, &p, &err) != 0) {
        plan_print(&p, &cfg, stderr);
        report(&err);
        plan_free(&p);
        status = EXIT_USAGE;
    } else {
        /* a headless run gets its run directory too, so --list-runs and --attach see it */
        char dir[4096];
        bool have_dir = false;
        if (!args->run_dir) {
            if (run_dir_create(args->run, config_string(&cfg, "output_name"), dir, sizeof dir,
                               &err) != 0 || run_open_events(dir) != 0) {
                if (err.message[0])
                    report(&err);
            } else {
                fprintf(stderr, "loratty: run directory %s\n", dir);
                have_dir = true;
                run_event_text(EVENTS_LOG, "info", line);
            }
        }
        run_start_event(&cfg, &p, args->run);
        if (config_check_supported(&cfg, &err) != 0) {
            report(&err);
            status = EXIT_USAGE;
        } else {
            status = run_train(&cfg, &p, args->run_dir ? args->run_dir : have_dir ? dir : NULL);
        }
        plan_free(&p);
    }
    if (status != 0 && status != EXIT_STOPPED)
        run_event_text(EVENTS_ERROR, NULL, last_report);
    config_free(&cfg);
    return run_finish(status);
}

/* The queue's entries (and its runner); `always` also says so when the queue is empty. */
static int print_queue(bool always)
{
    char path[4096];
    error_info err = {0};
    queue q;
    if (queue_default_path(path, sizeof path, &err) != 0 || queue_load(path, &q, &err) != 0) {
        report(&err);
        return -1;
    }
    queue_runner st;
    queue_runner_status(path, &st);
    if (st.active && st.current[0])
        printf("Queue runner (pid %ld) is running %s\n", (long)st.pid, st.current);
    else if (st.active)
        printf("Queue runner (pid %ld) is waiting for the run in progress\n", (long)st.pid);
    if (q.count)
        printf("Queued%s:\n", st.active ? "" : " (not running: loratty --queue run starts it)");
    else if (always)
        printf("The queue is empty (%s)\n", path);
    for (size_t i = 0; i < q.count; i++)
        printf("  %zu  %s\n", i + 1, q.presets[i]);
    queue_free(&q);
    return 0;
}

static int command_queue(const cli *args, int argc, char **argv)
{
    char path[4096], got[4096];
    error_info err = {0};
    const char *action = args->queue;
    if (strcmp(action, "runner") == 0) {   /* hidden: what `--queue run` starts detached */
        if (argc > 1 || (argc == 1 ? snprintf(path, sizeof path, "%s", argv[0]) < 0
                                   : queue_default_path(path, sizeof path, &err) != 0))
            return EXIT_USAGE;
        queue_run_options o = {.wait_for_runs = true};
        if (queue_run(path, &o, &err) != 0) {
            report(&err);
            return EXIT_RUN_FAILED;
        }
        return 0;
    }
    if (queue_default_path(path, sizeof path, &err) != 0) {
        report(&err);
        return EXIT_USAGE;
    }
    bool add = strcmp(action, "add") == 0, del = strcmp(action, "remove") == 0;
    if (!add && !del && strcmp(action, "list") != 0 && strcmp(action, "run") != 0) {
        fprintf(stderr, "loratty: --queue: \"%s\" is not one of add, list, remove, run\n", action);
        return EXIT_USAGE;
    }
    if ((add && argc < 1) || (del && argc != 1) || (!add && !del && argc)) {
        fprintf(stderr, "loratty: usage: --queue add PRESET..., --queue list, --queue remove N, "
                        "--queue run\n");
        return EXIT_USAGE;
    }
    if (add) {
        /* bare names are looked up like any preset */
        char (*resolved)[4096] = calloc((size_t)argc, sizeof *resolved);
        const char **names = calloc((size_t)argc, sizeof *names);
        size_t pos = 0;
        int rc = resolved && names ? 0 : -1;
        for (int i = 0; rc == 0 && i < argc; i++)
            names[i] = presets_resolve(argv[i], resolved[i], sizeof resolved[i]) == 0 ? resolved[i]
                                                                                     : argv[i];
        if (rc == 0)
            rc = queue_add(path, names, (size_t)argc, &pos, &err);
        free(resolved);
        free(names);
        if (rc != 0) {
            report(&err);
            return EXIT_USAGE;
        }
        if (argc > 1)
            printf("Queued as entries %zu-%zu\n", pos, pos + (size_t)argc - 1);
        else
            printf("Queued as entry %zu\n", pos);
        return print_queue(true) == 0 ? 0 : EXIT_USAGE;
    }
    if (del) {
        char *end;
        long n = strtol(argv[0], &end, 10);
        if (*end || n < 1) {
            fprintf(stderr, "loratty: --queue remove: \"%s\" is not an entry number\n", argv[0]);
            return EXIT_USAGE;
        }
        if (queue_remove(path, (size_t)n, got, sizeof got, &err) != 0) {
            report(&err);
            return EXIT_USAGE;
        }
        printf("Removed %s\n", got);
        return 0;
    }
    if (strcmp(action, "list") == 0)
        return print_queue(true) == 0 ? 0 : EXIT_USAGE;
    queue_runner st;
    queue_runner_status(path, &st);
    if (st.active) {
        printf("The queue is already running (pid %ld)\n", (long)st.pid);
        return 0;
    }
    queue q;
    if (queue_load(path, &q, &err) != 0) {
        report(&err);
        return EXIT_USAGE;
    }
    size_t count = q.count;
    queue_free(&q);
    if (!count) {
        fprintf(stderr, "loratty: the queue is empty: loratty --queue add PRESET...\n");
        return EXIT_USAGE;
    }
    pid_t pid = 0;
    if (queue_start(path, NULL, &pid, &err) != 0) {
        report(&err);
        return EXIT_RUN_FAILED;
    }
    printf("Queue runner started (pid %ld): %zu preset%s, one after another; log in %s.log\n",
           (long)pid, count, count == 1 ? "" : "s", path);
    return 0;
}

static int command_list_runs(void)
{
    run_info *runs;
    size_t n;
    error_info err = {0};
    if (run_list(&runs, &n, &err) != 0) {
        report(&err);
        return EXIT_USAGE;
    }
    if (!n) {
        char root[4096] = "";
        run_root(root, sizeof root, NULL);
        printf("No runs yet in %s\n", root);
    } else
        printf("%-36s %-9s %-13s %-16s %s\n", "NAME", "STATE", "STEP", "STARTED", "OUTPUT");
    for (size_t i = 0; i < n; i++) {
        char step[48], when[32];
        snprintf(step, sizeof step, "%lld/%lld", runs[i].step, runs[i].total);
        struct tm tm;
        localtime_r(&runs[i].started, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        printf("%-36s %-9s %-13s %-16s %s\n", runs[i].name, run_state_name(runs[i].state), step,
               when, runs[i].output[0] ? runs[i].output : "-");
        if (runs[i].state == RUN_STATE_FAILED && runs[i].message[0])
            printf("  %s\n", runs[i].message);
    }
    free(runs);
    print_queue(false);
    return 0;
}

static int command_attach(const cli *args)
{
    monitor_options opts = {.sixel = TERM_SIXEL_AUTO};
    if (args->sixel) {
        int mode = term_sixel_mode_parse(args->sixel);
        if (mode < 0) {
            fprintf(stderr, "loratty: --sixel: \"%s\" is not one of auto, on, off\n", args->sixel);
            return EXIT_USAGE;
        }
        opts.sixel = (term_sixel_mode)mode;
    }
    run_info run;
    error_info err = {0};
    if (run_find(args->preset, &run, &err) != 0) {
        report(&err);
        return EXIT_USAGE;
    }
    return monitor_attach(&run, &opts);
}

static int command_import(const cli *args)
{
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    config_warnings warnings = {0};
    int status = 0;
    if (config_load(&cfg, args->import, &warnings, &err) != 0) {
        print_warnings(&warnings);
        report(&err);
        status = EXIT_USAGE;
    } else {
        print_warnings(&warnings);
        for (size_t i = 0; i < args->set_count && status == 0; i++)
            if (config_set(&cfg, args->sets[i], &err) != 0) {
                report(&err);
                status = EXIT_USAGE;
            }
        if (status == 0 && args->output) {
            if (config_save(&cfg, args->output, &err) != 0) {
                report(&err);
                status = EXIT_USAGE;
            } else
                fprintf(stderr, "loratty: wrote %s (%zu warning%s)\n", args->output, warnings.count,
                        warnings.count == 1 ? "" : "s");
        } else if (status == 0) {
            char *text = config_to_preset_toml(&cfg, false);
            fputs(text, stdout);
            free(text);
        }
    }
    config_warnings_free(&warnings);
    config_free(&cfg);
    return status;
}

static int command_print(const cli *args)
{
    config cfg;
    config_init(&cfg);
    int status = 0;
    if (load_config(args, args->print_command, &cfg, true, false) != 0)
        status = EXIT_USAGE;
    else if (strcmp(config_string(&cfg, "training_mode"), "vae") == 0) {
        fprintf(stderr, "loratty: %s: loratty.training_mode: \"vae\" (training the VAE) has no "
                "sd-scripts equivalent to print a command for\n", args->print_command);
        status = EXIT_USAGE;
    } else {
        char run_toml[1024];
        const char *out_dir = config_string(&cfg, "output_dir");
        snprintf(run_toml, sizeof run_toml, "%s%sconfig_lora.toml", out_dir, out_dir[0] ? "/" : "");
        char *toml = config_export_sdscripts_toml(&cfg);
        char *dataset = config_export_dataset_toml(&cfg);
        char *command = config_accelerate_command(&cfg, run_toml);
        printf("# %s\n%s\n", run_toml, toml);
        if (dataset)
            printf("# dataset config (dataset_config)\n%s\n", dataset);
        printf("%s\n", command);
        free(toml);
        free(dataset);
        free(command);
    }
    config_free(&cfg);
    return status;
}

static int command_inspect(const cli *args)
{
    error_info err = {0};
    if (inspect_safetensors(args->inspect, stdout, &err) != 0) {
        report(&err);
        return EXIT_USAGE;
    }
    return 0;
}

static int command_tui(const cli *args)
{
    tui_options opts = {0};
    opts.sixel = TERM_SIXEL_AUTO;
    if (args->sixel) {
        int mode = term_sixel_mode_parse(args->sixel);
        if (mode < 0) {
            fprintf(stderr, "loratty: --sixel: \"%s\" is not one of auto, on, off\n", args->sixel);
            return EXIT_USAGE;
        }
        opts.sixel = (term_sixel_mode)mode;
    }
    if (args->set_count) {
        fprintf(stderr, "loratty: --set goes with --run, --check or --import; in the forms, edit the field\n");
        return EXIT_USAGE;
    }
    return tui_main(args->preset, &opts);
}

int main(int argc, char **argv)
{
    enum { OPT_RUN = 256, OPT_CHECK, OPT_IMPORT, OPT_PRINT, OPT_SET, OPT_INSPECT, OPT_SIXEL, OPT_KEYS_MDOC,
           OPT_RUN_DIR, OPT_LIST_RUNS, OPT_ATTACH, OPT_QUEUE };
    static const struct option options[] = {
        {"run", required_argument, NULL, OPT_RUN},
        {"check", required_argument, NULL, OPT_CHECK},
        {"import", required_argument, NULL, OPT_IMPORT},
        {"output", required_argument, NULL, 'o'},
        {"print-command", required_argument, NULL, OPT_PRINT},
        {"set", required_argument, NULL, OPT_SET},
        {"inspect", required_argument, NULL, OPT_INSPECT},
        {"sixel", required_argument, NULL, OPT_SIXEL},
        {"run-dir", required_argument, NULL, OPT_RUN_DIR}, /* hidden: set by run_start */
        {"list-runs", no_argument, NULL, OPT_LIST_RUNS},
        {"queue", required_argument, NULL, OPT_QUEUE},      /* the action's operands follow */
        {"attach", no_argument, NULL, OPT_ATTACH},          /* the optional RUN is the operand */
        {"keys-mdoc", no_argument, NULL, OPT_KEYS_MDOC}, /* build time: the TUI keys for loratty(1) */
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* --sample and --make-shapes have options of their own: they take the whole command line */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--sample") == 0)
            return sample_cli_main(argc, argv);
        if (strcmp(argv[i], "--make-shapes") == 0 || strncmp(argv[i], "--make-shapes=", 14) == 0)
            return shapes_cli_main(argc, argv);
        if (strcmp(argv[i], "--new-model") == 0 || strncmp(argv[i], "--new-model=", 12) == 0)
            return new_model_cli_main(argc, argv);   /* so has --new-model */
    }
    cli args = {0};
    args.sets = calloc((size_t)argc + 1, sizeof *args.sets);
    int modes = 0, opt;
    while ((opt = getopt_long(argc, argv, "o:hV", options, NULL)) != -1) {
        switch (opt) {
        case OPT_RUN: args.run = optarg; modes++; break;
        case OPT_CHECK: args.check = optarg; modes++; break;
        case OPT_IMPORT: args.import = optarg; modes++; break;
        case OPT_PRINT: args.print_command = optarg; modes++; break;
        case OPT_INSPECT: args.inspect = optarg; modes++; break;
        case 'o': args.output = optarg; break;
        case OPT_SET: args.sets[args.set_count++] = optarg; break;
        case OPT_SIXEL: args.sixel = optarg; break;
        case OPT_RUN_DIR: args.run_dir = optarg; break;
        case OPT_LIST_RUNS: args.list_runs = true; modes++; break;
        case OPT_ATTACH: args.attach = true; modes++; break;
        case OPT_QUEUE: args.queue = optarg; modes++; break;
        case OPT_KEYS_MDOC: keys_print_mdoc(stdout); free(args.sets); return 0;
        case 'h': usage(stdout); free(args.sets); return 0;
        case 'V': printf("loratty %s\n", PACKAGE_VERSION); free(args.sets); return 0;
        default:
            fprintf(stderr, "Try 'loratty --help' for more information.\n");
            free(args.sets);
            return EXIT_USAGE;
        }
    }
    if (args.queue && modes == 1) {   /* --queue takes the operands itself */
        int status = command_queue(&args, argc - optind, argv + optind);
        free(args.sets);
        return status;
    }
    if (optind < argc)
        args.preset = argv[optind++];
    /* a bare preset name is looked up in the user's and the shipped presets */
    static char resolved[4][4096];
    const char **named[] = {&args.run, &args.check, &args.print_command, &args.preset};
    for (int i = 0; i < (args.attach ? 3 : 4); i++)
        if (*named[i] && presets_resolve(*named[i], resolved[i], sizeof resolved[i]) == 0)
            *named[i] = resolved[i];
    int status;
    if (optind < argc || modes > 1 || (modes == 1 && args.preset && !args.attach)) {
        fprintf(stderr, "loratty: give one of --run, --check, --import, --print-command, --inspect, "
                        "--list-runs, --attach, --queue, or a preset to open\n"
                        "Try 'loratty --help' for more information.\n");
        status = EXIT_USAGE;
    } else if (args.run_dir && !args.run) {
        fprintf(stderr, "loratty: --run-dir goes with --run\n");
        status = EXIT_USAGE;
    } else if (args.output && !args.import) {
        fprintf(stderr, "loratty: -o/--output goes with --import\n");
        status = EXIT_USAGE;
    } else if (args.run)
        status = command_run(&args);
    else if (args.check)
        status = command_check(&args);
    else if (args.import)
        status = command_import(&args);
    else if (args.print_command)
        status = command_print(&args);
    else if (args.inspect)
        status = command_inspect(&args);
    else if (args.list_runs)
        status = command_list_runs();
    else if (args.attach)
        status = command_attach(&args);
    else
        status = command_tui(&args);
    free(args.sets);
    return status;
}
