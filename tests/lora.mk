# tests/lora.mk — LoRA networks and files.
check_PROGRAMS += tests/test_lora_file
TESTS += tests/test_lora_file
tests_test_lora_file_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fixtures/lora_file/expected.json tests/golden/make_lora_file_fixtures.py
