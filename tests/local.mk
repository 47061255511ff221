# tests/local.mk — the test suite; each module's tests live in their own fragment.
include tests/toml.mk
include tests/params.mk
include tests/config.mk
include tests/kernels.mk
include tests/tui.mk
include tests/safetensors.mk
include tests/kernels_attention.mk
include tests/cuda.mk
include tests/models.mk
include tests/tokenizer.mk
include tests/unet.mk
include tests/clip_vae.mk
include tests/checkpoint.mk
include tests/lora.mk
include tests/train_math.mk
include tests/run.mk
include tests/train.mk
