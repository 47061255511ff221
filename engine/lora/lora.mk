# engine/lora/lora.mk — LoRA networks and their files.
libloratty_a_SOURCES += engine/lora/lora_file.c engine/lora/lora_file.h \
	engine/lora/torch_save.c engine/lora/torch_save.h
libloratty_a_SOURCES += engine/lora/network.c engine/lora/network_save.c engine/lora/network.h
libloratty_a_SOURCES += engine/lora/loha.c engine/lora/lokr.c engine/lora/lycoris.h
libloratty_a_SOURCES += engine/lora/network_groups.c engine/lora/network_targets.c engine/lora/network_internal.h
libloratty_a_SOURCES += engine/lora/dylora.c
libloratty_a_SOURCES += engine/lora/delta.c engine/lora/tucker.c engine/lora/ia3.c engine/lora/glora.c engine/lora/oft.c
