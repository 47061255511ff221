# tests/lora_variants.mk — LoHa / LoKr adapters and the LoRA dropouts.
check_PROGRAMS += tests/test_network_variants
TESTS += tests/test_network_variants
tests_test_network_variants_LDADD = $(GRADCHECK_LIBS)
EXTRA_DIST += tests/golden/make_lycoris_fixtures.py tests/fixtures/lycoris-layers/config.json \
	tests/fixtures/lycoris-layers/inputs.safetensors tests/fixtures/lycoris-layers/outputs.safetensors \
	tests/fixtures/lycoris-layers/grads.safetensors \
	tests/golden/make_lycoris_network_fixtures.py tests/fixtures/lycoris-network/expected.json
