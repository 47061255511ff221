# tests/unet.mk — tests of the unet work.
