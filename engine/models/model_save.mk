# engine/models/model_save.mk — build fragment: new randomly initialised models and whole-model
# single-file (LDM layout) saves, with the --new-model command line.
libloratty_a_SOURCES += engine/models/sd_model_init.c engine/models/sd_model_save.c \
	engine/models/ldm_unmap.c engine/models/ldm_unmap.h \
	engine/models/new_model_cli.c engine/models/new_model_cli.h
