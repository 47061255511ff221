# engine/models/unet.mk — build fragment (owned by the unet work).
libloratty_a_SOURCES += engine/models/unet.h engine/models/unet.c engine/models/unet_config.c \
	engine/models/unet_blocks.c engine/models/unet_plan.c engine/models/unet_forward.c
