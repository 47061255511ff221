# tests/kernels_attention.mk — attention, embedding, softmax, dropout/RNG and loss ops, the
# activation arena and gradient checkpointing.
check_PROGRAMS += tests/test_attention_grad
TESTS += tests/test_attention_grad
tests_test_attention_grad_LDADD = $(GRADCHECK_LIBS)
