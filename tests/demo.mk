# tests/demo.mk — the README's demo: a shortened run of share/demo/demo.toml on the shipped
# base model must move its samples toward the data set (tests/demo_score measures it).
# Expected to fail for now: the shipped tiny base model binds colours poorly, so the LoRA's
# samples change in shape (a ring appears) but not toward the data set's colours. An XPASS
# (a better base model) fails the suite: then take the test off this list.
check_PROGRAMS += tests/demo_score
tests_demo_score_LDADD = $(TEST_LIBS)
TESTS += tests/demo_learns.sh
XFAIL_TESTS = tests/demo_learns.sh
EXTRA_DIST += tests/demo_learns.sh
