/* tui.h — the interactive terminal UI: `loratty [PRESET]`.
 *
 * The TUI edits a config with forms built from the parameter table and saves it as a preset.
 * It never trains. src/main.c calls tui_main(); `loratty --keys-mdoc` calls keys_print_mdoc()
 * (tui/keys.h). */
#ifndef LORATTY_TUI_TUI_H
#define LORATTY_TUI_TUI_H

#include "tui/term.h"

typedef struct tui_options {
    term_sixel_mode sixel;   /* --sixel=auto|on|off, for the run monitor's sample images */
    const char *datadir;     /* shipped presets live in DATADIR/presets; NULL = $LORATTY_DATADIR,
                                else the compiled-in LORATTY_DATADIR */
} tui_options;

/* Runs the UI until the user quits. preset_path may be NULL (a new, unnamed preset) or name a
 * file that does not exist yet (it is created on save). Returns the process exit status:
 * 0, 2 when the preset cannot be loaded or there is no terminal, 1 when curses cannot start (the reason is
 * printed on stderr). The terminal is restored on every way out, signals included. */
int tui_main(const char *preset_path, const tui_options *opts);

#endif
