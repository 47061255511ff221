# src/local.mk — CLI, TOML, parameter table, configs, plans.
libloratty_a_SOURCES += \
	src/error.c src/error.h \
	src/fileio.c src/fileio.h \
	src/toml.c src/toml_scalar.c src/toml_write.c src/toml.h \
	src/params.c src/params.h src/params_model.inc src/params_basic.inc \
	src/params_advanced.inc src/params_dataset.inc \
	src/config.c src/config.h src/config_internal.h \
	src/config_load.c src/config_save.c src/config_validate.c src/config_sdscripts.c \
	src/network_types.c src/network_types.h \
	src/plan.c src/plan.h \
	src/presets.c src/presets.h
# the event stream and run directories (start, list, attach, control)
libloratty_a_SOURCES += src/events.c src/events.h src/run.c src/run.h
# Dreambooth/LoRA folder preparation (tui/prep.c shows it) and the run queue (--queue)
libloratty_a_SOURCES += src/dataset_prep.c src/dataset_prep.h src/queue.c src/queue.h
# the shapes data set that pretrains the demo base model (--make-shapes)
libloratty_a_SOURCES += src/shapes.c src/shapes_write.c src/shapes.h
