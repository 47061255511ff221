/* term.h — what the terminal can do: sixel graphics, cell size in pixels, UTF-8, colour.
 *
 * Sixel support and the cell size are asked from the terminal itself (DA1 and XTWINOPS
 * replies); the parsers work on byte strings so they are unit-tested without a terminal.
 * Also the overlay writer: UTF-8 rows and sixel bytes that bypass narrow curses. */
#ifndef LORATTY_TUI_TERM_H
#define LORATTY_TUI_TERM_H

#include <stdbool.h>
#include <stddef.h>

typedef enum term_sixel_mode {
    TERM_SIXEL_AUTO,
    TERM_SIXEL_ON,
    TERM_SIXEL_OFF,
} term_sixel_mode;

typedef struct term_caps {
    bool da1_seen;          /* the terminal answered DA1 */
    int da1_params[16];     /* CSI ? p1 ; p2 ; ... c */
    int da1_count;
    bool sixel;             /* DA1 listed 4 (or forced on) */
    int cell_w, cell_h;     /* pixels per cell, 0 when unknown */
    int win_w, win_h;       /* window pixels (CSI 14 t reply), 0 when unknown */
    bool utf8;              /* the locale's codeset is UTF-8 */
    bool color;             /* colours allowed (NO_COLOR unset) */
    /* keys typed while term_detect waited for the replies: the caller feeds them back to
     * curses (ungetch) so nothing the user typed is lost */
    unsigned char typeahead[64];
    int typeahead_len;
} term_caps;

/* Scans a buffer of terminal replies for DA1 (`ESC [ ? ... c`), cell size
 * (`ESC [ 6 ; h ; w t`) and window size (`ESC [ 4 ; h ; w t`) and fills what it finds.
 * Other bytes are skipped. Returns true when a complete DA1 reply was in the buffer. */
bool term_parse_replies(const unsigned char *buf, size_t len, term_caps *caps);

/* Parses a string `auto`, `on`, `off` (also yes/no/always/never); -1 if none. */
int term_sixel_mode_parse(const char *text);

/* Fills caps for the terminal on `fd` (before curses starts): UTF-8 from the locale, colour
 * from NO_COLOR, and, unless mode is OFF or fd is not a tty, asks cell size and DA1 with a
 * timeout of `timeout_ms`. mode ON forces sixel on. */
void term_detect(int fd, term_sixel_mode mode, int timeout_ms, term_caps *caps);

/* Writes UTF-8 or escape bytes at screen row/col (0-based) straight to fd, saving and
 * restoring the cursor (DECSC/DECRC) so curses' idea of it stays right. */
int term_overlay(int fd, int row, int col, const char *bytes, size_t len);

/* After initscr: in a UTF-8 locale the narrow ncurses that Debian's CDK links cannot draw
 * line-drawing characters on terminals that need Unicode for them (tmux, screen, the Linux
 * console) and prints the raw letters l, q, x instead; there, frames fall back to + - |. */
void term_fix_line_drawing(bool utf8);

#endif
