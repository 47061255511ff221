# tests/sample.mk — tests of the sample work: the whole-model loader, the samplers and the
# txt2img pipeline against diffusers (tests/golden/make_pipeline_fixtures.py), and
# `loratty --sample`.
check_PROGRAMS += tests/test_sample
TESTS += tests/test_sample
tests_test_sample_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_pipeline_fixtures.py \
	tests/fixtures/pipeline-sd1/data.safetensors \
	tests/fixtures/pipeline-sd1/unet/config.json \
	tests/fixtures/pipeline-sd1/text_encoder/config.json \
	tests/fixtures/pipeline-sd1/vae/config.json \
	tests/fixtures/pipeline-sd1/scheduler/scheduler_config.json \
	tests/fixtures/pipeline-sd1/tokenizer/vocab.json \
	tests/fixtures/pipeline-sd1/tokenizer/merges.txt
TESTS += tests/sample_cli.sh
EXTRA_DIST += tests/sample_cli.sh
# prompts with attention weights: the sample pipeline's and weighted_captions' conditioning
# against tests/golden/make_prompt_weight_fixtures.py
check_PROGRAMS += tests/test_prompt_embeds
TESTS += tests/test_prompt_embeds
tests_test_prompt_embeds_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_prompt_weight_fixtures.py \
	tests/fixtures/prompt-weights/data.safetensors tests/fixtures/prompt-weights/cases.json
