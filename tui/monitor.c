/* monitor.c — the run monitor screen (see monitor.h): layout, drawing, keys and following the
 * run's events.jsonl.
 *
 * Layout, top to bottom: title, progress bar, numbers; loss plot on the left and, on the
 * right, the learning rate and the latest sample; the latest save; a log tail; a status line
 * and the key-hint bar. Text goes through curses; plots (braille) and images (sixel or half
 * blocks) leave their cells blank in curses and are written over them after each refresh. */
#include "tui/monitor.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <png.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tui/image.h"
#include "tui/keys.h"
#include "tui/plot.h"
#include "tui/tui.h"

#define MAX_OVERLAYS 160

typedef struct monitor_overlay {
    int row, col;
    char *bytes;         /* owned */
    size_t len;
} monitor_overlay;

typedef struct monitor {
    run_info run;
    monitor_model m;
    events_reader reader;
    int fd;
    term_caps caps;
    bool color;
    bool alive;
    long long alive_checked_ms;
    char status[300];
    bool status_error;
    bool confirm_stop;
    monitor_overlay ov[MAX_OVERLAYS];
    int nov;
    /* the sample image: decoded once per sample, encoded once per box size */
    unsigned char *rgb;
    int iw, ih, rgb_version;
    image_bytes six;
    image_rows halves;
    int enc_version, enc_cols, enc_rows;
    bool enc_ok;
} monitor;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void status_set(monitor *mon, bool error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void status_set(monitor *mon, bool error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(mon->status, sizeof mon->status, fmt, ap);
    va_end(ap);
    mon->status_error = error;
}

/* Reads what the run wrote since last time. Returns true when something changed. */
static bool follow(monitor *mon)
{
    bool changed = false;
    events_event *e = malloc(sizeof *e);
    if (!e)
        return false;
    for (;;) {
        long got = events_reader_read_fd(&mon->reader, mon->fd);
        if (got < 0) {
            monitor_model_log(&mon->m, true, "cannot read events.jsonl: %s", strerror(errno));
            changed = true;
            break;
        }
        for (;;) {
            error_info err = {0};
            int rc = events_reader_next(&mon->reader, e, &err);
            if (rc == 0)
                break;
            changed = true;
            if (rc < 0)
                monitor_model_log(&mon->m, true, "events.jsonl line %d: %s", err.line, err.message);
            else
                monitor_model_apply(&mon->m, e);
        }
        if (got == 0)
            break;
    }
    free(e);
    /* a partial last line stays buffered: the writer may still be in the middle of it */
    return changed;
}

static bool pid_running(pid_t pid)
{
    return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

static const char *state_text(const monitor *mon)
{
    if (mon->m.done)
        return mon->m.status;
    if (!mon->alive)
        return "ended without a report";
    return mon->m.paused ? "paused" : "running";
}

static void add_overlay(monitor *mon, int row, int col, const char *bytes, size_t len)
{
    if (mon->nov == MAX_OVERLAYS || !len)
        return;
    char *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, bytes, len);
    mon->ov[mon->nov++] = (monitor_overlay){row, col, copy, len};
}

static void flush_overlays(monitor *mon)
{
    for (int i = 0; i < mon->nov; i++) {
        term_overlay(STDOUT_FILENO, mon->ov[i].row, mon->ov[i].col, mon->ov[i].bytes, mon->ov[i].len);
        free(mon->ov[i].bytes);
    }
    mon->nov = 0;
}

/* ASCII text, cut to width. */
static void put(int row, int col, const char *text, int width)
{
    if (width <= 0 || row < 0 || row >= LINES)
        return;
    mvaddnstr(row, col, text, width);
}

static void draw_plot(monitor *mon, int row, int col, int w, int h, const plot_series *s,
                      size_t ns, bool log_y)
{
    if (mon->m.n == 0) {
        put(row + h / 2, col + 2, "(no progress yet)", w - 2);
        return;
    }
    plot_grid g = {0};
    plot_options po = {.log_y = log_y};
    plot_glyphs glyphs = mon->caps.utf8 ? PLOT_BRAILLE : PLOT_ASCII;
    if (plot_render(s, ns, w, h, glyphs, &po, &g) != 0) {
        put(row, col, "(too small to plot)", w);
        return;
    }
    for (int r = 0; r < g.rows; r++) {
        if (glyphs == PLOT_ASCII)
            put(row + r, col, g.lines[r], w);
        else
            add_overlay(mon, row + r, col, g.lines[r], strlen(g.lines[r]));
    }
    plot_grid_free(&g);
}

/* Samples are PNG files. libpng, not stb_image: libsixel exports its own stbi_* symbols,
 * which would take the place of libstb's and abort without libsixel's allocator. */
static unsigned char *load_png(const char *path, int *w, int *h)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return NULL;
    img.format = PNG_FORMAT_RGB;
    unsigned char *px = NULL;
    if (img.width > 0 && img.height > 0 && img.width <= 16384 && img.height <= 16384)
        px = malloc(PNG_IMAGE_SIZE(img));
    if (!px || !png_image_finish_read(&img, NULL, px, 0, NULL)) {
        png_image_free(&img);
        free(px);
        return NULL;
    }
    *w = (int)img.width;
    *h = (int)img.height;
    return px;
}

static void draw_sample(monitor *mon, int row, int col, int w, int h)
{
    monitor_model *m = &mon->m;
    char line[512];
    if (!m->sample_version) {
        put(row, col, "Sample: none yet", w);
        return;
    }
    snprintf(line, sizeof line, "Sample, step %lld: %s", m->sample_step, m->sample_prompt);
    put(row, col, line, w);
    row++;
    h--;
    if (mon->rgb_version != m->sample_version) {
        free(mon->rgb);
        mon->rgb = load_png(m->sample_path, &mon->iw, &mon->ih);
        mon->rgb_version = m->sample_version;
        mon->enc_version = 0;
    }
    if (!mon->rgb) {
        put(row, col, "(cannot read the image)", w);
        return;
    }
    if (h < 2 || w < 4)
        return;
    if (!mon->caps.sixel && (!mon->caps.utf8 || !mon->caps.color)) {
        const char *base = strrchr(m->sample_path, '/');
        snprintf(line, sizeof line, "(%dx%d) %.400s", mon->iw, mon->ih, base ? base + 1 : m->sample_path);
        put(row, col, line, w);
        return;
    }
    if (mon->enc_version != mon->rgb_version || mon->enc_cols != w || mon->enc_rows != h) {
        image_bytes_free(&mon->six);
        image_rows_free(&mon->halves);
        error_info err = {0};
        mon->enc_ok = mon->caps.sixel
            ? image_to_sixel(mon->rgb, mon->iw, mon->ih, w, h, mon->caps.cell_w, mon->caps.cell_h,
                             &mon->six, &err) == 0
            : image_to_halfblocks(mon->rgb, mon->iw, mon->ih, w, h, true, &mon->halves, &err) == 0;
        mon->enc_version = mon->rgb_version;
        mon->enc_cols = w;
        mon->enc_rows = h;
    }
    if (!mon->enc_ok)
        put(row, col, "(cannot show the image)", w);
    else if (mon->caps.sixel)
        add_overlay(mon, row, col, (const char *)mon->six.data, mon->six.len);
    else
        for (int r = 0; r < mon->halves.rows; r++)
            add_overlay(mon, row + r, col, mon->halves.lines[r], strlen(mon->halves.lines[r]));
}

static void draw_hints(monitor *mon)
{
    char buf[512];
    int spans[32][2];
    int n = keys_hint_bar(KEYS_MONITOR, COLS - 1, buf, sizeof buf, spans, 32);
    put(LINES - 1, 0, buf, COLS - 1);
    for (int i = 0; i < n; i++)
        mvchgat(LINES - 1, spans[i][0], spans[i][1] - spans[i][0], mon->color ? A_BOLD : A_REVERSE,
                mon->color ? 1 : 0, NULL);
}

static void draw_header(monitor *mon)
{
    monitor_model *m = &mon->m;
    char line[600], a[32], b[32], c[32];
    int W = COLS;
    attron(A_REVERSE);
    mvhline(0, 0, ' ', W);
    snprintf(line, sizeof line, " loratty  run %s", mon->run.name);
    put(0, 0, line, W);
    snprintf(line, sizeof line, "[%s] ", state_text(mon));
    if ((int)strlen(line) < W)
        put(0, W - (int)strlen(line), line, (int)strlen(line));
    attroff(A_REVERSE);

    double frac = m->total > 0 ? (double)m->step / (double)m->total : 0;
    if (frac > 1)
        frac = 1;
    char right[160];
    snprintf(right, sizeof right, " %5.1f%%  step %lld/%lld  epoch %lld/%lld", 100 * frac, m->step,
             m->total, m->epoch, m->epochs);
    int bar = W - 3 - (int)strlen(right);
    if (bar > 60)
        bar = 60;
    if (bar >= 10) {
        int fill = (int)(frac * bar + 0.5);
        mvaddch(1, 0, '[');
        for (int i = 0; i < bar; i++)
            addch(i < fill ? '#' : '-');
        addch(']');
        put(1, bar + 2, right, W - bar - 2);
    } else
        put(1, 0, right + 1, W);

    monitor_format_eta(m->eta_s, a, sizeof a);
    monitor_format_bytes(m->memory_bytes, b, sizeof b);
    char loss[24] = "-", sm[24] = "-", lr[24] = "-";
    if (isfinite(m->loss))
        snprintf(loss, sizeof loss, "%.4f", m->loss);
    if (isfinite(m->loss_smooth))
        snprintf(sm, sizeof sm, "%.4f", m->loss_smooth);
    if (isfinite(m->lr))
        snprintf(lr, sizeof lr, "%.2e", m->lr);
    if (isfinite(m->it_per_s))
        snprintf(c, sizeof c, "%.2f", m->it_per_s);
    else
        snprintf(c, sizeof c, "-");
    char val[40] = "";
    if (isfinite(m->val_loss))
        snprintf(val, sizeof val, "  val %.4f", m->val_loss);
    snprintf(line, sizeof line, "loss %s (avg %s)%s  lr %s  %s it/s  ETA %s  mem %s", loss, sm, val,
             lr, c, a, b);
    put(2, 0, line, W);
}

static void draw(monitor *mon)
{
    monitor_model *m = &mon->m;
    int W = COLS, H = LINES;
    erase();
    draw_header(mon);
    char line[1400];
    if (W < 40 || H < 14) {
        put(4, 0, "Enlarge the terminal to see plots and the log.", W);
    } else {
        int L = H >= 30 ? 6 : H >= 20 ? 5 : 3;
        int M = H - 3 - 1 - L - 2;
        int R = W >= 100 ? W * 2 / 5 : W / 3;
        if (R < 20)
            R = 0;
        int LW = W - R - (R ? 1 : 0), top = 3;
        double lo = INFINITY;
        for (size_t i = 0; i < m->n; i++)
            if (m->loss_raw[i] < lo)
                lo = m->loss_raw[i];
        const char *which = m->val_n ? (mon->caps.utf8 ? "raw, smoothed and validation"
                                                       : "raw ., smoothed * and validation o")
                                     : mon->caps.utf8 ? "raw and smoothed" : "raw . and smoothed *";
        if (isfinite(lo))
            snprintf(line, sizeof line, "Loss: %s, lowest %.4f", which, lo);
        else
            snprintf(line, sizeof line, "Loss: %s", which);
        attron(A_BOLD);
        put(top, 0, line, LW);
        attroff(A_BOLD);
        plot_series loss[3] = {{m->x, m->loss_raw, m->n, '.'}, {m->x, m->loss_sm, m->n, '*'},
                               {m->val_x, m->val_y, m->val_n, 'o'}};
        draw_plot(mon, top + 1, 0, LW, M - 1, loss, m->val_n ? 3 : 2, false);
        if (R) {
            int rc = LW + 1, lr_h = M / 2;
            attron(A_BOLD);
            put(top, rc, "Learning rate", R);
            attroff(A_BOLD);
            plot_series lr = {m->x, m->lrs, m->n, '*'};
            draw_plot(mon, top + 1, rc, R, lr_h - 1, &lr, 1, false);
            draw_sample(mon, top + lr_h, rc, R, M - lr_h);
        }
        int row = top + M;
        if (m->save_count) {
            const monitor_save *s = &m->saves[(m->save_count < MONITOR_SAVES ? m->save_count
                                                                             : MONITOR_SAVES) - 1];
            snprintf(line, sizeof line, "Saved %s at step %lld: %s", s->kind, s->step, s->path);
        } else
            snprintf(line, sizeof line, "Saved: nothing yet%s%s", m->output[0] ? "; writes " : "",
                     m->output);
        put(row, 0, line, W);
        for (int i = 0; i < L; i++) {
            const monitor_log_line *l = monitor_model_log_line(m, L - 1 - i);
            if (!l)
                continue;
            int attr = l->error ? (A_BOLD | (mon->color ? COLOR_PAIR(2) : A_REVERSE)) : 0;
            attron(attr);
            put(row + 1 + i, 0, l->text, W);
            attroff(attr);
        }
    }
    if (mon->confirm_stop)
        snprintf(line, sizeof line, "Stop the run? The LoRA is saved first. y: stop, other keys: go on");
    else
        snprintf(line, sizeof line, "%s", mon->status);
    if (line[0]) {
        int attr = mon->status_error || mon->confirm_stop
                       ? (A_BOLD | (mon->color ? COLOR_PAIR(2) : A_REVERSE)) : A_BOLD;
        attron(attr);
        put(H - 2, 0, line, W);
        attroff(attr);
    }
    draw_hints(mon);
    curs_set(0);
    refresh();
    flush_overlays(mon);
}

static void show_help(monitor *mon)
{
    char **lines = keys_help_lines(KEYS_MONITOR);
    if (!lines)
        return;
    clear();
    attron(A_BOLD);
    put(0, 0, "Run monitor keys (any key goes back)", COLS);
    attroff(A_BOLD);
    put(1, 0, "The monitor only watches: leaving it, or losing the terminal, never stops the run.", COLS);
    for (int i = 0; lines[i] && i + 3 < LINES; i++)
        put(i + 3, 0, lines[i], COLS);
    keys_free_lines(lines);
    refresh();
    timeout(-1);
    getch();
    timeout(250);
    clearok(curscr, TRUE);
    (void)mon;
}

static bool can_control(monitor *mon)
{
    if (mon->m.done || !mon->alive) {
        status_set(mon, true, "The run has ended (%s)", state_text(mon));
        return false;
    }
    return true;
}

static void send_command(monitor *mon, const char *cmd, const char *done_text)
{
    error_info err = {0};
    if (run_control(&mon->run, cmd, &err) != 0)
        status_set(mon, true, "%s", err.message);
    else
        status_set(mon, false, "%s", done_text);
}

static monitor_exit loop(monitor *mon, volatile sig_atomic_t *interrupted)
{
    bool dirty = true;
    timeout(250);
    for (;;) {
        if (follow(mon))
            dirty = true;
        long long t = now_ms();
        if (t - mon->alive_checked_ms >= 1000) {
            bool alive = pid_running(mon->run.pid);
            dirty |= alive != mon->alive;
            mon->alive = alive;
            mon->alive_checked_ms = t;
        }
        if (dirty)
            draw(mon);
        dirty = false;
        int ch = getch();
        if (interrupted && *interrupted)
            return MONITOR_QUIT;
        if (ch == ERR)
            continue;
        dirty = true;
        if (ch == KEY_RESIZE) {
            clearok(curscr, TRUE);
            continue;
        }
        mon->status[0] = 0;
        if (mon->confirm_stop) {
            mon->confirm_stop = false;
            if (ch == 'y' || ch == 'Y')
                send_command(mon, "stop", "Asked the run to stop: it saves the LoRA (and its state "
                                          "with save_state), then ends");
            else
                status_set(mon, false, "The run goes on");
            continue;
        }
        switch (keys_lookup(ch, KEYS_MONITOR)) {
        case KEYS_HELP: show_help(mon); break;
        case KEYS_STOP_RUN:
            if (can_control(mon))
                mon->confirm_stop = true;
            break;
        case KEYS_PAUSE_RUN:
            if (can_control(mon)) {
                send_command(mon, mon->m.paused ? "resume" : "pause",
                             mon->m.paused ? "Asked the run to resume" : "Asked the run to pause");
                if (!mon->status_error)
                    mon->m.paused = !mon->m.paused;
            }
            break;
        case KEYS_MONITOR_VIEW: return MONITOR_FORMS;
        case KEYS_QUIT: return MONITOR_QUIT;
        case KEYS_REDRAW: clearok(curscr, TRUE); break;
        default: beep(); break;
        }
    }
}

static volatile sig_atomic_t *interrupt_flag;

monitor_exit monitor_show(const run_info *run, const monitor_options *opts, const term_caps *caps,
                          bool color)
{
    (void)opts;
    monitor *mon = calloc(1, sizeof *mon);
    if (!mon)
        return MONITOR_QUIT;
    mon->run = *run;
    mon->caps = *caps;
    mon->color = color;
    mon->alive = pid_running(run->pid);
    mon->alive_checked_ms = now_ms();
    monitor_model_init(&mon->m);
    events_reader_init(&mon->reader);
    char path[4200];
    snprintf(path, sizeof path, "%s/events.jsonl", run->dir);
    mon->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (mon->fd < 0)
        monitor_model_log(&mon->m, true, "cannot open %s: %s", path, strerror(errno));
    keypad(stdscr, TRUE);
    clearok(curscr, TRUE);
    monitor_exit rc = loop(mon, interrupt_flag);
    /* the next screen must not keep our overlays: clear the whole terminal on its refresh */
    clearok(curscr, TRUE);
    timeout(-1);
    for (int i = 0; i < mon->nov; i++)
        free(mon->ov[i].bytes);
    if (mon->fd >= 0)
        close(mon->fd);
    events_reader_free(&mon->reader);
    monitor_model_free(&mon->m);
    free(mon->rgb);
    image_bytes_free(&mon->six);
    image_rows_free(&mon->halves);
    free(mon);
    return rc;
}

/* --attach: our own curses session, restored on every way out. */
static volatile sig_atomic_t attach_active, attach_interrupted;

static void attach_restore(void)
{
    if (attach_active) {
        attach_active = 0;
        endwin();
    }
}

static void attach_fatal(int sig)
{
    attach_restore();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void attach_interrupt(int sig)
{
    (void)sig;
    attach_interrupted = 1;
}

int monitor_attach(const run_info *run, const monitor_options *opts)
{
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        fprintf(stderr, "loratty: the run monitor needs a terminal; `loratty --list-runs` shows "
                        "the state, %s/events.jsonl has everything\n", run->dir);
        return 2;
    }
    setlocale(LC_ALL, "");        /* before term_detect: it reads the codeset */
    setlocale(LC_NUMERIC, "C");   /* numbers are always read and written with '.' */
    term_caps caps;
    term_detect(STDOUT_FILENO, opts->sixel, 300, &caps);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = attach_fatal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = attach_interrupt;
    sigaction(SIGINT, &sa, NULL);
    atexit(attach_restore);
    if (!initscr()) {
        fprintf(stderr, "loratty: cannot start the terminal UI\n");
        return 1;
    }
    attach_active = 1;
    term_fix_line_drawing(caps.utf8);
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    bool color = caps.color && has_colors();
    if (color) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_CYAN, -1);
        init_pair(2, COLOR_WHITE, COLOR_RED);
    }
    interrupt_flag = &attach_interrupted;
    monitor_exit how = monitor_show(run, opts, &caps, color);
    interrupt_flag = NULL;
    attach_restore();
    signal(SIGINT, SIG_DFL);
    if (how == MONITOR_FORMS) {
        tui_options to = {.sixel = opts->sixel};
        struct stat st;
        return tui_main(run->preset[0] && stat(run->preset, &st) == 0 ? run->preset : NULL, &to);
    }
    return 0;
}
