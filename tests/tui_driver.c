/* tui_driver.c — runs the form screen on its own, `tui_driver [PRESET]`, for the tmux tests
 * (tests/tui_*.sh) when the loratty binary cannot be used. */
#include <stdio.h>

#include "tui/tui.h"

int main(int argc, char **argv)
{
    tui_options opts = {TERM_SIXEL_OFF, NULL};
    return tui_main(argc > 1 ? argv[1] : NULL, &opts);
}
