# engine/local.mk — build fragment for engine/.
libloratty_a_SOURCES += \
	engine/dtype.c engine/dtype.h \
	engine/safetensors.c engine/safetensors_write.c engine/safetensors.h \
	engine/inspect.c engine/inspect.h
