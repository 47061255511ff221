# tests/lycoris_tucker.mk — LyCORIS' Tucker factors (use_tucker) of LoCon / LoHa / LoKr on Conv2d
# layers against LyCORIS itself (fixtures from tests/golden/make_lycoris_tucker_fixtures.py) and
# finite differences.
check_PROGRAMS += tests/test_lycoris_tucker
TESTS += tests/test_lycoris_tucker
tests_test_lycoris_tucker_LDADD = $(GRADCHECK_LIBS)
EXTRA_DIST += tests/golden/make_lycoris_tucker_fixtures.py tests/fixtures/lycoris-tucker/config.json \
	tests/fixtures/lycoris-tucker/inputs.safetensors tests/fixtures/lycoris-tucker/outputs.safetensors \
	tests/fixtures/lycoris-tucker/grads.safetensors
