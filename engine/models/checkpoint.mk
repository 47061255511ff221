# engine/models/checkpoint.mk — build fragment (owned by the checkpoint work): single-file and
# diffusers-folder checkpoint loading, LDM → diffusers key mapping, model family detection.
libloratty_a_SOURCES += engine/models/checkpoint.h engine/models/checkpoint.c \
	engine/models/checkpoint_detect.c engine/models/ldm_keys.c
