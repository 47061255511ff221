/* tui.c — tui_main: starts curses and CDK, runs the form screen's key loop, and carries out
 * the screen's actions (help, save, open, print command, find, quit).
 *
 * The terminal must come back sane whatever happens: curses is ended from an atexit handler
 * and from SIGTERM/SIGHUP (the SSH connection went away); Ctrl-C (SIGINT) asks to quit like q. */
#include "tui/tui.h"

#include <dirent.h>
#include <errno.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tui/form.h"
#include "tui/keys.h"
#include "tui/monitor.h"
#include "tui/prep.h"
#include "plan.h"
#include "presets.h"
#include "run.h"

static volatile sig_atomic_t curses_active;
static volatile sig_atomic_t interrupted;
/* While curses owns the screen, stderr goes to a temporary file: a library message written
 * to the terminal would corrupt the screen. New messages are shown in the status line and
 * everything is copied to the real stderr at the end. */
static volatile sig_atomic_t saved_stderr = -1;
static FILE *captured;
/* for the run monitor (F5, F8) */
static term_caps tui_caps;
static term_sixel_mode tui_sixel;
static long captured_seen;

static void restore_terminal(void)
{
    if (curses_active) {
        curses_active = 0;
        endCDK();
    }
    if (saved_stderr >= 0) {
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
        saved_stderr = -1;
    }
}

static void capture_stderr(void)
{
    fflush(stderr);
    captured = tmpfile();
    int fd = captured ? dup(STDERR_FILENO) : -1;
    if (fd < 0)
        return;
    saved_stderr = fd;
    dup2(fileno(captured), STDERR_FILENO);
}

/* Shows the last line of what was written to stderr since the last call. */
static void check_stderr(form *f)
{
    if (!captured)
        return;
    fflush(stderr);
    struct stat st;
    if (fstat(fileno(captured), &st) < 0 || st.st_size <= captured_seen)
        return;
    char buf[512];
    long from = st.st_size - (long)sizeof buf + 1 > captured_seen
                    ? st.st_size - (long)sizeof buf + 1 : captured_seen;
    ssize_t n = pread(fileno(captured), buf, sizeof buf - 1, from);
    captured_seen = st.st_size;
    if (n <= 0)
        return;
    buf[n] = 0;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = 0;
    char *line = strrchr(buf, '\n');
    form_status(f, true, "%s", line ? line + 1 : buf);
}

/* Copies what was captured to the real stderr (after the terminal is restored). */
static void flush_captured(void)
{
    if (!captured)
        return;
    char buf[4096];
    size_t n;
    rewind(captured);
    while ((n = fread(buf, 1, sizeof buf, captured)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(captured);
    captured = NULL;
}

static void on_fatal_signal(int sig)
{
    /* endwin is not async-signal-safe in theory; in practice it only writes the terminal's
     * reset strings, and leaving the terminal raw is worse */
    restore_terminal();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on_fatal_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = on_interrupt;   /* no SA_RESTART: the key read returns and sees the flag */
    sigaction(SIGINT, &sa, NULL);
}

static const char *datadir_of(const tui_options *opts)
{
    return opts && opts->datadir ? opts->datadir : presets_datadir();
}

static void user_preset_dir(char *buf, size_t size)
{
    presets_user_dir(buf, size);
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0777) < 0 && errno != EEXIST ? -1 : 0;
}

static void show_warnings(form *f, const char *what, const config_warnings *w)
{
    if (!w->count)
        return;
    int n = (int)w->count;
    char **lines = calloc((size_t)n, sizeof *lines);
    if (!lines)
        return;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(w->lines[i]) + 1;
        lines[i] = malloc(len);
        if (lines[i])
            form_ascii(w->lines[i], lines[i], len);
    }
    char title[600];
    snprintf(title, sizeof title, "%s: %d warning%s", what, n, n == 1 ? "" : "s");
    form_show_text(f, title, lines, n);
    form_free_lines(lines, n);
}

static void do_help(form *f)
{
    char **keys = keys_help_lines(KEYS_FORM | KEYS_EDIT | KEYS_MONITOR);
    if (!keys)
        return;
    static const char *const intro[] = {
        "loratty edits a training preset. Sections open and close with Enter or Space;",
        "a field opens its editor with Enter. Yes/no fields toggle with Space.",
        "Markers after a name: * changed from the default, ! not supported by the engine yet.",
        "Values are checked as you enter them; a refused value keeps the old one.",
        "",
        "F5 or r starts a run in the background; closing loratty never stops it.",
        "",
        "Keys in the forms, editors and the run monitor:",
    };
    int ni = (int)(sizeof intro / sizeof intro[0]), nk = 0;
    while (keys[nk])
        nk++;
    char **lines = calloc((size_t)(ni + nk), sizeof *lines);
    if (lines) {
        for (int i = 0; i < ni; i++)
            lines[i] = (char *)intro[i];
        for (int i = 0; i < nk; i++)
            lines[ni + i] = keys[i];
        form_show_text(f, "Help", lines, ni + nk);
        free(lines);
    }
    keys_free_lines(keys);
}

/* Saves to path (or f->path); asks for a name when there is none. */
static bool do_save(form *f, bool ask)
{
    char path[4096];
    if (ask || !f->path) {
        char dir[4000], initial[4096];
        user_preset_dir(dir, sizeof dir);
        if (f->path)
            snprintf(initial, sizeof initial, "%s", f->path);
        else
            snprintf(initial, sizeof initial, "%s/my-lora.toml", dir);
        if (!form_ask_text(f, "Save the preset as", "File: ", initial, true, path, sizeof path)
            || !*path) {
            form_status(f, false, "Not saved");
            return false;
        }
        char parent[4096];
        snprintf(parent, sizeof parent, "%s", path);
        char *slash = strrchr(parent, '/');
        if (slash && slash != parent) {
            *slash = 0;
            if (mkdirs(parent) < 0) {
                form_status(f, true, "cannot create %s: %s", parent, strerror(errno));
                return false;
            }
        }
    } else {
        snprintf(path, sizeof path, "%s", f->path);
    }
    error_info err = {0};
    if (config_save(f->cfg, path, &err) < 0) {
        char msg[1600];
        error_format(&err, msg, sizeof msg);
        form_status(f, true, "%s", msg);
        return false;
    }
    if (!f->path || strcmp(f->path, path) != 0) {
        free(f->path);
        f->path = strdup(path);
    }
    form_status(f, false, "Saved %s", path);
    return true;
}

/* Unsaved changes: Save / Discard / Cancel. Returns true when it is fine to go on. */
static bool settle_unsaved(form *f, const char *doing)
{
    if (!f->cfg->dirty)
        return true;
    char line[200];
    snprintf(line, sizeof line, "The preset has unsaved changes. Save them before %s?", doing);
    const char *lines[] = {line};
    static const char *const buttons[] = {" Save ", " Discard ", " Cancel "};
    int b = form_ask_buttons(f, lines, 1, buttons, 3);
    if (b == 0)
        return do_save(f, false);
    return b == 1;
}

static int add_toml_files(const char *dir, char ***items, int *n, int *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".toml") != 0)
            continue;
        if (*n == *cap) {
            int nc = *cap ? *cap * 2 : 32;
            char **p = realloc(*items, (size_t)nc * sizeof *p);
            if (!p)
                break;
            *items = p;
            *cap = nc;
        }
        size_t sz = strlen(dir) + len + 2;
        (*items)[*n] = malloc(sz);
        if ((*items)[*n])
            snprintf((*items)[(*n)++], sz, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Loads a file in place of the current config. A shipped preset is a template: saving it
 * asks for a new name instead of writing into the installed file. */
static void load_into(form *f, const char *path, bool shipped)
{
    config fresh;
    config_init(&fresh);
    config_warnings w = {0};
    error_info err = {0};
    if (config_load(&fresh, path, &w, &err) < 0) {
        char msg[1600];
        error_format(&err, msg, sizeof msg);
        form_status(f, true, "%s", msg);
        config_free(&fresh);
        config_warnings_free(&w);
        return;
    }
    fresh.dirty = false;
    config_free(f->cfg);
    *f->cfg = fresh;
    free(f->path);
    /* kohya_ss JSON and run TOMLs are imported; saving writes a loratty preset next to them */
    size_t len = strlen(path);
    if (len > 5 && strcmp(path + len - 5, ".toml") == 0 && !shipped)
        f->path = strdup(path);
    else
        f->path = NULL;
    form_rebuild(f);
    form_status(f, false, "Opened %s%s%s", path, w.count ? " (with warnings)" : "",
                f->path ? "" : "; F2 saves it under a new name");
    form_draw(f);
    show_warnings(f, path, &w);
    config_warnings_free(&w);
}

static void do_open(form *f)
{
    if (!settle_unsaved(f, "opening another preset"))
        return;
    char dir[4096];
    char **items = NULL;
    int n = 0, cap = 0;
    snprintf(dir, sizeof dir, "%s/presets", f->datadir);
    add_toml_files(dir, &items, &n, &cap);
    int shipped = n;
    user_preset_dir(dir, sizeof dir);
    add_toml_files(dir, &items, &n, &cap);
    qsort(items, (size_t)shipped, sizeof *items, cmp_str);
    qsort(items + shipped, (size_t)(n - shipped), sizeof *items, cmp_str);
    const char **shown = calloc((size_t)n + 1, sizeof *shown);
    char **labels = calloc((size_t)n + 1, sizeof *labels);
    if (!shown || !labels) {
        free(shown);
        free(labels);
        goto out;
    }
    shown[0] = "(type or browse for a path...)";
    for (int i = 0; i < n; i++) {
        /* file name and where it lives; the full path is in the help screen's FILES */
        const char *base = strrchr(items[i], '/');
        size_t sz = strlen(items[i]) + 16;
        labels[i] = malloc(sz);
        if (labels[i])
            snprintf(labels[i], sz, "%-32s %s", base ? base + 1 : items[i],
                     i < shipped ? "shipped" : "yours");
        shown[i + 1] = labels[i] ? labels[i] : items[i];
    }
    int k = form_ask_choice(f, "Open a preset", shown, n + 1, n ? 1 : 0);
    char path[4096];
    if (k == 0) {
        form_draw(f);
        if (form_ask_text(f, "Open a preset, kohya_ss JSON or sd-scripts TOML", "File: ",
                          f->path ? f->path : "", true, path, sizeof path) && *path)
            load_into(f, path, false);
    } else if (k > 0) {
        load_into(f, items[k - 1], k - 1 < shipped);
    }
    free(shown);
    for (int i = 0; i < n; i++)
        free(labels[i]);
    free(labels);
out:
    for (int i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

static void do_print(form *f)
{
    char *toml = config_export_sdscripts_toml(f->cfg);
    char *cmd = config_accelerate_command(f->cfg, "config_lora.toml");
    size_t len = (toml ? strlen(toml) : 0) + (cmd ? strlen(cmd) : 0) + 256;
    char *all = malloc(len);
    if (all) {
        snprintf(all, len, "# accelerate command (kohya_ss would run):\n%s\n\n"
                           "# config_lora.toml:\n%s", cmd ? cmd : "(none)", toml ? toml : "");
        char **lines;
        int n = form_split_lines(all, &lines);
        if (n > 0)
            form_show_text(f, "Print command", lines, n);
        form_free_lines(lines, n);
    }
    free(all);
    free(toml);
    free(cmd);
}

static void do_find(form *f)
{
    char text[128];
    if (form_ask_text(f, "Find a parameter", "Name: ", "", false, text, sizeof text)) {
        snprintf(f->find, sizeof f->find, "%s", text);
        form_find(f, f->find, false);
    }
}

static void open_monitor(form *f, const run_info *run)
{
    monitor_options mo = {.sixel = tui_sixel};
    monitor_show(run, &mo, &tui_caps, f->color);
    form_status(f, false, "Left the monitor of %s; the run goes on (F8 or m shows it again)",
                run->name);
}

/* F5: the preset must be saved (the run reads the file), valid, and find images. */
static void do_start_run(form *f)
{
    if (!settle_unsaved(f, "starting a run") || (!f->path && !do_save(f, true)))
        return;
    error_info err = {0};
    char msg[1600];
    plan p;
    int rc = config_validate(f->cfg, &err);
    bool asked = false, go = false;
    if (rc == 0) {
        rc = plan_compute(f->cfg, f->path, &p, &err);
        if (rc == 0 && p.train_images == 0)
            rc = error_set(&err, f->path, 0, 0, "model.train_data_dir", "no training images found");
        if (rc == 0)
            rc = config_check_supported(f->cfg, &err);
        if (rc == 0) {   /* the --check plan, to confirm */
            asked = true;
            go = prep_confirm_plan(f, &p);
        }
        plan_free(&p);
    }
    if (asked && !go)
        return;
    run_info run;
    if (rc == 0)
        rc = run_start(NULL, f->path, config_string(f->cfg, "output_name"), &run, &err);
    if (rc != 0) {
        error_format(&err, msg, sizeof msg);
        form_status(f, true, "Not started: %s", msg);
        return;
    }
    open_monitor(f, &run);
}

/* F9: like F5, the queue runs the saved file */
static void do_queue(form *f)
{
    if (!settle_unsaved(f, "queueing it") || (!f->path && !do_save(f, true)))
        return;
    error_info err = {0};
    if (config_validate(f->cfg, &err) != 0) {
        char msg[1600];
        error_format(&err, msg, sizeof msg);
        form_status(f, true, "Not queued: %s", msg);
        return;
    }
    prep_queue_preset(f);
}

static void do_monitor(form *f)
{
    run_info run;
    error_info err = {0};
    if (run_find(NULL, &run, &err) != 0) {
        form_status(f, true, "%s (F5 or r starts one)", err.message);
        return;
    }
    open_monitor(f, &run);
}

static void activate_row(form *f, bool toggle_key)
{
    if (!f->nrows)
        return;
    form_row *r = &f->rows[f->cur];
    if (r->kind == FORM_ROW_HEADER) {
        f->open[r->group] = !f->open[r->group];
        form_rebuild(f);
    } else if (r->kind == FORM_ROW_PREP) {
        if (!toggle_key)
            prep_activate(f, r->item);
    } else if (r->kind == FORM_ROW_ACTION) {
        if (toggle_key)
            return;
        switch (r->action) {
        case FORM_ACT_PATH: do_save(f, true); break;
        case FORM_ACT_SAVE: do_save(f, false); break;
        case FORM_ACT_OPEN: do_open(f); break;
        case FORM_ACT_PRINT: do_print(f); break;
        }
    } else if (toggle_key) {
        if (r->p->type == PARAM_BOOL)
            form_toggle_field(f, r->p);
    } else {
        form_edit_field(f, r->p);
    }
}

static int run_loop(form *f)
{
    for (;;) {
        check_stderr(f);
        form_draw(f);
        int ch = getch();
        if (ch != ERR && ch != KEY_RESIZE)
            f->status[0] = 0;
        if (interrupted) {
            interrupted = 0;
            if (settle_unsaved(f, "quitting"))
                return 0;
            continue;
        }
        if (ch == ERR)
            continue;
        if (ch == KEY_RESIZE) {
            clearok(curscr, TRUE);
            continue;
        }
        int page = LINES - 6 > 1 ? LINES - 6 : 1;
        switch (keys_lookup(ch, KEYS_FORM)) {
        case KEYS_HELP: do_help(f); break;
        case KEYS_SAVE: do_save(f, false); break;
        case KEYS_OPEN: do_open(f); break;
        case KEYS_PRINT: do_print(f); break;
        case KEYS_FIND: do_find(f); break;
        case KEYS_START_RUN: do_start_run(f); break;
        case KEYS_MONITOR_VIEW: do_monitor(f); break;
        case KEYS_QUEUE: do_queue(f); break;
        case KEYS_FIND_NEXT: form_find(f, f->find, true); break;
        case KEYS_QUIT:
            if (settle_unsaved(f, "quitting"))
                return 0;
            break;
        case KEYS_EDIT_FIELD: activate_row(f, false); break;
        case KEYS_TOGGLE: activate_row(f, true); break;
        case KEYS_RESET:
            if (f->nrows && f->rows[f->cur].kind == FORM_ROW_PREP)
                prep_reset(f, f->rows[f->cur].item);
            if (f->nrows && f->rows[f->cur].kind == FORM_ROW_FIELD) {
                const param *p = f->rows[f->cur].p;
                config_reset(f->cfg, p);
                form_rebuild(f);
                form_status(f, false, "%s back to its default", p->name);
            }
            break;
        case KEYS_UP: form_move(f, -1); break;
        case KEYS_DOWN: form_move(f, 1); break;
        case KEYS_PAGE_UP: form_move(f, -page); break;
        case KEYS_PAGE_DOWN: form_move(f, page); break;
        case KEYS_HOME: f->cur = 0; break;
        case KEYS_END: form_move(f, (int)f->nrows); break;
        case KEYS_NEXT_SECTION: form_move_section(f, 1); break;
        case KEYS_PREV_SECTION: form_move_section(f, -1); break;
        case KEYS_REDRAW: clearok(curscr, TRUE); break;
        default: beep(); break;
        }
    }
}

int tui_main(const char *preset_path, const tui_options *opts)
{
    config cfg;
    config_init(&cfg);
    config_warnings warnings = {0};
    prep_state prep;
    prep_init(&prep);
    form f = {.cfg = &cfg, .datadir = datadir_of(opts), .prep = &prep};
    if (preset_path) {
        struct stat st;
        if (stat(preset_path, &st) == 0) {
            error_info err = {0};
            if (config_load(&cfg, preset_path, &warnings, &err) < 0) {
                char msg[1600];
                error_format(&err, msg, sizeof msg);
                fprintf(stderr, "loratty: %s\n", msg);
                config_free(&cfg);
                config_warnings_free(&warnings);
                return 2; /* a configuration error, as everywhere in loratty */
            }
            cfg.dirty = false;
        }
        f.path = strdup(preset_path);
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "loratty: the interactive UI needs a terminal (use --run for headless training)\n");
        config_free(&cfg);
        config_warnings_free(&warnings);
        free(f.path);
        return 2;
    }
    term_caps caps;
    /* the forms show no images, the run monitor may: its sample images need the answers */
    setlocale(LC_ALL, "");
    setlocale(LC_NUMERIC, "C");   /* numbers in presets and forms are always written with '.' */
    tui_sixel = opts ? opts->sixel : TERM_SIXEL_AUTO;
    term_detect(STDOUT_FILENO, tui_sixel, 200, &caps);
    tui_caps = caps;

    install_signals();
    atexit(restore_terminal);
    capture_stderr();
    f.cdk = initCDKScreen(NULL);
    for (int i = caps.typeahead_len - 1; f.cdk && i >= 0; i--)
        ungetch(caps.typeahead[i]);
    if (f.cdk)
        term_fix_line_drawing(caps.utf8);
    if (!f.cdk) {
        restore_terminal();
        flush_captured();
        fprintf(stderr, "loratty: cannot start the terminal UI (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        config_free(&cfg);
        free(f.path);
        return 1;
    }
    curses_active = 1;
    keypad(stdscr, TRUE);
    set_escdelay(25);
    f.color = caps.color && has_colors();
    if (f.color) {
        /* only two pairs of our own; CDK's colour markup is not used */
        start_color();
        use_default_colors();
        init_pair(1, COLOR_CYAN, -1);            /* keys in the hint bar */
        init_pair(2, COLOR_WHITE, COLOR_RED);    /* errors */
    }
    f.open[0] = true;
    f.open[1 + SECTION_MODEL] = true;
    f.open[1 + SECTION_BASIC] = true;
    int rc = form_rebuild(&f);
    if (!f.path)
        form_status(&f, false, "New preset: F2 or s saves it. F1 or ? lists the keys.");
    else if (access(f.path, F_OK) != 0)
        form_status(&f, false, "%s does not exist yet: F2 or s creates it", f.path);
    if (rc == 0) {
        form_draw(&f);
        if (warnings.count)
            show_warnings(&f, f.path, &warnings);
        rc = run_loop(&f);
    }

    destroyCDKScreen(f.cdk);
    restore_terminal();
    flush_captured();
    for (size_t i = 0; i < sizeof f.lookup_ring / sizeof *f.lookup_ring; i++)
        free(f.lookup_ring[i]);
    free(f.rows);
    free(f.path);
    config_warnings_free(&warnings);
    config_free(&cfg);
    return rc < 0 ? 1 : rc;
}
