/* test_train_run.c — the text encoder path of the training run on the tiny SD1 model
 * (tests/fixtures/checkpoint-sd1 with tests/fixtures/pipeline-sd1's configs):
 *   - trun_te_forward's joined context equals sd_encode_prompt's for 75 and 150 tokens;
 *   - the gradient of the training loss with respect to text-encoder LoRA weights, taken
 *     through the U-Net's context gradient and trun_te_backward, matches central finite
 *     differences of the loss (fixed noise and timesteps; ≤ 2e-2 relative to the largest
 *     gradient checked, f32 loss). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static float *ctx;
static batch bt;

static double loss_and_grad(int with_grad)
{
    error_info err = {0};
    static const int ts[B] = {120, 640};
    int T = 0;
    double loss = 0;
    network_zero_grad(&net);
    if (trun_te_forward(&te, &bt, ctx, &T, &err) != 0 ||
        train_step_run(&st, lat, ctx, B, H, W, T, NULL, noise, ts, &loss, &err) != 0) {
        printf("FAIL  step: %s\n", err.message);
        exit(1);
    }
    if (with_grad)
        trun_te_backward(&te, arena_get(&st.acts.arena, st.acts.dcontext_id));
    return loss;
}

static void check_context(int mtl)
{
    error_info err = {0};
    trun_te t;
    int T = 0, T2 = 0;
    if (trun_te_init(&t, m, B, 2, mtl, &err) != 0 || trun_te_forward(&t, &bt, ctx, &T, &err) != 0) {
        printf("FAIL  te init/forward: %s\n", err.message);
        exit(1);
    }
    int D = sd_model_context_dim(m);
    float *ref = malloc((size_t)T * D * sizeof(float));
    double worst = 0, mx = 0;
    for (int b = 0; b < B; b++) {
        if (sd_encode_prompt(m, bt.samples[b].caption, 2, mtl, ref, &T2, NULL, &err) != 0)
            exit(1);
        for (size_t i = 0; i < (size_t)T * D; i++) {
            double e = fabs(ref[i] - ctx[(size_t)b * T * D + i]);
            worst = e > worst ? e : worst;
            mx = fabs(ref[i]) > mx ? fabs(ref[i]) : mx;
        }
    }
    char what[160];
    snprintf(what, sizeof what, "max_token_length %d clip_skip 2: context equals sd_encode_prompt's "
             "(T %d = %d, max err %.2g of %.3g)", mtl, T, T2, worst, mx);
    check(T == T2 && worst <= 1e-5 * (mx > 1 ? mx : 1), what);
    free(ref);
    trun_te_free(&t);
}

int main(void)
{
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
    static batch_sample smp[B];
    smp[0].caption = "a photo of zqx ring, red and white stripes";
    smp[1].caption = "zqx ring on a table";
    bt.count = B;
    bt.samples = smp;

    check_context(75);
    check_context(150);

    train_step_options so;
    train_step_options_init(&so);
    if (train_step_init(&st, &so, &m->unet, &net, 0, &err) != 0 ||
        trun_te_init(&te, m, B, 1, 75, &err) != 0) {
        printf("FAIL  init: %s\n", err.message);
        return 1;
    }
    loss_and_grad(1);
    float *grad = malloc(net.n_params * sizeof(float));
    memcpy(grad, net.grads, net.n_params * sizeof(float));
    /* the largest text-encoder gradients, down and up, first and last layer */
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
    char what[160];
    snprintf(what, sizeof what, "text encoder LoRA gradients vs finite differences (%d weights, max "
             "err %.3g of max grad %.3g)", np, emax, gmax);
    check(gmax > 0 && emax <= 2e-2 * gmax, what);

    free(grad);
    free(ctx);
    trun_te_free(&te);
    train_step_free(&st);
    network_free(&net);
    sd_model_adapters_changed(m);
    sd_model_free(m);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures ? 1 : 0;
}
