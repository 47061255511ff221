# tests/lora_apply.mk — LoRA and LyCORIS files applied at sampling time (engine/sample/lora_apply.c)
# against the training side's networks on the tiny SD1 model, and the files it refuses.
check_PROGRAMS += tests/test_lora_apply_lycoris
TESTS += tests/test_lora_apply_lycoris
tests_test_lora_apply_lycoris_LDADD = $(GRADCHECK_LIBS)
TESTS += tests/run_base_weights.sh
EXTRA_DIST += tests/run_base_weights.sh
