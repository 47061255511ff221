# engine/lora/lora.mk — LoRA networks and their files.
libloratty_a_SOURCES += engine/lora/lora_file.c engine/lora/lora_file.h
