# kernels/local.mk — the op interface and its backends. The CPU ops are always built;
# kernels/cuda/ adds its own sources under `if HAVE_CUDA`.
libloratty_a_SOURCES += \
	kernels/kernels.h kernels/backend.h kernels/backend.c \
	kernels/ops_dense.h kernels/ops_attention.h kernels/ops_loss.h \
	kernels/cpu/linear.c kernels/cpu/conv2d.c kernels/cpu/groupnorm.c kernels/cpu/layernorm.c \
	kernels/cpu/activation.c kernels/cpu/elementwise.c kernels/cpu/resample.c kernels/cpu/reduce.c

# "config.h" resolves to src/config.h on the include path, so the CUDA switch comes as -D.
if HAVE_CUDA
AM_CPPFLAGS += -DHAVE_CUDA=1
endif

# kernels/cuda/: compiled by nvcc through a suffix rule ($< is the VPATH-resolved source, so
# out-of-tree builds work), archived into libloratty.a with the rest. nvcc gets no automake
# dependency tracking, so every object depends on all the CUDA headers instead.
KC_CUDA_HDR = kernels/cuda/cuda_backend.h kernels/cuda/cuda_ops.h kernels/cuda/common.cuh
KC_CUDA_SRC = kernels/cuda/backend.cu kernels/cuda/gemm.cu kernels/cuda/conv2d.cu \
	kernels/cuda/norm.cu kernels/cuda/activation.cu kernels/cuda/elementwise.cu \
	kernels/cuda/attention.cu kernels/cuda/amp.cu kernels/cuda/softmax.cu \
	kernels/cuda/embedding.cu kernels/cuda/timestep.cu kernels/cuda/dropout.cu \
	kernels/cuda/loss.cu
SUFFIXES += .cu
.cu.$(OBJEXT):
	$(AM_V_GEN)$(MKDIR_P) $(@D) && \
	$(NVCC) $(NVCCFLAGS) $(CUDA_CFLAGS) -I$(top_srcdir) -I$(top_builddir) -DHAVE_CUDA=1 \
		-c -o $@ $<
if HAVE_CUDA
libloratty_a_SOURCES += $(KC_CUDA_HDR) $(KC_CUDA_SRC)
$(KC_CUDA_SRC:.cu=.$(OBJEXT)): $(KC_CUDA_HDR) kernels/ops_dense.h kernels/ops_attention.h \
	kernels/ops_loss.h kernels/rng.h
else
EXTRA_DIST += $(KC_CUDA_HDR) $(KC_CUDA_SRC)
endif

# attention, embeddings, randomness, losses, the activation arena and checkpointing
libloratty_a_SOURCES += \
	kernels/rng.h kernels/arena.h kernels/arena.c kernels/checkpoint.h kernels/checkpoint.c \
	kernels/cpu/softmax.c kernels/cpu/attention.c kernels/cpu/timestep.c \
	kernels/cpu/embedding.c kernels/cpu/dropout.c kernels/cpu/loss.c
