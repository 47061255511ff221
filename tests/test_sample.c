/* test_sample.c — the whole txt2img pipeline against diffusers on the tiny SD1 model
 * (tests/fixtures/checkpoint-sd1 with the configs and small tokenizer of
 * tests/fixtures/pipeline-sd1, made by tests/golden/make_pipeline_fixtures.py):
 *   - sd_model_load of a single file with a config folder; token ids equal the Python
 *     tokenizer's; prompt embeddings equal diffusers' and the sd-scripts 150-token clip_skip 2
 *     conditioning equals the Python rewrite of strategy_sd.py (≤ 1e-4 relative);
 *   - each sampler (ddim, euler, euler_a with the fixture's noise, dpmsolver++), 4 steps at
 *     CFG 6 from the fixture's initial latents: the latents after every step (≤ 1e-4 relative
 *     to their max abs) and the decoded image (≤ 1e-3 absolute in [0, 1]);
 *   - euler_a from a seed is deterministic; sampler names; the A1111 parameters text;
 *   - `loratty --sample` (sample_cli_main) with --initial-latents writes a PNG whose pixels are
 *     diffusers' DDIM image rounded (±1) with the "parameters" tEXt chunk; bad arguments exit 2;
 *   - a LoRA file (the unet-sd1 fixture's kohya modules) changes the image at weight 1 and
 *     leaves it bit-identical at weight 0. */
#include <math.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/sd_model.h"
#include "engine/safetensors.h"
#include "engine/sample/lora_apply.h"
#include "engine/sample/sample.h"
#include "engine/sample/sample_cli.h"
#include "fileio.h"

#define PROMPT "a photo of a cat on the table"
#define NEGATIVE "blurry, low quality"
#define STEPS 4
#define CFG 6.0f

static int failures;

static void check(int ok, const char *what)
{
    printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failures++;
}

static const float *tensor(safetensors_file *f, const char *name, size_t numel)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t || t->dtype != DTYPE_F32 || t->nelements != numel) {
        printf("FAIL  %s: missing, not f32 or not %zu elements\n", name, numel);
        failures++;
        return NULL;
    }
    return (const float *)t->data;
}

/* max |got − ref| relative to max |ref| (rel) or absolute */
static void compare(const char *what, const float *got, const float *ref, size_t n, double tol, int rel)
{
    if (!ref)
        return;
    double maxref = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]));
    }
    double e = rel && maxref > 0 ? maxerr / maxref : maxerr;
    int ok = e <= tol && !isnan(maxerr);
    printf("%s  %-28s max err %.3g (%s %.3g, ref max %.3g)\n", ok ? "ok  " : "FAIL", what, maxerr,
           rel ? "rel" : "abs", e, maxref);
    if (!ok)
        failures++;
}

typedef struct noise_feed {
    const float *noise;
} noise_feed;

static void feed_noise(void *ctx, int step, float *noise, size_t n)
{
    const noise_feed *f = ctx;
    memcpy(noise, f->noise + (size_t)step * n, n * sizeof(float));
}

static void check_ids(sd_model *m, safetensors_file *data, const char *text, const char *name)
{
    int ids[CLIP_MAX_CHUNKS * CLIP_CHUNK_LEN], chunks = 0;
    error_info err = {0};
    const safetensors_tensor *t = safetensors_find(data, name);
    int ok = t && t->nelements == CLIP_CHUNK_LEN &&
             clip_encode_prompt(m->tok[0], text, 0, m->pad[0], ids, &chunks, &err) == 0 && chunks == 1;
    for (int i = 0; ok && i < CLIP_CHUNK_LEN; i++)
        ok = ids[i] == ((const int32_t *)t->data)[i];
    check(ok, name);
}

static void check_conditioning(sd_model *m, safetensors_file *data)
{
    const int D = sd_model_context_dim(m);
    float ctx[152 * 64];
    int T = 0;
    error_info err = {0};
    check_ids(m, data, PROMPT, "ids");
    check_ids(m, data, NEGATIVE, "ids_neg");
    if (sd_encode_prompt(m, PROMPT, 0, 0, ctx, &T, NULL, &err) || T != 77)
        printf("FAIL  encode: %s\n", err.message), failures++;
    else
        compare("context", ctx, tensor(data, "context", (size_t)77 * D), (size_t)77 * D, 1e-4, 1);
    char long_text[1024] = "";
    for (int i = 0; i < 12; i++)
        strcat(strcat(long_text, i ? ", " : ""), "a red house near the river at night");
    if (sd_encode_prompt(m, long_text, 2, 150, ctx, &T, NULL, &err) || T != 152)
        printf("FAIL  encode 150: %s\n", err.message), failures++;
    else
        compare("ctx150_skip2", ctx, tensor(data, "ctx150_skip2", (size_t)152 * D), (size_t)152 * D, 1e-4, 1);
}

static void check_sampler(sd_model *m, safetensors_file *data, sampler_kind kind)
{
    const char *name = sampler_name(kind);
    const size_t n = 4 * 8 * 8, npix = 3 * 16 * 16;
    char key[64];
    float steps[STEPS * 4 * 8 * 8], image[3 * 16 * 16];
    noise_feed feed = {tensor(data, "euler_a.noise", STEPS * n)};
    sample_params p = {.prompt = PROMPT, .negative = NEGATIVE, .steps = STEPS, .cfg = CFG, .seed = 1,
                       .width = 16, .height = 16, .sampler = kind,
                       .initial_latents = tensor(data, "latents", n), .step_latents = steps};
    if (kind == SAMPLER_EULER_A) {
        p.noise_hook = feed_noise;
        p.noise_ctx = &feed;
    }
    error_info err = {0};
    if (!p.initial_latents || !feed.noise || sample_txt2img(m, &p, image, &err)) {
        printf("FAIL  %s: %s\n", name, err.message);
        failures++;
        return;
    }
    snprintf(key, sizeof key, "%s.steps", name);
    const float *ref = tensor(data, key, STEPS * n);
    for (int i = 0; ref && i < STEPS; i++) {
        char what[64];
        snprintf(what, sizeof what, "%s step %d latents", name, i);
        compare(what, steps + i * n, ref + i * n, n, 1e-4, 1);
    }
    snprintf(key, sizeof key, "%s.image", name);
    compare(key, image, tensor(data, key, npix), npix, 1e-3, 0);
}

static void check_seeded(sd_model *m)
{
    float a[3 * 16 * 16], b[3 * 16 * 16];
    sample_params p = {.prompt = PROMPT, .steps = 2, .cfg = 7.5f, .seed = 42, .width = 16, .height = 16,
                       .sampler = SAMPLER_EULER_A};
    error_info err = {0};
    int ok = sample_txt2img(m, &p, a, &err) == 0 && sample_txt2img(m, &p, b, &err) == 0 &&
             memcmp(a, b, sizeof a) == 0;
    p.seed = 43;
    ok = ok && sample_txt2img(m, &p, b, &err) == 0 && memcmp(a, b, sizeof a) != 0;
    check(ok, "euler_a from a seed: same seed same image, other seed other image");
    p.width = 18;
    check(sample_txt2img(m, &p, b, &err) == -1 && strstr(err.message, "multiples of 4"), "18 px refused");
}

static void check_names(const sd_model *m)
{
    sampler_kind k;
    error_info err = {0};
    check(sampler_parse("k_euler_a", &k, &err) == 0 && k == SAMPLER_EULER_A, "k_euler_a = euler_a");
    check(sampler_parse("DDIM", &k, &err) == 0 && k == SAMPLER_DDIM, "DDIM (any case)");
    check(sampler_parse("ddpm", &k, &err) == -1 && strstr(err.message, "dpmsolver++"),
          "ddpm refused, supported ones listed");
    char buf[512];
    sample_params p = {.prompt = "a cat", .negative = "dog", .steps = 30, .cfg = 7.0f, .seed = 42,
                       .width = 512, .height = 768, .sampler = SAMPLER_EULER_A};
    sample_parameters_text(m, &p, "mylora: 0123abcd4567", buf, sizeof buf);
    check(strcmp(buf, "a cat\nNegative prompt: dog\nSteps: 30, Sampler: Euler a, CFG scale: 7.0, Seed: 42, "
                      "Size: 512x768, Model: model, Lora hashes: \"mylora: 0123abcd4567\"") == 0,
          "A1111 parameters text");
}

static int cli(const char *const *args)
{
    char *argv[40];
    int argc = 0;
    for (; args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    argv[argc] = NULL;
    return sample_cli_main(argc, argv);
}

static void check_cli(const char *top, safetensors_file *data)
{
    char model[1024], cfgdir[1024], lat[1100], out[] = "/tmp/loratty-test-sample.png";
    snprintf(model, sizeof model, "%s/tests/fixtures/checkpoint-sd1/model.safetensors", top);
    snprintf(cfgdir, sizeof cfgdir, "%s/tests/fixtures/pipeline-sd1", top);
    snprintf(lat, sizeof lat, "%s/data.safetensors", cfgdir);
    const char *args[] = {"loratty", "--sample", "--model", model, "--model-config", cfgdir, "--prompt", PROMPT,
                          "--negative", NEGATIVE, "--steps", "4", "--cfg", "6", "--width", "16", "--height", "16",
                          "--sampler", "ddim", "--seed", "42", "--initial-latents", lat, "-o", out, NULL};
    check(cli(args) == 0, "loratty --sample writes the PNG");
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    uint8_t rgb[16 * 16 * 3];
    int ok = png_image_begin_read_from_file(&img, out) && img.width == 16 && img.height == 16;
    img.format = PNG_FORMAT_RGB;
    ok = ok && png_image_finish_read(&img, NULL, rgb, 0, NULL);
    const float *ref = tensor(data, "ddim.image", 3 * 16 * 16);
    int maxd = 0;
    for (int p = 0; ok && ref && p < 256; p++)
        for (int c = 0; c < 3; c++) {
            int want = (int)lrintf(ref[c * 256 + p] * 255.0f), d = abs(want - rgb[p * 3 + c]);
            maxd = d > maxd ? d : maxd;
        }
    printf("      PNG pixels vs diffusers: max difference %d\n", maxd);
    check(ok && ref && maxd <= 1, "PNG pixels = diffusers' DDIM image");
    size_t len;
    error_info err = {0};
    char *bytes = fileio_read_all(out, &len, &err);
    const char *want = "parameters\0" PROMPT "\nNegative prompt: " NEGATIVE "\nSteps: 4, Sampler: DDIM, "
                       "CFG scale: 6.0, Seed: 42, Size: 16x16, Model: model";
    check(bytes && memmem(bytes, len, want, 11 + strlen(want + 11)) != NULL,
          "tEXt parameters chunk");
    free(bytes);
    remove(out);
    const char *bad1[] = {"loratty", "--sample", "--model", model, "-o", out, NULL};
    const char *bad2[] = {"loratty", "--sample", "--model", model, "--prompt", "x", "--sampler", "ddpm", "-o", out, NULL};
    const char *bad3[] = {"loratty", "--sample", "--model", model, "--prompt", "x", "--width", "100", "-o", out, NULL};
    check(cli(bad1) == 2 && cli(bad2) == 2 && cli(bad3) == 2, "bad arguments exit 2");
}

static void check_lora(const char *top, sd_model *m)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/inputs.safetensors", top);
    float base[3 * 16 * 16], img[3 * 16 * 16];
    sample_params p = {.prompt = PROMPT, .steps = 2, .cfg = 6.0f, .seed = 7, .width = 16, .height = 16,
                       .sampler = SAMPLER_EULER};
    error_info err = {0};
    int ok = sample_txt2img(m, &p, base, &err) == 0;
    for (int k = 0; ok && k < 2; k++) {
        lora_apply la = {0};
        int n = lora_apply_add(&la, m, path, k == 0 ? 0.0f : 1.0f, &err);
        ok = n > 0 && la.unmatched == 0 && lora_apply_plan(&la, m, 2, 8, 8, 77, &err) == 0 &&
             sample_txt2img(m, &p, img, &err) == 0;
        if (k == 0)
            printf("      %d LoRA modules applied\n", n);
        ok = ok && (memcmp(img, base, sizeof img) == 0) == (k == 0);
        lora_apply_free(&la, m);
    }
    if (!ok)
        printf("      %s\n", err.message);
    check(ok, "LoRA: weight 0 leaves the image, weight 1 changes it");
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    if (!top)
        top = ".";
    char model[1024], cfgdir[1024], path[1100];
    snprintf(model, sizeof model, "%s/tests/fixtures/checkpoint-sd1/model.safetensors", top);
    snprintf(cfgdir, sizeof cfgdir, "%s/tests/fixtures/pipeline-sd1", top);
    snprintf(path, sizeof path, "%s/data.safetensors", cfgdir);
    error_info err = {0};
    sd_model *m;
    safetensors_file *data;
    if (safetensors_open(path, &data, &err) || sd_model_load(model, NULL, cfgdir, &m, &err)) {
        printf("FAIL  load: %s %s\n", err.file, err.message);
        return 1;
    }
    check(m->family == CKPT_SD1 && m->prediction == SD_PRED_EPS && fabsf(m->scaling_factor - 0.18215f) < 1e-7f &&
          sd_model_size_multiple(m) == 4 && strcmp(m->name, "model") == 0, "tiny SD1: family, eps, 0.18215, /4");
    check_conditioning(m, data);
    static const sampler_kind kinds[] = {SAMPLER_DDIM, SAMPLER_EULER, SAMPLER_EULER_A, SAMPLER_DPMSOLVER_PP};
    for (size_t i = 0; i < 4; i++)
        check_sampler(m, data, kinds[i]);
    check_seeded(m);
    check_names(m);
    check_lora(top, m);
    sd_model_free(m);
    check_cli(top, data);
    safetensors_close(data);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
