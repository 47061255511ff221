# engine/sample/sample.mk — build fragment (owned by the sample work): the whole-model loader
# (engine/models/sd_model), the samplers and the txt2img pipeline behind `loratty --sample`.
libloratty_a_SOURCES += engine/models/sd_model.c engine/models/sd_model.h
libloratty_a_SOURCES += engine/sample/sampler.c engine/sample/sampler.h engine/sample/sampler_dpm.c \
	engine/sample/sample.c engine/sample/sample.h \
	engine/sample/sample_prompt.c engine/sample/sample_prompt.h \
	engine/sample/png_write.c engine/sample/png_write.h
libloratty_a_SOURCES += engine/sample/lora_apply.c engine/sample/lora_apply.h
libloratty_a_SOURCES += engine/sample/sample_cli.c engine/sample/sample_cli.h
