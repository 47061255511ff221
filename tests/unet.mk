# tests/unet.mk — tests of the unet work: parity with diffusers (forward, backward, LoRA).
check_PROGRAMS += tests/test_unet_parity
tests_test_unet_parity_LDADD = $(TEST_LIBS)
TESTS += tests/unet_parity.sh
EXTRA_DIST += tests/unet_parity.sh tests/golden/make_unet_fixtures.py \
	tests/fixtures/unet-sd1/config.json \
	tests/fixtures/unet-sd1/weights.safetensors \
	tests/fixtures/unet-sd1/inputs.safetensors \
	tests/fixtures/unet-sd1/outputs.safetensors \
	tests/fixtures/unet-sd1/grads.safetensors \
	tests/fixtures/unet-sd2/config.json \
	tests/fixtures/unet-sd2/weights.safetensors \
	tests/fixtures/unet-sd2/inputs.safetensors \
	tests/fixtures/unet-sd2/outputs.safetensors \
	tests/fixtures/unet-sd2/grads.safetensors \
	tests/fixtures/unet-sdxl/config.json \
	tests/fixtures/unet-sdxl/weights.safetensors \
	tests/fixtures/unet-sdxl/inputs.safetensors \
	tests/fixtures/unet-sdxl/outputs.safetensors \
	tests/fixtures/unet-sdxl/grads.safetensors
