# engine/models/unet.mk — build fragment (owned by the unet work).
