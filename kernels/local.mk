# kernels/local.mk — the op interface and its backends. The CPU ops are always built;
# kernels/cuda/ adds its own sources under `if HAVE_CUDA` (not in this fragment yet).
libloratty_a_SOURCES += \
	kernels/kernels.h kernels/backend.h kernels/backend.c \
	kernels/ops_dense.h kernels/ops_attention.h kernels/ops_loss.h \
	kernels/cpu/linear.c kernels/cpu/conv2d.c kernels/cpu/groupnorm.c kernels/cpu/layernorm.c \
	kernels/cpu/activation.c kernels/cpu/elementwise.c kernels/cpu/resample.c kernels/cpu/reduce.c

# "config.h" resolves to src/config.h on the include path, so the CUDA switch comes as -D.
if HAVE_CUDA
AM_CPPFLAGS += -DHAVE_CUDA=1
endif

# attention, embeddings, randomness, losses, the activation arena and checkpointing
libloratty_a_SOURCES += \
	kernels/rng.h kernels/arena.h kernels/arena.c kernels/checkpoint.h kernels/checkpoint.c \
	kernels/cpu/softmax.c kernels/cpu/attention.c kernels/cpu/timestep.c \
	kernels/cpu/embedding.c kernels/cpu/dropout.c kernels/cpu/loss.c
