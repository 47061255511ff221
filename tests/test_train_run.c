/* test_train_run.c — the text encoder path of the training run on the tiny SD1 model
 * (tests/fixtures/checkpoint-sd1 with tests/fixtures/pipeline-sd1's configs):
 *   - trun_te_forward's joined context equals sd_encode_prompt's for 75 and 150 tokens, and
 *     with weighted_captions sd_encode_prompt_weighted's (rows × attention weights);
 *   - the gradient of the training loss with respect to text-encoder LoRA weights, taken
 *     through the U-Net's context gradient and trun_te_backward, matches central finite
 *     differences of the loss (fixed noise and timesteps; ≤ 2e-2 relative to the largest
 *     gradient checked, f32 loss), plain and with weighted_captions (weights 0.4 … 2.5, which
 *     must change the gradient); train_step_run_cond's context gradient output equals the
 *     U-Net's own buffer.
 * With arguments it is a file checker for tests/run_headless_sdxl.sh:
 *   te-frozen A B   lora_te* tensors of A and B are byte-identical, lora_unet* ones differ
 *   tfevents FILE   FILE is a sequence of TFRecords with valid masked CRC32Cs, ending
 *                   exactly at EOF; prints the record count and needs ≥ 2 records holding
 *                   loss/current, loss/average, lr/ and loss/epoch_average tags. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/safetensors.h"
#include "engine/train/tensorboard.h"
#include "engine/train/train_run_internal.h"
#include "kernels/ops_attention.h"

static int failures;

static void check(int ok, const char *what)
{
    printf("%s  %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok)
        failures++;
}

#define B 2
#define H 8
#define W 8

static sd_model *m;
static lora_network net;
static train_step st;
static trun_te te;
static float lat[B * 4 * H * W], noise[B * 4 * H * W];
static float *ctx, *dctx;
static batch bt;

static double loss_and_grad(int with_grad)
{
    error_info err = {0};
    static const int ts[B] = {120, 640};
    int T = 0;
    double loss = 0;
    network_zero_grad(&net);
    if (trun_te_forward(&te, &bt, ctx, &T, &err) != 0) {
        printf("FAIL  te forward: %s\n", err.message);
        exit(1);
    }
    size_t nctx = (size_t)B * T * sd_model_context_dim(m);
    memset(dctx, 0, nctx * sizeof(float));
    train_step_cond c = {ctx, NULL, NULL, dctx, NULL, NULL};
    if (train_step_run_cond(&st, lat, &c, B, H, W, T, NULL, noise, ts, &loss, &err) != 0) {
        printf("FAIL  step: %s\n", err.message);
        exit(1);
    }
    if (with_grad) {
        const float *own = arena_get(&st.acts.arena, st.acts.dcontext_id);
        double e = 0, mx = 0;
        for (size_t i = 0; i < nctx; i++) {
            e = fmax(e, fabs((double)own[i] - dctx[i]));
            mx = fmax(mx, fabs((double)own[i]));
        }
        char what[160];
        snprintf(what, sizeof what, "the context gradient output equals the U-Net's buffer (max "
                 "err %.3g of %.3g)", e, mx);
        check(mx > 0 && e == 0, what);
        trun_te_backward(&te, dctx);
    }
    return loss;
}

static void check_context(int mtl, int weighted)
{
    error_info err = {0};
    trun_te t;
    int T = 0, T2 = 0;
    if (trun_te_init(&t, m, B, 2, mtl, &err) != 0) {
        printf("FAIL  te init: %s\n", err.message);
        exit(1);
    }
    t.weighted = weighted;
    if (trun_te_forward(&t, &bt, ctx, &T, &err) != 0) {
        printf("FAIL  te forward: %s\n", err.message);
        exit(1);
    }
    int D = sd_model_context_dim(m);
    float *ref = malloc((size_t)T * D * sizeof(float));
    double worst = 0, mx = 0;
    for (int b = 0; b < B; b++) {
        if ((weighted ? sd_encode_prompt_weighted : sd_encode_prompt)(m, bt.samples[b].caption, 2, mtl,
                                                                      ref, &T2, NULL, &err) != 0)
            exit(1);
        for (size_t i = 0; i < (size_t)T * D; i++) {
            double e = fabs(ref[i] - ctx[(size_t)b * T * D + i]);
            worst = e > worst ? e : worst;
            mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
        }
    }
    char what[200];
    snprintf(what, sizeof what, "max_token_length %d clip_skip 2: context equals %s's "
             "(T %d = %d, max err %.2g of %.3g)", mtl,
             weighted ? "sd_encode_prompt_weighted" : "sd_encode_prompt", T, T2, worst, mx);
    check(T == T2 && worst <= 1e-5 * (mx > 1 ? mx : 1), what);
    free(ref);
    trun_te_free(&t);
}

/* The text-encoder LoRA gradient of the loss against central differences at the largest
 * gradients (down and up, first to last layer); returns the gradient. */
static float *fd_check(const char *label)
{
    loss_and_grad(1);
    float *grad = malloc(net.n_params * sizeof(float));
    memcpy(grad, net.grads, net.n_params * sizeof(float));
    size_t picks[8];
    int np = 0;
    for (size_t k = net.n_unet; k < net.n_mods && np < 8; k += (net.n_mods - net.n_unet) / 4) {
        const network_module *mo = &net.mods[k];
        size_t offs[2] = {mo->down_off, mo->up_off}, lens[2] = {(size_t)mo->rank * mo->in,
                                                               (size_t)mo->out * mo->rank};
        for (int s = 0; s < 2; s++) {
            size_t best = offs[s];
            for (size_t i = 0; i < lens[s]; i++)
                if (fabsf(grad[offs[s] + i]) > fabsf(grad[best]))
                    best = offs[s] + i;
            picks[np++] = best;
        }
    }
    double gmax = 0, emax = 0;
    const float eps = 1e-2f;
    for (int i = 0; i < np; i++) {
        float *p = &net.params[picks[i]], keep = *p;
        *p = keep + eps;
        double lp = loss_and_grad(0);
        *p = keep - eps;
        double lm = loss_and_grad(0);
        *p = keep;
        double fd = (lp - lm) / (2.0 * eps), e = fabs(fd - grad[picks[i]]);
        gmax = fabs(grad[picks[i]]) > gmax ? fabs(grad[picks[i]]) : gmax;
        emax = e > emax ? e : emax;
    }
    char what[200];
    snprintf(what, sizeof what, "%stext encoder LoRA gradients vs finite differences (%d weights, "
             "max err %.3g of max grad %.3g)", label, np, emax, gmax);
    check(gmax > 0 && emax <= 2e-2 * gmax, what);
    return grad;
}

static int te_frozen(const char *a, const char *b)
{
    error_info err = {0};
    safetensors_file *fa = NULL, *fb = NULL;
    if (safetensors_open(a, &fa, &err) != 0 || safetensors_open(b, &fb, &err) != 0) {
        printf("FAIL  open: %s %s\n", err.file, err.message);
        safetensors_close(fa);
        return 1;
    }
    size_t te = 0, te_same = 0, un = 0, un_same = 0;
    for (size_t i = 0; i < safetensors_count(fa); i++) {
        const safetensors_tensor *ta = safetensors_tensor_at(fa, i);
        const safetensors_tensor *tb = safetensors_find(fb, ta->name);
        if (!tb || tb->nbytes != ta->nbytes || strstr(ta->name, ".alpha"))
            continue;
        int eq = memcmp(ta->data, tb->data, ta->nbytes) == 0;
        if (!strncmp(ta->name, "lora_te", 7))
            te++, te_same += eq;
        else if (!strncmp(ta->name, "lora_unet", 9))
            un++, un_same += eq;
    }
    safetensors_close(fa);
    safetensors_close(fb);
    char what[200];
    snprintf(what, sizeof what, "text encoder tensors equal (%zu of %zu), U-Net tensors changed "
             "(%zu of %zu equal)", te_same, te, un_same, un);
    check(te > 0 && te_same == te && un > 0 && un_same < un, what);
    return failures ? 1 : 0;
}

static int has(const unsigned char *p, size_t n, const char *s)
{
    size_t k = strlen(s);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(p + i, s, k))
            return 1;
    return 0;
}

static int tfevents(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        printf("FAIL  open %s\n", path);
        return 1;
    }
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0, r;
    unsigned char tmp[4096];
    while ((r = fread(tmp, 1, sizeof tmp, f)) > 0) {
        if (n + r > cap) {
            cap = (n + r) * 2;
            unsigned char *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return 1;
            }
            buf = nb;
        }
        memcpy(buf + n, tmp, r);
        n += r;
    }
    fclose(f);
    size_t pos = 0, records = 0;
    int framing = 1, tags[4] = {0};
    static const char *const want[4] = {"loss/current", "loss/average", "lr/", "loss/epoch_average"};
    while (pos < n && framing) {
        uint64_t len = 0;
        uint32_t c1 = 0, c2 = 0;
        if (pos + 12 > n) {
            framing = 0;
            break;
        }
        for (int i = 7; i >= 0; i--)
            len = len << 8 | buf[pos + i];
        for (int i = 3; i >= 0; i--)
            c1 = c1 << 8 | buf[pos + 8 + i];
        if (c1 != tb_masked_crc32c(buf + pos, 8) || len > n - pos - 16) {
            framing = 0;
            break;
        }
        const unsigned char *data = buf + pos + 12;
        for (int i = 3; i >= 0; i--)
            c2 = c2 << 8 | data[len + i];
        if (c2 != tb_masked_crc32c(data, len)) {
            framing = 0;
            break;
        }
        for (int t = 0; t < 4; t++)
            tags[t] |= has(data, len, want[t]);
        records++;
        pos += 16 + len;
    }
    free(buf);
    char what[200];
    snprintf(what, sizeof what, "%s: %zu TFRecords, CRCs valid, framing ends at EOF (%zu bytes), "
             "tags %d%d%d%d", path, records, n, tags[0], tags[1], tags[2], tags[3]);
    check(framing && pos == n && records >= 2 && tags[0] && tags[1] && tags[2] && tags[3], what);
    return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "te-frozen"))
        return te_frozen(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "tfevents"))
        return tfevents(argv[2]);
    const char *top = getenv("top_srcdir");
    if (!top)
        top = ".";
    char model[1024], cfgdir[1024];
    snprintf(model, sizeof model, "%s/tests/fixtures/checkpoint-sd1/model.safetensors", top);
    snprintf(cfgdir, sizeof cfgdir, "%s/tests/fixtures/pipeline-sd1", top);
    error_info err = {0};
    if (sd_model_load(model, NULL, cfgdir, &m, &err) != 0) {
        printf("FAIL  load: %s %s\n", err.file, err.message);
        return 1;
    }
    network_options no;
    network_options_init(&no);
    no.seed = 3;
    clip_model *tes[2] = {&m->te[0], &m->te[1]};
    if (network_create(&net, &no, &m->unet, tes, m->n_te, &err) != 0) {
        printf("FAIL  network: %s\n", err.message);
        return 1;
    }
    /* non-zero up weights so every adapter and the context path carry gradient */
    k_randn(net.params, net.n_params, 11, 0);
    for (size_t i = 0; i < net.n_params; i++)
        net.params[i] *= 0.2f;
    network_attach(&net);
    sd_model_adapters_changed(m);
    k_randn(lat, sizeof lat / sizeof lat[0], 5, 0);
    k_randn(noise, sizeof noise / sizeof noise[0], 6, 0);
    ctx = malloc((size_t)B * 227 * sd_model_context_dim(m) * sizeof(float));
    dctx = malloc((size_t)B * 227 * sd_model_context_dim(m) * sizeof(float));
    static batch_sample smp[B];
    smp[0].caption = "a photo of zqx ring, red and white stripes";
    smp[1].caption = "zqx ring on a table";
    bt.count = B;
    bt.samples = smp;

    check_context(75, 0);
    check_context(150, 0);

    train_step_options so;
    train_step_options_init(&so);
    if (train_step_init(&st, &so, &m->unet, &net, 0, &err) != 0 ||
        trun_te_init(&te, m, B, 1, 75, &err) != 0) {
        printf("FAIL  init: %s\n", err.message);
        return 1;
    }
    float *grad = fd_check("");

    /* weighted_captions: weights far from 1 (a weight scales its rows forward and their
     * gradient backward), the second caption over 75 tokens for the 150 case */
    static batch_sample wsmp[B];
    wsmp[0].caption = "(a photo:1.8) of [[zqx ring]], (red:0.4) and white stripes";
    wsmp[1].caption = "(zqx ring:2.5) on a table, a (cup:0.3) of coffee, (((a book))), a plant in "
                      "a pot, a lamp, a clock on the wall, a cat sleeping on a chair, rain outside, "
                      "reflections on the glass, [a red umbrella], (a wooden door:1.6)";
    bt.samples = wsmp;
    check_context(75, 1);
    check_context(150, 1);
    te.weighted = 1;
    bt.samples = smp;
    smp[0].caption = "(a photo:1.8) of [[zqx ring]], (red:0.4) and white stripes";
    smp[1].caption = "(zqx ring:2.5) on a table";
    float *wgrad = fd_check("weighted_captions: ");
    te.weighted = 0;
    double d = 0;
    for (size_t i = net.n_unet ? net.mods[net.n_unet].down_off : 0; i < net.n_params; i++)
        d = fmax(d, fabs((double)wgrad[i] - grad[i]));
    check(d > 0, "weighted_captions changes the text encoder gradients");
    free(wgrad);
    free(grad);

    free(ctx);
    free(dctx);
    trun_te_free(&te);
    train_step_free(&st);
    network_free(&net);
    sd_model_adapters_changed(m);
    sd_model_free(m);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
