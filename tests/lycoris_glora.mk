# tests/lycoris_glora.mk — LyCORIS' glora on single Linear and Conv2d layers against LyCORIS itself
# (fixtures from tests/golden/make_glora_fixtures.py) and finite differences.
check_PROGRAMS += tests/test_lycoris_glora
TESTS += tests/test_lycoris_glora
tests_test_lycoris_glora_LDADD = $(GRADCHECK_LIBS)
EXTRA_DIST += tests/golden/make_glora_fixtures.py tests/fixtures/lycoris-glora/config.json \
	tests/fixtures/lycoris-glora/inputs.safetensors tests/fixtures/lycoris-glora/outputs.safetensors \
	tests/fixtures/lycoris-glora/grads.safetensors
