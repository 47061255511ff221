# tests/clip_vae.mk — tests of the clip_vae work.
