# tests/kernels_attention.mk — attention, embedding, softmax, dropout/RNG and loss ops, the
# activation arena and gradient checkpointing.
check_PROGRAMS += tests/test_attention_grad
TESTS += tests/test_attention_grad
tests_test_attention_grad_LDADD = $(GRADCHECK_LIBS)

check_PROGRAMS += tests/test_softmax_grad tests/test_embedding_grad tests/test_dropout \
	tests/test_loss_grad
TESTS += tests/test_softmax_grad tests/test_embedding_grad tests/test_dropout \
	tests/test_loss_grad
tests_test_softmax_grad_LDADD = $(GRADCHECK_LIBS)
tests_test_embedding_grad_LDADD = $(GRADCHECK_LIBS)
tests_test_dropout_LDADD = $(GRADCHECK_LIBS)
tests_test_loss_grad_LDADD = $(GRADCHECK_LIBS)

# --wrap lets the test count every allocation the library makes during training steps.
check_PROGRAMS += tests/test_arena
TESTS += tests/test_arena
tests_test_arena_LDADD = $(GRADCHECK_LIBS)
tests_test_arena_LDFLAGS = $(AM_LDFLAGS) -Wl,--wrap=malloc -Wl,--wrap=calloc \
	-Wl,--wrap=realloc -Wl,--wrap=aligned_alloc
