/* sample_prompt.h — the text conditioning of a sample image, prompt and negative prompt with
 * their attention weights (engine/models/prompt_weights.h), as sd-scripts' sample pipelines
 * build it:
 *
 *   SD1/SD2  StableDiffusionLongPromptWeightingPipeline (library/lpw_stable_diffusion.py,
 *            called with its default max_embeddings_multiples 3 whatever max_token_length
 *            says): each text's weighted tokens (at most 225), k = 1..3 windows for the longer
 *            of prompt and negative, BOS + tokens + EOS padding; k > 1: window i is ids
 *            75i .. 75i + 76 with BOS first and EOS last (SD2's tokenizer: EOS only over a
 *            plain token, and over a "!" (its pad id 0) after BOS). The windows' states are
 *            concatenated, not joined: 77·k rows. Each row times its token's weight (1 for
 *            BOS, EOS and padding), then the whole rescaled so its mean is what it was
 *            (previous_mean / current_mean).
 *   SDXL     SdxlStableDiffusionLongPromptWeightingPipeline, which calls the training
 *            strategies' tokenize_with_weights / encode_tokens_with_weights: max_token_length
 *            windows joined, weighted rows, no rescaling (sd_encode_prompt_weighted).
 *
 * The negative prompt is encoded only with guidance (cfg > 1), "" when none is given. */
#ifndef LORATTY_SAMPLE_PROMPT_H
#define LORATTY_SAMPLE_PROMPT_H

#include "engine/sample/sample.h"

/* The context rows T the sample's texts give (SD1/2: 77, 154 or 231; SDXL: 77, 152, 227), to
 * plan the U-Net before sample_prompt_encode. */
int sample_prompt_rows(sd_model *m, const sample_params *p, int *T, error_info *err);

/* ctx [B, T, D] and, SDXL, pooled [B, P] (B = 2 with guidance, the negative first, as
 * diffusers batches them; else 1), T from sample_prompt_rows. */
int sample_prompt_encode(sd_model *m, const sample_params *p, float *ctx, float *pooled,
                         error_info *err);

#endif
