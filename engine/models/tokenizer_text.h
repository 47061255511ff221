/* tokenizer_text.h — the text half of the CLIP tokenizer: what transformers' slow
 * CLIPTokenizer does to a caption before BPE with ftfy installed, as in sd-scripts' environment:
 *   text = whitespace_clean(ftfy.fix_text(text)).lower()
 * (fix_text in tokenizer_ftfy.c; whitespace_clean folds each run of the regex module's \s into
 * one space and strips), then its pre-tokenizer pattern
 *   <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
 * (compiled with IGNORECASE). Unicode data comes from tokenizer_unicode.inc, generated from
 * the same Python functions by tests/golden/make_tokenizer_corpus.py. */
#ifndef LORATTY_TOKENIZER_TEXT_H
#define LORATTY_TOKENIZER_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* Called once per pre-token, in order, with its code points; a nonzero return stops the
 * split and is returned by clip_text_split. */
typedef int (*clip_piece_fn)(void *ctx, const uint32_t *cps, size_t n);

/* Cleans and splits one segment of text (UTF-8; invalid bytes read as U+FFFD). The caller has
 * already cut the exact special tokens out, as transformers does before calling _tokenize on
 * each piece. Returns 0, -1 when out of memory, or the callback's nonzero value. */
int clip_text_split(const char *text, size_t len, clip_piece_fn fn, void *ctx);

/* Python's text.strip().lower() (str.isspace() characters off both ends, then the full
 * lower-case mapping with final sigma), as sd-scripts normalises a tag. Invalid UTF-8 bytes
 * read as U+FFFD. Returns a malloc'd string, NULL when out of memory. */
char *clip_text_strip_lower(const char *text, size_t len);

/* Appends the UTF-8 form of cp to out (at most 4 bytes); returns the byte count. */
int clip_utf8_put(uint32_t cp, char *out);

/* Strict UTF-8 (no overlongs, surrogates or values past U+10FFFF) to code points, a bad byte
 * read as U+FFFD; out holds len. Returns the count. */
size_t clip_utf8_decode(const char *text, size_t len, uint32_t *out);

/* unicodedata.normalize("NFC", ...) of n code points: tmp holds 4 * n (the longest
 * decomposition is 4 code points), out as many; returns the length written to out. */
size_t clip_text_nfc(const uint32_t *in, size_t n, uint32_t *tmp, uint32_t *out);

#endif
