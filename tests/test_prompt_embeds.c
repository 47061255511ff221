/* test_prompt_embeds.c — prompts with attention weights on the tiny SD1 model
 * (tests/fixtures/checkpoint-sd1 with pipeline-sd1's configs) against the golden fixture of
 * tests/golden/make_prompt_weight_fixtures.py (tests/fixtures/prompt-weights: cases.json names
 * each case's texts, data.safetensors holds the conditioning transformers' CLIPTextModel gives
 * through sd-scripts' formulas):
 *   - sample cases: sample_prompt_rows and sample_prompt_encode (the SD1/SD2 sample pipeline:
 *     weighted rows rescaled to the old mean, 1..3 concatenated windows for the longer of prompt
 *     and negative, a negative prompt only with guidance, SD2's pad-id rules) — T and every
 *     value ≤ 1e-5 relative to the largest (exact means), ≤ 1e-3 to the variant with torch's
 *     float32 means, whose rounding sd-scripts' near-zero means amplify;
 *   - caption cases: sd_encode_prompt_weighted (weighted_captions: joined windows, weighted
 *     rows, no rescaling) for max_token_length 75 / 150 / 225, one cut at 150 tokens, with its
 *     window ids equal to the fixture's. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/prompt_weights.h"
#include "engine/models/sd_model.h"
#include "engine/sample/sample_prompt.h"
#include "tests/golden_fixture.h"

#define TOL 1e-5
#define TOL_F32 1e-3

static void caption_ids(sd_model *m, const char *text, int mtl, const safetensors_file *f, const char *name)
{
    int toks[225], ids[3 * 77], n = 0;
    float w[225];
    error_info err = {0};
    int n_tok = mtl ? mtl : 75;
    int nt = prompt_tokenize_weighted(m->tok[0], text, n_tok, toks, w, NULL, &err);
    CHECK(nt >= 0 && clip_windows_from_ids(m->tok[0], toks, nt, mtl, m->pad[0], ids, &n, &err) == 0,
          "%s: %s", name, err.message);
    const safetensors_tensor *t = safetensors_find(f, name);
    CHECK(t && t->nelements == (size_t)n * 77, "%s: %d windows, fixture %zu ids", name, n,
          t ? t->nelements : 0);
    for (int i = 0; t && t->nelements == (size_t)n * 77 && i < n * 77; i++)
        CHECK(ids[i] == ((const int32_t *)t->data)[i], "%s[%d]: %d, want %d", name, i, ids[i],
              ((const int32_t *)t->data)[i]);
}

static void run_case(sd_model *m, const safetensors_file *f, const char *name, json_t *c)
{
    const char *kind = json_string_value(json_object_get(c, "kind"));
    const char *prompt = json_string_value(json_object_get(c, "prompt"));
    json_t *neg = json_object_get(c, "negative");
    int clip_skip = (int)json_integer_value(json_object_get(c, "clip_skip"));
    int mtl = (int)json_integer_value(json_object_get(c, "max_token_length"));
    m->pad[0] = json_is_true(json_object_get(c, "pad0")) ? CLIP_PAD_ZERO : CLIP_PAD_EOS;
    char key[128];
    snprintf(key, sizeof key, "%s.ctx", name);
    size_t n_ref = 0;
    float *ref = fixture_tensor(f, key, &n_ref);
    const int D = sd_model_context_dim(m);
    error_info err = {0};
    int T = 0, B = 1;
    float *got = NULL;
    if (!strcmp(kind, "sample")) {
        sample_params p = {.prompt = prompt, .negative = json_string_value(neg),
                           .cfg = json_is_null(neg) ? 1.0f : 6.0f, .clip_skip = clip_skip};
        B = json_is_null(neg) ? 1 : 2;
        if (sample_prompt_rows(m, &p, &T, &err) == 0 && (got = malloc((size_t)B * T * D * sizeof(float))))
            CHECK(sample_prompt_encode(m, &p, got, NULL, &err) == 0, "%s: %s", name, err.message);
    } else {
        T = sd_model_context_rows(mtl);
        if ((got = malloc((size_t)T * D * sizeof(float))))
            CHECK(sd_encode_prompt_weighted(m, prompt, clip_skip, mtl, got, &T, NULL, &err) == 0,
                  "%s: %s", name, err.message);
        snprintf(key, sizeof key, "%s.ids", name);
        caption_ids(m, prompt, mtl, f, key);
    }
    CHECK(got && ref && n_ref == (size_t)B * T * D, "%s: %d × %d rows, the fixture has %zu values: %s",
          name, B, T, n_ref, err.message);
    if (got && ref && n_ref == (size_t)B * T * D) {
        double e = fixture_rel_err(got, ref, n_ref);
        CHECK(e <= TOL, "%s: relative error %.3g", name, e);
        printf("%s  %-18s [%d, %d, %d] rel err %.2g", e <= TOL ? "ok  " : "FAIL", name, B, T, D, e);
        snprintf(key, sizeof key, "%s.ctx_f32", name);
        float *f32 = safetensors_find(f, key) ? fixture_tensor(f, key, NULL) : NULL;
        if (f32) {   /* sd-scripts' own float32 means: their rounding, nothing more */
            double e32 = fixture_rel_err(got, f32, n_ref);
            CHECK(e32 <= TOL_F32, "%s: relative error %.3g to the float32-mean variant", name, e32);
            printf(" (to sd-scripts' float32 means %.2g)", e32);
        }
        printf("\n");
        free(f32);
    }
    free(got);
    free(ref);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char model[1024], cfgdir[1024], data[1100], cases[1100];
    snprintf(model, sizeof model, "%s/tests/fixtures/checkpoint-sd1/model.safetensors", top ? top : ".");
    snprintf(cfgdir, sizeof cfgdir, "%s/tests/fixtures/pipeline-sd1", top ? top : ".");
    snprintf(data, sizeof data, "%s/tests/fixtures/prompt-weights/data.safetensors", top ? top : ".");
    snprintf(cases, sizeof cases, "%s/tests/fixtures/prompt-weights/cases.json", top ? top : ".");
    error_info err = {0};
    sd_model *m = NULL;
    safetensors_file *f = NULL;
    json_error_t jerr;
    json_t *all = json_load_file(cases, 0, &jerr);
    if (!all || sd_model_load(model, NULL, cfgdir, &m, &err) != 0 || safetensors_open(data, &f, &err) != 0) {
        fprintf(stderr, "FAIL setup: %s %s\n", err.message, all ? "" : jerr.text);
        return 1;
    }
    const char *name;
    json_t *c;
    int n = 0;
    json_object_foreach(all, name, c) {
        run_case(m, f, name, c);
        n++;
    }
    CHECK(n >= 10, "only %d cases in %s", n, cases);
    json_decref(all);
    safetensors_close(f);
    sd_model_free(m);
    return failures != 0;
}
