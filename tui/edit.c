/* edit.c — the CDK pop-up editors of the form screen, one per parameter type: an entry with a
 * character filter for numbers and text, a scale for small bounded integers, a scroll list
 * for choices, a multi-line entry for sample prompts and a file selector for paths, plus the
 * dialogs (text prompt, list, buttons, viewer) the form's actions use.
 *
 * Every value goes through config_set_value_text(), so range and type checks live in one
 * place; a refused value leaves the old one and the reason goes to the status line.
 * CDK widgets have fixed geometry: when the terminal is resized while one is open, the widget
 * is closed (by pushing an Escape) and opened again at the new size. */
#include "tui/form.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct edit_ctx {
    form *f;
    const char *allowed;   /* printable characters the entry accepts; NULL = all */
    bool path;             /* Tab opens the file selector */
    bool resized, browse;
} edit_ctx;

static int edit_preprocess(EObjectType type, void *object, void *data, chtype key)
{
    (void)type;
    (void)object;
    edit_ctx *c = data;
    if (key == KEY_RESIZE) {
        c->resized = true;
        ungetch(KEY_ESC);
        return 0;
    }
    if (c->path && key == '\t') {
        c->browse = true;
        ungetch(KEY_ESC);
        return 0;
    }
    if (c->allowed && key < 256 && isprint((int)key) && !strchr(c->allowed, (int)key)) {
        Beep();
        return 0;
    }
    return 1;
}

static int box_width(int want)
{
    int w = COLS - 4;
    return want < w ? want : w;
}

int form_split_lines(const char *text, char ***lines)
{
    int n = 1;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    *lines = calloc((size_t)n, sizeof **lines);
    if (!*lines)
        return 0;
    int i = 0;
    const char *s = text;
    for (;;) {
        const char *e = strchr(s, '\n');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char *raw = strndup(s, len);
        (*lines)[i] = malloc(len + 1);
        if ((*lines)[i])
            form_ascii(raw ? raw : "", (*lines)[i], len + 1);
        free(raw);
        if (!(*lines)[i]) {
            form_free_lines(*lines, i);
            *lines = NULL;
            return 0;
        }
        i++;
        if (!e)
            break;
        s = e + 1;
    }
    return i;
}

void form_free_lines(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* Picks a file or directory starting from `start`; fselect changes the working directory,
 * so it is put back afterwards (relative preset paths depend on it). */
static bool pick_path(form *f, const char *title, const char *start, char *out, size_t size)
{
    char cwd[4096];
    if (!getcwd(cwd, sizeof cwd))
        cwd[0] = 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", start && *start ? start : ".");
    char *slash = strrchr(dir, '/');
    if (access(dir, F_OK) != 0 || (slash && slash[1] && access(dir, X_OK) != 0)) {
        if (slash)
            *slash = 0;
        else
            snprintf(dir, sizeof dir, ".");
    }
    bool ok = false;
    edit_ctx c = {.f = f};
    do {
        c.resized = false;
        int h = LINES - 4 > 20 ? 20 : LINES - 4, w = box_width(76);
        CDKFSELECT *fs = newCDKFselect(f->cdk, CENTER, CENTER, h, w, title, "Path: ", A_NORMAL,
                                       '_', A_REVERSE, "</B>", "", "", "", TRUE, FALSE);
        if (!fs)
            break;
        setCDKFselectDirectory(fs, *dir ? dir : ".");
        setCDKFselectPreProcess(fs, edit_preprocess, &c);
        curs_set(1);
        char *r = activateCDKFselect(fs, NULL);
        if (fs->exitType == vNORMAL && r) {
            snprintf(out, size, "%s", r);
            ok = true;
        }
        destroyCDKFselect(fs);
        if (c.resized)
            form_draw(f);
    } while (c.resized);
    if (cwd[0] && chdir(cwd) != 0)
        form_status(f, true, "cannot return to %s: %s", cwd, strerror(errno));
    return ok;
}

/* A one-line entry; `allowed` filters typed characters, `path` adds Tab = file selector. */
static bool entry_dialog(form *f, const char *title, const char *label, const char *initial,
                         const char *allowed, bool path, char *out, size_t size)
{
    edit_ctx c = {.f = f, .allowed = allowed, .path = path};
    bool ok = false;
    char *value = strdup(initial ? initial : "");
    while (value) {
        c.resized = c.browse = false;
        int bw = box_width(90);
        int lw = (int)strlen(label);
        char t[400], safe[300];
        form_ascii(title, safe, sizeof safe);
        snprintf(t, sizeof t, "<C></B>%s<!B>%s", safe,
                 path ? "\n<C>Enter: accept  Esc: cancel  Ctrl-U: clear  Tab: pick from a list"
                      : "\n<C>Enter: accept  Esc: cancel  Ctrl-U: clear");
        CDKENTRY *e = newCDKEntry(f->cdk, CENTER, CENTER, t, label, A_UNDERLINE, ' ', vMIXED,
                                  bw - lw - 2, 0, 4096, TRUE, FALSE);
        if (!e)
            break;
        setCDKEntryValue(e, value);
        setCDKEntryPreProcess(e, edit_preprocess, &c);
        curs_set(1);
        char *r = activateCDKEntry(e, NULL);
        bool accepted = e->exitType == vNORMAL && r;
        const char *cur = getCDKEntryValue(e);
        char *now = strdup(cur ? cur : "");
        destroyCDKEntry(e);
        free(value);
        value = now;
        if (!value)
            break;
        if (c.resized) {
            form_draw(f);
            continue;
        }
        if (c.browse) {
            char picked[4096];
            form_draw(f);
            if (pick_path(f, title, value, picked, sizeof picked)) {
                free(value);
                value = strdup(picked);
            }
            form_draw(f);
            continue;
        }
        if (accepted) {
            snprintf(out, size, "%s", value);
            ok = true;
        }
        break;
    }
    free(value);
    return ok;
}

bool form_ask_text(form *f, const char *title, const char *label, const char *initial,
                   bool path, char *out, size_t size)
{
    return entry_dialog(f, title, label, initial, NULL, path, out, size);
}

int form_ask_choice(form *f, const char *title, const char *const *items, int n, int initial)
{
    edit_ctx c = {.f = f};
    char **safe = calloc((size_t)n, sizeof *safe);
    if (!safe)
        return -1;
    int widest = (int)strlen(title);
    for (int i = 0; i < n; i++) {
        size_t len = strlen(items[i]) + 2;
        safe[i] = malloc(len);
        if (safe[i])
            form_ascii(items[i], safe[i], len);
        if ((int)len > widest)
            widest = (int)len;
    }
    char t[300], st[256];
    form_ascii(title, st, sizeof st);
    snprintf(t, sizeof t, "<C></B>%s", st);
    int choice = -1;
    do {
        c.resized = false;
        int h = n + 3 < LINES - 4 ? n + 3 : LINES - 4, w = box_width(widest + 6);
        if (w < 30 && COLS > 34)
            w = 30;
        CDKSCROLL *s = newCDKScroll(f->cdk, CENTER, CENTER, RIGHT, h, w, t,
                                    (CDK_CSTRING2)safe, n, FALSE, A_REVERSE, TRUE, FALSE);
        if (!s)
            break;
        if (initial >= 0 && initial < n)
            setCDKScrollPosition(s, initial);
        setCDKScrollPreProcess(s, edit_preprocess, &c);
        int r = activateCDKScroll(s, NULL);
        choice = s->exitType == vNORMAL ? r : -1;
        destroyCDKScroll(s);
        if (c.resized)
            form_draw(f);
    } while (c.resized);
    for (int i = 0; i < n; i++)
        free(safe[i]);
    free(safe);
    return choice;
}

int form_ask_buttons(form *f, const char *const *lines, int nlines, const char *const *buttons,
                     int nbuttons)
{
    edit_ctx c = {.f = f};
    char **msg = calloc((size_t)nlines, sizeof *msg);
    if (!msg)
        return -1;
    for (int i = 0; i < nlines; i++) {
        size_t len = strlen(lines[i]) + 8;
        msg[i] = malloc(len);
        if (msg[i]) {
            strcpy(msg[i], "<C>");
            form_ascii(lines[i], msg[i] + 3, len - 3);
        }
    }
    int r = -1;
    do {
        c.resized = false;
        CDKDIALOG *d = newCDKDialog(f->cdk, CENTER, CENTER, (CDK_CSTRING2)msg, nlines,
                                    (CDK_CSTRING2)buttons, nbuttons, A_REVERSE, TRUE, TRUE, FALSE);
        if (!d)
            break;
        setCDKDialogPreProcess(d, edit_preprocess, &c);
        int b = activateCDKDialog(d, NULL);
        r = d->exitType == vNORMAL ? b : -1;
        destroyCDKDialog(d);
        if (c.resized)
            form_draw(f);
    } while (c.resized);
    for (int i = 0; i < nlines; i++)
        free(msg[i]);
    free(msg);
    return r;
}

void form_show_text(form *f, const char *title, char **lines, int n)
{
    edit_ctx c = {.f = f};
    static const char *const buttons[] = {"Close"};
    char t[300], st[256];
    form_ascii(title, st, sizeof st);
    snprintf(t, sizeof t, "<C></B>%s<!B>  (arrows scroll, Enter closes)", st);
    do {
        c.resized = false;
        CDKVIEWER *v = newCDKViewer(f->cdk, CENTER, CENTER, LINES - 2, COLS - 2,
                                    (CDK_CSTRING2)buttons, 1, A_REVERSE, TRUE, FALSE);
        if (!v)
            break;
        setCDKViewer(v, t, (CDK_CSTRING2)lines, n, A_REVERSE, FALSE, FALSE, TRUE);
        setCDKObjectPreProcess(ObjOf(v), edit_preprocess, &c);
        activateCDKViewer(v, NULL);
        destroyCDKViewer(v);
        if (c.resized)
            form_draw(f);
    } while (c.resized);
}

static void apply(form *f, const param *p, const char *text)
{
    error_info err = {0};
    if (config_set_value_text(f->cfg, p, text, "tui", &err) < 0) {
        char *old = config_value_text(f->cfg, p);
        form_status(f, true, "%s: %s (kept %s)", p->name, err.message,
                    old && *old && strlen(old) < 40 ? old : "the old value");
        free(old);
        return;
    }
    char *v = config_value_text(f->cfg, p);
    form_status(f, false, "%s = %s", p->name, v ? v : "");
    free(v);
    form_rebuild(f);   /* fields that depend on this one may appear or vanish */
}

void form_toggle_field(form *f, const param *p)
{
    char *v = config_value_text(f->cfg, p);
    bool on = v && strcmp(v, "true") == 0;
    free(v);
    apply(f, p, on ? "false" : "true");
}

/* In the prompt editor, Down at the end of the text starts a new row (a new prompt line):
 * the mentry cannot move past its text, so the row is padded with spaces. */
static int prompt_preprocess(EObjectType type, void *object, void *data, chtype key)
{
    CDKMENTRY *m = object;
    if (key == KEY_DOWN && m->info) {
        size_t len = strlen(m->info), fw = (size_t)m->fieldWidth;
        size_t pos = (size_t)(m->topRow + m->currentRow) * fw + (size_t)m->currentCol;
        size_t want = (len / fw + 1) * fw;
        if (pos >= len && want <= (size_t)m->totalWidth) {
            char *padded = malloc(want + 1);
            if (padded) {
                memcpy(padded, m->info, len);
                memset(padded + len, ' ', want - len);
                padded[want] = 0;
                setCDKMentryValue(m, padded);
                /* the cursor goes to the start of the new row */
                int row = (int)(want / fw);
                m->topRow = row < m->rows ? 0 : row - m->rows + 1;
                m->currentRow = row - m->topRow;
                m->currentCol = 0;
                drawCDKMentryField(m);
                free(padded);
            }
            return 0;
        }
    }
    return edit_preprocess(type, object, data, key);
}

/* Sample prompts: one prompt per row of the multi-line entry. CDK's mentry has no newlines,
 * so each line is padded to the row width; reading back, a row that ends in a space ends a
 * line and a full row continues on the next. */
static void edit_text(form *f, const param *p, const char *title)
{
    edit_ctx c = {.f = f};
    char *cur = config_value_text(f->cfg, p);
    if (!cur)
        return;
    for (;;) {
        c.resized = false;
        int bw = box_width(100), fw = bw - 2, rows = LINES - 10 > 12 ? 12 : LINES - 10;
        if (rows < 3)
            rows = 3;
        size_t cap = strlen(cur) * 2 + (size_t)fw * 64 + 1, n = 0;
        char *padded = malloc(cap);
        if (!padded)
            break;
        char **lines;
        int nl = form_split_lines(cur, &lines);
        for (int i = 0; i < nl; i++) {
            size_t len = strlen(lines[i]);
            if (n + len + (size_t)fw + 1 >= cap)
                break;
            memcpy(padded + n, lines[i], len);
            n += len;
            /* pad to the end of the row; an empty line or one exactly a row long gets a
             * blank row so it still ends there */
            size_t pad = len % (size_t)fw ? (size_t)fw - len % (size_t)fw
                         : (i + 1 < nl ? (size_t)fw : 0);
            memset(padded + n, ' ', pad);
            n += pad;
        }
        padded[n] = 0;
        form_free_lines(lines, nl);
        char t[300];
        snprintf(t, sizeof t, "<C></B>%s<!B>\n<C>one prompt per row (Down at the end: new row)  Enter: accept  Esc: cancel",
                 title);
        CDKMENTRY *m = newCDKMentry(f->cdk, CENTER, CENTER, t, "", A_NORMAL, ' ', vMIXED, fw,
                                    rows, 64, 0, TRUE, FALSE);
        if (!m) {
            free(padded);
            break;
        }
        setCDKMentryValue(m, padded);
        free(padded);
        setCDKMentryPreProcess(m, prompt_preprocess, &c);
        curs_set(1);
        char *r = activateCDKMentry(m, NULL);
        bool accepted = m->exitType == vNORMAL && r;
        const char *got = getCDKMentryValue(m);
        char *text = NULL;
        if (got) {
            /* rows back to lines */
            size_t len = strlen(got), o = 0;
            text = malloc(len + 2);
            for (size_t i = 0; text && i < len; i += (size_t)fw) {
                size_t rl = len - i < (size_t)fw ? len - i : (size_t)fw;
                bool full = rl == (size_t)fw && got[i + rl - 1] != ' ';
                size_t e = rl;
                while (e > 0 && got[i + e - 1] == ' ')
                    e--;
                memcpy(text + o, got + i, e);
                o += e;
                if (!full)
                    text[o++] = '\n';
            }
            if (text) {
                while (o > 0 && text[o - 1] == '\n')
                    o--;
                text[o] = 0;
            }
        }
        destroyCDKMentry(m);
        if (c.resized) {
            if (text) {
                free(cur);
                cur = text;
            }
            form_draw(f);
            continue;
        }
        if (accepted && text)
            apply(f, p, text);
        free(text);
        break;
    }
    free(cur);
}

static void edit_scale(form *f, const param *p, const char *title, const char *value)
{
    edit_ctx c = {.f = f};
    int v = atoi(value), lo = (int)p->min, hi = (int)p->max;
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    for (;;) {
        c.resized = false;
        char t[300];
        snprintf(t, sizeof t, "<C></B>%s<!B>\n<C>Up/Down or +/-: change  PgUp/PgDn: faster  Enter: accept", title);
        CDKSCALE *s = newCDKScale(f->cdk, CENTER, CENTER, t, "Value: ", A_REVERSE, 8, v, lo, hi,
                                  1, hi - lo > 20 ? 5 : 2, TRUE, FALSE);
        if (!s)
            return;
        setCDKScalePreProcess(s, edit_preprocess, &c);
        int r = activateCDKScale(s, NULL);
        bool accepted = s->exitType == vNORMAL;
        v = getCDKScaleValue(s);
        destroyCDKScale(s);
        if (c.resized) {
            form_draw(f);
            continue;
        }
        if (accepted) {
            char buf[32];
            snprintf(buf, sizeof buf, "%d", r);
            apply(f, p, buf);
        }
        return;
    }
}

void form_edit_field(form *f, const param *p)
{
    char title[200], text[4096];
    snprintf(title, sizeof title, "%s  [%s]", p->name, params_type_name(p->type));
    char *value = config_value_text(f->cfg, p);
    if (!value)
        return;
    switch (p->type) {
    case PARAM_BOOL:
        form_toggle_field(f, p);
        break;
    case PARAM_CHOICE: {
        int n = 0;
        while (p->choices && p->choices[n])
            n++;
        bool open = p->flags & PARAM_CHOICE_OPEN;
        const char **items = calloc((size_t)n + 1, sizeof *items);
        if (!items)
            break;
        int initial = -1;
        for (int i = 0; i < n; i++) {
            items[i] = *p->choices[i] ? p->choices[i] : "(none)";
            if (strcmp(p->choices[i], value) == 0)
                initial = i;
        }
        if (open)
            items[n] = "(type another value...)";
        int k = form_ask_choice(f, title, items, n + open, initial);
        if (k >= 0 && k < n)
            apply(f, p, p->choices[k]);
        else if (k == n && form_ask_text(f, title, "Value: ", value, false, text, sizeof text))
            apply(f, p, text);
        free(items);
        break;
    }
    case PARAM_INT:
        /* a scale where the range is short enough to walk with arrow keys */
        if (p->min == p->min && p->max == p->max && p->max - p->min <= 64) {
            edit_scale(f, p, title, value);
            break;
        }
        if (entry_dialog(f, title, "Value: ", value, "0123456789-+", false, text, sizeof text))
            apply(f, p, text);
        break;
    case PARAM_FLOAT:
        if (entry_dialog(f, title, "Value: ", value, "0123456789-+.eE", false, text, sizeof text))
            apply(f, p, text);
        break;
    case PARAM_TEXT:
        edit_text(f, p, title);
        break;
    case PARAM_FILE:
    case PARAM_DIR:
        if (entry_dialog(f, title, "Path: ", value, NULL, true, text, sizeof text))
            apply(f, p, text);
        break;
    case PARAM_STRING:
    case PARAM_STRING_LIST:
    default:
        if (entry_dialog(f, title, "Value: ", value, NULL, false, text, sizeof text))
            apply(f, p, text);
        break;
    }
    free(value);
}
