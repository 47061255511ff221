/* prompt_weights.h — attention weights in prompts and captions, "a (red:1.3) ring, [blurry]",
 * read as sd-scripts reads them: its parse_prompt_attention (the AUTOMATIC1111 syntax of 2022,
 * the same function in library/lpw_stable_diffusion.py, sdxl_lpw_stable_diffusion.py and
 * strategy_base.py) and get_prompts_with_weights (each parsed piece tokenized on its own, its
 * weight given to each of its tokens). One parser for the sample images (engine/sample) and
 * for training with weighted_captions (engine/models/sd_model.c, engine/train).
 *
 * Syntax: (text) multiplies the weights inside by 1.1, [text] by 1/1.1, (text:w) by w; \( \)
 * \[ \] \\ are literal characters and a lone \ is dropped; a bracket that never closes
 * applies to the end of the text, a closing bracket without an opener is literal text. Runs
 * of equal weight are merged. There is no BREAK keyword: "BREAK" is a word. */
#ifndef LORATTY_PROMPT_WEIGHTS_H
#define LORATTY_PROMPT_WEIGHTS_H

#include <stddef.h>

#include "engine/models/tokenizer.h"
#include "error.h"

typedef struct prompt_span {
    size_t off, len;      /* the piece's text: prompt_attention.text + off, len bytes */
    double weight;        /* products in double, in sd-scripts' order (Python floats) */
} prompt_span;

typedef struct prompt_attention {
    char *text;           /* every piece's text, escapes resolved, one after the other */
    prompt_span *spans;
    size_t count;         /* ≥ 1: an empty text is one empty piece of weight 1 */
} prompt_attention;

/* Parses len bytes of text. Fails (with err naming the text) only when out of memory or on a
 * weight that is no number, as "(a:1.2.3)", where sd-scripts stops with Python's ValueError. */
int prompt_attention_parse(const char *text, size_t len, prompt_attention *out, error_info *err);
void prompt_attention_free(prompt_attention *pa);

/* get_prompts_with_weights: token ids (no BOS/EOS) and their weights (float, as torch.tensor
 * makes them) of text, at most max of each (sd-scripts truncates there). Returns the count,
 * or -1 with err filled; *truncated (may be NULL) tells whether tokens were cut. */
int prompt_tokenize_weighted(const clip_tokenizer *tok, const char *text, int max, int *ids,
                             float *weights, int *truncated, error_info *err);

/* encode_tokens_with_weights of strategy_sd.py / strategy_sdxl.py on the joined rows
 * (BOS, 75 states per window, last state): row r = 1 .. T − 2 is multiplied by the weight of
 * token r − 1 (1 past the n_w given); the first and last rows keep theirs. `rows` has row
 * stride ld, and columns col .. col + C are scaled. No mean rescaling (the sample pipeline of
 * SD1/SD2 has one, engine/sample/sample_prompt.c). The gradient goes back through the same
 * call. */
void prompt_weight_rows(float *rows, int T, int ld, int col, int C, const float *w, int n_w);

#endif
