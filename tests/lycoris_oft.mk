# tests/lycoris_oft.mk — LyCORIS' oft on single Linear and Conv2d layers against LyCORIS itself
# (fixtures from tests/golden/make_oft_fixtures.py) and finite differences.
check_PROGRAMS += tests/test_lycoris_oft
TESTS += tests/test_lycoris_oft
tests_test_lycoris_oft_LDADD = $(GRADCHECK_LIBS)
EXTRA_DIST += tests/golden/make_oft_fixtures.py tests/fixtures/lycoris-oft/config.json \
	tests/fixtures/lycoris-oft/inputs.safetensors tests/fixtures/lycoris-oft/outputs.safetensors \
	tests/fixtures/lycoris-oft/grads.safetensors
