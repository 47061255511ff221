# tests/cuda.mk — the CUDA ops against their CPU references. Built in every configuration:
# without CUDA (or without a device) it skips with status 77.
check_PROGRAMS += tests/test_cuda_ops
TESTS += tests/test_cuda_ops
tests_test_cuda_ops_LDADD = $(GRADCHECK_LIBS)
