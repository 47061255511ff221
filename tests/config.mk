# tests/config.mk — configs, the CLI, plans and bucketing.
check_PROGRAMS += tests/test_buckets tests/test_config tests/test_additional_parameters
TESTS += tests/test_buckets tests/test_config tests/test_additional_parameters tests/cli_errors.sh tests/import_fixtures.sh tests/cli_check.sh
tests_test_buckets_LDADD = $(TEST_LIBS)
tests_test_config_LDADD = $(TEST_LIBS)
tests_test_additional_parameters_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/cli_errors.sh tests/import_fixtures.sh tests/cli_check.sh
