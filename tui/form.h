/* form.h — the parameter form screen: kohya_ss's accordions as one scrolling list drawn with
 * curses (section headers, and under open sections one row per parameter that applies), and
 * the CDK pop-up editors that change one field at a time. Internal to tui/. */
#ifndef LORATTY_TUI_FORM_H
#define LORATTY_TUI_FORM_H

#include <stdbool.h>
#include <stddef.h>

#include <cdk/cdk.h>

#include "src/config.h"
#include "src/params.h"

/* Group 0 is "Configuration" (the preset file and its actions); group 1 + s is section s;
 * the last is Dataset Preparation (tui/prep.h), shown between Metadata and Parameters. */
#define FORM_GROUP_PREP (1 + SECTION_COUNT)
#define FORM_GROUPS (2 + SECTION_COUNT)

typedef enum form_row_kind {
    FORM_ROW_HEADER,
    FORM_ROW_FIELD,
    FORM_ROW_ACTION,
    FORM_ROW_PREP,           /* a Dataset Preparation field or action (tui/prep.h) */
} form_row_kind;

typedef enum form_action {
    FORM_ACT_PATH,      /* the preset file name (Enter: save as) */
    FORM_ACT_SAVE,
    FORM_ACT_OPEN,
    FORM_ACT_PRINT,
} form_action;

typedef struct form_row {
    form_row_kind kind;
    int group;
    const param *p;          /* FORM_ROW_FIELD */
    form_action action;      /* FORM_ROW_ACTION */
    int item;                /* FORM_ROW_PREP: a prep_item */
} form_row;

typedef struct form {
    config *cfg;
    char *path;              /* preset file, NULL until first saved or opened */
    const char *datadir;
    bool open[FORM_GROUPS];
    form_row *rows;
    size_t nrows, cap;
    int cur, top;            /* focused row, first visible row */
    char status[512];
    bool status_error;
    char find[128];          /* last find text */
    char *lookup_ring[16];   /* values handed to params_applies() */
    int lookup_next;
    CDKSCREEN *cdk;
    bool color;
    bool resized;            /* set by an editor that was left because of KEY_RESIZE */
    struct prep_state *prep; /* the Dataset Preparation fields (TUI state, not parameters) */
} form;

/* form.c: the list */
int form_group_at(int index);              /* groups in display order (kohya_ss's) */
bool form_group_shown(int group);
const char *form_group_title(int group);
int form_rebuild(form *f);                 /* after open/close, edits and loads; keeps focus */
void form_draw(form *f);
void form_move(form *f, int delta);        /* delta rows; clamps */
void form_move_section(form *f, int dir);
int form_focus_param(form *f, const param *p);   /* opens its section; -1 if it doesn't apply */
void form_find(form *f, const char *text, bool next);
void form_status(form *f, bool error, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *form_lookup(const char *name, void *ctx);    /* params_lookup_fn over f->cfg */
/* Copies s into out, keeping it ASCII and free of CDK markup ('<' becomes '{'). */
void form_ascii(const char *s, char *out, size_t size);

/* edit.c: editors */
/* Edits the field with the widget for its type; validates with config_set_value_text. */
void form_edit_field(form *f, const param *p);
void form_toggle_field(form *f, const param *p);
/* A one-line text prompt; returns true and fills out when accepted. */
bool form_ask_text(form *f, const char *title, const char *label, const char *initial,
                   bool path, char *out, size_t size);
/* A list to pick from; returns the index or -1 when cancelled. */
int form_ask_choice(form *f, const char *title, const char *const *items, int n, int initial);
/* A question with buttons; returns the button index, -1 on Escape. */
int form_ask_buttons(form *f, const char *const *lines, int nlines, const char *const *buttons,
                     int nbuttons);
/* Shows lines of text in a scrollable viewer until Enter or Escape. */
void form_show_text(form *f, const char *title, char **lines, int n);
/* Splits text at newlines into malloc'd lines (ASCII-cleaned); returns the count. */
int form_split_lines(const char *text, char ***lines);
void form_free_lines(char **lines, int n);

#endif
