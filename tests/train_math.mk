# tests/train_math.mk — optimizers, LR schedules, the noise schedule and loss weightings,
# each against fixtures from the reference Python implementations (tests/golden/).
check_PROGRAMS += tests/test_optimizers
TESTS += tests/test_optimizers
tests_test_optimizers_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_optimizer_fixtures.py \
	tests/fixtures/optim/adamw.safetensors tests/fixtures/optim/adamw_args.safetensors \
	tests/fixtures/optim/adamw8bit.safetensors tests/fixtures/optim/adamw8bit_args.safetensors \
	tests/fixtures/optim/adamw8bit_bnbcpu.safetensors \
	tests/fixtures/optim/lion.safetensors tests/fixtures/optim/sgdnesterov.safetensors \
	tests/fixtures/optim/adafactor.safetensors tests/fixtures/optim/adafactor_warmup.safetensors \
	tests/fixtures/optim/adafactor_manual.safetensors tests/fixtures/optim/prodigy.safetensors \
	tests/fixtures/optim/prodigy_args.safetensors tests/fixtures/optim/dadaptadam.safetensors \
	tests/fixtures/optim/dadaptadam_args.safetensors \
	tests/fixtures/optim/adamwschedulefree.safetensors

check_PROGRAMS += tests/test_lr_schedule
TESTS += tests/test_lr_schedule
tests_test_lr_schedule_LDADD = $(TEST_LIBS)
TESTS += tests/run_lr_scheduler_type.sh
EXTRA_DIST += tests/run_lr_scheduler_type.sh
EXTRA_DIST += tests/fixtures/optim/lr_schedules.json

check_PROGRAMS += tests/test_noise_schedule
TESTS += tests/test_noise_schedule
tests_test_noise_schedule_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/fixtures/optim/noise.safetensors
