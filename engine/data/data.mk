# engine/data/data.mk — the training data pipeline: images, captions, batches, latent cache.
libloratty_a_SOURCES += \
	engine/data/image_load.c engine/data/image_load.h \
	engine/data/image_resize.c engine/data/image_resize.h \
	engine/data/data_rng.h engine/data/captions.c engine/data/captions.h \
	engine/data/reg_balance.c engine/data/reg_balance.h \
	engine/data/batches.c engine/data/batches.h \
	engine/data/latent_cache.c engine/data/latent_cache.h \
	engine/data/color_aug.c engine/data/color_aug.h \
	engine/data/face_crop.c engine/data/face_crop.h \
	engine/data/loss_mask.c engine/data/loss_mask.h \
	engine/data/py_random.c engine/data/py_random.h
# the dataset scan's other files (beside engine/dataset.c): each subset's options through
# sd-scripts' levels, fine-tuning subsets from a metadata file, masked_loss's conditioning
# images, the validation split, cache_info's metadata_cache.json
libloratty_a_SOURCES += engine/dataset_options.c engine/dataset_finetune.c \
	engine/dataset_conditioning.c engine/dataset_split.c engine/dataset_cache_info.c \
	engine/dataset_internal.h
