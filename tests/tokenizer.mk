# tests/tokenizer.mk — tests of the tokenizer work: CLIP BPE against transformers' slow
# CLIPTokenizer with ftfy (fix_text included) and sd-scripts' windows (corpus and ftfy texts
# from tests/golden/make_tokenizer_corpus.py).
check_PROGRAMS += tests/test_tokenizer
TESTS += tests/test_tokenizer
tests_test_tokenizer_LDADD = $(TEST_LIBS)
EXTRA_DIST += tests/golden/make_tokenizer_corpus.py tests/golden/tokenizer_ftfy_tables.py \
	tests/fixtures/tokenizer/corpus.jsonl tests/fixtures/tokenizer/ftfy.jsonl
# the attention weights of prompts (engine/models/prompt_weights) on hand-worked examples
check_PROGRAMS += tests/test_prompt_weights
TESTS += tests/test_prompt_weights
tests_test_prompt_weights_LDADD = $(TEST_LIBS)
