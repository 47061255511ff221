# engine/local.mk — build fragment for engine/.
libloratty_a_SOURCES += \
	engine/dtype.c engine/dtype.h \
	engine/safetensors.c engine/safetensors_write.c engine/safetensors.h \
	engine/torch_load.c engine/torch_load.h \
	engine/inspect.c engine/inspect.h
# the images of a run and sd-scripts' bucketing
libloratty_a_SOURCES += engine/dataset.c engine/dataset.h engine/buckets.c engine/buckets.h
# models: weights, layers (with LoRA injection points)
libloratty_a_SOURCES += engine/models/weights.c engine/models/weights.h \
	engine/models/layers.c engine/models/layers.h
include engine/models/tokenizer.mk
include engine/models/unet.mk
include engine/models/clip_vae.mk
include engine/models/param_grads.mk
include engine/models/checkpoint.mk
include engine/models/model_save.mk
include engine/lora/lora.mk
include engine/train/train.mk
include engine/sample/sample.mk
include engine/data/data.mk
