# tests/clip_vae.mk — tests of the clip_vae work: parity of the CLIP text encoders and the
# VAE with transformers / diffusers on the golden fixtures of tests/golden/make_clip_vae_fixtures.py.
check_PROGRAMS += tests/test_clip_parity
TESTS += tests/test_clip_parity
tests_test_clip_parity_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_clip_vae_fixtures.py \
	tests/fixtures/clip-sd1/config.json tests/fixtures/clip-sd1/weights.safetensors \
	tests/fixtures/clip-sd1/inputs.safetensors tests/fixtures/clip-sd1/outputs.safetensors \
	tests/fixtures/clip-sd1/grads.safetensors \
	tests/fixtures/clip-sdxl-te2/config.json tests/fixtures/clip-sdxl-te2/weights.safetensors \
	tests/fixtures/clip-sdxl-te2/inputs.safetensors tests/fixtures/clip-sdxl-te2/outputs.safetensors \
	tests/fixtures/clip-sdxl-te2/grads.safetensors \
	tests/fixtures/clip-eos/config.json tests/fixtures/clip-eos/weights.safetensors \
	tests/fixtures/clip-eos/inputs.safetensors tests/fixtures/clip-eos/outputs.safetensors \
	tests/fixtures/clip-eos/grads.safetensors
check_PROGRAMS += tests/test_vae_parity
TESTS += tests/test_vae_parity
tests_test_vae_parity_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fixtures/vae-sd/config.json tests/fixtures/vae-sd/weights.safetensors \
	tests/fixtures/vae-sd/inputs.safetensors tests/fixtures/vae-sd/outputs.safetensors \
	tests/fixtures/vae-sd/grads.safetensors
