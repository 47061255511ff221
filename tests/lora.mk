# tests/lora.mk — LoRA networks and files.
check_PROGRAMS += tests/test_lora_file
TESTS += tests/test_lora_file
tests_test_lora_file_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fixtures/lora_file/expected.json tests/golden/make_lora_file_fixtures.py
TESTS += tests/lora_in_diffusers.sh
EXTRA_DIST += tests/lora_in_diffusers.sh tests/golden/check_lora_in_diffusers.py \
	tests/fixtures/lora-in-diffusers/lora.safetensors tests/fixtures/lora-in-diffusers/result.json
