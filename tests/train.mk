# tests/train.mk — the LoRA network and the training loop: golden parity with PyTorch.
check_PROGRAMS += tests/test_train_golden
TESTS += tests/test_train_golden
tests_test_train_golden_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_train_fixtures.py \
	tests/fixtures/train-sd1/config.json \
	tests/fixtures/train-sd1/inputs.safetensors \
	tests/fixtures/train-sd1/outputs.safetensors
check_PROGRAMS += tests/test_train_resume
TESTS += tests/test_train_resume
tests_test_train_resume_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/test_network
TESTS += tests/test_network
tests_test_network_LDADD = $(TEST_LIBS)
check_PROGRAMS += tests/test_train_ztsnr
TESTS += tests/test_train_ztsnr
tests_test_train_ztsnr_LDADD = $(TEST_LIBS)
