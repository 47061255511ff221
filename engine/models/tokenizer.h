/* tokenizer.h — OpenAI CLIP's byte-level BPE tokenizer, id for id what transformers' slow
 * CLIPTokenizer (the one sd-scripts uses) gives in sd-scripts' environment, where ftfy 6.3.1 is
 * installed and cleans each caption first (tokenizer_ftfy.c), and sd-scripts' chunking of long
 * prompts (--max_token_length 150/225) into 77-token windows.
 *
 * Vocabulary sources: the merges file OpenAI/open_clip ship (bpe_simple_vocab_16e6.txt.gz,
 * installed as DATADIR/clip/) or a diffusers folder's tokenizer/vocab.json + merges.txt. */
#ifndef LORATTY_TOKENIZER_H
#define LORATTY_TOKENIZER_H

#include <stddef.h>

#include "error.h"

enum {
    CLIP_CHUNK_LEN = 77,  /* BOS + 75 tokens + EOS/pad: one text-encoder window */
    CLIP_CHUNK_TOKENS = 75,
    CLIP_MAX_CHUNKS = 3,  /* --max_token_length 225 */
};

/* How a prompt shorter than the window is padded: SD1 pads with <|endoftext|> (49407); SD2
 * and SDXL's second encoder (OpenCLIP bigG) pad with id 0, and sd-scripts then patches an EOS
 * into each chunk (see clip_encode_prompt). */
typedef enum { CLIP_PAD_EOS, CLIP_PAD_ZERO } clip_pad_mode;

typedef struct clip_tokenizer clip_tokenizer;

/* The vocabulary file's name under DATADIR/clip/. */
#define CLIP_VOCAB_GZ "bpe_simple_vocab_16e6.txt.gz"

/* Loads a gzip'd merges file the way open_clip builds its vocabulary: the 256 byte symbols,
 * the same with "</w>", one token per merge (48,894 merges), <|startoftext|>, <|endoftext|>. */
clip_tokenizer *clip_tokenizer_load_gz(const char *path, error_info *err);
/* Loads transformers' files (a diffusers folder's tokenizer/vocab.json and merges.txt). */
clip_tokenizer *clip_tokenizer_load_hf(const char *vocab_json, const char *merges_txt,
                                       error_info *err);
/* Loads DATADIR/clip/CLIP_VOCAB_GZ ($LORATTY_DATADIR, the installed data, or the source
 * tree's share/, as presets_datadir() finds it). */
clip_tokenizer *clip_tokenizer_load_default(error_info *err);
void clip_tokenizer_free(clip_tokenizer *tok);

int clip_tokenizer_bos(const clip_tokenizer *tok);
int clip_tokenizer_eos(const clip_tokenizer *tok);
int clip_tokenizer_vocab_size(const clip_tokenizer *tok);

/* Token ids of text (UTF-8), without BOS/EOS. Writes at most max ids and returns how many the
 * text has (more than max when it was cut), or -1 when out of memory. */
int clip_tokenize(const clip_tokenizer *tok, const char *text, int *ids, int max);
/* The same for len bytes that may hold NULs (which ftfy's remove_control_chars drops). */
int clip_tokenize_len(const clip_tokenizer *tok, const char *text, size_t len, int *ids, int max);

/* sd-scripts' tokenization for the SD1/SD2/SDXL text encoders: max_token_length 0 (unset) or
 * 75 gives one window, 150 two, 225 three. out_ids receives *chunks × CLIP_CHUNK_LEN ids, each
 * window BOS … EOS then padding. Returns 0 or -1 (bad length, out of memory) with err filled. */
int clip_encode_prompt(const clip_tokenizer *tok, const char *text, int max_token_length,
                       clip_pad_mode pad, int *out_ids, int *chunks, error_info *err);
int clip_encode_prompt_len(const clip_tokenizer *tok, const char *text, size_t len,
                           int max_token_length, clip_pad_mode pad, int *out_ids, int *chunks,
                           error_info *err);
/* The same windows from token ids already made (no BOS/EOS; more than max_token_length are
 * cut), as strategy_base.py builds them for weighted captions. */
int clip_windows_from_ids(const clip_tokenizer *tok, const int *ids, int n, int max_token_length,
                          clip_pad_mode pad, int *out_ids, int *chunks, error_info *err);

#endif
