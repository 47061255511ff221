/* tokenizer_ftfy.h — ftfy.fix_text(text), as transformers' slow CLIPTokenizer calls it when ftfy
 * is installed (sd-scripts' requirements pin ftfy==6.3.1): ftfy 6.3.1's default TextFixerConfig,
 * every step exact, tables generated from ftfy itself (tokenizer_ftfy.inc):
 *   - fix_text's segmenting: one segment per line (through its "\n"), at most 1,000,000 code
 *     points; unescape_html="auto" is switched off for good at the first segment holding '<';
 *   - per segment, fix_and_explain's loop until nothing changes: unescape_html (HTML5 entities
 *     ending in ';', ftfy's upper-case ones, numeric references as html.unescape reads them),
 *     fix_encoding (the badness heuristic; re-encoding in ftfy's ten single-byte charmaps with
 *     restore_byte_a0 and replace_lossy_sequences, decoded as its utf-8-variants codec;
 *     decode_inconsistent_utf8; Latin-1 read as Windows-1252; fix_c1_controls), then
 *     fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes,
 *     fix_line_breaks, fix_surrogates, remove_terminal_escapes, remove_control_chars, NFC.
 * fix_surrogates is the identity here: text reaching it is decoded UTF-8, which holds no
 * surrogates, and no step makes one (html.unescape turns surrogate references into U+FFFD). */
#ifndef LORATTY_TOKENIZER_FTFY_H
#define LORATTY_TOKENIZER_FTFY_H

#include <stddef.h>
#include <stdint.h>

/* ftfy.fix_text on n code points (no surrogates). On success *out is a malloc'd array of *n_out
 * code points (free it) and 0 is returned; -1 when out of memory. */
int clip_ftfy_fix_text(const uint32_t *text, size_t n, uint32_t **out, size_t *n_out);

/* The same on UTF-8 (invalid bytes read as U+FFFD): a malloc'd NUL-terminated string of
 * *out_len bytes, NULL when out of memory. */
char *clip_ftfy_fix_text_utf8(const char *text, size_t len, size_t *out_len);

#endif
