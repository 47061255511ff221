# tests/validation.mk — the validation loss (validation_split): the split, the plan, and
# loratty --run with validation (tests/run_validation.sh).
check_PROGRAMS += tests/test_validation_split
TESTS += tests/test_validation_split
tests_test_validation_split_LDADD = $(TEST_LIBS)
TESTS += tests/run_validation.sh
EXTRA_DIST += tests/run_validation.sh
