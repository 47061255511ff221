/* test_layers_grad.c — Linear and Conv2d layers with a LoRA adapter: the forward equals
 * W x + b + scale · up(down(x)) computed by hand from the plain ops, and every gradient
 * (input, base weight and bias, LoRA down and up) passes a finite-difference check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/models/layers.h"
#include "tests/gradcheck.h"

typedef struct lin_ctx {
    linear_layer *l;
    float *inp, *out, *proj, *scratch;
    int rows;
} lin_ctx;

static double lin_loss(void *p)
{
    lin_ctx *c = p;
    linear_layer_forward(c->l, c->out, c->inp, c->rows, c->scratch);
    return gc_dot(c->out, c->proj, (size_t)c->rows * c->l->out);
}

static size_t test_linear(void)
{
    uint64_t rng = 7;
    int rows = 5, in = 7, out = 6, rank = 3;
    float *w = gc_zalloc((size_t)out * in), *b = gc_zalloc(out), *dw = gc_zalloc((size_t)out * in),
          *db = gc_zalloc(out);
    float *down = gc_zalloc((size_t)rank * in), *up = gc_zalloc((size_t)out * rank);
    float *ddown = gc_zalloc((size_t)rank * in), *dup = gc_zalloc((size_t)out * rank);
    float *hidden = gc_zalloc((size_t)rows * rank);
    float *x = gc_zalloc((size_t)rows * in), *dx = gc_zalloc((size_t)rows * in);
    float *y = gc_zalloc((size_t)rows * out), *proj = gc_zalloc((size_t)rows * out);
    gc_fill_uniform(w, (size_t)out * in, &rng, -1, 1);
    gc_fill_uniform(b, out, &rng, -1, 1);
    gc_fill_uniform(down, (size_t)rank * in, &rng, -1, 1);
    gc_fill_uniform(up, (size_t)out * rank, &rng, -1, 1);   /* non-zero so every path is seen */
    gc_fill_uniform(x, (size_t)rows * in, &rng, -1, 1);
    gc_fill_uniform(proj, (size_t)rows * out, &rng, -1, 1);
    lora_adapter a = {.rank = rank, .scale = 0.75f, .down = down, .up = up, .ddown = ddown, .dup = dup, .hidden = hidden};
    linear_layer l = {in, out, w, b, dw, db, &a};
    float *scratch = gc_zalloc(linear_layer_scratch_floats(&l, rows));

    /* forward by hand */
    float *base = gc_zalloc((size_t)rows * out), *h = gc_zalloc((size_t)rows * rank), *lo = gc_zalloc((size_t)rows * out);
    k_linear_forward(base, x, w, b, rows, in, out);
    k_linear_forward(h, x, down, NULL, rows, in, rank);
    k_linear_forward(lo, h, up, NULL, rows, rank, out);
    for (int i = 0; i < rows * out; i++)
        base[i] += 0.75f * lo[i];
    linear_layer_forward(&l, y, x, rows, scratch);
    size_t bad = gc_expect_close("linear+lora forward", y, base, (size_t)rows * out, 1e-5, 1e-5);

    linear_layer_backward(&l, dx, proj, x, rows, scratch);
    lin_ctx c = {&l, x, y, proj, scratch, rows};
    gc_opts o = gc_default_opts();
    bad += gc_check("linear dinp", lin_loss, &c, x, dx, (size_t)rows * in, &o);
    bad += gc_check("linear dweight", lin_loss, &c, w, dw, (size_t)out * in, &o);
    bad += gc_check("linear dbias", lin_loss, &c, b, db, out, &o);
    bad += gc_check("linear lora ddown", lin_loss, &c, down, ddown, (size_t)rank * in, &o);
    bad += gc_check("linear lora dup", lin_loss, &c, up, dup, (size_t)out * rank, &o);
    free(w); free(b); free(dw); free(db); free(down); free(up); free(ddown); free(dup); free(hidden);
    free(x); free(dx); free(y); free(proj); free(scratch); free(base); free(h); free(lo);
    return bad;
}

typedef struct conv_ctx {
    conv_layer *c;
    float *inp, *out, *proj, *scratch;
    int N, H, W;
    size_t out_n;
} conv_ctx;

static double conv_loss(void *p)
{
    conv_ctx *c = p;
    conv_layer_forward(c->c, c->out, c->inp, c->N, c->H, c->W, c->scratch);
    return gc_dot(c->out, c->proj, c->out_n);
}

static size_t test_conv(int kernel, int stride, int pad)
{
    uint64_t rng = 11;
    int N = 2, Cin = 3, Cout = 5, H = 7, W = 6, rank = 2;
    conv_layer probe = {Cin, Cout, kernel, stride, pad, NULL, NULL, NULL, NULL, NULL};
    int OH = conv_layer_out_size(&probe, H), OW = conv_layer_out_size(&probe, W);
    size_t wn = (size_t)Cout * Cin * kernel * kernel, dn = (size_t)rank * Cin * kernel * kernel;
    size_t xn = (size_t)N * Cin * H * W, yn = (size_t)N * Cout * OH * OW;
    float *w = gc_zalloc(wn), *b = gc_zalloc(Cout), *dw = gc_zalloc(wn), *db = gc_zalloc(Cout);
    float *down = gc_zalloc(dn), *up = gc_zalloc((size_t)Cout * rank), *ddown = gc_zalloc(dn),
          *dup = gc_zalloc((size_t)Cout * rank), *hidden = gc_zalloc((size_t)N * rank * OH * OW);
    float *x = gc_zalloc(xn), *dx = gc_zalloc(xn), *y = gc_zalloc(yn), *proj = gc_zalloc(yn);
    gc_fill_uniform(w, wn, &rng, -1, 1);
    gc_fill_uniform(b, Cout, &rng, -1, 1);
    gc_fill_uniform(down, dn, &rng, -1, 1);
    gc_fill_uniform(up, (size_t)Cout * rank, &rng, -1, 1);
    gc_fill_uniform(x, xn, &rng, -1, 1);
    gc_fill_uniform(proj, yn, &rng, -1, 1);
    lora_adapter a = {.rank = rank, .scale = 0.5f, .down = down, .up = up, .ddown = ddown, .dup = dup, .hidden = hidden};
    conv_layer c = {Cin, Cout, kernel, stride, pad, w, b, dw, db, &a};
    float *scratch = gc_zalloc(conv_layer_scratch_floats(&c, N, H, W));
    conv_layer_forward(&c, y, x, N, H, W, scratch);
    conv_layer_backward(&c, dx, proj, x, N, H, W, scratch);
    conv_ctx ctx = {&c, x, y, proj, scratch, N, H, W, yn};
    gc_opts o = gc_default_opts();
    char name[64];
    size_t bad = 0;
    snprintf(name, sizeof name, "conv%dx%d/s%d dinp", kernel, kernel, stride);
    bad += gc_check(name, conv_loss, &ctx, x, dx, xn, &o);
    snprintf(name, sizeof name, "conv%dx%d/s%d dweight", kernel, kernel, stride);
    bad += gc_check(name, conv_loss, &ctx, w, dw, wn, &o);
    snprintf(name, sizeof name, "conv%dx%d/s%d dbias", kernel, kernel, stride);
    bad += gc_check(name, conv_loss, &ctx, b, db, Cout, &o);
    snprintf(name, sizeof name, "conv%dx%d/s%d lora ddown", kernel, kernel, stride);
    bad += gc_check(name, conv_loss, &ctx, down, ddown, dn, &o);
    snprintf(name, sizeof name, "conv%dx%d/s%d lora dup", kernel, kernel, stride);
    bad += gc_check(name, conv_loss, &ctx, up, dup, (size_t)Cout * rank, &o);
    free(w); free(b); free(dw); free(db); free(down); free(up); free(ddown); free(dup); free(hidden);
    free(x); free(dx); free(y); free(proj); free(scratch);
    return bad;
}

int main(void)
{
    size_t bad = test_linear() + test_conv(3, 1, 1) + test_conv(3, 2, 1) + test_conv(1, 1, 0);
    printf("%s\n", bad ? "FAILED" : "all layer gradients match");
    return bad ? 1 : 0;
}
