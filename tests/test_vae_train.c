/* test_vae_train.c — training the VAE's own weights (engine/models/vae_train.h) on a tiny
 * AutoencoderKL (block_out {8, 16}, 4 groups, 1 layer per block, mid attention, quant convs,
 * random weights):
 *  - the loss parts (L1 and L2 reconstruction, KL) against sums written out here from the
 *    step's own latents and reconstruction, and the decoder conv_out bias gradient against its
 *    closed form (the mean sign / residual per channel), which covers L1's backward;
 *  - central finite differences of the total L2 + KL loss w.r.t. a few elements of EVERY
 *    tensor of the manifest, and w.r.t. the input image (its gradient chained here from
 *    vae_decode_backward and vae_encode_backward, which must also give the step's own
 *    parameter gradients);
 *  - the logvar clamp: a channel pushed past [-30, 20] gets exactly zero gradient;
 *  - vae_decode_backward w.r.t. the latents: finite differences, and bit-identical with and
 *    without parameter gradients;
 *  - 200 Adam steps on two fixed 16x16 images cut the reconstruction loss at least 10×, with
 *    no allocation after the plan (the arenas keep their memory). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/check.h"
#include "tests/gradcheck.h"

#include "engine/models/vae_train.h"

#define GN 2   /* batch of the gradient checks */
#define GH 8

typedef struct loss_ctx {
    vae_model *m;
    const float *img, *noise;
    int N, H, W;
    float kw;
    vae_loss_kind kind;
} loss_ctx;

static vae_config tiny_config(void)
{
    vae_config c = {.in_channels = 3, .out_channels = 3, .latent_channels = 4, .n_blocks = 2,
                    .block_out = {8, 16}, .layers_per_block = 1, .norm_num_groups = 4,
                    .use_quant_conv = 1, .use_post_quant_conv = 1, .mid_attention = 1,
                    .sample_size = 16, .scaling_factor = 1.0f};
    return c;
}

/* Weights U(±1/√fan_in), biases U(±0.1), norm weights 1 + U(±spread). */
static void init_weights(vae_model *m, const vae_param_info *list, int count, uint64_t seed, float spread)
{
    for (int i = 0; i < count; i++) {
        const vae_param_info *p = &list[i];
        float *x = m->params + p->offset;
        if (p->ndim >= 2) {
            float s = 1.0f / sqrtf((float)(p->numel / (size_t)p->shape[0]));
            gc_fill_uniform(x, p->numel, &seed, -s, s);
        } else if (strstr(p->name, "norm") && strstr(p->name, ".weight")) {
            gc_fill_uniform(x, p->numel, &seed, 1.0f - spread, 1.0f + spread);
        } else {
            gc_fill_uniform(x, p->numel, &seed, -0.1f, 0.1f);
        }
    }
}

static void fill_normal(float *x, size_t n, uint64_t *seed)
{
    for (size_t i = 0; i < n; i++) {
        float u[2];
        gc_fill_uniform(u, 2, seed, 0.0f, 1.0f);
        x[i] = sqrtf(-2.0f * logf(u[0] + 1e-12f)) * cosf(6.2831853f * u[1]);
    }
}

static const vae_param_info *find_param(const vae_param_info *list, int count, const char *name)
{
    for (int i = 0; i < count; i++)
        if (!strcmp(list[i].name, name))
            return &list[i];
    return NULL;
}

static double total_loss(void *p)
{
    loss_ctx *c = p;
    vae_loss_parts parts;
    error_info err = {0};
    if (vae_train_loss(c->m, c->img, c->noise, c->N, c->H, c->W, c->kw, c->kind, &parts, &err))
        return NAN;
    return parts.total;
}

static void test_loss_values(vae_model *m, const vae_param_info *list, int count, const float *img,
                             const float *noise)
{
    error_info err = {0};
    int N = GN, H = GH, W = GH, h = H / 2, w = W / 2;
    size_t ni = (size_t)N * 3 * H * W, nl = (size_t)N * 4 * h * w, P = ni / ((size_t)N * 3);
    float *grads = gc_zalloc(m->n_params);
    const vae_param_info *bias = find_param(list, count, "decoder.conv_out.bias");
    CHECK(bias != NULL, "no decoder.conv_out.bias");
    for (int k = 0; k < 2 && bias; k++) {
        vae_loss_kind kind = k ? VAE_LOSS_L1 : VAE_LOSS_L2;
        vae_loss_parts parts;
        memset(grads, 0, m->n_params * sizeof(float));
        vae_set_param_grads(m, grads);
        CHECK(!vae_train_loss(m, img, noise, N, H, W, 0.25f, kind, &parts, &err), "train loss: %s", err.message);
        vae_set_param_grads(m, NULL);
        const float *rec = vae_train_reconstruction(m);
        double recon = 0, kl = 0, db[3] = {0};
        for (size_t i = 0; i < ni; i++) {
            double d = (double)rec[i] - img[i];
            recon += kind == VAE_LOSS_L1 ? fabs(d) : d * d;
            db[(i / P) % 3] += kind == VAE_LOSS_L1 ? (d > 0) - (d < 0) : 2 * d;
        }
        recon /= (double)ni;
        for (size_t i = 0; i < nl; i++) {
            double mu = m->mean[i], lv = m->logvar[i], sd = exp(0.5 * lv);
            kl += 0.5 * (mu * mu + sd * sd - 1 - lv);
            CHECK(fabs(m->sample[i] - (mu + sd * noise[i])) <= 1e-5 * (1 + fabs(m->sample[i])), "sample %zu", i);
        }
        kl /= N;
        const char *name = k ? "L1" : "L2";
        CHECK(fabs(parts.recon - recon) <= 1e-6 * recon, "%s recon %.9g, by hand %.9g", name, parts.recon, recon);
        CHECK(fabs(parts.kl - kl) <= 1e-6 * kl, "%s kl %.9g, by hand %.9g", name, parts.kl, kl);
        CHECK(fabs(parts.total - (recon + 0.25 * kl)) <= 1e-6 * parts.total, "%s total %.9g", name, parts.total);
        float want[3];
        for (int c = 0; c < 3; c++)
            want[c] = (float)(db[c] / (double)ni);
        printf("%s: recon %.6f kl %.4f total %.6f\n", name, parts.recon, parts.kl, parts.total);
        failures += (int)gc_expect_close(k ? "L1 d decoder.conv_out.bias" : "L2 d decoder.conv_out.bias",
                                         grads + bias->offset, want, 3, 1e-6, 1e-4);
    }
    free(grads);
}

/* dL/dimage of the total L2 loss, chained from the public backward passes; grads2 (may be NULL)
 * receives the parameter gradients of the same chain. */
static void chained_image_grad(loss_ctx *c, float *dimg, float *grads2)
{
    vae_model *m = c->m;
    error_info err = {0};
    int N = c->N, H = c->H, W = c->W, h = H / 2, w = W / 2;
    size_t ni = (size_t)N * 3 * H * W, nl = (size_t)N * 4 * h * w;
    float *drec = gc_zalloc(ni), *dz = gc_zalloc(nl), *dmean = gc_zalloc(nl), *dlv = gc_zalloc(nl);
    vae_set_param_grads(m, NULL);
    total_loss(c);   /* forward only: latents and reconstruction */
    const float *rec = vae_train_reconstruction(m);
    for (size_t i = 0; i < ni; i++)
        drec[i] = (float)(2.0 * ((double)rec[i] - c->img[i]) / (double)ni);
    vae_set_param_grads(m, grads2);
    CHECK(!vae_decode_backward(m, dz, drec, &err), "decode backward: %s", err.message);
    for (size_t i = 0; i < nl; i++) {
        double lv = m->logvar[i];
        dmean[i] = (float)(dz[i] + c->kw * m->mean[i] / N);
        dlv[i] = (float)(dz[i] * c->noise[i] * 0.5 * exp(0.5 * lv) + c->kw * 0.5 * (exp(lv) - 1) / N);
    }
    CHECK(!vae_encode_backward(m, dimg, dmean, dlv, &err), "encode backward: %s", err.message);
    vae_set_param_grads(m, NULL);
    for (size_t i = 0; i < ni; i++)   /* the image is the reconstruction's target too */
        dimg[i] -= drec[i];
    free(drec), free(dz), free(dmean), free(dlv);
}

static void test_gradients(vae_model *m, const vae_param_info *list, int count, float *img, const float *noise)
{
    error_info err = {0};
    loss_ctx c = {m, img, noise, GN, GH, GH, 0.5f, VAE_LOSS_L2};
    float *grads = gc_zalloc(m->n_params), *grads2 = gc_zalloc(m->n_params);
    vae_set_param_grads(m, grads);
    vae_loss_parts parts;
    CHECK(!vae_train_loss(m, img, noise, GN, GH, GH, c.kw, c.kind, &parts, &err), "train loss: %s", err.message);
    vae_set_param_grads(m, NULL);

    gc_opts o = gc_default_opts();
    o.h = 5e-3, o.rtol = 2e-2, o.max_checks = 3, o.quiet = 1;
    int bad_tensors = 0;
    for (int i = 0; i < count; i++) {
        const vae_param_info *p = &list[i];
        double gmax = 0;
        for (size_t j = 0; j < p->numel; j++)
            gmax = fmax(gmax, fabs(grads[p->offset + j]));
        /* relative to the tensor's own gradient scale, above the f32 differences' noise (measured
         * under 7e-6 on to_k.bias, whose gradient is 0: softmax ignores a key bias); the smallest
         * tensor's largest gradient is about 2e-3 */
        o.atol = 1e-3 * gmax + 2e-5;
        CHECK(gmax > 0, "%s: all-zero gradient", p->name);
        size_t f = gc_check(p->name, total_loss, &c, m->params + p->offset, grads + p->offset, p->numel, &o);
        bad_tensors += f > 0;
    }
    CHECK(!bad_tensors, "%d of %d parameter tensors failed the gradient check", bad_tensors, count);
    printf("parameter gradients: %d tensors checked, %d failed\n", count, bad_tensors);

    size_t ni = (size_t)GN * 3 * GH * GH;
    float *dimg = gc_zalloc(ni);
    chained_image_grad(&c, dimg, grads2);
    double gmax = 0, pmax = 0, pdiff = 0;
    for (size_t i = 0; i < ni; i++)
        gmax = fmax(gmax, fabs(dimg[i]));
    for (size_t i = 0; i < m->n_params; i++) {
        pmax = fmax(pmax, fabs(grads[i]));
        pdiff = fmax(pdiff, fabs(grads[i] - grads2[i]));
    }
    CHECK(pdiff <= 1e-4 * pmax, "chained parameter gradients differ from the step's: %g (max %g)", pdiff, pmax);
    o.atol = 1e-3 * gmax, o.max_checks = 48, o.quiet = 0;
    failures += gc_check("d total / d image", total_loss, &c, img, dimg, ni, &o) > 0;
    free(dimg), free(grads), free(grads2);
}

static void test_clamp(vae_model *m, const vae_param_info *list, int count, const float *img, const float *noise)
{
    error_info err = {0};
    const vae_param_info *qb = find_param(list, count, "quant_conv.bias");
    const vae_param_info *qw = find_param(list, count, "quant_conv.weight");
    CHECK(qb && qw, "no quant_conv");
    if (!qb || !qw)
        return;
    int L = 4, rowlen = 2 * L;
    float *b = m->params + qb->offset, saved[2] = {b[L], b[L + 1]};
    b[L] = 60.0f, b[L + 1] = -60.0f;   /* logvar channels 0 and 1 far outside [-30, 20] */
    float *grads = gc_zalloc(m->n_params);
    vae_set_param_grads(m, grads);
    vae_loss_parts parts;
    CHECK(!vae_train_loss(m, img, noise, GN, GH, GH, 0.5f, VAE_LOSS_L2, &parts, &err), "clamped loss: %s",
          err.message);
    vae_set_param_grads(m, NULL);
    size_t hw = (GH / 2) * (GH / 2);
    CHECK(m->logvar[0] == 20.0f && m->logvar[hw] == -30.0f, "logvar not clamped: %g %g", m->logvar[0],
          m->logvar[hw]);
    const float *gb = grads + qb->offset, *gw = grads + qw->offset;
    int zero = gb[L] == 0.0f && gb[L + 1] == 0.0f, other = gb[L + 2] != 0.0f && gb[0] != 0.0f;
    for (int k = 0; k < rowlen; k++)
        zero = zero && gw[L * rowlen + k] == 0.0f && gw[(L + 1) * rowlen + k] == 0.0f;
    CHECK(zero, "clamped logvar channels got gradient: bias %g %g", gb[L], gb[L + 1]);
    CHECK(other, "unclamped channels got no gradient");
    printf("logvar clamp: %s\n", zero && other ? "ok" : "FAIL");
    b[L] = saved[0], b[L + 1] = saved[1];
    free(grads);
}

typedef struct dec_ctx {
    vae_model *m;
    float *z, *out;
    const float *proj;
    int N, h, w;
} dec_ctx;

static double decode_loss(void *p)
{
    dec_ctx *c = p;
    error_info err = {0};
    if (vae_decode(c->m, c->out, c->z, c->N, c->h, c->w, &err))
        return NAN;
    return gc_dot(c->out, c->proj, (size_t)c->N * 3 * c->h * 2 * c->w * 2);
}

static void test_decode_backward(vae_model *m)
{
    error_info err = {0};
    int N = GN, h = GH / 2, w = GH / 2;
    size_t nl = (size_t)N * 4 * h * w, ni = (size_t)N * 3 * 4 * h * w;
    uint64_t seed = 77;
    float *z = gc_zalloc(nl), *out = gc_zalloc(ni), *proj = gc_zalloc(ni);
    float *dz0 = gc_zalloc(nl), *dz1 = gc_zalloc(nl), *grads = gc_zalloc(m->n_params);
    gc_fill_uniform(z, nl, &seed, -1, 1);
    gc_fill_uniform(proj, ni, &seed, -1, 1);
    dec_ctx c = {m, z, out, proj, N, h, w};
    CHECK(!vae_plan_decoder(m, N, h, w, 1, &err), "plan decoder: %s", err.message);
    decode_loss(&c);
    CHECK(!vae_decode_backward(m, dz0, proj, &err), "decode backward: %s", err.message);
    vae_set_param_grads(m, grads);
    CHECK(!vae_decode_backward(m, dz1, proj, &err), "decode backward with grads: %s", err.message);
    vae_set_param_grads(m, NULL);
    CHECK(!memcmp(dz0, dz1, nl * sizeof(float)), "dz differs with parameter gradients on");
    gc_opts o = gc_default_opts();
    o.max_checks = 32;
    failures += gc_check("decode d latents", decode_loss, &c, z, dz0, nl, &o) > 0;
    /* a decoder re-planned without backward no longer serves the training step */
    CHECK(!vae_plan_decoder(m, N, h, w, 0, &err), "plan decoder: %s", err.message);
    CHECK(vae_train_loss(m, proj, NULL, N, 2 * h, 2 * w, 0, VAE_LOSS_L2, NULL, &err) != 0,
          "train loss ran on a forward-only decoder plan");
    free(z), free(out), free(proj), free(dz0), free(dz1), free(grads);
}

static void test_training(const vae_config *cfg)
{
    error_info err = {0};
    vae_model m;
    vae_param_info *list;
    int count;
    if (vae_create(&m, cfg, &err) || vae_manifest(cfg, &list, &count, &err)) {
        CHECK(0, "create: %s", err.message);
        return;
    }
    init_weights(&m, list, count, 4242, 0.0f);
    int N = 2, H = 16, W = 16, steps = 200;
    size_t ni = (size_t)N * 3 * H * W, nl = (size_t)N * 4 * (H / 2) * (W / 2), np = m.n_params;
    float *img = gc_zalloc(ni), *noise = gc_zalloc(nl), *grads = gc_zalloc(np);
    float *m1 = gc_zalloc(np), *m2 = gc_zalloc(np);
    for (int n = 0; n < N; n++)   /* two smooth colour patterns */
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    img[(((size_t)n * 3 + c) * H + y) * W + x] =
                        0.8f * sinf(0.4f * (float)(n ? y : x) + 1.3f * (float)c) * cosf(0.25f * (float)(n ? x : y));
    CHECK(!vae_plan_train(&m, N, H, W, &err), "plan train: %s", err.message);
    const float *bases[3] = {m.enc.acts.base, m.dec.acts.base, m.train.ws.base};
    vae_loss_parts p0, p;
    CHECK(!vae_train_loss(&m, img, NULL, N, H, W, 0, VAE_LOSS_L2, &p0, &err), "eval: %s", err.message);
    uint64_t seed = 99;
    float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f;
    vae_set_param_grads(&m, grads);
    for (int s = 1; s <= steps; s++) {
        fill_normal(noise, nl, &seed);
        memset(grads, 0, np * sizeof(float));
        if (vae_train_loss(&m, img, noise, N, H, W, 1e-4f, VAE_LOSS_L2, &p, &err)) {
            CHECK(0, "step %d: %s", s, err.message);
            break;
        }
        float c1 = 1.0f - powf(b1, (float)s), c2 = 1.0f - powf(b2, (float)s);
        for (size_t i = 0; i < np; i++) {
            m1[i] = b1 * m1[i] + (1 - b1) * grads[i];
            m2[i] = b2 * m2[i] + (1 - b2) * grads[i] * grads[i];
            m.params[i] -= lr * (m1[i] / c1) / (sqrtf(m2[i] / c2) + 1e-8f);
        }
        if (s % 50 == 0)
            printf("step %3d: recon %.5f kl %.2f\n", s, p.recon, p.kl);
    }
    vae_set_param_grads(&m, NULL);
    CHECK(!vae_train_loss(&m, img, NULL, N, H, W, 0, VAE_LOSS_L2, &p, &err), "eval: %s", err.message);
    printf("training: reconstruction (latent mean) %.5f -> %.5f (%.1fx)\n", p0.recon, p.recon, p0.recon / p.recon);
    CHECK(p.recon * 10 < p0.recon, "200 steps cut the reconstruction loss only from %g to %g", p0.recon, p.recon);
    CHECK(bases[0] == m.enc.acts.base && bases[1] == m.dec.acts.base && bases[2] == m.train.ws.base &&
              m.enc.acts.n_allocs == 1 && m.dec.acts.n_allocs == 1 && m.train.ws.n_allocs == 1,
          "the training step reallocated its arenas");
    free(img), free(noise), free(grads), free(m1), free(m2), free(list);
    vae_free(&m);
}

int main(void)
{
    vae_config cfg = tiny_config();
    error_info err = {0};
    vae_model m;
    vae_param_info *list;
    int count;
    if (vae_create(&m, &cfg, &err) || vae_manifest(&cfg, &list, &count, &err)) {
        fprintf(stderr, "create: %s\n", err.message);
        return 1;
    }
    init_weights(&m, list, count, 1234, 0.3f);
    size_t ni = (size_t)GN * 3 * GH * GH, nl = (size_t)GN * 4 * (GH / 2) * (GH / 2);
    float *img = gc_zalloc(ni), *noise = gc_zalloc(nl);
    uint64_t seed = 5;
    gc_fill_uniform(img, ni, &seed, -1, 1);
    fill_normal(noise, nl, &seed);
    if (vae_plan_train(&m, GN, GH, GH, &err)) {
        fprintf(stderr, "plan: %s\n", err.message);
        return 1;
    }
    test_loss_values(&m, list, count, img, noise);
    test_gradients(&m, list, count, img, noise);
    test_clamp(&m, list, count, img, noise);
    test_decode_backward(&m);
    test_training(&cfg);
    free(img), free(noise), free(list);
    vae_free(&m);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures != 0;
}
