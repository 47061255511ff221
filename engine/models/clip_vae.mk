# engine/models/clip_vae.mk — build fragment (owned by the clip_vae work).
