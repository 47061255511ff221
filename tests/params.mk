# tests/params.mk — the parameter table and the generated loratty.toml(5).
check_PROGRAMS += tests/test_params
TESTS += tests/test_params tests/man_lint.sh
tests_test_params_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/man_lint.sh
