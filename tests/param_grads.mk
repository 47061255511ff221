# tests/param_grads.mk — full-parameter gradients of the U-Net and CLIP against finite differences.
check_PROGRAMS += tests/test_param_grads
TESTS += tests/test_param_grads
tests_test_param_grads_LDADD = $(GRADCHECK_LIBS)
