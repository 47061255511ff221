/* captions.h — a training image's caption, read and processed exactly in the order of
 * sd-scripts' DreamBoothDataset.read_caption and BaseDataset.process_caption
 * (library/train_util.py at 48d368f):
 *
 *   read:    `<stem><caption_extension>`, else the face-crop stem (the path without its last
 *            four `_` fields when it has at least five); first line, stripped (with
 *            enable_wildcard: all non-empty lines joined by "\n"). No file: class tokens,
 *            else "". A file that exists but is empty (0 lines) or is not UTF-8 is an error,
 *            as sd-scripts asserts; a file whose first line is blank gives "" — NOT the
 *            class tokens (sd-scripts uses the class tokens only when there is no file).
 *   process: prefix/suffix (" "-joined) → caption dropout (rate, or every n-th epoch) → "" |
 *            wildcard (one random line of a multi-line caption, `{a|b}` choices, `{{ }}`
 *            escapes) or first line → when shuffle_caption / token warmup / tag dropout:
 *            split on caption_separator into fixed (keep_tokens, or the parts around
 *            keep_tokens_separator), flexible and fixed-suffix tokens, warm-up truncation,
 *            shuffle, tag dropout, joined with ", " → secondary_separator replaced by
 *            caption_separator.
 *
 * Random draws come from data_rng.h: deterministic per (seed, epoch, sample index), our own
 * sequence (see there). Python's str.strip() is applied as stripping ASCII whitespace. */
#ifndef LORATTY_DATA_CAPTIONS_H
#define LORATTY_DATA_CAPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine/data/data_rng.h"
#include "error.h"

typedef struct caption_settings {
    const char *caption_prefix, *caption_suffix;      /* NULL or "" = none */
    bool shuffle_caption;
    int keep_tokens;
    const char *keep_tokens_separator;                /* "" = none */
    const char *caption_separator;                    /* NULL = "," */
    const char *secondary_separator;
    bool enable_wildcard;
    double caption_dropout_rate;
    int caption_dropout_every_n_epochs;
    double caption_tag_dropout_rate;
    double token_warmup_step;                         /* < 1: fraction of max_train_steps */
    int token_warmup_min;
} caption_settings;

/* The caption file's text for an image: *out malloc'd, or NULL when there is no caption file
 * (then the caller uses the class tokens). Returns -1 with err naming the file when the file
 * is empty or not UTF-8. */
int caption_read(const char *image_path, const char *caption_extension, bool enable_wildcard,
                 char **out, error_info *err);

/* read_caption + sd-scripts' fallback: the file's caption, else class_tokens, else "". */
int caption_for_image(const char *image_path, const char *caption_extension,
                      bool enable_wildcard, const char *class_tokens, char **out,
                      error_info *err);

/* process_caption for one draw. epoch is sd-scripts' current_epoch (1-based during
 * training); step and max_train_steps feed the token warm-up. Returns a malloc'd string
 * (NULL only when out of memory). */
char *caption_process(const caption_settings *s, const char *caption, int epoch, long long step,
                      long long max_train_steps, data_rng *rng);

#endif
