/* keys.c — the key binding table and what is generated from it: the hint bar, the help
 * screen lines and the mdoc fragment for the man page. F-keys always come with a letter
 * because some terminals and multiplexers eat F-keys. */
#include "tui/keys.h"

#include <curses.h>
#include <stdlib.h>
#include <string.h>

#define CTRL_KEY(c) ((c) & 0x1f)

const keys_binding keys_table[] = {
    {KEYS_HELP, KEY_F(1), '?', 0, "F1", "?", "Help", "Show this list of keys", KEYS_FORM},
    {KEYS_SAVE, KEY_F(2), 's', 0, "F2", "s", "Save",
     "Save the preset (asks for a file name when it has none)", KEYS_FORM},
    {KEYS_OPEN, KEY_F(3), 'o', 0, "F3", "o", "Open",
     "Open a preset: shipped ones, your own in ~/.config/loratty/presets, or any path", KEYS_FORM},
    {KEYS_PRINT, KEY_F(4), 'p', 0, "F4", "p", "Command",
     "Show the sd-scripts run TOML and the accelerate command for this preset", KEYS_FORM},
    {KEYS_FIND, '/', 0, 0, "/", NULL, "Find", "Find a parameter by name and jump to it", KEYS_FORM},
    {KEYS_FIND_NEXT, 'n', 0, 0, "n", NULL, NULL, "Jump to the next parameter matching the last find",
     KEYS_FORM},
    {KEYS_EDIT_FIELD, '\n', '\r', KEY_ENTER, "Enter", NULL, "Edit",
     "Edit the field, or open or close the section", KEYS_FORM},
    {KEYS_TOGGLE, ' ', 0, 0, "Space", NULL, NULL,
     "Toggle a yes/no field, or open or close the section", KEYS_FORM},
    {KEYS_RESET, 'd', KEY_DC, 0, "d", "Delete", NULL, "Set the field back to its default",
     KEYS_FORM},
    {KEYS_UP, KEY_UP, 'k', 0, "Up", "k", NULL, "Move up", KEYS_FORM},
    {KEYS_DOWN, KEY_DOWN, 'j', 0, "Down", "j", NULL, "Move down", KEYS_FORM},
    {KEYS_PAGE_UP, KEY_PPAGE, 0, 0, "PgUp", NULL, NULL, "Move up a page", KEYS_FORM},
    {KEYS_PAGE_DOWN, KEY_NPAGE, 0, 0, "PgDn", NULL, NULL, "Move down a page", KEYS_FORM},
    {KEYS_HOME, KEY_HOME, 'g', 0, "Home", "g", NULL, "Go to the first line", KEYS_FORM},
    {KEYS_END, KEY_END, 'G', 0, "End", "G", NULL, "Go to the last line", KEYS_FORM},
    {KEYS_NEXT_SECTION, '\t', 0, 0, "Tab", NULL, NULL, "Go to the next section", KEYS_FORM},
    {KEYS_PREV_SECTION, KEY_BTAB, 0, 0, "Shift-Tab", NULL, NULL, "Go to the previous section",
     KEYS_FORM},
    {KEYS_REDRAW, CTRL_KEY('l'), 0, 0, "Ctrl-L", NULL, NULL, "Redraw the screen", KEYS_FORM},
    {KEYS_QUIT, KEY_F(10), 'q', 0, "F10", "q", "Quit", "Quit (asks first when there are unsaved changes)",
     KEYS_FORM},
    /* after Quit: at 80 columns the bar ends at Quit, wider terminals show these too */
    {KEYS_START_RUN, KEY_F(5), 'r', 0, "F5", "r", "Run",
     "Check the preset (saving it first) and start training it in the background; "
     "the run monitor opens", KEYS_FORM},
    {KEYS_MONITOR_VIEW, KEY_F(8), 'm', 0, "F8", "m", "Monitor",
     "Open the monitor of the latest run", KEYS_FORM},
    {KEYS_QUEUE, KEY_F(9), 'u', 0, "F9", "u", "Queue",
     "Add the preset to the run queue (saving it first); queued presets train one after "
     "another, the first as soon as no run is in progress (loratty --queue list)", KEYS_FORM},
    {KEYS_ACCEPT, '\n', KEY_ENTER, 0, "Enter", NULL, "Accept", "Accept the edited value", KEYS_EDIT},
    {KEYS_CANCEL, 27, 0, 0, "Esc", NULL, "Cancel", "Leave the editor; the old value stays", KEYS_EDIT},
    {KEYS_BROWSE, '\t', 0, 0, "Tab", NULL, "Browse", "In a path field: pick the file from a list",
     KEYS_EDIT},
    {KEYS_HELP, KEY_F(1), '?', 0, "F1", "?", "Help", "Show this list of keys", KEYS_MONITOR},
    {KEYS_STOP_RUN, KEY_F(6), 'x', 0, "F6", "x", "Stop",
     "Stop the run gracefully: it saves the LoRA (and its state with save_state), then ends (asks first)",
     KEYS_MONITOR},
    {KEYS_PAUSE_RUN, KEY_F(7), ' ', 0, "F7", "Space", "Pause", "Pause or resume the run",
     KEYS_MONITOR},
    {KEYS_MONITOR_VIEW, KEY_F(8), 'm', 0, "F8", "m", "Forms",
     "Back to the parameter forms; the run goes on", KEYS_MONITOR},
    {KEYS_REDRAW, CTRL_KEY('l'), 0, 0, "Ctrl-L", NULL, NULL, "Redraw the screen", KEYS_MONITOR},
    {KEYS_QUIT, KEY_F(10), 'q', 0, "F10", "q", "Quit",
     "Leave the monitor; the run goes on (loratty --attach shows it again)", KEYS_MONITOR},
};
const size_t keys_count = sizeof keys_table / sizeof keys_table[0];

keys_action keys_lookup(int ch, keys_screen screen)
{
    for (size_t i = 0; i < keys_count; i++) {
        const keys_binding *b = &keys_table[i];
        if (!(b->screens & screen))
            continue;
        if (ch == b->key || (b->alt && ch == b->alt) || (b->alt2 && ch == b->alt2))
            return b->action;
    }
    return KEYS_NONE;
}

int keys_hint_bar(keys_screen screen, int width, char *buf, size_t size, int spans[][2],
                  int max_spans)
{
    size_t len = 0;
    int n = 0;
    if (size == 0)
        return 0;
    buf[0] = 0;
    for (size_t i = 0; i < keys_count && n < max_spans; i++) {
        const keys_binding *b = &keys_table[i];
        if (!(b->screens & screen) || !b->label)
            continue;
        char keytext[32];
        /* a letter alternative is shown too ("F2/s"), longer ones only in the help */
        if (b->alt_name && strlen(b->alt_name) == 1)
            snprintf(keytext, sizeof keytext, "%s/%s", b->key_name, b->alt_name);
        else
            snprintf(keytext, sizeof keytext, "%s", b->key_name);
        size_t need = (len ? 1 : 0) + strlen(keytext) + 1 + strlen(b->label);
        if (len + need > (size_t)width || len + need + 1 > size)
            break;
        if (len)
            buf[len++] = ' ';
        spans[n][0] = (int)len;
        memcpy(buf + len, keytext, strlen(keytext));
        len += strlen(keytext);
        spans[n][1] = (int)len;
        buf[len++] = ' ';
        memcpy(buf + len, b->label, strlen(b->label));
        len += strlen(b->label);
        buf[len] = 0;
        n++;
    }
    return n;
}

static void key_names(const keys_binding *b, char *out, size_t size)
{
    if (b->alt_name)
        snprintf(out, size, "%s, %s", b->key_name, b->alt_name);
    else
        snprintf(out, size, "%s", b->key_name);
}

char **keys_help_lines(unsigned screens)
{
    char **lines = calloc(keys_count + 1, sizeof *lines);
    if (!lines)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < keys_count; i++) {
        const keys_binding *b = &keys_table[i];
        if (!(b->screens & screens))
            continue;
        char names[48];
        key_names(b, names, sizeof names);
        size_t sz = strlen(b->description) + 64;
        lines[n] = malloc(sz);
        if (!lines[n]) {
            keys_free_lines(lines);
            return NULL;
        }
        snprintf(lines[n], sz, "  %-16s %s", names, b->description);
        n++;
    }
    return lines;
}

void keys_free_lines(char **lines)
{
    if (!lines)
        return;
    for (size_t i = 0; lines[i]; i++)
        free(lines[i]);
    free(lines);
}

/* mdoc treats lone punctuation as delimiters; \& makes it a plain word. */
static void mdoc_word(FILE *out, const char *w)
{
    if (strlen(w) == 1 && strchr(".,:;()[]?!/|", w[0]))
        fprintf(out, "\\&%s", w);
    else
        fputs(w, out);
}

void keys_print_mdoc(FILE *out)
{
    static const struct { unsigned screen; const char *title; } groups[] = {
        {KEYS_FORM, "In the parameter forms:"},
        {KEYS_EDIT, "While a field is being edited:"},
        {KEYS_MONITOR, "In the run monitor:"},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        /* the caller opens the section, so no .Pp before the first group */
        fprintf(out, "%s%s\n.Bl -tag -width Ds\n", g ? ".Pp\n" : "", groups[g].title);
        for (size_t i = 0; i < keys_count; i++) {
            const keys_binding *b = &keys_table[i];
            if (!(b->screens & groups[g].screen))
                continue;
            fputs(".It Ic ", out);
            mdoc_word(out, b->key_name);
            if (b->alt_name) {
                fputs(" , Ic ", out);
                mdoc_word(out, b->alt_name);
            }
            fprintf(out, "\n%s.\n", b->description);
        }
        fputs(".El\n", out);
    }
}
