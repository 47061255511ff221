/* test_conv2d_grad.c — k_conv2d_forward against hand-computed 3×3 results on a 4×5 image
 * (stride 1 and 2) and a direct-loop reference; input, weight and bias gradients against
 * finite differences for 3×3, 1×1, strided and non-square kernels on odd shapes (C not a
 * multiple of 4, N > 1, H ≠ W, stride 2 with odd sizes); accumulation and NULL gradients. */
#include "kernels/kernels.h"
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct conv {
    k_conv2d_dims d;
    float *inp, *w, *b, *out, *proj, *scratch;
    size_t no;
} conv;

static double conv_loss(void *p)
{
    conv *c = p;
    k_conv2d_forward(c->out, c->inp, c->w, c->b, c->scratch, &c->d);
    return gc_dot(c->out, c->proj, c->no);
}

/* Direct convolution in double: the independent forward reference. */
static void conv_ref(float *out, const conv *c)
{
    const k_conv2d_dims *d = &c->d;
    int OH = k_conv2d_out_h(d), OW = k_conv2d_out_w(d);
    for (int n = 0; n < d->N; n++)
        for (int o = 0; o < d->C_out; o++)
            for (int oh = 0; oh < OH; oh++)
                for (int ow = 0; ow < OW; ow++) {
                    double s = c->b ? c->b[o] : 0.0;
                    for (int i = 0; i < d->C_in; i++)
                        for (int kh = 0; kh < d->KH; kh++)
                            for (int kw = 0; kw < d->KW; kw++) {
                                int ih = oh * d->stride - d->pad + kh;
                                int iw = ow * d->stride - d->pad + kw;
                                if (ih < 0 || ih >= d->H || iw < 0 || iw >= d->W)
                                    continue;
                                s += (double)c->inp[((size_t)(n * d->C_in + i) * d->H + ih) * d->W + iw]
                                     * c->w[((size_t)(o * d->C_in + i) * d->KH + kh) * d->KW + kw];
                            }
                    out[((size_t)(n * d->C_out + o) * OH + oh) * OW + ow] = (float)s;
                }
}

static size_t check_shape(k_conv2d_dims d, int with_bias, uint64_t seed)
{
    conv c = { .d = d };
    int OH = k_conv2d_out_h(&d), OW = k_conv2d_out_w(&d);
    size_t ni = (size_t)d.N * d.C_in * d.H * d.W, nw = (size_t)d.C_out * d.C_in * d.KH * d.KW;
    c.no = (size_t)d.N * d.C_out * OH * OW;
    size_t ns = k_conv2d_scratch_floats(&d);
    c.inp = gc_zalloc(ni);
    c.w = gc_zalloc(nw);
    c.b = with_bias ? gc_zalloc(d.C_out) : NULL;
    c.out = gc_zalloc(c.no);
    c.proj = gc_zalloc(c.no);
    c.scratch = ns ? gc_zalloc(ns) : NULL;
    gc_fill_uniform(c.inp, ni, &seed, -1, 1);
    gc_fill_uniform(c.w, nw, &seed, -1, 1);
    if (c.b)
        gc_fill_uniform(c.b, d.C_out, &seed, -1, 1);
    gc_fill_uniform(c.proj, c.no, &seed, -1, 1);

    char tag[96], name[128];
    snprintf(tag, sizeof tag, "conv %dx%dx%dx%d k%dx%d s%d p%d ->%d%s", d.N, d.C_in, d.H, d.W,
             d.KH, d.KW, d.stride, d.pad, d.C_out, c.b ? " +b" : "");
    size_t fails = 0;
    float *ref = gc_zalloc(c.no);
    conv_ref(ref, &c);
    conv_loss(&c);
    snprintf(name, sizeof name, "%s forward", tag);
    fails += gc_expect_close(name, c.out, ref, c.no, 1e-5, 1e-5);

    float *di = gc_zalloc(ni), *dw = gc_zalloc(nw), *db = gc_zalloc(d.C_out);
    k_conv2d_backward(di, dw, c.b ? db : NULL, c.proj, c.inp, c.w, c.scratch, &d);
    gc_opts o = gc_default_opts();
    o.max_checks = 300; /* all of the small shapes; a spread sample of the large one */
    snprintf(name, sizeof name, "%s dinp", tag);
    fails += gc_check(name, conv_loss, &c, c.inp, di, ni, &o);
    snprintf(name, sizeof name, "%s dweight", tag);
    fails += gc_check(name, conv_loss, &c, c.w, dw, nw, &o);
    if (c.b) {
        snprintf(name, sizeof name, "%s dbias", tag);
        fails += gc_check(name, conv_loss, &c, c.b, db, d.C_out, &o);
    }

    /* accumulation and NULL gradients: input-only then weight-only passes. col2im adds the
     * taps one by one onto what is there, so 2·di is matched to rounding, not bit for bit. */
    float *di2 = gc_zalloc(ni), *dw2 = gc_zalloc(nw);
    memcpy(di2, di, ni * sizeof *di2);
    k_conv2d_backward(di2, NULL, NULL, c.proj, c.inp, c.w, c.scratch, &d);
    k_conv2d_backward(NULL, dw2, NULL, c.proj, c.inp, c.w, c.scratch, &d);
    size_t bad = 0;
    for (size_t i = 0; i < ni; i++)
        bad += fabsf(di2[i] - 2.0f * di[i]) > 1e-5f * (1.0f + fabsf(di[i]));
    for (size_t i = 0; i < nw; i++)
        bad += dw2[i] != dw[i];
    if (bad)
        printf("%s accumulate/NULL: %zu mismatches FAIL\n", tag, bad);
    fails += bad;

    free(ref); free(di); free(dw); free(db); free(di2); free(dw2);
    free(c.inp); free(c.w); free(c.b); free(c.out); free(c.proj); free(c.scratch);
    return fails;
}

static size_t check_hand_computed(void)
{
    /* x[h][w] = 5h + w on a 4×5 image; all-ones 3×3 kernel, padding 1, bias 0.5:
     * each output is the sum of the in-bounds 3×3 neighbourhood plus 0.5. */
    float x[20], w[9], b = 0.5f, out[20], scratch[9 * 20];
    for (int i = 0; i < 20; i++)
        x[i] = (float)i;
    for (int i = 0; i < 9; i++)
        w[i] = 1.0f;
    static const float sums[20] = { 12, 21, 27, 33, 24, 33, 54, 63, 72, 51,
                                    63, 99, 108, 117, 81, 52, 81, 87, 93, 64 };
    float want[20];
    for (int i = 0; i < 20; i++)
        want[i] = sums[i] + 0.5f;
    k_conv2d_dims d = { .N = 1, .C_in = 1, .H = 4, .W = 5, .C_out = 1, .KH = 3, .KW = 3,
                        .stride = 1, .pad = 1 };
    size_t fails = 0;
    if (k_conv2d_scratch_floats(&d) > 9 * 20)
        return 1;
    k_conv2d_forward(out, x, w, &b, scratch, &d);
    fails += gc_expect_close("conv 3x3 on 4x5 hand-computed", out, want, 20, 1e-5, 0);

    /* stride 2: rows 0, 2 and columns 0, 2, 4 of the stride-1 result; out is 2×3 */
    d.stride = 2;
    float want2[6] = { 12.5f, 27.5f, 24.5f, 63.5f, 108.5f, 81.5f };
    if (k_conv2d_out_h(&d) != 2 || k_conv2d_out_w(&d) != 3)
        fails++;
    k_conv2d_forward(out, x, w, &b, scratch, &d);
    fails += gc_expect_close("conv 3x3 s2 on 4x5 hand-computed", out, want2, 6, 1e-5, 0);

    /* centre-tap kernel (identity) with no bias reproduces the image */
    memset(w, 0, sizeof w);
    w[4] = 2.0f;
    d.stride = 1;
    float want3[20];
    for (int i = 0; i < 20; i++)
        want3[i] = 2.0f * x[i];
    k_conv2d_forward(out, x, w, NULL, scratch, &d);
    fails += gc_expect_close("conv 3x3 centre tap", out, want3, 20, 0, 0);
    return fails;
}

int main(void)
{
    size_t fails = check_hand_computed();
    fails += check_shape((k_conv2d_dims){ 2, 3, 5, 7, 5, 3, 3, 1, 1 }, 1, 21);
    fails += check_shape((k_conv2d_dims){ 2, 3, 7, 5, 6, 3, 3, 2, 1 }, 1, 22);
    fails += check_shape((k_conv2d_dims){ 3, 5, 3, 4, 7, 1, 1, 1, 0 }, 1, 23);
    fails += check_shape((k_conv2d_dims){ 1, 2, 6, 5, 3, 2, 3, 2, 0 }, 0, 24);
    fails += check_shape((k_conv2d_dims){ 2, 3, 5, 6, 2, 1, 1, 2, 0 }, 1, 25);
    /* big enough for the OpenMP im2col/col2im path */
    fails += check_shape((k_conv2d_dims){ 2, 19, 16, 13, 6, 3, 3, 1, 1 }, 1, 26);
    printf("%s\n", fails ? "FAILED" : "all ok");
    return fails ? 1 : 0;
}
