# tests/kernels.mk — gradient checks of the dense kernels and the shared harness.
# tests/gradcheck.c is linked into every gradient test (attention/loss tests too).
noinst_LIBRARIES += tests/libgradcheck.a
tests_libgradcheck_a_SOURCES = tests/gradcheck.c tests/gradcheck.h
GRADCHECK_LIBS = tests/libgradcheck.a $(TEST_LIBS)

check_PROGRAMS += tests/test_gradcheck
TESTS += tests/test_gradcheck
tests_test_gradcheck_LDADD = $(GRADCHECK_LIBS)

check_PROGRAMS += tests/test_linear_grad tests/test_conv2d_grad
TESTS += tests/test_linear_grad tests/test_conv2d_grad
tests_test_linear_grad_LDADD = $(GRADCHECK_LIBS)
tests_test_conv2d_grad_LDADD = $(GRADCHECK_LIBS)

check_PROGRAMS += tests/test_norm_grad
TESTS += tests/test_norm_grad
tests_test_norm_grad_LDADD = $(GRADCHECK_LIBS)

check_PROGRAMS += tests/test_activation_grad
TESTS += tests/test_activation_grad
tests_test_activation_grad_LDADD = $(GRADCHECK_LIBS)

check_PROGRAMS += tests/test_elementwise_grad
TESTS += tests/test_elementwise_grad
tests_test_elementwise_grad_LDADD = $(GRADCHECK_LIBS)

check_PROGRAMS += tests/test_backend
TESTS += tests/test_backend
tests_test_backend_LDADD = $(TEST_LIBS)
