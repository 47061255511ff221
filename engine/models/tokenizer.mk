# engine/models/tokenizer.mk — build fragment (owned by the tokenizer work): CLIP's BPE
# tokenizer and its vocabulary, installed as $(pkgdatadir)/clip/, and the attention weights of
# prompts (prompt_weights.c).
libloratty_a_SOURCES += engine/models/tokenizer.c engine/models/tokenizer.h \
	engine/models/tokenizer_text.c engine/models/tokenizer_text.h \
	engine/models/tokenizer_unicode.inc engine/models/tokenizer_ftfy.c \
	engine/models/tokenizer_ftfy.h engine/models/tokenizer_ftfy.inc \
	engine/models/prompt_weights.c engine/models/prompt_weights.h
clipdir = $(pkgdatadir)/clip
dist_clip_DATA = share/clip/bpe_simple_vocab_16e6.txt.gz share/clip/LICENSE-open_clip
