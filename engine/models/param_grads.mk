# engine/models/param_grads.mk — build fragment: full-parameter gradients of the U-Net and CLIP.
libloratty_a_SOURCES += engine/models/param_grads.c
