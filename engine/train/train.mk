# engine/train/train.mk — build fragment for the training math: optimizers, LR schedules,
# the DDPM noise schedule and the loss weightings.
libloratty_a_SOURCES += engine/train/pyliteral.c engine/train/pyliteral.h \
	engine/train/optimizer.h engine/train/optimizer_impl.h \
	engine/train/optimizer.c engine/train/optimizer_args.c \
	engine/train/optimizer_adamw.c engine/train/optimizer_adamw8bit.c \
	engine/train/optimizer_lion.c engine/train/optimizer_sgd.c \
	engine/train/optimizer_adafactor.c engine/train/optimizer_prodigy.c \
	engine/train/optimizer_dadapt.c engine/train/optimizer_schedulefree.c \
	engine/train/lr_schedule.c engine/train/lr_schedule.h \
	engine/train/noise_schedule.c engine/train/noise_schedule.h engine/train/noise.c engine/train/noise.h \
	engine/train/loss_weight.c engine/train/loss_weight.h
# the training step and loop (network + U-Net)
libloratty_a_SOURCES += engine/train/train.h engine/train/train_step.c engine/train/resume.c engine/train/resume.h
# TensorBoard event files for the training logs
libloratty_a_SOURCES += engine/train/tensorboard.c engine/train/tensorboard.h
# the whole training run (loop, data feeding, saves, metadata, settings from a config)
libloratty_a_SOURCES += engine/train/train_run.c engine/train/train_run.h \
	engine/train/train_run_internal.h engine/train/train_run_data.c engine/train/train_run_save.c \
	engine/train/train_run_config.c engine/train/train_run_config.h engine/train/train_metadata.c \
	engine/train/train_run_te.c engine/train/train_run_sample.c engine/train/train_run_full.c \
	engine/train/train_run_validate.c
