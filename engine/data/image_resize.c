/* image_resize.c — sd-scripts' resize and crop of a training image; see image_resize.h.
 *
 * Two resamplers, both separable:
 *  - PIL's (Resample.c, ImagingResample): per output pixel a window of source pixels weighted
 *    by the filter, normalised, turned into 22-bit fixed point; horizontal pass first, its
 *    result clipped to 8 bits, then the vertical pass.
 *  - OpenCV's (imgproc resize.cpp): per output pixel a short list of (source index, weight)
 *    taps from the interpolation's formula, accumulated in double, rounded once at the end. */
#include "engine/data/image_resize.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int resize_interp_parse(const char *name, resize_interp *out, error_info *err)
{
    static const struct { const char *name; resize_interp v; } names[] = {
        {"lanczos", RESIZE_LANCZOS}, {"lanczos4", RESIZE_LANCZOS}, {"area", RESIZE_AREA},
        {"box", RESIZE_BOX}, {"bilinear", RESIZE_BILINEAR}, {"linear", RESIZE_BILINEAR},
        {"bicubic", RESIZE_BICUBIC}, {"cubic", RESIZE_BICUBIC}, {"nearest", RESIZE_NEAREST},
    };
    if (!name || !*name) {
        *out = RESIZE_AUTO;
        return 0;
    }
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strcmp(name, names[i].name) == 0) {
            *out = names[i].v;
            return 0;
        }
    return error_set(err, NULL, 0, 0, "resize_interpolation",
                     "unknown interpolation \"%s\" (lanczos, nearest, bilinear, bicubic, area, box)",
                     name);
}

resize_interp resize_interp_resolve(resize_interp interp, int w, int h, int rw, int rh)
{
    if (interp != RESIZE_AUTO)
        return interp;
    return w >= rw && h >= rh ? RESIZE_AREA : RESIZE_LANCZOS;
}

/* ---- PIL ---- */

#define PIL_PRECISION_BITS (32 - 8 - 2)

static double pil_sinc(double x)
{
    if (x == 0.0)
        return 1.0;
    x *= M_PI;
    return sin(x) / x;
}

static double pil_lanczos(double x)
{
    return -3.0 <= x && x < 3.0 ? pil_sinc(x) * pil_sinc(x / 3.0) : 0.0;
}

static double pil_box(double x)
{
    return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
}

/* precompute_coeffs + normalize_coeffs_8bpc: bounds[2·o] = first source pixel, [2·o+1] =
 * count; kk[o·ksize + i] = fixed-point weight. Returns ksize, 0 when out of memory. */
static int pil_coeffs(int in_size, int out_size, double (*filter)(double), double support0,
                      int **bounds_out, int32_t **kk_out)
{
    double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
    double support = support0 * filterscale;
    int ksize = (int)ceil(support) * 2 + 1;
    int *bounds = malloc(sizeof *bounds * 2 * (size_t)out_size);
    int32_t *kk = calloc((size_t)out_size * ksize, sizeof *kk);
    double *k = malloc(sizeof *k * (size_t)ksize);
    if (!bounds || !kk || !k) {
        free(bounds), free(kk), free(k);
        return 0;
    }
    for (int xx = 0; xx < out_size; xx++) {
        double center = (xx + 0.5) * scale, ww = 0.0, ss = 1.0 / filterscale;
        int xmin = (int)(center - support + 0.5), xmax = (int)(center + support + 0.5);
        if (xmin < 0)
            xmin = 0;
        if (xmax > in_size)
            xmax = in_size;
        xmax -= xmin;
        for (int x = 0; x < xmax; x++) {
            k[x] = filter((x + xmin - center + 0.5) * ss);
            ww += k[x];
        }
        for (int x = 0; x < xmax; x++) {
            double w = ww != 0.0 ? k[x] / ww : k[x];
            double f = w * (1 << PIL_PRECISION_BITS);
            kk[(size_t)xx * ksize + x] = (int32_t)(w < 0 ? -0.5 + f : 0.5 + f);
        }
        bounds[2 * xx] = xmin;
        bounds[2 * xx + 1] = xmax;
    }
    free(k);
    *bounds_out = bounds;
    *kk_out = kk;
    return ksize;
}

static uint8_t pil_clip8(int64_t v)
{
    if (v >= (int64_t)1 << PIL_PRECISION_BITS << 8)
        return 255;
    if (v <= 0)
        return 0;
    return (uint8_t)(v >> PIL_PRECISION_BITS);
}

/* One pass along x (stride_px = 1 pixel) or y (stride_px = one row) over `lines` lines of
 * pixels of nch channels. */
static void pil_pass(const uint8_t *src, uint8_t *dst, int lines, int out_len, int ksize,
                     const int *bounds, const int32_t *kk, size_t src_line, size_t src_step,
                     size_t dst_line, size_t dst_step, int nch)
{
    for (int l = 0; l < lines; l++)
        for (int o = 0; o < out_len; o++) {
            const int32_t *k = kk + (size_t)o * ksize;
            int xmin = bounds[2 * o], n = bounds[2 * o + 1];
            for (int c = 0; c < nch; c++) {
                int64_t ss = (int64_t)1 << (PIL_PRECISION_BITS - 1);
                for (int i = 0; i < n; i++)
                    ss += (int64_t)src[l * src_line + (size_t)(xmin + i) * src_step + c] * k[i];
                dst[l * dst_line + (size_t)o * dst_step + c] = pil_clip8(ss);
            }
        }
}

/* W×H → rw×rh of nch interleaved channels. */
static int pil_resize(const uint8_t *in, int W, int H, uint8_t *out, int rw, int rh, int nch,
                      double (*filter)(double), double support, error_info *err)
{
    int *bh = NULL, *bv = NULL;
    int32_t *kh = NULL, *kv = NULL;
    int ksh = pil_coeffs(W, rw, filter, support, &bh, &kh);
    int ksv = pil_coeffs(H, rh, filter, support, &bv, &kv);
    size_t C = (size_t)nch;
    uint8_t *tmp = malloc((size_t)rw * H * C);
    int rc = 0;
    if (!ksh || !ksv || !tmp) {
        rc = error_set(err, NULL, 0, 0, NULL, "out of memory resizing to %dx%d", rw, rh);
        goto done;
    }
    /* PIL skips a pass whose size does not change. The order of the two passes matters
     * (the intermediate is clipped to 8 bits). Pillow 13 runs the vertical pass first when
     * the height shrinks and the width grows, horizontal first whenever the height grows
     * (both found by comparing against its output: exact on every mixed case we tried).
     * When both sides shrink, its choice is not a rule we could pin down (horizontal first,
     * as Pillow's published Resample.c, matched 85 of 125 sizes tried; the others differ
     * by a few levels). sd-scripts' default never gets here: it shrinks with area. */
    int vertical_first = rh < H && rw > W;
    if (rw == W || rh == H)
        vertical_first = 0;
    if (vertical_first) {
        uint8_t *vt = malloc((size_t)W * rh * C);
        if (!vt) {
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory resizing to %dx%d", rw, rh);
            goto done;
        }
        pil_pass(in, vt, W, rh, ksv, bv, kv, C, (size_t)W * C, C, (size_t)W * C, nch);
        pil_pass(vt, out, rh, rw, ksh, bh, kh, (size_t)W * C, C, (size_t)rw * C, C, nch);
        free(vt);
        goto done;
    }
    if (rw != W)
        pil_pass(in, tmp, H, rw, ksh, bh, kh, (size_t)W * C, C, (size_t)rw * C, C, nch);
    else
        memcpy(tmp, in, (size_t)W * H * C);
    if (rh != H)
        pil_pass(tmp, out, rw, rh, ksv, bv, kv, C, (size_t)rw * C, C, (size_t)rw * C, nch);
    else
        memcpy(out, tmp, (size_t)rw * H * C);
done:
    free(bh), free(bv), free(kh), free(kv), free(tmp);
    return rc;
}

/* ---- OpenCV ---- */

#define CV_MAX_TAPS 4

typedef struct cv_taps {   /* for one output index: up to 4 taps, or an area window */
    int first, count;      /* area: a run of source indices; others: idx[] */
    int idx[CV_MAX_TAPS];
    double w[CV_MAX_TAPS];
    double *area_w;        /* area: count weights (into a shared pool) */
} cv_taps;

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* computeResizeAreaTab: the source cells an output cell covers, weighted by overlap. */
static int cv_area_taps(int ssize, int dsize, cv_taps *t, double **pool)
{
    double scale = (double)ssize / dsize;
    size_t cap = (size_t)dsize * ((size_t)ceil(scale) + 2);
    double *w = malloc(sizeof *w * cap);
    if (!w)
        return -1;
    *pool = w;
    size_t used = 0;
    for (int dx = 0; dx < dsize; dx++) {
        double fsx1 = dx * scale, fsx2 = fsx1 + scale;
        double cell = scale < ssize - fsx1 ? scale : ssize - fsx1;
        int sx1 = (int)ceil(fsx1), sx2 = (int)floor(fsx2);
        sx2 = sx2 < ssize - 1 ? sx2 : ssize - 1;
        sx1 = sx1 < sx2 ? sx1 : sx2;
        t[dx].area_w = w + used;
        t[dx].count = 0;
        t[dx].first = sx1;
        if (sx1 - fsx1 > 1e-3) {
            t[dx].first = sx1 - 1;
            w[used++] = (sx1 - fsx1) / cell;
            t[dx].count++;
        }
        for (int sx = sx1; sx < sx2; sx++, t[dx].count++)
            w[used++] = 1.0 / cell;
        if (fsx2 - sx2 > 1e-3) {
            double part = fsx2 - sx2 < 1.0 ? fsx2 - sx2 : 1.0;
            w[used++] = (part < cell ? part : cell) / cell;
            t[dx].count++;
        }
    }
    return 0;
}

/* The interpolating kinds: linear (also INTER_AREA when enlarging), cubic, nearest-exact. */
static void cv_interp_taps(int ssize, int dsize, resize_interp kind, cv_taps *t)
{
    double scale = (double)ssize / dsize, inv_scale = (double)dsize / ssize;
    if (kind == RESIZE_NEAREST) {
        int ifx = ((ssize << 16) + dsize / 2) / dsize, ifx0 = ifx / 2 - ssize % 2;
        for (int dx = 0; dx < dsize; dx++) {
            int sx = (ifx * dx + ifx0) >> 16;
            t[dx] = (cv_taps){.count = 1, .idx = {sx < ssize - 1 ? sx : ssize - 1}, .w = {1.0}};
        }
        return;
    }
    for (int dx = 0; dx < dsize; dx++) {
        float fx;
        int sx;
        if (kind == RESIZE_AREA) {   /* cv2's area_mode coefficients */
            sx = (int)floor(dx * scale);
            fx = (float)((dx + 1) - (sx + 1) * inv_scale);
            fx = fx <= 0 ? 0.f : fx - floorf(fx);
        } else {
            fx = (float)((dx + 0.5) * scale - 0.5);
            sx = (int)floorf(fx);
            fx -= (float)sx;
        }
        t[dx] = (cv_taps){0};
        if (kind == RESIZE_BICUBIC) {
            const float A = -0.75f, x = fx;
            float c0 = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
            float c1 = ((A + 2) * x - (A + 3)) * x * x + 1;
            float c2 = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
            float c[4] = {c0, c1, c2, 1.f - c0 - c1 - c2};
            t[dx].count = 4;
            for (int k = 0; k < 4; k++) {
                t[dx].idx[k] = clampi(sx - 1 + k, 0, ssize - 1);   /* border replicate */
                t[dx].w[k] = c[k];
            }
        } else {
            if (sx < 0)
                fx = 0, sx = 0;
            if (sx >= ssize - 1)
                fx = 0, sx = ssize - 1;
            t[dx].count = 2;
            t[dx].idx[0] = sx;
            t[dx].idx[1] = clampi(sx + 1, 0, ssize - 1);
            t[dx].w[0] = 1.f - fx;
            t[dx].w[1] = fx;
        }
    }
}

static double cv_apply(const cv_taps *t, const double *v, size_t step)
{
    double s = 0;
    if (t->area_w) {
        for (int i = 0; i < t->count; i++)
            s += t->area_w[i] * v[(size_t)(t->first + i) * step];
    } else {
        for (int i = 0; i < t->count; i++)
            s += t->w[i] * v[(size_t)t->idx[i] * step];
    }
    return s;
}

/* W×H → rw×rh of nch interleaved channels. */
static int cv_resize(const uint8_t *in, int W, int H, uint8_t *out, int rw, int rh, int nch,
                     resize_interp kind, error_info *err)
{
    /* INTER_AREA averages only when shrinking both sides; otherwise cv2 interpolates
     * linearly with its "area mode" coefficients */
    int area = kind == RESIZE_AREA && W >= rw && H >= rh;
    size_t C = (size_t)nch;
    cv_taps *tx = calloc((size_t)rw, sizeof *tx), *ty = calloc((size_t)rh, sizeof *ty);
    double *px = NULL, *py = NULL;
    double *src = malloc(sizeof *src * (size_t)W * H * C);
    double *mid = malloc(sizeof *mid * (size_t)rw * H * C);
    int rc = 0;
    if (!tx || !ty || !src || !mid
        || (area && (cv_area_taps(W, rw, tx, &px) || cv_area_taps(H, rh, ty, &py)))) {
        rc = error_set(err, NULL, 0, 0, NULL, "out of memory resizing to %dx%d", rw, rh);
        goto done;
    }
    if (!area) {
        cv_interp_taps(W, rw, kind, tx);
        cv_interp_taps(H, rh, kind, ty);
    }
    for (size_t i = 0; i < (size_t)W * H * C; i++)
        src[i] = in[i];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < rw; x++)
            for (size_t c = 0; c < C; c++)
                mid[((size_t)y * rw + x) * C + c] = cv_apply(&tx[x], src + (size_t)y * W * C + c, C);
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++)
            for (size_t c = 0; c < C; c++) {
                double v = cv_apply(&ty[y], mid + (size_t)x * C + c, (size_t)rw * C);
                v = nearbyint(v);   /* cvRound: to nearest, ties to even */
                out[((size_t)y * rw + x) * C + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
done:
    free(tx), free(ty), free(px), free(py), free(src), free(mid);
    return rc;
}

static int resize_channels(const uint8_t *in, int W, int H, uint8_t *out, int rw, int rh,
                           int nch, resize_interp kind, error_info *err)
{
    switch (kind) {
    case RESIZE_LANCZOS: return pil_resize(in, W, H, out, rw, rh, nch, pil_lanczos, 3.0, err);
    case RESIZE_BOX: return pil_resize(in, W, H, out, rw, rh, nch, pil_box, 0.5, err);
    default: return cv_resize(in, W, H, out, rw, rh, nch, kind, err);
    }
}

/* PIL resizes RGBA premultiplied (Image.resize converts to "RGBa" and back): Pillow's
 * rgbA2rgba, c·a/255 rounded as MULDIV255, and rgba2rgbA, 255·c / a truncated and clipped,
 * colours kept where a is 0 or 255. OpenCV resizes every channel on its own. */
static void premultiply(uint8_t *rgb, const uint8_t *alpha, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < 3; c++) {
            unsigned t = (unsigned)rgb[3 * i + c] * alpha[i] + 128u;
            rgb[3 * i + c] = (uint8_t)(((t >> 8) + t) >> 8);
        }
}

static void unpremultiply(uint8_t *rgb, const uint8_t *alpha, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned a = alpha[i];
        if (a == 0 || a == 255)
            continue;
        for (int c = 0; c < 3; c++) {
            unsigned v = 255u * rgb[3 * i + c] / a;
            rgb[3 * i + c] = (uint8_t)(v > 255 ? 255 : v);
        }
    }
}

int image_resize(const image_rgb8 *in, int rw, int rh, resize_interp interp, image_rgb8 *out,
                 error_info *err)
{
    *out = (image_rgb8){0};
    int W = in->width, H = in->height;
    if (rw <= 0 || rh <= 0 || W <= 0 || H <= 0)
        return error_set(err, NULL, 0, 0, NULL, "cannot resize %dx%d to %dx%d", W, H, rw, rh);
    size_t n = (size_t)rw * rh;
    out->data = malloc(n * 3);
    out->alpha = in->alpha ? malloc(n) : NULL;
    if (!out->data || (in->alpha && !out->alpha)) {
        image_free(out);
        return error_set(err, NULL, 0, 0, NULL, "out of memory resizing to %dx%d", rw, rh);
    }
    out->width = rw;
    out->height = rh;
    if (rw == W && rh == H) {
        memcpy(out->data, in->data, n * 3);
        if (in->alpha)
            memcpy(out->alpha, in->alpha, n);
        return 0;
    }
    resize_interp kind = resize_interp_resolve(interp, W, H, rw, rh);
    int rc = 0;
    if (in->alpha && (kind == RESIZE_LANCZOS || kind == RESIZE_BOX)) {
        uint8_t *pm = malloc((size_t)W * H * 3);
        if (!pm)
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory resizing to %dx%d", rw, rh);
        if (rc == 0) {
            memcpy(pm, in->data, (size_t)W * H * 3);
            premultiply(pm, in->alpha, (size_t)W * H);
            rc = resize_channels(pm, W, H, out->data, rw, rh, 3, kind, err);
        }
        free(pm);
        if (rc == 0)
            rc = resize_channels(in->alpha, W, H, out->alpha, rw, rh, 1, kind, err);
        if (rc == 0)
            unpremultiply(out->data, out->alpha, n);
    } else {
        rc = resize_channels(in->data, W, H, out->data, rw, rh, 3, kind, err);
        if (rc == 0 && in->alpha)
            rc = resize_channels(in->alpha, W, H, out->alpha, rw, rh, 1, kind, err);
    }
    if (rc != 0)
        image_free(out);
    return rc;
}

void image_placement_center(image_placement *p)
{
    int ex = p->resized.width - p->bucket.width, ey = p->resized.height - p->bucket.height;
    p->crop_x = ex > 0 ? ex / 2 : 0;
    p->crop_y = ey > 0 ? ey / 2 : 0;
}

int image_prepare_alpha(const image_rgb8 *img, const image_placement *p, resize_interp interp,
                        float *chw, float *alpha, error_info *err)
{
    image_rgb8 r;
    if (image_resize(img, p->resized.width, p->resized.height, interp, &r, err) != 0)
        return -1;
    int bw = p->bucket.width, bh = p->bucket.height;
    /* sd-scripts crops only a side that is larger than the bucket; a smaller one would fail
     * its size assertion */
    if (r.width < bw || r.height < bh || p->crop_x < 0 || p->crop_y < 0
        || p->crop_x + bw > r.width || p->crop_y + bh > r.height) {
        image_free(&r);
        return error_set(err, NULL, 0, 0, NULL,
                         "crop %dx%d at (%d, %d) does not fit the resized %dx%d image", bw, bh,
                         p->crop_x, p->crop_y, p->resized.width, p->resized.height);
    }
    size_t plane = (size_t)bw * bh;
    uint8_t lut[256];
    if (p->color.kind == COLOR_AUG_GAMMA)
        color_aug_gamma_lut(&p->color, lut);
    int vector_end = bw - bw % COLOR_AUG_CV_LANES;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            int sx = p->crop_x + (p->flip ? bw - 1 - x : x);
            size_t at = (size_t)(p->crop_y + y) * r.width + sx;
            const uint8_t *src = r.data + at * 3;
            uint8_t s[3] = {src[0], src[1], src[2]};
            /* per pixel, so before or after the flip alike; cv2's path depends on the column
             * in the unflipped crop */
            if (p->color.kind != COLOR_AUG_NONE)
                color_aug_pixel(&p->color, lut, s, sx - p->crop_x < vector_end);
            if (chw)
                for (int c = 0; c < 3; c++)
                    chw[c * plane + (size_t)y * bw + x] = ((float)s[c] / 255.0f - 0.5f) / 0.5f;
            /* sd-scripts: img[:, :, 3].astype(np.float32) / 255.0 (f32), ones without alpha */
            if (alpha)
                alpha[(size_t)y * bw + x] = r.alpha ? (float)r.alpha[at] / 255.0f : 1.0f;
        }
    image_free(&r);
    return 0;
}

int image_prepare(const image_rgb8 *img, const image_placement *p, resize_interp interp,
                  float *chw, error_info *err)
{
    return image_prepare_alpha(img, p, interp, chw, NULL, err);
}

/* Python's a // b for floats. */
static double py_floordiv(double a, double b)
{
    return floor(a / b);
}

void image_sdxl_crop_top_left(bucket_reso bucket, int orig_w, int orig_h, bool flipped,
                              int *top, int *left)
{
    double bucket_ar = (double)bucket.width / bucket.height;
    double image_ar = (double)orig_w / orig_h;
    double rw, rh;
    if (bucket_ar > image_ar) {
        rw = bucket.height * image_ar;
        rh = bucket.height;
    } else {
        rw = bucket.width;
        rh = bucket.width / image_ar;
    }
    double crop_left = py_floordiv(bucket.width - rw, 2), crop_top = py_floordiv(bucket.height - rh, 2);
    double crop_right = crop_left + rw;
    double l = flipped ? bucket.width - crop_right : crop_left;
    *top = (int)crop_top;   /* int() truncates toward zero */
    *left = (int)l;
}
