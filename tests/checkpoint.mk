# tests/checkpoint.mk — tests of the checkpoint work: LDM → diffusers mapping on full-size
# manifests, loading tiny real LDM files and diffusers folders, family detection.
check_PROGRAMS += tests/test_checkpoint
TESTS += tests/test_checkpoint
tests_test_checkpoint_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_manifests.py \
	tests/fixtures/manifests/sd15-diffusers.tsv tests/fixtures/manifests/sd15-ldm.tsv \
	tests/fixtures/manifests/sd21-768v-diffusers.tsv tests/fixtures/manifests/sd21-768v-ldm.tsv \
	tests/fixtures/manifests/sdxl-base-diffusers.tsv tests/fixtures/manifests/sdxl-base-ldm.tsv \
	tests/fixtures/checkpoint-sd1/model.safetensors tests/fixtures/checkpoint-sdxl/model.safetensors
