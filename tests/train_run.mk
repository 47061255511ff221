# tests/train_run.mk — the training run end to end: loratty --run on the tiny SD1 checkpoint.
check_PROGRAMS += tests/test_train_run_files
tests_test_train_run_files_LDADD = $(TEST_LIBS)
TESTS += tests/run_headless.sh
EXTRA_DIST += tests/run_headless.sh
TESTS += tests/run_headless_sdxl.sh
EXTRA_DIST += tests/run_headless_sdxl.sh
TESTS += tests/run_headless_variants.sh
EXTRA_DIST += tests/run_headless_variants.sh
TESTS += tests/run_lycoris_algos.sh tests/run_lycoris_tucker.sh
EXTRA_DIST += tests/run_lycoris_algos.sh tests/run_lycoris_tucker.sh
check_PROGRAMS += tests/test_train_run
TESTS += tests/test_train_run
tests_test_train_run_LDADD = $(TEST_LIBS)
# the whole-weight training modes (training_mode finetune / vae)
check_PROGRAMS += tests/model_diff
tests_model_diff_LDADD = $(TEST_LIBS)
TESTS += tests/run_training_modes.sh
EXTRA_DIST += tests/run_training_modes.sh
# SDXL text encoder LoRA training: context / pooled / gradient checks, and the run's file checker
check_PROGRAMS += tests/test_train_run_sdxl
TESTS += tests/test_train_run_sdxl
tests_test_train_run_sdxl_LDADD = $(TEST_LIBS)
# weighted_captions end to end: training, samples, the export and the refusals
TESTS += tests/run_weighted_captions.sh
EXTRA_DIST += tests/run_weighted_captions.sh
