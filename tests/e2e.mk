# tests/e2e.mk — end-to-end tests of the terminal UI with real (CPU) training runs on the tiny
# SD1 checkpoint, driven through tmux: a long run started, left, attached, paused and stopped
# (tui_run_e2e.sh); a short run that ends by itself, with samples (tui_run_finish.sh);
# attaching to a paused run (tui_attach_paused.sh).
TESTS += tests/tui_run_e2e.sh tests/tui_run_finish.sh tests/tui_attach_paused.sh
EXTRA_DIST += tests/tui_run_e2e.sh tests/tui_run_finish.sh tests/tui_attach_paused.sh
EXTRA_DIST += tests/tiny_run_lib.sh
