# tests/e2e.mk — end-to-end tests of the terminal UI with real (CPU) training runs, in tmux.
TESTS += tests/tui_run_e2e.sh
EXTRA_DIST += tests/tui_run_e2e.sh
