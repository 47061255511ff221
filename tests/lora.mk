# tests/lora.mk — LoRA networks and files.
check_PROGRAMS += tests/test_lora_file
TESTS += tests/test_lora_file
tests_test_lora_file_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fixtures/lora_file/expected.json tests/golden/make_lora_file_fixtures.py
TESTS += tests/lora_in_diffusers.sh
EXTRA_DIST += tests/lora_in_diffusers.sh tests/golden/check_lora_in_diffusers.py \
	tests/fixtures/lora-in-diffusers/lora.safetensors tests/fixtures/lora-in-diffusers/result.json
check_PROGRAMS += tests/test_torch_save
TESTS += tests/test_torch_save
tests_test_torch_save_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/check_torch_save.py tests/fixtures/torch-save/tensors.pt \
	tests/fixtures/torch-save/result.json tests/fixtures/torch-save/torch_written.pt \
	tests/fixtures/torch-save/whole.ckpt tests/fixtures/torch-save/evil.pt
