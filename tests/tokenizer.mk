# tests/tokenizer.mk — tests of the tokenizer work.
