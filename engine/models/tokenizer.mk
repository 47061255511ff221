# engine/models/tokenizer.mk — build fragment (owned by the tokenizer work).
