/* main.c — the loratty command line: which face to show (TUI, headless run, check, import,
 * export, inspect) and how errors reach the user. Exit status: 0 success, 1 run failed,
 * 2 usage or configuration error, 130 stopped by the user after a graceful save. */
#include "build_config.h"

#include <getopt.h>
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
#include "run.h"
#include "engine/inspect.h"
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
    bool list_runs, attach;
    const char **sets;
    size_t set_count;
} cli;

/* Loads PRESET and applies the --set overrides, then validates. */
static int load_config(const cli *args, const char *path, config *cfg, bool strict_warnings)
{
    error_info err = {0};
    config_warnings warnings = {0};
    if (config_load(cfg, path, &warnings, &err) != 0) {
        print_warnings(&warnings);
        config_warnings_free(&warnings);
        report(&err);
        return -1;
    }
    if (strict_warnings)
        print_warnings(&warnings);
    config_warnings_free(&warnings);
    for (size_t i = 0; i < args->set_count; i++)
        if (config_set(cfg, args->sets[i], &err) != 0) {
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
    if (load_config(args, args->check, &cfg, true) != 0)
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
    if (load_config(args, args->run, &cfg, true) != 0)
        status = EXIT_USAGE;
    else if (plan_compute(&cfg, args->run, &p, &err) != 0) {
        plan_print(&p, &cfg, stderr);
        report(&err);
        plan_free(&p);
        status = EXIT_USAGE;
    } else {
        /* a headless run gets its run directory too, so --list-runs and --attach see it */
        char dir[4096];
        if (!args->run_dir) {
            if (run_dir_create(args->run, config_string(&cfg, "output_name"), dir, sizeof dir,
                               &err) != 0 || run_open_events(dir) != 0) {
                if (err.message[0])
                    report(&err);
            } else {
                fprintf(stderr, "loratty: run directory %s\n", dir);
                run_event_text(EVENTS_LOG, "info", line);
            }
        }
        run_start_event(&cfg, &p, args->run);
        if (config_check_supported(&cfg, &err) != 0) {
            report(&err);
            status = EXIT_USAGE;
        } else {
            snprintf(last_report, sizeof last_report, "this build of loratty cannot train yet "
                     "(the training engine is still being written); `loratty --check %s` validates "
                     "the preset and prints the plan", args->run);
            fprintf(stderr, "loratty: %s: %s\n", args->run, last_report);
            status = EXIT_RUN_FAILED;
        }
        plan_free(&p);
    }
    if (status != 0)
        run_event_text(EVENTS_ERROR, NULL, last_report);
    config_free(&cfg);
    return run_finish(status);
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
    if (load_config(args, args->print_command, &cfg, true) != 0)
        status = EXIT_USAGE;
    else {
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
           OPT_RUN_DIR, OPT_LIST_RUNS, OPT_ATTACH };
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
        {"attach", no_argument, NULL, OPT_ATTACH},          /* the optional RUN is the operand */
        {"keys-mdoc", no_argument, NULL, OPT_KEYS_MDOC}, /* build time: the TUI keys for loratty(1) */
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* --sample has options of its own: it takes the whole command line */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "--sample") == 0)
            return sample_cli_main(argc, argv);
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
        case OPT_KEYS_MDOC: keys_print_mdoc(stdout); free(args.sets); return 0;
        case 'h': usage(stdout); free(args.sets); return 0;
        case 'V': printf("loratty %s\n", PACKAGE_VERSION); free(args.sets); return 0;
        default:
            fprintf(stderr, "Try 'loratty --help' for more information.\n");
            free(args.sets);
            return EXIT_USAGE;
        }
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
                        "--list-runs, --attach, or a preset to open\n"
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
