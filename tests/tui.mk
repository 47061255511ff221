# tests/tui.mk — unit tests of the TUI building blocks and tmux-driven tests of the form screen.
check_PROGRAMS += tests/test_plot tests/test_term tests/test_image
TESTS += tests/test_plot tests/test_term tests/test_image
tests_test_plot_LDADD = $(TEST_LIBS)
tests_test_term_LDADD = $(TEST_LIBS)
tests_test_image_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/test_keys
TESTS += tests/test_keys
tests_test_keys_LDADD = $(TEST_LIBS)
# The tmux tests drive the real `loratty PRESET`.
TESTS += tests/tui_edit_save.sh tests/tui_invalid.sh tests/tui_resize.sh tests/tui_quit.sh \
	tests/tui_training_mode.sh
EXTRA_DIST += tests/tui_lib.sh tests/tui_edit_save.sh tests/tui_invalid.sh tests/tui_resize.sh \
	tests/tui_quit.sh tests/tui_training_mode.sh
