/* lora_apply.c — attaching LoRA and LyCORIS files to a loaded model for sampling (see
 * lora_apply.h): each file module's keys give its algorithm, the tensors' shapes its
 * lora_adapter fields, checked against the layer before anything is attached. */
#include "engine/sample/lora_apply.h"

#include <cblas.h>
#include <nettle/sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/torch_load.h"
#include "fileio.h"

/* The tensors a module may have, by the suffix after its kohya name. */
enum {
    K_DOWN, K_UP, K_MID, K_ALPHA,
    K_HADA_W1A, K_HADA_W1B, K_HADA_W2A, K_HADA_W2B, K_HADA_T1, K_HADA_T2,
    K_LOKR_W1, K_LOKR_W1A, K_LOKR_W1B, K_LOKR_W2, K_LOKR_W2A, K_LOKR_W2B, K_LOKR_T1, K_LOKR_T2,
    K_IA3, K_ON_INPUT, K_DIFF, K_DIFF_B, K_A1, K_A2, K_B1, K_B2, K_OFT, K_RESCALE, K_DORA,
    K_W_NORM, K_B_NORM,
    K_COUNT
};

static const char *const SUFFIX[K_COUNT] = {
    [K_DOWN] = "lora_down.weight", [K_UP] = "lora_up.weight", [K_MID] = "lora_mid.weight",
    [K_ALPHA] = "alpha",
    [K_HADA_W1A] = "hada_w1_a", [K_HADA_W1B] = "hada_w1_b", [K_HADA_W2A] = "hada_w2_a",
    [K_HADA_W2B] = "hada_w2_b", [K_HADA_T1] = "hada_t1", [K_HADA_T2] = "hada_t2",
    [K_LOKR_W1] = "lokr_w1", [K_LOKR_W1A] = "lokr_w1_a", [K_LOKR_W1B] = "lokr_w1_b",
    [K_LOKR_W2] = "lokr_w2", [K_LOKR_W2A] = "lokr_w2_a", [K_LOKR_W2B] = "lokr_w2_b",
    [K_LOKR_T1] = "lokr_t1", [K_LOKR_T2] = "lokr_t2",
    [K_IA3] = "weight", [K_ON_INPUT] = "on_input", [K_DIFF] = "diff", [K_DIFF_B] = "diff_b",
    [K_A1] = "a1.weight", [K_A2] = "a2.weight", [K_B1] = "b1.weight", [K_B2] = "b2.weight",
    [K_OFT] = "oft_blocks", [K_RESCALE] = "rescale", [K_DORA] = "dora_scale",
    [K_W_NORM] = "w_norm", [K_B_NORM] = "b_norm",
};

/* The algorithm each key belongs to (-1: alpha and dora_scale, which any may have; both OFTs
 * under Diag-OFT until oft_blocks' rank tells them apart). */
static int key_family(int k)
{
    if (k <= K_MID)
        return LORA_KIND_LORA;
    if (k >= K_HADA_W1A && k <= K_HADA_T2)
        return LORA_KIND_LOHA;
    if (k >= K_LOKR_W1 && k <= K_LOKR_T2)
        return LORA_KIND_LOKR;
    if (k == K_IA3 || k == K_ON_INPUT)
        return LORA_KIND_IA3;
    if (k == K_DIFF || k == K_DIFF_B)
        return LORA_KIND_FULL;
    if (k >= K_A1 && k <= K_B2)
        return LORA_KIND_GLORA;
    if (k == K_OFT || k == K_RESCALE)
        return LORA_KIND_DIAG_OFT;
    if (k == K_W_NORM || k == K_B_NORM)
        return LORA_KIND_NORM;
    return -1;
}

static const char *family_label(int f)
{
    static const char *const labels[] = {
        [LORA_KIND_LORA] = "LoRA", [LORA_KIND_LOHA] = "LoHa", [LORA_KIND_LOKR] = "LoKr",
        [LORA_KIND_IA3] = "iA3", [LORA_KIND_FULL] = "full", [LORA_KIND_GLORA] = "GLoRA",
        [LORA_KIND_DIAG_OFT] = "OFT", [LORA_KIND_BOFT] = "BOFT", [LORA_KIND_NORM] = "norm",
    };
    return labels[f];
}

/* One module of the file: its tensors by key. */
typedef struct file_module {
    char name[160];
    const safetensors_tensor *t[K_COUNT];
} file_module;

/* The layer a module is applied to. */
typedef struct target {
    linear_layer *lin;
    conv_layer *conv;
    long point;
    int extra_rows;
    int in, out, kernel;
    size_t cols;          /* in · k · k */
    const float *weight, *bias;   /* bias NULL: none */
    int has_bias;
} target;

/* LyCORIS' extra U-Net modules (unet_target_name): conv_in, conv_out, time_embedding. */
static int find_extra(sd_model *m, const char *name, target *t)
{
    unet_model *u = &m->unet;
    if (strcmp(name, "lora_unet_conv_in") == 0)
        t->conv = &u->conv_in;
    else if (strcmp(name, "lora_unet_conv_out") == 0)
        t->conv = &u->conv_out;
    else if (strcmp(name, "lora_unet_time_embedding_linear_1") == 0)
        t->lin = &u->time_1, t->extra_rows = 1;
    else if (strcmp(name, "lora_unet_time_embedding_linear_2") == 0)
        t->lin = &u->time_2, t->extra_rows = 1;
    else
        return 0;
    t->point = -2;
    return 1;
}

/* The layer a kohya module name means, or 0. */
static int find_layer(sd_model *m, const char *name, target *t)
{
    memset(t, 0, sizeof *t);
    t->point = -1;
    if (strncmp(name, "lora_unet_", 10) == 0) {
        const unet_lora_point *p = unet_find_lora_point(&m->unet, name);
        if (p) {
            t->lin = p->linear;
            t->conv = p->conv;
            t->point = (long)(p - m->unet.points);
        } else if (!find_extra(m, name, t))
            return 0;
    } else {
        for (int i = 0; i < m->n_te && !t->lin; i++) {
            int n = clip_lora_targets(&m->te[i], NULL, 0);
            clip_lora_target *c = malloc((size_t)n * sizeof *c);
            if (!c)
                return 0;
            clip_lora_targets(&m->te[i], c, n);
            for (int k = 0; k < n && !t->lin; k++)
                if (strcmp(c[k].name, name) == 0)
                    t->lin = c[k].layer;
            free(c);
        }
        if (!t->lin)
            return 0;
    }
    t->in = t->lin ? t->lin->in : t->conv->in;
    t->out = t->lin ? t->lin->out : t->conv->out;
    t->kernel = t->lin ? 1 : t->conv->kernel;
    t->cols = (size_t)t->in * t->kernel * t->kernel;
    t->weight = t->lin ? t->lin->weight : t->conv->weight;
    t->bias = t->lin ? t->lin->bias : t->conv->bias;
    t->has_bias = t->bias != NULL;
    return 1;
}

/* Counts a name and lists the first few in names[size]. */
static void note(size_t *count, char *names, size_t size, const char *name)
{
    if ((*count)++ < 4) {
        size_t len = strlen(names);
        snprintf(names + len, size - len, "%s%s", len ? ", " : "", name);
    }
}

static void note_unmatched(lora_apply *la, const char *name)
{
    note(&la->unmatched, la->unmatched_names, sizeof la->unmatched_names, name);
}

/* ---- shapes ---- */

static void shape_text(char *buf, size_t size, const safetensors_tensor *t)
{
    size_t used = (size_t)snprintf(buf, size, "[");
    for (int d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* Rows (the first dimension) and columns (the rest, flattened: a conv factor [r, c, k, k] is
 * the matrix [r, c·k·k] the layers use) of a tensor. */
static int64_t rows_of(const safetensors_tensor *t)
{
    return t->ndim > 0 ? t->shape[0] : 1;
}

static int64_t cols_of(const safetensors_tensor *t)
{
    int64_t r = rows_of(t);
    return r > 0 ? (int64_t)t->nelements / r : 0;
}

static int fits(const safetensors_tensor *t, int64_t rows, int64_t cols)
{
    return rows > 0 && cols > 0 && rows_of(t) == rows && (int64_t)t->nelements == rows * cols;
}

/* The error for a factor that does not fit the layer; `layout` says what the algorithm needs. */
static int misfit(const safetensors_tensor *t, const target *l, const char *layout, error_info *err)
{
    char have[96];
    shape_text(have, sizeof have, t);
    return error_set(err, NULL, 0, 0, t->name, "shape %s does not fit the layer (in %d, out %d, kernel %d): "
                     "%s", have, l->in, l->out, l->kernel, layout);
}

static int missing(const file_module *fm, const char *what, int family, error_info *err)
{
    return error_set(err, NULL, 0, 0, fm->name, "%s module without %s", family_label(family), what);
}

/* ---- reading ---- */

static float *load(const safetensors_tensor *t, error_info *err)
{
    float *p = malloc((t->nelements ? (size_t)t->nelements : 1) * sizeof *p);
    if (!p) {
        error_set(err, NULL, 0, 0, t->name, "out of memory");
        return NULL;
    }
    if (safetensors_read_f32(t, p, err) < 0) {
        free(p);
        return NULL;
    }
    return p;
}

/* A 0-d number (alpha, on_input) of any dtype: LyCORIS writes on_input as an integer tensor
 * unless a save precision converted it. */
static int read_scalar(const safetensors_tensor *t, float *v, error_info *err)
{
    if (t->nelements != 1)
        return error_set(err, NULL, 0, 0, t->name, "%llu elements where one number belongs",
                         (unsigned long long)t->nelements);
    if (dtype_is_float_convertible(t->dtype))
        return safetensors_read_f32(t, v, err);
    if (t->dtype != DTYPE_BOOL && t->dtype != DTYPE_U8 && t->dtype != DTYPE_I8 && t->dtype != DTYPE_I16 &&
        t->dtype != DTYPE_I32 && t->dtype != DTYPE_I64)
        return error_set(err, NULL, 0, 0, t->name, "cannot read a %s number", dtype_name(t->dtype));
    /* only its truth matters for on_input; alpha as an integer is read little-endian */
    int64_t x = 0;
    const unsigned char *b = t->data;
    for (size_t i = 0; i < t->nbytes && i < 8; i++)
        x |= (int64_t)b[i] << (8 * i);
    size_t bits = 8 * (t->nbytes < 8 ? t->nbytes : 8);
    if (bits < 64 && t->dtype != DTYPE_BOOL && t->dtype != DTYPE_U8 && (x >> (bits - 1)) & 1)
        x -= (int64_t)1 << bits;   /* sign-extend */
    *v = (float)x;
    return 0;
}

/* alpha, or the rank when absent or 0 (sd-scripts and LyCORIS: alpha 0 means no scaling). */
static int read_alpha(const file_module *fm, int rank, float *alpha, error_info *err)
{
    *alpha = (float)rank;
    if (!fm->t[K_ALPHA])
        return 0;
    float a;
    if (read_scalar(fm->t[K_ALPHA], &a, err) < 0)
        return -1;
    if (a != 0.0f)
        *alpha = a;
    return 0;
}

static void adapter_free(lora_adapter *a)
{
    free(a->down);
    free(a->up);
    free(a->mid);
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        free(a->w[k]);
    free(a->dora_scale);
    a->down = a->up = a->mid = a->dora_scale = NULL;
    memset(a->w, 0, sizeof a->w);
}

/* Loads the listed tensors into a->w[i] (NULL entries stay NULL). */
static int load_factors(lora_adapter *a, const safetensors_tensor *const src[LORA_MAX_FACTORS],
                        error_info *err)
{
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        if (src[k] && !(a->w[k] = load(src[k], err)))
            return -1;
    return 0;
}

/* A Tucker core [r, r, k, k] of LyCORIS' use_tucker: the layer's kernel, the module's rank. */
static int core_fits(const safetensors_tensor *t, const target *l, int64_t r)
{
    return t->ndim == 4 && t->shape[0] == r && t->shape[1] == r && t->shape[2] == l->kernel &&
           t->shape[3] == l->kernel && l->kernel > 1;
}

/* ---- one adapter per algorithm, from the module's tensors (weight: the multiplier) ---- */

/* LyCORIS' LoCon with Tucker factors: lora_down [r, in, 1, 1], lora_mid [r, r, k, k],
 * lora_up [out, r, 1, 1]. */
static int build_lora_tucker(const file_module *fm, const target *l, float weight, lora_adapter *a,
                             error_info *err)
{
    const safetensors_tensor *down = fm->t[K_DOWN], *up = fm->t[K_UP], *mid = fm->t[K_MID];
    const char *layout = "lora_down [rank, in, 1, 1], lora_mid [rank, rank, k, k], lora_up [out, rank, 1, 1]";
    int64_t r = rows_of(down);
    if (r < 1 || r > INT32_MAX || !fits(down, r, l->in))
        return misfit(down, l, layout, err);
    if (!core_fits(mid, l, r))
        return misfit(mid, l, layout, err);
    if (!fits(up, l->out, r))
        return misfit(up, l, layout, err);
    float alpha;
    if (read_alpha(fm, (int)r, &alpha, err) < 0 || !(a->down = load(down, err)) || !(a->up = load(up, err)) ||
        !(a->mid = load(mid, err)))
        return -1;
    a->kind = LORA_KIND_LORA;
    a->tucker = 1;
    a->rank = (int)r;
    a->scale = weight * alpha / (float)r;
    return 0;
}

static int build_lora(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    const safetensors_tensor *down = fm->t[K_DOWN], *up = fm->t[K_UP];
    if (!down || !up)
        return missing(fm, down ? "lora_up.weight" : "lora_down.weight", LORA_KIND_LORA, err);
    if (fm->t[K_MID])
        return build_lora_tucker(fm, l, weight, a, err);
    const char *layout = "lora_down [rank, in(, k, k)], lora_up [out, rank(, 1, 1)]";
    int64_t r = rows_of(down);
    if (r < 1 || r > INT32_MAX || !fits(down, r, (int64_t)l->cols))
        return misfit(down, l, layout, err);
    if (!fits(up, l->out, r))
        return misfit(up, l, layout, err);
    float alpha;
    if (read_alpha(fm, (int)r, &alpha, err) < 0 || !(a->down = load(down, err)) || !(a->up = load(up, err)))
        return -1;
    a->kind = LORA_KIND_LORA;
    a->rank = (int)r;
    a->scale = weight * alpha / (float)r;
    return 0;
}

/* LyCORIS' LoHa with Tucker factors: hada_w*_a [r, out], hada_w*_b [r, in], hada_t* [r, r, k, k]. */
static int build_loha_tucker(const file_module *fm, const target *l, float weight,
                             const safetensors_tensor *const t[LORA_MAX_FACTORS], lora_adapter *a,
                             error_info *err)
{
    const char *layout = "hada_w1_a / hada_w2_a [rank, out], hada_w1_b / hada_w2_b [rank, in], hada_t1 / "
                         "hada_t2 [rank, rank, k, k]";
    if (!t[5])
        return missing(fm, t[4] ? "hada_t2" : "hada_t1", LORA_KIND_LOHA, err);
    int64_t r = rows_of(t[1]);
    if (r < 1 || r > INT32_MAX)
        return misfit(t[1], l, layout, err);
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        if (k >= 4 ? !core_fits(t[k], l, r) : !fits(t[k], r, k % 2 == 0 ? l->out : l->in))
            return misfit(t[k], l, layout, err);
    float alpha;
    if (read_alpha(fm, (int)r, &alpha, err) < 0 || load_factors(a, t, err) < 0)
        return -1;
    a->kind = LORA_KIND_LOHA;
    a->tucker = 1;
    a->rank = (int)r;
    a->scale = weight * alpha / (float)r;
    return 0;
}

static int build_loha(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    static const int keys[LORA_MAX_FACTORS] = {K_HADA_W1A, K_HADA_W1B, K_HADA_W2A, K_HADA_W2B, K_HADA_T1,
                                               K_HADA_T2};
    const safetensors_tensor *t[LORA_MAX_FACTORS];
    for (int k = 0; k < LORA_MAX_FACTORS; k++)
        if (!(t[k] = fm->t[keys[k]]) && k < 4)
            return missing(fm, SUFFIX[keys[k]], LORA_KIND_LOHA, err);
    if (t[4] || t[5])
        return build_loha_tucker(fm, l, weight, t, a, err);
    const char *layout = "hada_w1_a / hada_w2_a [out, rank], hada_w1_b / hada_w2_b [rank, in·k·k], one rank";
    int64_t r = cols_of(t[0]);
    if (r < 1 || r > INT32_MAX)
        return misfit(t[0], l, layout, err);
    for (int k = 0; k < 4; k++)
        if (k % 2 == 0 ? !fits(t[k], l->out, r) : !fits(t[k], r, (int64_t)l->cols))
            return misfit(t[k], l, layout, err);
    float alpha;
    if (read_alpha(fm, (int)r, &alpha, err) < 0 || load_factors(a, t, err) < 0)
        return -1;
    a->kind = LORA_KIND_LOHA;
    a->rank = (int)r;
    a->scale = weight * alpha / (float)r;
    return 0;
}

/* One Kronecker factor of LoKr: whole (`full`) or a·b; rows, cols and the rank (0: whole). */
static int lokr_factor(const file_module *fm, int full, int fa, int fb, const target *l, int64_t *rows,
                       int64_t *cols, int *rank, error_info *err)
{
    const char *layout = "lokr_w1 [a, c] or lokr_w1_a [a, r] · lokr_w1_b [r, c]; lokr_w2 [b, d(, k, k)] or "
                         "lokr_w2_a [b, r] · lokr_w2_b [r, d·k·k]";
    const safetensors_tensor *w = fm->t[full], *wa = fm->t[fa], *wb = fm->t[fb];
    *rank = 0;
    if (w) {
        *rows = rows_of(w), *cols = cols_of(w);
        /* LyCORIS saves a conv's whole w2 as [b, d, k, k]: its kernel must be the layer's */
        if (w->ndim == 4 && (w->shape[2] != l->kernel || w->shape[3] != l->kernel))
            return misfit(w, l, layout, err);
        if (w->ndim < 1 || w->ndim > 4 || *rows < 1 || *cols < 1)
            return misfit(w, l, layout, err);
        return 0;
    }
    if (!wa || !wb)
        return error_set(err, NULL, 0, 0, fm->name, "LoKr module without %s or %s and %s", SUFFIX[full],
                         SUFFIX[fa], SUFFIX[fb]);
    const safetensors_tensor *t2 = full == K_LOKR_W2 ? fm->t[K_LOKR_T2] : NULL;
    if (t2) {   /* LyCORIS' Tucker W2: lokr_w2_a [r, b], lokr_w2_b [r, d], lokr_t2 [r, r, k, k] */
        int64_t r = rows_of(wa);
        if (r < 1 || r > INT32_MAX || wa->ndim != 2 || !core_fits(t2, l, r))
            return misfit(t2, l, "lokr_w2_a [r, b], lokr_w2_b [r, d], lokr_t2 [r, r, k, k]", err);
        if (wb->ndim != 2 || rows_of(wb) != r || cols_of(wb) < 1)
            return misfit(wb, l, "lokr_w2_a [r, b], lokr_w2_b [r, d], lokr_t2 [r, r, k, k]", err);
        *rows = cols_of(wa), *cols = cols_of(wb) * l->kernel * l->kernel, *rank = (int)r;
        return 0;
    }
    int64_t r = cols_of(wa);
    if (r < 1 || r > INT32_MAX || wa->ndim != 2)
        return misfit(wa, l, layout, err);
    if (rows_of(wb) != r || cols_of(wb) < 1)
        return misfit(wb, l, layout, err);
    *rows = rows_of(wa), *cols = cols_of(wb), *rank = (int)r;
    return 0;
}

static int build_lokr(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    int64_t ka, kc, kb, kd;
    int r1, r2;
    if (lokr_factor(fm, K_LOKR_W1, K_LOKR_W1A, K_LOKR_W1B, l, &ka, &kc, &r1, err) < 0 ||
        lokr_factor(fm, K_LOKR_W2, K_LOKR_W2A, K_LOKR_W2B, l, &kb, &kd, &r2, err) < 0)
        return -1;
    if (ka * kb != l->out || kc * kd != (int64_t)l->cols) {
        const safetensors_tensor *w2 = fm->t[K_LOKR_W2] ? fm->t[K_LOKR_W2] : fm->t[K_LOKR_W2B];
        char msg[160];
        snprintf(msg, sizeof msg, "kron(W1 [%lld, %lld], W2 [%lld, %lld]) must be [out, in·k·k] = [%d, %zu]",
                 (long long)ka, (long long)kc, (long long)kb, (long long)kd, l->out, l->cols);
        return misfit(w2, l, msg, err);
    }
    /* as LyCORIS (and ComfyUI): alpha / rank of the decomposed factor, w2's when both are;
     * scale 1 when neither is */
    int rank = r2 ? r2 : r1;
    float alpha = 0.0f;
    if (rank && read_alpha(fm, rank, &alpha, err) < 0)
        return -1;
    const safetensors_tensor *t2 = r2 ? fm->t[K_LOKR_T2] : NULL;
    const safetensors_tensor *src[LORA_MAX_FACTORS] = {
        r1 ? fm->t[K_LOKR_W1A] : fm->t[K_LOKR_W1], r1 ? fm->t[K_LOKR_W1B] : NULL,
        r2 ? fm->t[K_LOKR_W2A] : fm->t[K_LOKR_W2], r2 ? fm->t[K_LOKR_W2B] : NULL, t2, NULL};
    if (load_factors(a, src, err) < 0)
        return -1;
    a->kind = LORA_KIND_LOKR;
    a->tucker = t2 != NULL;
    a->ka = (int)ka, a->kb = (int)kb, a->kc = (int)kc, a->kd = (int)kd;
    a->w1_rank = r1, a->w2_rank = r2;
    a->rank = rank ? rank : 1;
    a->scale = rank ? weight * alpha / (float)rank : weight;
    return 0;
}

static int build_ia3(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    const safetensors_tensor *w = fm->t[K_IA3];
    if (!w)
        return missing(fm, "weight", LORA_KIND_IA3, err);
    int on_input;
    if (fm->t[K_ON_INPUT]) {
        float v;
        if (read_scalar(fm->t[K_ON_INPUT], &v, err) < 0)
            return -1;
        on_input = v != 0.0f;
    } else
        on_input = (int64_t)w->nelements != l->out;   /* LyCORIS' default scales the outputs */
    if ((int64_t)w->nelements != (on_input ? l->in : l->out))
        return misfit(w, l, on_input ? "one scale per input channel (on_input)" : "one scale per output",
                      err);
    if (!(a->w[0] = load(w, err)))
        return -1;
    a->kind = LORA_KIND_IA3;
    a->on_input = on_input;
    a->rank = 1;
    a->scale = weight;
    return 0;
}

static int build_full(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    const safetensors_tensor *d = fm->t[K_DIFF], *db = fm->t[K_DIFF_B];
    if (!d)
        return missing(fm, "diff", LORA_KIND_FULL, err);
    if (!fits(d, l->out, (int64_t)l->cols))
        return misfit(d, l, "diff has the layer's weight shape", err);
    if (db && (int64_t)db->nelements != l->out)
        return misfit(db, l, "diff_b has the layer's bias shape", err);
    if (db && !l->has_bias)
        return error_set(err, NULL, 0, 0, db->name, "a bias difference for a layer without bias");
    const safetensors_tensor *src[LORA_MAX_FACTORS] = {d, db};
    if (load_factors(a, src, err) < 0)
        return -1;
    /* the adapter holds the trained weight and bias (layers.h); the file their differences */
    for (size_t j = 0; j < (size_t)l->out * l->cols; j++)
        a->w[0][j] += l->weight[j];
    for (int i = 0; a->w[1] && i < l->out; i++)
        a->w[1][i] += l->bias[i];
    a->kind = LORA_KIND_FULL;
    a->rank = 1;
    a->scale = weight;
    return 0;
}

static int build_glora(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    static const int keys[4] = {K_A1, K_A2, K_B1, K_B2};
    const safetensors_tensor *t[LORA_MAX_FACTORS] = {0};
    for (int k = 0; k < 4; k++)
        if (!(t[k] = fm->t[keys[k]]))
            return missing(fm, SUFFIX[keys[k]], LORA_KIND_GLORA, err);
    const char *layout = "a1 [in, rank], a2 [rank, in], b1 [out, rank], b2 [rank, in·k·k]";
    int64_t r = cols_of(t[0]);
    if (r < 1 || r > INT32_MAX)
        return misfit(t[0], l, layout, err);
    const int64_t rows[4] = {l->in, r, l->out, r}, cols[4] = {r, l->in, r, (int64_t)l->cols};
    for (int k = 0; k < 4; k++)
        if (!fits(t[k], rows[k], cols[k]))
            return misfit(t[k], l, layout, err);
    float alpha;
    if (read_alpha(fm, (int)r, &alpha, err) < 0 || load_factors(a, t, err) < 0)
        return -1;
    a->kind = LORA_KIND_GLORA;
    a->rank = (int)r;
    a->scale = weight * alpha / (float)r;
    return 0;
}

static int power_of_two(int64_t n)
{
    return n > 0 && (n & (n - 1)) == 0;
}

static int build_oft(const file_module *fm, const target *l, float weight, lora_adapter *a, error_info *err)
{
    const safetensors_tensor *b = fm->t[K_OFT], *rescale = fm->t[K_RESCALE];
    if (!b)
        return missing(fm, "oft_blocks", LORA_KIND_DIAG_OFT, err);
    int boft = b->ndim == 4;
    const char *layout = boft ? "BOFT oft_blocks [m, n, s, s]: n · s = out, s even, n a power of two, "
                                "2^(m−1) ≤ n"
                              : "Diag-OFT oft_blocks [n, s, s]: n · s = out";
    if (b->ndim != 3 && b->ndim != 4)
        return misfit(b, l, "oft_blocks [n, s, s] (Diag-OFT) or [m, n, s, s] (BOFT)", err);
    int64_t m = boft ? b->shape[0] : 1, n = b->shape[boft], s = b->shape[boft + 1];
    int ok = s >= 1 && b->shape[boft + 2] == s && n * s == l->out && m >= 1;
    if (ok && boft)
        ok = s % 2 == 0 && power_of_two(n) && m <= 62 && ((int64_t)1 << (m - 1)) <= n;
    if (!ok)
        return misfit(b, l, layout, err);
    if (rescale && (int64_t)rescale->nelements != l->out)
        return misfit(rescale, l, "rescale: one per output", err);
    /* LyCORIS: alpha is the constraint, which it multiplies by the out dimension */
    float constraint = 0.0f;
    if (fm->t[K_ALPHA] && read_scalar(fm->t[K_ALPHA], &constraint, err) < 0)
        return -1;
    const safetensors_tensor *src[LORA_MAX_FACTORS] = {b, rescale};
    if (load_factors(a, src, err) < 0)
        return -1;
    a->kind = boft ? LORA_KIND_BOFT : LORA_KIND_DIAG_OFT;
    a->oft_blocks = (int)n, a->oft_size = (int)s, a->boft_m = (int)m;
    a->oft_constraint = constraint * (float)l->out;
    a->rank = 1;
    a->scale = weight;
    return 0;
}

/* ---- several files on one layer ---- */

static lora_apply_entry *entry_for(lora_apply *la, const target *l, int *fresh)
{
    *fresh = 0;
    for (size_t i = 0; i < la->n; i++)
        if (la->e[i]->linear == l->lin && la->e[i]->conv == l->conv)
            return la->e[i];
    if (la->n == la->cap) {
        size_t cap = la->cap ? la->cap * 2 : 64;
        lora_apply_entry **list = realloc(la->e, cap * sizeof *list);
        if (!list)
            return NULL;
        la->e = list;
        la->cap = cap;
    }
    lora_apply_entry *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    la->e[la->n++] = e;
    e->linear = l->lin;
    e->conv = l->conv;
    e->unet_point = l->point;
    e->extra_rows = l->extra_rows;
    e->ad.kind = LORA_KIND_LORA;
    *fresh = 1;
    return e;
}

/* Appends LoRA adapter b (down [r, cols], up [out, r]) to the LoRA entry's adapter, its scale
 * folded into its up rows (the entry's scale stays 1). */
static int merge_lora(lora_adapter *e, const lora_adapter *b, size_t cols, int out)
{
    int R = e->rank + b->rank;
    float *nd = malloc((size_t)R * cols * sizeof(float));
    float *nu = malloc((size_t)out * R * sizeof(float));
    if (!nd || !nu) {
        free(nd);
        free(nu);
        return -1;
    }
    size_t old = (size_t)e->rank * cols;
    if (old)
        memcpy(nd, e->down, old * sizeof(float));
    memcpy(nd + old, b->down, (size_t)b->rank * cols * sizeof(float));
    for (int o = 0; o < out; o++) {
        for (int k = 0; k < e->rank; k++)
            nu[(size_t)o * R + k] = e->up[(size_t)o * e->rank + k];
        for (int k = 0; k < b->rank; k++)
            nu[(size_t)o * R + e->rank + k] = b->up[(size_t)o * b->rank + k] * b->scale;
    }
    free(e->down);
    free(e->up);
    e->down = nd;
    e->up = nu;
    e->rank = R;
    e->scale = 1.0f;
    return 0;
}

/* d [out, cols] = scale · ΔW of adapter a on weight w, and db [out] += its bias change (LyCORIS'
 * full); -1 when out of memory. A full adapter's change is against the layer's own weight and
 * bias whatever w is: the file's diff, added as AUTOMATIC1111 and ComfyUI add it. */
static int adapter_delta(const lora_adapter *a, const float *w, float *d, float *db, const target *l)
{
    size_t n = (size_t)l->out * l->cols;
    if (a->kind == LORA_KIND_LORA && !a->tucker) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, l->out, (int)l->cols, a->rank, a->scale, a->up,
                    a->rank, a->down, (int)l->cols, 0.0f, d, (int)l->cols);
        return 0;
    }
    if (a->kind == LORA_KIND_FULL) {
        for (size_t j = 0; j < n; j++)
            d[j] = a->scale * (a->w[0][j] - l->weight[j]);
        for (int i = 0; db && a->w[1] && i < l->out; i++)
            db[i] += a->scale * (a->w[1][i] - l->bias[i]);
        return 0;
    }
    size_t nw = lora_delta_work_floats(a, l->out, l->cols);
    float *work = malloc((nw ? nw : 1) * sizeof *work);
    if (!work)
        return -1;
    lora_delta_build(a, w, d, l->out, l->cols, work);
    free(work);
    for (size_t j = 0; j < n; j++)
        d[j] *= a->scale;
    return 0;
}

/* Folds the entry's adapter and then b (applied to the weight the entry's left) into one full
 * adapter of weight W + Δ₁(W) + Δ₂(W + Δ₁(W)) and bias b + Δb₁ + Δb₂. */
static int fold_full(lora_adapter *e, const lora_adapter *b, const target *l)
{
    size_t n = (size_t)l->out * l->cols;
    float *total = malloc(n * sizeof *total), *cur = malloc(n * sizeof *cur), *part = malloc(n * sizeof *part);
    float *db = l->has_bias ? calloc((size_t)l->out, sizeof *db) : NULL;
    int rc = total && cur && part && (db || !l->has_bias) ? 0 : -1;
    if (rc == 0)
        rc = adapter_delta(e, l->weight, total, db, l);
    if (rc == 0) {
        for (size_t j = 0; j < n; j++)
            cur[j] = l->weight[j] + total[j];
        rc = adapter_delta(b, cur, part, db, l);
    }
    free(cur);
    if (rc == 0) {
        for (size_t j = 0; j < n; j++)
            total[j] += l->weight[j] + part[j];
        for (int i = 0; db && i < l->out; i++)
            db[i] += l->bias[i];
        float *hidden = e->hidden;   /* the entry's, whatever its kind */
        adapter_free(e);
        memset(e, 0, sizeof *e);
        e->hidden = hidden;
        e->kind = LORA_KIND_FULL;
        e->in_channels = l->in;
        e->rank = 1;
        e->scale = 1.0f;
        e->w[0] = total;
        e->w[1] = db;
    } else {
        free(total);
        free(db);
    }
    free(part);
    return rc;
}

/* Attaches adapter a (its buffers taken over, also on failure) to the module's layer. */
static int attach(lora_apply *la, const target *l, lora_adapter *a, error_info *err)
{
    int fresh;
    lora_apply_entry *e = entry_for(la, l, &fresh);
    if (e && !fresh && (a->dora_scale || e->ad.dora_scale)) {
        adapter_free(a);
        return error_set(err, NULL, 0, 0, NULL, "a DoRA module cannot share its layer with another "
                         "file's module");
    }
    int rc = e ? 0 : -1;
    if (rc == 0 && a->kind == LORA_KIND_LORA && e->ad.kind == LORA_KIND_LORA && !a->dora_scale && !a->tucker &&
        !e->ad.tucker)
        rc = merge_lora(&e->ad, a, l->cols, l->out);
    else if (rc == 0 && fresh) {
        e->ad = *a;
        memset(a, 0, sizeof *a);
    } else if (rc == 0)
        rc = fold_full(&e->ad, a, l);
    adapter_free(a);
    if (rc < 0)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    if (l->lin)
        l->lin->lora = &e->ad;
    else
        l->conv->lora = &e->ad;
    return 0;
}

/* ---- the file ---- */

/* The module of key `key`: its name and which tensor (the longest suffix that matches); -1
 * when no suffix does. */
static int split_key(const char *key, char *name, size_t size)
{
    size_t kl = strlen(key);
    int best = -1;
    size_t best_len = 0;
    for (int k = 0; k < K_COUNT; k++) {
        size_t sl = strlen(SUFFIX[k]);
        if (sl > best_len && kl > sl + 1 && key[kl - sl - 1] == '.' && strcmp(key + kl - sl, SUFFIX[k]) == 0)
            best = k, best_len = sl;
    }
    if (best < 0 || kl - best_len - 1 >= size)
        return -1;
    memcpy(name, key, kl - best_len - 1);
    name[kl - best_len - 1] = '\0';
    return best;
}

static file_module *module_named(file_module **mods, size_t *n, size_t *cap, const char *name)
{
    for (size_t i = *n; i-- > 0;)
        if (strcmp((*mods)[i].name, name) == 0)
            return &(*mods)[i];
    if (*n == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        file_module *m = realloc(*mods, c * sizeof *m);
        if (!m)
            return NULL;
        *mods = m;
        *cap = c;
    }
    file_module *m = &(*mods)[(*n)++];
    memset(m, 0, sizeof *m);
    snprintf(m->name, sizeof m->name, "%s", name);
    return m;
}

/* Applies one module: 1 applied, 0 no layer of this model (noted), -1 error. */
/* LyCORIS' train_norm module (w_norm [, b_norm] [C]) on a U-Net GroupNorm / LayerNorm: the
 * layer runs with weight + weight · w_norm, bias + weight · b_norm, on top of what earlier
 * files left (lora_apply_free puts the layers back in reverse order). */
static int add_norm(lora_apply *la, sd_model *m, const file_module *fm, float weight, error_info *err)
{
    const unet_norm_point *np = NULL;
    for (size_t i = 0; i < m->unet.n_norm_points && !np; i++)
        if (!strcmp(m->unet.norm_points[i].name, fm->name))
            np = &m->unet.norm_points[i];
    if (!np) {
        note_unmatched(la, fm->name);
        return 0;
    }
    const safetensors_tensor *tw = fm->t[K_W_NORM], *tb = fm->t[K_B_NORM];
    if (!tw)
        return missing(fm, "w_norm", LORA_KIND_NORM, err);
    for (int k = 0; k < 2; k++) {
        const safetensors_tensor *t = k ? tb : tw;
        if (t && t->nelements != (uint64_t)np->channels)
            return error_set(err, NULL, 0, 0, t->name, "%llu elements, the layer has %d channels",
                             (unsigned long long)t->nelements, np->channels);
    }
    if (la->n_norms == la->cap_norms) {
        size_t cap = la->cap_norms ? 2 * la->cap_norms : 32;
        lora_apply_norm *q = realloc(la->norms, cap * sizeof *q);
        if (!q)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
        la->norms = q;
        la->cap_norms = cap;
    }
    int C = np->channels;
    float *eff = malloc(2 * (size_t)C * sizeof *eff);
    float *w = load(tw, err), *b = tb ? load(tb, err) : NULL;
    if (!eff || !w || (tb && !b)) {
        free(eff), free(w), free(b);
        return err->message[0] ? -1 : error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    for (int c = 0; c < C; c++) {
        eff[c] = (*np->weight)[c] + weight * w[c];
        eff[C + c] = (*np->bias)[c] + (b ? weight * b[c] : 0.0f);
    }
    free(w), free(b);
    lora_apply_norm *q = &la->norms[la->n_norms++];
    q->point = np, q->weight = *np->weight, q->bias = *np->bias, q->eff = eff;
    *np->weight = eff, *np->bias = eff + C;
    return 1;
}

/* LyCORIS' DoRA (dora_scale [out, 1(, 1, 1)] beside a LoCon / LoHa / LoKr): the layer runs the
 * decomposed weight, at weight 1 only (LyCORIS blends the scale, not ΔW, for other weights). */
static int add_dora(const file_module *fm, const target *l, int family, float weight, lora_adapter *a,
                    error_info *err)
{
    const safetensors_tensor *t = fm->t[K_DORA];
    if (family != LORA_KIND_LORA && family != LORA_KIND_LOHA && family != LORA_KIND_LOKR)
        return error_set(err, NULL, 0, 0, t->name, "dora_scale beside %s: DoRA is LoCon, LoHa and "
                         "LoKr only", family_label(family));
    if (weight != 1.0f)
        return error_set(err, NULL, 0, 0, t->name, "a DoRA file applies at weight 1 only (got %g)",
                         weight);
    if (t->nelements != (uint64_t)l->out)
        return misfit(t, l, "dora_scale [out, 1(, 1, 1)]", err);
    return (a->dora_scale = load(t, err)) ? 0 : -1;
}

static int add_module(lora_apply *la, sd_model *m, const file_module *fm, float weight, error_info *err)
{
    static const struct { int key; const char *what; } refused[] = {
        /* LyCORIS lists lokr_t1 among LoKr's keys but never makes one */
        {K_LOKR_T1, "a Tucker core of LoKr's W1 (lokr_t1) is not supported (LyCORIS never writes one)"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++)
        if (fm->t[refused[i].key])
            return error_set(err, NULL, 0, 0, fm->t[refused[i].key]->name, "%s", refused[i].what);
    int family = -1, first = -1;
    for (int k = 0; k < K_COUNT; k++) {
        int f = key_family(k);
        if (!fm->t[k] || f < 0)
            continue;
        if (family >= 0 && f != family)
            return error_set(err, NULL, 0, 0, fm->name, "keys of two algorithms in one module: %s (%s) and "
                             "%s (%s)", SUFFIX[first], family_label(family), SUFFIX[k], family_label(f));
        family = f, first = first < 0 ? k : first;
    }
    if (family == LORA_KIND_NORM)
        return add_norm(la, m, fm, weight, err);
    target l;
    if (family < 0 || !find_layer(m, fm->name, &l)) {
        note_unmatched(la, fm->name);
        return 0;
    }
    lora_adapter a;
    memset(&a, 0, sizeof a);
    a.in_channels = l.in;
    int rc;
    switch (family) {
    case LORA_KIND_LORA:
        rc = build_lora(fm, &l, weight, &a, err);
        break;
    case LORA_KIND_LOHA:
        rc = build_loha(fm, &l, weight, &a, err);
        break;
    case LORA_KIND_LOKR:
        rc = build_lokr(fm, &l, weight, &a, err);
        break;
    case LORA_KIND_IA3:
        rc = build_ia3(fm, &l, weight, &a, err);
        break;
    case LORA_KIND_FULL:
        rc = build_full(fm, &l, weight, &a, err);
        break;
    case LORA_KIND_GLORA:
        rc = build_glora(fm, &l, weight, &a, err);
        break;
    default:
        rc = build_oft(fm, &l, weight, &a, err);
        break;
    }
    if (rc == 0 && fm->t[K_DORA])
        rc = add_dora(fm, &l, family, weight, &a, err);
    if (rc < 0) {
        adapter_free(&a);
        return -1;
    }
    return attach(la, &l, &a, err) < 0 ? -1 : 1;
}

int lora_apply_add(lora_apply *la, sd_model *m, const char *path, float weight, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    file_module *mods = NULL;
    size_t n_mods = 0, cap = 0, before = la->unmatched;
    int rc = 0, applied = 0;
    for (size_t i = 0; rc == 0 && i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        char name[160];
        int k = split_key(t->name, name, sizeof name);
        if (k < 0) {   /* no tensor of a known algorithm */
            note(&la->ignored, la->ignored_names, sizeof la->ignored_names, t->name);
            continue;
        }
        file_module *fm = module_named(&mods, &n_mods, &cap, name);
        if (!fm)
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
        else
            fm->t[k] = t;
    }
    for (size_t i = 0; rc == 0 && i < n_mods; i++) {
        int r = add_module(la, m, &mods[i], weight, err);
        if (r < 0)
            rc = -1;
        applied += r > 0;
    }
    free(mods);
    safetensors_close(f);
    if (applied)
        sd_model_adapters_changed(m);
    if (rc < 0) {
        if (!err->file[0])
            snprintf(err->file, sizeof err->file, "%s", path);
        return -1;
    }
    if (applied == 0 && la->unmatched == before)
        return error_set(err, path, 0, 0, NULL, "no LoRA or LyCORIS modules in the file");
    return applied;
}

int lora_apply_plan(lora_apply *la, sd_model *m, int B, int h, int w, int T, error_info *err)
{
    for (size_t i = 0; i < la->n; i++) {
        lora_apply_entry *e = la->e[i];
        if (e->unet_point == -1)
            continue;   /* clip_plan places the text encoders' hidden buffers */
        size_t n = 0;
        if (e->ad.kind != LORA_KIND_LORA)
            n = 0;      /* the other kinds build ΔW in the layer's scratch */
        else if (e->unet_point >= 0)
            n = unet_lora_hidden_floats(&m->unet, (size_t)e->unet_point, e->ad.rank, B, h, w, T);
        else
            n = (size_t)B * (e->extra_rows ? (size_t)e->extra_rows : (size_t)h * w) * e->ad.rank;
        float *hb = realloc(e->ad.hidden, (n ? n : 1) * sizeof(float));
        if (!hb)
            return error_set(err, NULL, 0, 0, NULL, "out of memory for the LoRA activations");
        e->ad.hidden = hb;
    }
    return 0;
}

/* The model's own flat parameter buffer holding [p, p + n), writable; NULL when p is elsewhere. */
static float *own_params(sd_model *m, const float *p, size_t n)
{
    float *bufs[3] = {m->unet.params, m->te[0].params, m->n_te > 1 ? m->te[1].params : NULL};
    size_t lens[3] = {m->unet.n_params, clip_param_floats(&m->te[0].cfg),
                      m->n_te > 1 ? clip_param_floats(&m->te[1].cfg) : 0};
    for (int i = 0; i < 3; i++)
        if (bufs[i] && p >= bufs[i] && p + n <= bufs[i] + lens[i])
            return bufs[i] + (p - bufs[i]);
    return NULL;
}

int lora_apply_merge(lora_apply *la, sd_model *m, error_info *err)
{
    for (size_t i = 0; i < la->n; i++) {
        lora_apply_entry *e = la->e[i];
        target l = {0};
        l.lin = e->linear, l.conv = e->conv;
        l.in = l.lin ? l.lin->in : l.conv->in;
        l.out = l.lin ? l.lin->out : l.conv->out;
        l.kernel = l.lin ? 1 : l.conv->kernel;
        l.cols = (size_t)l.in * l.kernel * l.kernel;
        l.weight = l.lin ? l.lin->weight : l.conv->weight;
        l.bias = l.lin ? l.lin->bias : l.conv->bias;
        l.has_bias = l.bias != NULL;
        size_t n = (size_t)l.out * l.cols;
        float *w = own_params(m, l.weight, n), *b = l.bias ? own_params(m, l.bias, (size_t)l.out) : NULL;
        if (e->ad.dora_scale)
            return error_set(err, NULL, 0, 0, NULL, "a DoRA module (dora_scale) cannot be merged into "
                             "the base model");
        if (!w || (l.bias && !b))
            return error_set(err, NULL, 0, 0, NULL, "a layer's weights are not the model's own");
        float *d = malloc(n * sizeof *d), *db = l.has_bias ? calloc((size_t)l.out, sizeof *db) : NULL;
        int rc = d && (db || !l.has_bias) ? adapter_delta(&e->ad, l.weight, d, db, &l) : -1;
        if (rc == 0) {
            for (size_t j = 0; j < n; j++)
                w[j] += d[j];
            for (int o = 0; db && o < l.out; o++)
                b[o] += db[o];
        }
        free(d);
        free(db);
        if (rc != 0)
            return error_set(err, NULL, 0, 0, NULL, "out of memory merging a LoRA into the model");
    }
    for (size_t i = 0; i < la->n_norms; i++) {   /* train_norm: the changed norm weights */
        lora_apply_norm *q = &la->norms[i];
        size_t C = (size_t)q->point->channels;
        float *w = own_params(m, q->weight, C), *b = own_params(m, q->bias, C);
        if (!w || !b)
            return error_set(err, NULL, 0, 0, NULL, "a norm layer's weights are not the model's own");
        memcpy(w, q->eff, C * sizeof *w);
        memcpy(b, q->eff + C, C * sizeof *b);
    }
    return 0;
}

void lora_apply_free(lora_apply *la, sd_model *m)
{
    for (size_t i = 0; i < la->n; i++) {
        lora_apply_entry *e = la->e[i];
        if (e->linear && e->linear->lora == &e->ad)
            e->linear->lora = NULL;
        if (e->conv && e->conv->lora == &e->ad)
            e->conv->lora = NULL;
        adapter_free(&e->ad);
        if (e->unet_point != -1)
            free(e->ad.hidden);
        free(e);
    }
    free(la->e);
    for (size_t i = la->n_norms; i-- > 0;) {
        lora_apply_norm *q = &la->norms[i];
        *q->point->weight = q->weight, *q->point->bias = q->bias;
        free(q->eff);
    }
    free(la->norms);
    memset(la, 0, sizeof *la);
    if (m)
        sd_model_adapters_changed(m);
}

int lora_apply_hash(const char *path, char out[13], error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    const char *meta = safetensors_metadata_get(f, "sshs_model_hash");
    safetensors_close(f);
    if (meta && strlen(meta) >= 12) {
        memcpy(out, meta, 12);
        out[12] = '\0';
        return 0;
    }
    size_t len;
    char *bytes = fileio_read_all(path, &len, err);
    if (!bytes)
        return -1;
    uint64_t header = 0;
    for (int i = 0; len >= 8 && i < 8; i++)
        header |= (uint64_t)(unsigned char)bytes[i] << (8 * i);
    /* A1111 hashes a .ckpt / .pt whole (sha256), a safetensors file after its header */
    size_t skip = 0;
    if (!torch_file_is_zip(bytes, len)) {
        if (len < 8 || header > len - 8) {
            free(bytes);
            return error_set(err, path, 0, 0, NULL, "not a safetensors file");
        }
        skip = 8 + (size_t)header;
    }
    uint8_t digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len - skip, (const uint8_t *)bytes + skip);
    sha256_digest(&ctx, sizeof digest, digest);
    free(bytes);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", digest[i]);
    return 0;
}
