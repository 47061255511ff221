# tests/safetensors.mk — dtype conversion, safetensors reader/writer and --inspect tests.
check_PROGRAMS += tests/test_dtype tests/test_safetensors
TESTS += tests/test_dtype tests/test_safetensors
tests_test_dtype_LDADD = $(TEST_LIBS)
tests_test_safetensors_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fuzz/fuzz_safetensors.c
