/* test_train_ztsnr.c — zero_terminal_snr in the training step, as sd-scripts trains it: on the
 * tiny SD1 U-Net with a LoRA, a v-prediction step at t = 999 feeds the U-Net pure noise
 * (x_t = ε bit for bit) against the target −x0; at t = 500 x_t is built from the rescaled ᾱ
 * (engine/train/noise_schedule.h, checked against sd-scripts' function in
 * test_noise_schedule), which differs from the plain one; the SNR weights keep the original
 * all_snr (sd-scripts computes it before the rescale), so min_snr_gamma stays finite at 999;
 * without the option t = 999 keeps a trace of x0. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/lora/network.h"
#include "engine/models/unet.h"
#include "engine/safetensors.h"
#include "engine/train/noise_schedule.h"
#include "engine/train/train.h"
#include "tests/check.h"

enum { B = 2, C = 4, H = 16, W = 16, T = 7 };

static void die(const error_info *err)
{
    char buf[2048];
    error_format(err, buf, sizeof buf);
    fprintf(stderr, "FAIL: %s\n", buf);
    exit(1);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    top = top ? top : ".";
    char path[4096];
    error_info err = {0};
    unet_config cfg;
    unet_model m;
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/config.json", top);
    if (unet_config_load(&cfg, path, &err) != 0 || unet_build(&m, &cfg, &err) != 0)
        die(&err);
    weight_store *ws = weights_new();
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/weights.safetensors", top);
    if (weights_add_file(ws, path, NULL, NULL, &err) != 0 || unet_load(&m, ws, &err) != 0)
        die(&err);
    weights_free(ws);
    snprintf(path, sizeof path, "%s/tests/fixtures/train-sd1/inputs.safetensors", top);
    safetensors_file *in;
    static float x0[B * C * H * W], ctx[B * T * 32];
    if (safetensors_open(path, &in, &err) != 0 ||
        safetensors_read_f32(safetensors_find(in, "latents"), x0, &err) != 0 ||
        safetensors_read_f32(safetensors_find(in, "context"), ctx, &err) != 0)
        die(&err);
    safetensors_close(in);
    lora_network net;
    network_options no;
    network_options_init(&no);
    no.dim = 4, no.train_te = 0, no.seed = 7;
    if (network_create(&net, &no, &m, NULL, 0, &err) != 0)
        die(&err);
    network_attach(&net);

    noise_schedule plain, z;
    if (noise_schedule_init(&plain, 0.00085, 0.012, 1000, &err) != 0)
        die(&err);
    z = plain;
    noise_schedule_zero_terminal_snr(&z);
    const size_t n = (size_t)B * C * H * W;
    for (int ztsnr = 1; ztsnr >= 0; ztsnr--) {
        train_step_options so;
        train_step_options_init(&so);
        so.seed = 42;
        so.v_parameterization = 1;
        so.min_snr_gamma = 5.0f;
        so.zero_terminal_snr = ztsnr;
        train_step st;
        if (train_step_init(&st, &so, &m, &net, 0, &err) != 0)
            die(&err);
        train_step_cond cond = {ctx, NULL, NULL, NULL, NULL, NULL};
        int t999[B] = {999, 999}, t500[B] = {500, 500};
        double loss;
        if (train_step_eval_cond(&st, x0, &cond, B, H, W, T, NULL, NULL, t999, &loss, &err) != 0)
            die(&err);
        bool pure = true, minus_x0 = true;
        for (size_t i = 0; i < n; i++) {
            pure &= st.x_t[i] == st.noise[i];
            minus_x0 &= st.target[i] == -x0[i];
        }
        if (ztsnr) {
            CHECK(pure, "zero_terminal_snr: x_t at t = 999 is not the noise itself");
            CHECK(minus_x0, "zero_terminal_snr: the v target at t = 999 is not -x0");
            CHECK(isfinite(loss) && loss > 0, "loss at t = 999 with min_snr_gamma: %g", loss);
            CHECK(st.ac[999] == 0.0f && st.ac[500] == z.alphas_cumprod[500], "ᾱ is not the rescaled one");
        } else {
            CHECK(!pure && !minus_x0, "without zero_terminal_snr t = 999 still holds x0");
        }
        for (int t = 0; t < 1000; t++)   /* all_snr from the original schedule either way */
            CHECK(fabsf(st.snr[t] - plain.all_snr[t]) <= 1e-5f * plain.all_snr[t], "snr[%d] %g, want %g", t,
                  st.snr[t], plain.all_snr[t]);
        if (train_step_eval_cond(&st, x0, &cond, B, H, W, T, NULL, NULL, t500, &loss, &err) != 0)
            die(&err);
        const noise_schedule *ns = ztsnr ? &z : &plain;
        float sa = sqrtf(ns->alphas_cumprod[500]), sb = sqrtf(1.0f - ns->alphas_cumprod[500]);
        double worst = 0.0;
        for (size_t i = 0; i < n; i++)
            worst = fmax(worst, fabs((double)st.x_t[i] - (sa * x0[i] + sb * st.noise[i])));
        CHECK(worst <= 1e-6, "%s: x_t at t = 500 off by %g", ztsnr ? "zero_terminal_snr" : "plain", worst);
        printf("%-18s t=999: x_t = noise %s, target = -x0 %s; t=500: ᾱ %.6f, x_t within %.1e; loss %.5f\n",
               ztsnr ? "zero_terminal_snr" : "plain schedule", pure ? "yes" : "no", minus_x0 ? "yes" : "no",
               ns->alphas_cumprod[500], worst, loss);
        train_step_free(&st);
    }
    CHECK(z.alphas_cumprod[500] != plain.alphas_cumprod[500], "the rescale changed nothing at t = 500");
    network_free(&net);
    unet_free(&m);
    return failures != 0;
}
