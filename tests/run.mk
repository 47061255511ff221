# tests/run.mk — the event stream, run directories and the run monitor.
check_PROGRAMS += tests/test_events
TESTS += tests/test_events
tests_test_events_LDADD = $(TEST_LIBS)
# tmux: a real --run in a run directory, then the monitor replaying a recorded run
TESTS += tests/run_attach.sh
EXTRA_DIST += tests/run_attach.sh tests/fixtures/runs/make_recorded.py \
	tests/fixtures/runs/recorded/events.jsonl
