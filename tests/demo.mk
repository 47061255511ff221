# tests/demo.mk — the README's demo: a shortened run of share/demo/demo.toml on the shipped
# base model must teach it the striped ring (tests/demo_score measures the samples).
check_PROGRAMS += tests/demo_score
tests_demo_score_LDADD = $(TEST_LIBS)
TESTS += tests/demo_learns.sh
EXTRA_DIST += tests/demo_learns.sh
