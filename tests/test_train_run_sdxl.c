/* test_train_run_sdxl.c — SDXL text encoder LoRA training (engine/train/train_run_te.c) on the
 * tiny SDXL model (tests/fixtures/checkpoint-sdxl with the unet-sdxl, clip-sd1 (TE1),
 * clip-sdxl-te2 (TE2) and vae-sd configs and pipeline-sd1's tokenizer):
 *   - trun_te_forward's context (TE1 | TE2 hidden_states[-2] side by side, windows joined) and
 *     pooled embedding equal sd_encode_prompt's, for 75 and 150 tokens with a caption longer
 *     than one window;
 *   - the training loss's gradient with respect to text_embeds (train_step_cond.dtext_embeds,
 *     from unet_backward) matches central finite differences of the loss;
 *   - the gradient of the loss with respect to LoRA weights of TE1, of TE2, and of TE2's last
 *     layer — which only the pooled embedding sees, since the context takes hidden_states[-2]
 *     — through trun_te_backward matches central finite differences (fixed noise, timesteps
 *     and size conditioning; f32 loss, h = 1e-2, max error ≤ 2e-2 of the group's largest
 *     gradient, which must be non-zero); TE1's last layer gets exactly zero gradient, as in
 *     sd-scripts (its output is never used);
 *   - the same with weighted_captions: the context equals sd_encode_prompt_weighted's, which is
 *     the plain conditioning with TE1 and TE2 rows × token weights and the pooled embedding
 *     unweighted (strategy_sdxl.py); SDXL sample images take that encoding of [negative,
 *     prompt]; and every finite-difference check above passes through the weighted rows.
 * With arguments it is a file checker for tests/run_headless_sdxl.sh:
 *   te-keys FILE LAYERS UNET   the LoRA holds lora_te1_ and lora_te2_ modules with exactly
 *                              sd-scripts' names (lora_te{1,2}_text_model_encoder_layers_<l>_
 *                              {self_attn_{q,k,v,out}_proj, mlp_fc1, mlp_fc2}, l < LAYERS) and
 *                              their down/up/alpha tensors; every lora_up is non-zero except
 *                              TE1's last layer (no gradient reaches it); lora_unet_ modules
 *                              present iff UNET is 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/models/prompt_weights.h"
#include "engine/safetensors.h"
#include "engine/sample/sample_prompt.h"
#include "engine/train/train_run_internal.h"
#include "kernels/ops_attention.h"
#include "tests/check.h"

#define B 2
#define H 8
#define W 8

static sd_model *m;
static lora_network net;
static train_step st;
static trun_te te;
static float lat[B * 4 * H * W], noise[B * 4 * H * W], time_ids[B * 6];
static float *ctx, *dctx;
static batch bt;
static const int ts[B] = {120, 640};

static void die(const char *what, const error_info *err)
{
    fprintf(stderr, "FAIL %s: %s %s\n", what, err->file, err->message);
    exit(1);
}

/* One training micro-batch on the current weights: the loss, and (with_grad) the gradients
 * in net.grads. pooled_override: text_embeds to use instead of the encoders' (or NULL);
 * dtext: receives d loss / d text_embeds (or NULL). */
static double loss_and_grad(int with_grad, const float *pooled_override, float *dtext)
{
    error_info err = {0};
    int T = 0;
    double loss = 0;
    network_zero_grad(&net);
    if (trun_te_forward(&te, &bt, ctx, &T, &err) != 0)
        die("te forward", &err);
    memset(dctx, 0, (size_t)B * T * sd_model_context_dim(m) * sizeof(float));
    train_step_cond c = {ctx, pooled_override ? pooled_override : te.pooled, time_ids, dctx,
                         te.dpooled, NULL};
    if (train_step_run_cond(&st, lat, &c, B, H, W, T, NULL, noise, ts, &loss, &err) != 0)
        die("step", &err);
    if (dtext)
        memcpy(dtext, te.dpooled, (size_t)B * te.P * sizeof(float));
    if (with_grad)
        trun_te_backward(&te, dctx);
    return loss;
}

static void check_context(int mtl, int weighted)
{
    error_info err = {0};
    trun_te t;
    int T = 0, T2 = 0, D = sd_model_context_dim(m), P = sd_model_pooled_dim(m);
    if (trun_te_init(&t, m, B, 2, mtl, &err) != 0)
        die("te init", &err);
    t.weighted = weighted;
    if (trun_te_forward(&t, &bt, ctx, &T, &err) != 0)
        die("te forward", &err);
    float *ref = malloc((size_t)T * D * sizeof(float)), pref[64];
    double worst = 0, mx = 0, pworst = 0, pmx = 0;
    const char *fn = weighted ? "sd_encode_prompt_weighted" : "sd_encode_prompt";
    for (int b = 0; b < B; b++) {
        /* clip_skip 2 is ignored for SDXL by both */
        if (P > 64 || (weighted ? sd_encode_prompt_weighted : sd_encode_prompt)(
                          m, bt.samples[b].caption, 2, mtl, ref, &T2, pref, &err) != 0)
            die(fn, &err);
        for (size_t i = 0; i < (size_t)T * D; i++) {
            worst = fmax(worst, fabs(ref[i] - ctx[(size_t)b * T * D + i]));
            mx = fmax(mx, fabs(ref[i]));
        }
        for (int i = 0; i < P; i++) {
            pworst = fmax(pworst, fabs(pref[i] - t.pooled[(size_t)b * P + i]));
            pmx = fmax(pmx, fabs(pref[i]));
        }
    }
    CHECK(T == T2 && mx > 0 && worst <= 1e-5 * fmax(mx, 1), "max_token_length %d: context "
          "(T %d, %s %d) differs by %.3g of %.3g", mtl, T, fn, T2, worst, mx);
    CHECK(pmx > 0 && pworst <= 1e-5 * fmax(pmx, 1), "max_token_length %d: pooled differs by %.3g "
          "of %.3g", mtl, pworst, pmx);
    printf("ok    max_token_length %d: context [%d, %d] and pooled [%d] equal %s's "
           "(max err %.2g, %.2g)\n", mtl, T, D, P, fn, worst, pworst);
    free(ref);
    trun_te_free(&t);
}

/* sd-scripts' SDXL strategy (encode_tokens_with_weights) for a prompt whose weighted pieces
 * are whole words, so its tokens are the plain prompt's: TE1 and TE2 rows 1 .. n times their
 * token's weight, every other row and the pooled embedding as without weights; and the SDXL
 * sample pipeline's conditioning is that of [negative, prompt]. */
static void check_strategy_weights(void)
{
    const char *weighted = "a (red:1.3) ring on a [[wooden]] table, ((sunlight))";
    const char *plain = "a red ring on a wooden table, sunlight";
    const int D = sd_model_context_dim(m), P = sd_model_pooled_dim(m), T = 77;
    float *w = malloc((size_t)T * D * sizeof(float)), *u = malloc((size_t)T * D * sizeof(float));
    float pw[64], pu[64], tw[80];
    int toks[80], Tw = 0, Tu = 0;
    error_info err = {0};
    int n = prompt_tokenize_weighted(m->tok[0], weighted, 75, toks, tw, NULL, &err);
    if (P > 64 || n <= 0 || sd_encode_prompt_weighted(m, weighted, 0, 0, w, &Tw, pw, &err) != 0 ||
        sd_encode_prompt(m, plain, 0, 0, u, &Tu, pu, &err) != 0)
        die("weighted encode", &err);
    double worst = 0, mx = 0;
    int scaled = 0;
    for (int r = 0; r < T; r++) {
        float f = r >= 1 && r <= n ? tw[r - 1] : 1.0f;
        scaled += f != 1.0f;
        for (int c = 0; c < D; c++) {
            worst = fmax(worst, fabs((double)w[r * D + c] - (double)u[r * D + c] * f));
            mx = fmax(mx, fabs(w[r * D + c]));
        }
    }
    CHECK(Tw == T && Tu == T && scaled >= 3 && worst <= 1e-6 * fmax(mx, 1) && !memcmp(pw, pu, P * sizeof(float)),
          "SDXL weighted rows differ from rows × weights by %.3g of %.3g (%d rows scaled), or the "
          "pooled embedding changed", worst, mx, scaled);
    printf("ok    SDXL weighted captions: TE1 | TE2 rows × token weights (%d rows scaled, max err "
           "%.2g), pooled unweighted\n", scaled, worst);

    /* the sample pipeline (SDXL): [negative, prompt], each as sd_encode_prompt_weighted */
    sample_params sp = {.prompt = weighted, .negative = "[blurry], (low quality:1.2)", .cfg = 5.0f,
                        .max_token_length = 150};
    int Ts = 0;
    CHECK(sample_prompt_rows(m, &sp, &Ts, &err) == 0 && Ts == 152, "SDXL sample rows %d", Ts);
    float *sc = malloc((size_t)2 * 152 * D * sizeof(float)), *one = malloc((size_t)152 * D * sizeof(float));
    float spool[2 * 64], p1[64];
    if (sample_prompt_encode(m, &sp, sc, spool, &err) != 0)
        die("sample_prompt_encode", &err);
    const char *texts[2] = {sp.negative, sp.prompt};
    int same = 1;
    for (int b = 0; b < 2; b++) {
        if (sd_encode_prompt_weighted(m, texts[b], 0, 150, one, &Ts, p1, &err) != 0)
            die("weighted encode", &err);
        same &= !memcmp(one, sc + (size_t)b * 152 * D, (size_t)152 * D * sizeof(float)) &&
                !memcmp(p1, spool + b * P, P * sizeof(float));
    }
    CHECK(same, "the SDXL sample conditioning is not [weighted negative, weighted prompt]");
    printf("%s  SDXL samples: [negative, prompt] through the weighted strategy, max_token_length "
           "150\n", same ? "ok  " : "FAIL");
    free(sc);
    free(one);
    free(w);
    free(u);
}

/* Central differences of the loss at x[idx[i]] against grad[i]: the largest error and
 * gradient. */
static void fd_check(const char *name, float *const *x, const float *grad, int n)
{
    const float eps = 1e-2f;
    double gmax = 0, emax = 0;
    for (int i = 0; i < n; i++) {
        float keep = *x[i];
        *x[i] = keep + eps;
        double lp = loss_and_grad(0, NULL, NULL);
        *x[i] = keep - eps;
        double lm = loss_and_grad(0, NULL, NULL);
        *x[i] = keep;
        double fd = (lp - lm) / (2.0 * eps);
        gmax = fmax(gmax, fabs(grad[i]));
        emax = fmax(emax, fabs(fd - grad[i]));
    }
    CHECK(gmax > 0 && emax <= 2e-2 * gmax, "%s: finite differences differ by %.3g, largest gradient "
          "%.3g", name, emax, gmax);
    printf("%s  %s vs finite differences (%d elements, max err %.3g of max grad %.3g)\n",
           gmax > 0 && emax <= 2e-2 * gmax ? "ok  " : "FAIL", name, n, emax, gmax);
}

/* The modules of encoder e (1 or 2) in layer l. */
static int module_range(int e, int l, size_t *first, size_t *end)
{
    char want[64];
    snprintf(want, sizeof want, "lora_te%d_text_model_encoder_layers_%d_", e, l);
    *first = *end = 0;
    int found = 0;
    for (size_t k = 0; k < net.n_mods; k++)
        if (!strncmp(net.mods[k].name, want, strlen(want))) {
            if (!found)
                *first = k;
            *end = k + 1;
            found = 1;
        }
    return found;
}

/* The largest-gradient down and up element of each module in [first, end) (at most cap). */
static int pick(const float *grad, size_t first, size_t end, float **x, float *g, int cap)
{
    int n = 0;
    for (size_t k = first; k < end && n + 2 <= cap; k++) {
        const network_module *mo = &net.mods[k];
        size_t offs[2] = {mo->down_off, mo->up_off};
        size_t lens[2] = {(size_t)mo->rank * mo->in, (size_t)mo->out * mo->rank};
        for (int s = 0; s < 2; s++) {
            size_t best = offs[s];
            for (size_t i = 0; i < lens[s]; i++)
                if (fabsf(grad[offs[s] + i]) > fabsf(grad[best]))
                    best = offs[s] + i;
            x[n] = &net.params[best];
            g[n++] = grad[best];
        }
    }
    return n;
}

static void check_gradients(int weighted)
{
    error_info err = {0};
    train_step_options so;
    train_step_options_init(&so);
    if (train_step_init(&st, &so, &m->unet, &net, 0, &err) != 0 ||
        trun_te_init(&te, m, B, 0, 150, &err) != 0)
        die("init", &err);
    te.weighted = weighted;
    if (weighted)
        printf("      with weighted_captions:\n");
    int P = te.P, L1 = m->te[0].cfg.num_layers, L2 = m->te[1].cfg.num_layers;

    /* text_embeds: the U-Net's gradient of its added text embedding */
    float *dtext = malloc((size_t)B * P * sizeof(float)), *pooled = malloc((size_t)B * P * sizeof(float));
    loss_and_grad(0, NULL, dtext);
    memcpy(pooled, te.pooled, (size_t)B * P * sizeof(float));
    float *xs[16], gs[16];
    int n = 0;
    for (int b = 0; b < B; b++)
        for (int k = 0; k < 2; k++) {   /* the largest and one more of each sample */
            int best = 0;
            for (int i = 0; i < P; i++)
                if (fabsf(dtext[b * P + i]) > fabsf(dtext[b * P + best]))
                    best = i;
            int i = k ? (best + P / 2) % P : best;
            xs[n] = &pooled[b * P + i];
            gs[n++] = dtext[b * P + i];
        }
    {
        const float eps = 1e-2f;
        double gmax = 0, emax = 0;
        for (int i = 0; i < n; i++) {
            float keep = *xs[i];
            *xs[i] = keep + eps;
            double lp = loss_and_grad(0, pooled, NULL);
            *xs[i] = keep - eps;
            double lm = loss_and_grad(0, pooled, NULL);
            *xs[i] = keep;
            gmax = fmax(gmax, fabs(gs[i]));
            emax = fmax(emax, fabs((lp - lm) / (2.0 * eps) - gs[i]));
        }
        CHECK(gmax > 0 && emax <= 2e-2 * gmax, "text_embeds gradient: err %.3g of %.3g", emax, gmax);
        printf("%s  the U-Net's text_embeds gradient vs finite differences (%d elements, max err "
               "%.3g of max grad %.3g)\n", gmax > 0 && emax <= 2e-2 * gmax ? "ok  " : "FAIL", n,
               emax, gmax);
    }

    /* the adapters, through the context and the pooled embedding */
    loss_and_grad(1, NULL, NULL);
    float *grad = malloc(net.n_params * sizeof(float));
    memcpy(grad, net.grads, net.n_params * sizeof(float));
    size_t f, e;
    static const struct { int enc, layer; const char *name; } groups[] = {
        {1, 0, "TE1 layer 0 LoRA"}, {1, -2, "TE1 layer L-2 LoRA"}, {2, 0, "TE2 layer 0 LoRA"},
        {2, -1, "TE2 last layer LoRA (the pooled path only)"}};
    for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++) {
        int L = groups[gi].enc == 1 ? L1 : L2;
        int l = groups[gi].layer < 0 ? L + groups[gi].layer : groups[gi].layer;
        if (!module_range(groups[gi].enc, l, &f, &e)) {
            CHECK(0, "no modules for %s", groups[gi].name);
            continue;
        }
        /* q, out_proj and fc2: 3 modules, 6 elements */
        size_t sel[3] = {f, f + 3, e - 1};
        float *x[6];
        float g[6];
        int np = 0;
        for (int s = 0; s < 3; s++)
            np += pick(grad, sel[s], sel[s] + 1, x + np, g + np, 6 - np);
        fd_check(groups[gi].name, x, g, np);
    }
    /* TE1's last layer feeds nothing: hidden_states[-2] is taken before it, no pooled output */
    if (module_range(1, L1 - 1, &f, &e)) {
        size_t nz = 0, total = 0;
        for (size_t k = f; k < e; k++) {
            const network_module *mo = &net.mods[k];
            for (size_t i = 0; i < (size_t)mo->rank * mo->in; i++, total++)
                nz += grad[mo->down_off + i] != 0.0f;
            for (size_t i = 0; i < (size_t)mo->out * mo->rank; i++, total++)
                nz += grad[mo->up_off + i] != 0.0f;
        }
        CHECK(total > 0 && nz == 0, "TE1's last layer: %zu of %zu gradients non-zero", nz, total);
        printf("ok    TE1's last layer gets no gradient (%zu elements)\n", total);
    }
    free(grad);
    free(dtext);
    free(pooled);
    trun_te_free(&te);
    train_step_free(&st);
}

/* ---- the file checker ---- */

static int nonzero(const safetensors_tensor *t)
{
    const unsigned char *p = t->data;
    for (size_t i = 0; i < t->nbytes; i++)
        if (p[i])
            return 1;
    return 0;
}

static int te_keys(const char *path, int layers, int want_unet)
{
    static const char *const kinds[6] = {"self_attn_q_proj", "self_attn_k_proj", "self_attn_v_proj",
                                         "self_attn_out_proj", "mlp_fc1", "mlp_fc2"};
    static const char *const parts[3] = {"lora_down.weight", "lora_up.weight", "alpha"};
    error_info err = {0};
    safetensors_file *f = NULL;
    if (safetensors_open(path, &f, &err) != 0)
        die("open", &err);
    size_t te_tensors = 0, unet = 0, found = 0, zero_up = 0, last_zero = 0;
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const char *name = safetensors_tensor_at(f, i)->name;
        te_tensors += !strncmp(name, "lora_te", 7);
        unet += !strncmp(name, "lora_unet_", 10);
    }
    char key[160];
    for (int e = 1; e <= 2; e++)
        for (int l = 0; l < layers; l++)
            for (int k = 0; k < 6; k++)
                for (int p = 0; p < 3; p++) {
                    snprintf(key, sizeof key, "lora_te%d_text_model_encoder_layers_%d_%s.%s", e, l,
                             kinds[k], parts[p]);
                    const safetensors_tensor *t = safetensors_find(f, key);
                    CHECK(t != NULL, "%s: no %s", path, key);
                    if (!t)
                        continue;
                    found++;
                    if (p != 1)
                        continue;
                    if (e == 1 && l == layers - 1)
                        last_zero += !nonzero(t);
                    else if (!nonzero(t)) {
                        zero_up++;
                        CHECK(0, "%s: %s is still zero", path, key);
                    }
                }
    CHECK(te_tensors == found, "%s: %zu lora_te tensors, %zu of them with sd-scripts' names", path,
          te_tensors, found);
    CHECK(last_zero == 6, "%s: %zu of TE1's last-layer lora_up weights are zero, want all 6", path,
          last_zero);
    CHECK(want_unet ? unet > 0 : unet == 0, "%s: %zu lora_unet_ tensors", path, unet);
    safetensors_close(f);
    printf("%s  %s: %zu text encoder tensors with sd-scripts' SDXL names, %zu up weights still "
           "zero besides TE1's last layer, %zu U-Net tensors\n", failures ? "FAIL" : "ok  ", path,
           found, zero_up, unet);
    return failures ? 1 : 0;
}

/* ---- the model: the fixtures laid out as one diffusers-style config folder ---- */

static int copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[8192];
    size_t r;
    int ok = a && b;
    while (ok && (r = fread(buf, 1, sizeof buf, a)) > 0)
        ok = fwrite(buf, 1, r, b) == r;
    if (a)
        fclose(a);
    if (b && fclose(b) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

static const char *const dirs[] = {"unet", "text_encoder", "text_encoder_2", "vae", "tokenizer"};
static const char *const files[][2] = {{"unet-sdxl/config.json", "unet/config.json"},
                                       {"clip-sd1/config.json", "text_encoder/config.json"},
                                       {"clip-sdxl-te2/config.json", "text_encoder_2/config.json"},
                                       {"vae-sd/config.json", "vae/config.json"},
                                       {"pipeline-sd1/tokenizer/vocab.json", "tokenizer/vocab.json"},
                                       {"pipeline-sd1/tokenizer/merges.txt", "tokenizer/merges.txt"}};
#define N_DIRS (sizeof dirs / sizeof dirs[0])
#define N_FILES (sizeof files / sizeof files[0])

static void remove_config_dir(const char *dir)
{
    char p[1200];
    for (size_t i = 0; i < N_FILES; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i][1]);
        unlink(p);
    }
    for (size_t i = 0; i < N_DIRS; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
        rmdir(p);
    }
    rmdir(dir);
}

static int make_config_dir(char *dir, size_t size, const char *fx)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, size, "%s/loratty-sdxl-te.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    char p[1200], q[1200];
    for (size_t i = 0; i < N_DIRS; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
        if (mkdir(p, 0755) != 0)
            return -1;
    }
    for (size_t i = 0; i < N_FILES; i++) {
        snprintf(p, sizeof p, "%s/%s", fx, files[i][0]);
        snprintf(q, sizeof q, "%s/%s", dir, files[i][1]);
        if (copy_file(p, q) != 0)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "te-keys"))
        return te_keys(argv[2], atoi(argv[3]), atoi(argv[4]));
    const char *top = getenv("top_srcdir");
    char fx[1024], model[1200], vae[1200], dir[1100];
    snprintf(fx, sizeof fx, "%s/tests/fixtures", top ? top : ".");
    snprintf(model, sizeof model, "%s/checkpoint-sdxl/model.safetensors", fx);
    snprintf(vae, sizeof vae, "%s/vae-sd/weights.safetensors", fx);
    error_info err = {0};
    if (make_config_dir(dir, sizeof dir, fx) != 0) {
        fprintf(stderr, "FAIL cannot lay out the config folder %s\n", dir);
        return 1;
    }
    int rc = sd_model_load(model, vae, dir, &m, &err);
    remove_config_dir(dir);
    if (rc != 0)
        die("load", &err);
    CHECK(m->family == CKPT_SDXL && m->n_te == 2, "the fixture is not an SDXL model");
    network_options no;
    network_options_init(&no);
    no.seed = 3;
    clip_model *tes[2] = {&m->te[0], &m->te[1]};
    if (network_create(&net, &no, &m->unet, tes, m->n_te, &err) != 0)
        die("network", &err);
    /* non-zero up weights so every adapter and the context path carry gradient */
    k_randn(net.params, net.n_params, 11, 0);
    for (size_t i = 0; i < net.n_params; i++)
        net.params[i] *= 0.2f;
    network_attach(&net);
    sd_model_adapters_changed(m);
    k_randn(lat, sizeof lat / sizeof lat[0], 5, 0);
    k_randn(noise, sizeof noise / sizeof noise[0], 6, 0);
    for (int b = 0; b < B; b++)
        sd_time_ids(time_ids + 6 * b, 64 + 32 * b, 64, 8 * b, 0, H * 8, W * 8);
    ctx = malloc((size_t)B * 227 * sd_model_context_dim(m) * sizeof(float));
    dctx = malloc((size_t)B * 227 * sd_model_context_dim(m) * sizeof(float));
    static batch_sample smp[B];
    /* the second caption is longer than one 75-token window */
    smp[0].caption = "a photo of zqx ring, red and white stripes";
    smp[1].caption = "zqx ring on a wooden table next to a window, morning light, soft shadows, "
                     "a cup of coffee, a book, a plant in a pot, a lamp, a clock on the wall, a "
                     "cat sleeping on a chair, rain outside, reflections on the glass, a red "
                     "scarf, a blue notebook, three pencils, a pair of glasses, a small mirror";
    bt.count = B;
    bt.samples = smp;

    check_context(75, 0);
    check_context(150, 0);
    check_gradients(0);

    /* weighted_captions: weights far from 1 in both windows */
    static batch_sample wsmp[B];
    wsmp[0].caption = "(a photo:1.8) of [[zqx ring]], (red:0.4) and white stripes";
    wsmp[1].caption = "(zqx ring:2.5) on a wooden table next to a window, morning light, (soft "
                      "shadows:0.5), a cup of coffee, a book, a plant in a pot, a lamp, a clock on "
                      "the wall, a cat sleeping on a chair, rain outside, reflections on the glass, "
                      "((a red scarf)), a blue notebook, [three pencils], (a pair of glasses:1.7)";
    bt.samples = wsmp;
    check_context(75, 1);
    check_context(150, 1);
    check_strategy_weights();
    check_gradients(1);

    free(ctx);
    free(dctx);
    network_free(&net);
    sd_model_adapters_changed(m);
    sd_model_free(m);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
