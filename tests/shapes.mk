# tests/shapes.mk — the shapes data set (src/shapes.c) and `loratty --make-shapes`.
check_PROGRAMS += tests/test_shapes
TESTS += tests/test_shapes tests/make_shapes_cli.sh
tests_test_shapes_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/make_shapes_cli.sh
