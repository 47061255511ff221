# tests/models.mk — model building blocks and parity with diffusers/transformers.
check_PROGRAMS += tests/test_layers_grad
TESTS += tests/test_layers_grad
tests_test_layers_grad_LDADD = $(GRADCHECK_LIBS)
# the shared soft assertion of the plain-C tests
EXTRA_DIST += tests/check.h
EXTRA_DIST += tests/fixture_dirs.h tests/tiny_sd1.h tests/bmp_fixture.h tests/golden_fixture.h
