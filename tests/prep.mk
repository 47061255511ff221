# tests/prep.mk — dataset folder preparation, the run queue, and the TUI's prep section (tmux).
check_PROGRAMS += tests/test_dataset_prep tests/test_queue
TESTS += tests/test_dataset_prep tests/test_queue
tests_test_dataset_prep_LDADD = $(TEST_LIBS)
tests_test_queue_LDADD = $(TEST_LIBS)
TESTS += tests/tui_prep.sh
EXTRA_DIST += tests/tui_prep.sh
