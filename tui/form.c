/* form.c — the accordion list of the form screen, drawn with plain curses.
 *
 * CDK has no resize support and no accordion widget, so the list of sections and fields is
 * drawn here and rebuilt from the parameter table whenever something changes; CDK widgets
 * only pop up to edit one field (tui/edit.c). Everything drawn is ASCII: Debian's CDK links
 * narrow ncurses, which prints UTF-8 bytes as M-x junk. */
#include "tui/form.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tui/keys.h"
#include "tui/prep.h"

/* Screen rows around the list: title on top; help, detail, status and hints below. */
#define TOP_ROWS 1
#define BOTTOM_ROWS 4

static const char *const config_title = "Configuration";

int form_group_at(int index)
{
    /* kohya_ss puts Dataset Preparation after Metadata, before Parameters */
    int after = 1 + SECTION_METADATA;
    if (index <= after)
        return index;
    return index == after + 1 ? FORM_GROUP_PREP : index - 1;
}

bool form_group_shown(int group)
{
    if (group == FORM_GROUP_PREP)
        return true;
    /* The dataset section holds sd-scripts dataset-TOML keys edited per subset, which this
     * screen does not edit yet. */
    return group == 0 || (group - 1 < SECTION_COUNT && group - 1 != SECTION_DATASET);
}

const char *form_group_title(int group)
{
    if (group == FORM_GROUP_PREP)
        return "Dataset Preparation";
    return group == 0 ? config_title : params_section_title((param_section)(group - 1));
}

void form_ascii(const char *s, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return;
    for (; s && *s && n + 1 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '<')
            out[n++] = '{';
        else if (c == '\t')
            out[n++] = ' ';
        else if (c < 0x20 || c == 0x7f)
            continue;
        else if (c >= 0x80) {
            if ((c & 0xC0) != 0x80)   /* one '?' per UTF-8 character */
                out[n++] = '?';
        } else
            out[n++] = (char)c;
    }
    out[n] = 0;
}

const char *form_lookup(const char *name, void *ctx)
{
    form *f = ctx;
    const param *p = params_find(name);
    if (!p || config_is_default(f->cfg, p))
        return NULL;
    char *v = config_value_text(f->cfg, p);
    free(f->lookup_ring[f->lookup_next]);
    f->lookup_ring[f->lookup_next] = v;
    f->lookup_next = (f->lookup_next + 1) % (int)(sizeof f->lookup_ring / sizeof *f->lookup_ring);
    return v;
}

void form_status(form *f, bool error, const char *fmt, ...)
{
    char buf[sizeof f->status];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    form_ascii(buf, f->status, sizeof f->status);
    f->status_error = error;
}

static int push_row(form *f, form_row r)
{
    if (f->nrows == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 256;
        form_row *p = realloc(f->rows, cap * sizeof *p);
        if (!p)
            return -1;
        f->rows = p;
        f->cap = cap;
    }
    f->rows[f->nrows++] = r;
    return 0;
}

static bool same_row(const form_row *a, const form_row *b)
{
    return a->kind == b->kind && a->group == b->group && a->p == b->p && a->action == b->action
           && a->item == b->item;
}

int form_rebuild(form *f)
{
    form_row keep = {0};
    bool had = f->cur >= 0 && (size_t)f->cur < f->nrows;
    if (had)
        keep = f->rows[f->cur];
    f->nrows = 0;
    for (int i = 0; i < FORM_GROUPS; i++) {
        int g = form_group_at(i);
        if (!form_group_shown(g))
            continue;
        if (push_row(f, (form_row){FORM_ROW_HEADER, g, NULL, 0, 0}) < 0)
            return -1;
        if (!f->open[g])
            continue;
        if (g == FORM_GROUP_PREP) {
            for (int k = 0; k < PREP_ITEMS; k++)
                if (push_row(f, (form_row){FORM_ROW_PREP, g, NULL, 0, k}) < 0)
                    return -1;
            continue;
        }
        if (g == 0) {
            for (int a = FORM_ACT_PATH; a <= FORM_ACT_PRINT; a++)
                if (push_row(f, (form_row){FORM_ROW_ACTION, 0, NULL, (form_action)a, 0}) < 0)
                    return -1;
            continue;
        }
        for (size_t i = 0; i < params_count; i++) {
            const param *p = &params_table[i];
            if ((int)p->section != g - 1 || !params_applies(p, form_lookup, f))
                continue;
            if (push_row(f, (form_row){FORM_ROW_FIELD, g, p, 0, 0}) < 0)
                return -1;
        }
    }
    /* keep the focus on the same row; if it vanished, on its section's header */
    int found = -1;
    for (size_t i = 0; had && i < f->nrows && found < 0; i++)
        if (same_row(&f->rows[i], &keep))
            found = (int)i;
    for (size_t i = 0; had && i < f->nrows && found < 0; i++)
        if (f->rows[i].kind == FORM_ROW_HEADER && f->rows[i].group == keep.group)
            found = (int)i;
    f->cur = found >= 0 ? found : 0;
    return 0;
}

static int list_height(void)
{
    int h = LINES - TOP_ROWS - BOTTOM_ROWS;
    return h < 1 ? 1 : h;
}

void form_move(form *f, int delta)
{
    long c = (long)f->cur + delta;
    if (c >= (long)f->nrows)
        c = (long)f->nrows - 1;
    if (c < 0)
        c = 0;
    f->cur = (int)c;
}

void form_move_section(form *f, int dir)
{
    for (long i = (long)f->cur + dir; i >= 0 && i < (long)f->nrows; i += dir)
        if (f->rows[i].kind == FORM_ROW_HEADER) {
            f->cur = (int)i;
            return;
        }
}

int form_focus_param(form *f, const param *p)
{
    if (!params_applies(p, form_lookup, f))
        return -1;
    int g = 1 + (int)p->section;
    if (!form_group_shown(g))
        return -1;
    f->open[g] = true;
    form_rebuild(f);
    for (size_t i = 0; i < f->nrows; i++)
        if (f->rows[i].p == p) {
            f->cur = (int)i;
            /* put it in the upper part of the list so its neighbours show */
            int h = list_height();
            if (f->cur < f->top || f->cur >= f->top + h)
                f->top = f->cur > h / 3 ? f->cur - h / 3 : 0;
            return 0;
        }
    return -1;
}

void form_find(form *f, const char *text, bool next)
{
    if (!text || !*text) {
        form_status(f, true, "Nothing to find: type part of a parameter name");
        return;
    }
    /* search the table in order, starting after the focused parameter for "next" */
    size_t start = 0;
    if (next && (size_t)f->cur < f->nrows && f->rows[f->cur].p)
        start = (size_t)(f->rows[f->cur].p - params_table) + 1;
    const param *exact = params_find(text);
    const param *hidden = NULL;
    if (exact && !next) {
        if (form_focus_param(f, exact) == 0) {
            form_status(f, false, "%s", exact->name);
            return;
        }
        hidden = exact;
    }
    for (size_t k = 0; k < params_count; k++) {
        const param *p = &params_table[(start + k) % params_count];
        if (!form_group_shown(1 + (int)p->section) || !strcasestr(p->name, text))
            continue;
        if (form_focus_param(f, p) == 0) {
            form_status(f, false, "%s  (n: next match)", p->name);
            return;
        }
        if (!hidden)
            hidden = p;
    }
    if (hidden)
        form_status(f, true, "%s is hidden here: it applies when %s", hidden->name,
                    hidden->applies_when ? hidden->applies_when : "its section is shown");
    else
        form_status(f, true, "No parameter matches \"%s\"", text);
}

/* Display text of a field: booleans as [x]/[ ], text's first line with "...". */
static void field_value(form *f, const param *p, char *out, size_t size)
{
    char *v = config_value_text(f->cfg, p);
    if (!v) {
        snprintf(out, size, "?");
        return;
    }
    if (p->type == PARAM_BOOL) {
        snprintf(out, size, "%s", strcmp(v, "true") == 0 ? "[x]" : "[ ]");
    } else {
        char *nl = strchr(v, '\n');
        if (nl)
            strcpy(nl, " ...");   /* the line is at least 1 char; " ..." fits after it */
        form_ascii(v, out, size);
        if (!*out && (p->type == PARAM_FILE || p->type == PARAM_DIR || p->flags & PARAM_OPTIONAL))
            snprintf(out, size, "-");
    }
    free(v);
}

static void put_clipped(int y, int x, const char *s, int width)
{
    if (width <= 0)
        return;
    mvaddnstr(y, x, s, width);
}

static const char *action_label(form *f, form_action a, char *buf, size_t size)
{
    char path[400];
    switch (a) {
    case FORM_ACT_PATH:
        form_ascii(f->path ? f->path : "(not saved yet)", path, sizeof path);
        snprintf(buf, size, "Preset file: %s", path);
        return buf;
    case FORM_ACT_SAVE: return "[ Save preset ]          F2 or s";
    case FORM_ACT_OPEN: return "[ Open a preset... ]     F3 or o";
    case FORM_ACT_PRINT: return "[ Print command ]        F4 or p";
    }
    return "";
}

static void draw_row(form *f, int y, const form_row *r, bool focused)
{
    int w = COLS;
    char buf[1024];
    if (focused)
        attron(A_REVERSE);
    move(y, 0);
    clrtoeol();
    if (focused)
        mvhline(y, 0, ' ', w);
    if (r->kind == FORM_ROW_HEADER) {
        int fields = 0, changed = 0;
        for (size_t i = 0; r->group > 0 && i < params_count; i++)
            if ((int)params_table[i].section == r->group - 1
                && params_applies(&params_table[i], form_lookup, f)) {
                fields++;
                changed += !config_is_default(f->cfg, &params_table[i]);
            }
        attron(A_BOLD);
        snprintf(buf, sizeof buf, "%s %s", f->open[r->group] ? "[-]" : "[+]",
                 form_group_title(r->group));
        put_clipped(y, 0, buf, w);
        attroff(A_BOLD);
        if (r->group == FORM_GROUP_PREP) {
            int x = (int)strlen(buf) + 2;
            put_clipped(y, x, "build img/ reg/ log/ model/ folders from your images", w - x);
        } else if (r->group > 0) {
            int x = (int)strlen(buf) + 2;
            snprintf(buf, sizeof buf, "%d field%s", fields, fields == 1 ? "" : "s");
            if (changed)
                snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ", %d changed", changed);
            put_clipped(y, x, buf, w - x);
        }
    } else if (r->kind == FORM_ROW_ACTION) {
        put_clipped(y, 4, action_label(f, r->action, buf, sizeof buf), w - 4);
    } else if (r->kind == FORM_ROW_PREP) {
        prep_row_text(f, r->item, buf, sizeof buf, w >= 100 ? 36 : w >= 70 ? 30 : w / 2 - 4);
        put_clipped(y, 2, buf, w - 3);
    } else {
        const param *p = r->p;
        int namew = w >= 100 ? 36 : w >= 70 ? 30 : w / 2 - 4;
        bool notyet = p->support == SUPPORT_NOT_YET;
        bool changed = !config_is_default(f->cfg, p);
        snprintf(buf, sizeof buf, "%-*.*s", namew, namew, p->name);
        put_clipped(y, 2, buf, w - 2);
        int x = 2 + namew + 1;
        if (x < w)
            mvaddch(y, x, changed ? '*' : ' ');
        if (x + 1 < w)
            mvaddch(y, x + 1, notyet ? '!' : ' ');
        x += 3;
        int valw = w - x;
        const char *tag = " (not yet)";
        if (notyet && valw > 30)
            valw -= (int)strlen(tag) + 1;   /* the last column keeps the scroll marks */
        field_value(f, p, buf, sizeof buf);
        if ((int)strlen(buf) > valw && valw > 3) {
            buf[valw - 3] = 0;
            strcat(buf, "...");
        }
        put_clipped(y, x, buf, valw);
        if (notyet && w - x > 30)
            put_clipped(y, w - 1 - (int)strlen(tag), tag, (int)strlen(tag));
    }
    if (focused)
        attroff(A_REVERSE);
}

/* The two lines about the focused row: its help, then default and range or choices. */
static void describe(form *f, const form_row *r, char *help, size_t hsize, char *detail,
                     size_t dsize)
{
    help[0] = detail[0] = 0;
    if (r->kind == FORM_ROW_HEADER) {
        snprintf(help, hsize, "%s: Enter or Space %s this section.", form_group_title(r->group),
                 f->open[r->group] ? "closes" : "opens");
        snprintf(detail, dsize, "Markers: * changed from the default, ! not supported by the engine yet");
        return;
    }
    if (r->kind == FORM_ROW_PREP) {
        prep_describe(f, r->item, help, hsize, detail, dsize);
        return;
    }
    if (r->kind == FORM_ROW_ACTION) {
        static const char *const text[] = {
            "Where F2 saves the preset. Enter: save under another name.",
            "Writes the preset TOML (only the values that differ from the defaults).",
            "Opens a shipped preset, one of yours, or any loratty/kohya_ss/sd-scripts file.",
            "Shows the sd-scripts run TOML and the accelerate command for this preset.",
        };
        snprintf(help, hsize, "%s", text[r->action]);
        return;
    }
    const param *p = r->p;
    char tmp[960];
    form_ascii(p->help ? p->help : "", tmp, sizeof tmp);
    snprintf(help, hsize, "%s%s", tmp, p->support == SUPPORT_NOT_YET
                                            ? "  [not yet supported by loratty's engine]"
                                            : p->support == SUPPORT_NO_EFFECT
                                                  ? "  [no effect in loratty]" : "");
    size_t n = 0;
    char def[200];
    form_ascii(p->default_value && *p->default_value ? p->default_value : "(empty)", def, sizeof def);
    n += (size_t)snprintf(tmp + n, sizeof tmp - n, "%s, default %s", params_type_name(p->type), def);
    if ((p->type == PARAM_INT || p->type == PARAM_FLOAT) && (p->min == p->min || p->max == p->max)) {
        char lo[32] = "", hi[32] = "";
        if (p->min == p->min)
            snprintf(lo, sizeof lo, "%g", p->min);
        if (p->max == p->max)
            snprintf(hi, sizeof hi, "%g", p->max);
        n += (size_t)snprintf(tmp + n, sizeof tmp - n, ", range %s..%s", lo, hi);
    }
    if (p->choices && n < sizeof tmp) {
        n += (size_t)snprintf(tmp + n, sizeof tmp - n, ", %s:",
                              p->flags & PARAM_CHOICE_OPEN ? "e.g." : "one of");
        for (size_t i = 0; p->choices[i] && n < sizeof tmp; i++)
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "%s %s", i ? "," : "",
                                  *p->choices[i] ? p->choices[i] : "\"\"");
    }
    form_ascii(tmp, detail, dsize);
}

void form_draw(form *f)
{
    erase();
    int w = COLS, h = list_height();
    char buf[1024], path[600];

    /* title bar */
    attron(A_REVERSE);
    mvhline(0, 0, ' ', w);
    form_ascii(f->path ? f->path : "(new preset)", path, sizeof path);
    snprintf(buf, sizeof buf, " loratty  %s%s", path, f->cfg->dirty ? "  [modified]" : "");
    put_clipped(0, 0, buf, w);
    attroff(A_REVERSE);

    if (f->cur >= (int)f->nrows)
        f->cur = f->nrows ? (int)f->nrows - 1 : 0;
    if (f->cur < f->top)
        f->top = f->cur;
    if (f->cur >= f->top + h)
        f->top = f->cur - h + 1;
    if (f->top > 0 && f->top + h > (int)f->nrows)
        f->top = (int)f->nrows > h ? (int)f->nrows - h : 0;
    for (int i = 0; i < h && f->top + i < (int)f->nrows; i++)
        draw_row(f, TOP_ROWS + i, &f->rows[f->top + i], f->top + i == f->cur);
    /* scroll hints at the right edge */
    if (f->top > 0)
        mvaddch(TOP_ROWS, w - 1, '^');
    if (f->top + h < (int)f->nrows)
        mvaddch(TOP_ROWS + h - 1, w - 1, 'v');

    int y = LINES - BOTTOM_ROWS;
    if (y > TOP_ROWS && f->nrows) {
        char help[1024], detail[1024];
        describe(f, &f->rows[f->cur], help, sizeof help, detail, sizeof detail);
        mvhline(y, 0, ' ', w);
        put_clipped(y, 0, help, w);
        attron(A_DIM);
        put_clipped(y + 1, 0, detail, w);
        attroff(A_DIM);
    }
    if (f->status[0]) {
        int attr = f->status_error ? (A_BOLD | (f->color ? COLOR_PAIR(2) : A_REVERSE)) : A_BOLD;
        attron(attr);
        snprintf(buf, sizeof buf, "%s%s", f->status_error ? "Error: " : "", f->status);
        put_clipped(LINES - 2, 0, buf, w);
        attroff(attr);
    }

    /* hint bar: keys highlighted */
    int spans[32][2];
    int n = keys_hint_bar(KEYS_FORM, w, buf, sizeof buf, spans, 32);
    move(LINES - 1, 0);
    clrtoeol();
    put_clipped(LINES - 1, 0, buf, w);
    for (int i = 0; i < n; i++) {
        mvchgat(LINES - 1, spans[i][0], spans[i][1] - spans[i][0],
                f->color ? A_BOLD : A_REVERSE, f->color ? 1 : 0, NULL);
    }
    /* the list shows focus by highlighting; editors turn the cursor back on */
    curs_set(0);
    refresh();
}
