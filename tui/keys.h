/* keys.h — the one table of key bindings. The hint bar at the bottom of each screen, the
 * F1/? help screen and the KEYS section of loratty(1) are all generated from it. */
#ifndef LORATTY_TUI_KEYS_H
#define LORATTY_TUI_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum keys_screen {
    KEYS_FORM = 1u << 0,    /* the parameter forms */
    KEYS_EDIT = 1u << 1,    /* while a field's editor is open */
    KEYS_MONITOR = 1u << 2, /* the run monitor */
} keys_screen;

typedef enum keys_action {
    KEYS_NONE,
    KEYS_HELP,
    KEYS_SAVE,
    KEYS_OPEN,
    KEYS_PRINT,
    KEYS_QUIT,
    KEYS_FIND,
    KEYS_FIND_NEXT,
    KEYS_EDIT_FIELD,
    KEYS_TOGGLE,
    KEYS_RESET,
    KEYS_UP,
    KEYS_DOWN,
    KEYS_PAGE_UP,
    KEYS_PAGE_DOWN,
    KEYS_HOME,
    KEYS_END,
    KEYS_NEXT_SECTION,
    KEYS_PREV_SECTION,
    KEYS_REDRAW,
    KEYS_ACCEPT,          /* KEYS_EDIT screen: documentation only (CDK handles them) */
    KEYS_CANCEL,
    KEYS_BROWSE,
    KEYS_START_RUN,       /* forms: check the preset and start a run */
    KEYS_MONITOR_VIEW,    /* forms: open the run monitor; monitor: back to the forms */
    KEYS_STOP_RUN,        /* monitor */
    KEYS_PAUSE_RUN,       /* monitor: pause or resume */
    KEYS_QUEUE,           /* forms: add the preset to the run queue */
} keys_action;

typedef struct keys_binding {
    keys_action action;
    int key, alt, alt2;      /* curses key codes; 0 = none */
    const char *key_name;    /* "F2", "Enter" */
    const char *alt_name;    /* "s", NULL */
    const char *label;       /* short word for the hint bar, NULL = not in the bar */
    const char *description; /* one line for help and the man page */
    unsigned screens;        /* keys_screen bits */
} keys_binding;

extern const keys_binding keys_table[];
extern const size_t keys_count;

/* The action bound to key `ch` on `screen`, KEYS_NONE if none. */
keys_action keys_lookup(int ch, keys_screen screen);

/* The hint bar for `screen` as plain ASCII, cut at whole items to fit `width` columns.
 * Pieces alternate: key text, then label; spans[] gets the [start, end) of each key text so
 * the caller can highlight it. Returns the number of keys shown. */
int keys_hint_bar(keys_screen screen, int width, char *buf, size_t size, int spans[][2],
                  int max_spans);

/* Help-screen lines ("F2, s        Save the preset..."), malloc'd, NULL-terminated. */
char **keys_help_lines(unsigned screens);
void keys_free_lines(char **lines);

/* An mdoc(7) list of the bindings (.Bl -tag ... .El) for loratty(1)'s KEYS section. */
void keys_print_mdoc(FILE *out);

#endif
