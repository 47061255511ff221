# tests/tensorboard.mk — the TensorBoard event writer against tensorboard's own event files.
check_PROGRAMS += tests/test_tensorboard
TESTS += tests/test_tensorboard
tests_test_tensorboard_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_tensorboard_fixtures.py \
	tests/fixtures/tensorboard/scalars.json tests/fixtures/tensorboard/scalars.tfevents \
	tests/fixtures/tensorboard/steps.json tests/fixtures/tensorboard/steps.tfevents
