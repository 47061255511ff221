# tests/toml.mk — the TOML reader and writer: unit tests, the toml-test conformance run,
# the toml-test decoder/encoder programs, and the libFuzzer target (make fuzz-toml).
check_PROGRAMS += tests/test_toml tests/test_toml_conformance tests/toml-decoder tests/toml-encoder
TESTS += tests/test_toml tests/test_toml_conformance

tests_test_toml_SOURCES = tests/test_toml.c
tests_test_toml_LDADD = $(TEST_LIBS)
tests_test_toml_conformance_SOURCES = tests/test_toml_conformance.c \
	tests/toml-decoder.c tests/toml-encoder.c
tests_test_toml_conformance_CPPFLAGS = $(AM_CPPFLAGS) -DTOML_JSON_NO_MAIN
tests_test_toml_conformance_LDADD = $(TEST_LIBS)
tests_toml_decoder_SOURCES = tests/toml-decoder.c
tests_toml_decoder_LDADD = $(TEST_LIBS)
tests_toml_encoder_SOURCES = tests/toml-encoder.c
tests_toml_encoder_LDADD = $(TEST_LIBS)

EXTRA_DIST += tests/fuzz/fuzz_toml.c tests/fuzz/README.md
CLEANFILES += tests/fuzz/fuzz_toml

# Not part of make check: needs clang with libFuzzer. Seeds are the toml-test valid cases.
FUZZ_TOML_SECONDS = 120
fuzz-toml:
	$(MKDIR_P) tests/fuzz tests/fuzz/toml-corpus
	clang -g -O1 -fsanitize=fuzzer,address,undefined -I$(top_srcdir)/src \
		$(top_srcdir)/tests/fuzz/fuzz_toml.c $(top_srcdir)/src/toml.c \
		$(top_srcdir)/src/toml_write.c $(top_srcdir)/src/toml_scalar.c $(top_srcdir)/src/error.c \
		-lm -o tests/fuzz/fuzz_toml
	tests/fuzz/fuzz_toml -max_total_time=$(FUZZ_TOML_SECONDS) tests/fuzz/toml-corpus \
		$(abs_top_srcdir)/../shared/toml-test/valid
.PHONY: fuzz-toml
