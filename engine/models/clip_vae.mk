# engine/models/clip_vae.mk — build fragment (owned by the clip_vae work): the CLIP text
# encoders and the VAE.
libloratty_a_SOURCES += engine/models/clip.c engine/models/clip_config.c engine/models/clip.h \
	engine/models/vae.c engine/models/vae_blocks.c engine/models/vae_config.c engine/models/vae.h \
	engine/models/vae_train.c engine/models/vae_train.h
