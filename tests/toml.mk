# tests/toml.mk — the TOML reader and writer: unit tests, the toml-test conformance run,
# and the toml-test decoder/encoder programs.
check_PROGRAMS += tests/test_toml_conformance tests/toml-decoder tests/toml-encoder
TESTS += tests/test_toml_conformance

tests_test_toml_conformance_SOURCES = tests/test_toml_conformance.c \
	tests/toml-decoder.c tests/toml-encoder.c
tests_test_toml_conformance_CPPFLAGS = $(AM_CPPFLAGS) -DTOML_JSON_NO_MAIN
tests_test_toml_conformance_LDADD = $(TEST_LIBS)
tests_toml_decoder_SOURCES = tests/toml-decoder.c
tests_toml_decoder_LDADD = $(TEST_LIBS)
tests_toml_encoder_SOURCES = tests/toml-encoder.c
tests_toml_encoder_LDADD = $(TEST_LIBS)
