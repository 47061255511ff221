# tests/lora_variants.mk — LoHa / LoKr adapters, LoRA-FA, DyLoRA and the LoRA dropouts.
check_PROGRAMS += tests/test_network_variants
TESTS += tests/test_network_variants
tests_test_network_variants_LDADD = $(GRADCHECK_LIBS)
EXTRA_DIST += tests/golden/make_lycoris_fixtures.py tests/fixtures/lycoris-layers/config.json \
	tests/fixtures/lycoris-layers/inputs.safetensors tests/fixtures/lycoris-layers/outputs.safetensors \
	tests/fixtures/lycoris-layers/grads.safetensors \
	tests/golden/make_lycoris_network_fixtures.py tests/fixtures/lycoris-network/expected.json
check_PROGRAMS += tests/test_network_lora_fa
TESTS += tests/test_network_lora_fa
tests_test_network_lora_fa_LDADD = $(GRADCHECK_LIBS)
check_PROGRAMS += tests/test_network_dylora
TESTS += tests/test_network_dylora
tests_test_network_dylora_LDADD = $(GRADCHECK_LIBS)
# lora_diff: which LoRA tensors a run changed (tests/run_headless_variants.sh)
check_PROGRAMS += tests/lora_diff
tests_lora_diff_LDADD = $(TEST_LIBS)
