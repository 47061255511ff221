/* delta.c — the layers' ΔW calls dispatched to the LyCORIS algorithm of the adapter (loha.c,
 * lokr.c, ia3.c, glora.c, oft.c), and native fine-tuning (algo=full), whose parameter is the
 * trained weight itself (ΔW = it less the layer's). See engine/models/layers.h and lycoris.h. */
#include "engine/lora/lycoris.h"

#include <cblas.h>

int lora_is_delta(const lora_adapter *a)
{
    return a->kind != LORA_KIND_LORA || a->dora_scale || a->scalar || a->tucker;
}

/* LoRA as ΔW / scale = up [out, r] · down [r, cols] (LyCORIS' LoCon with DoRA or a scalar; with
 * Tucker the product of up, mid and down, see layers.h) and its gradients: dup += g · downᵀ, ddown += upᵀ · g. Ranks past active_rank (DyLoRA) never run
 * with DoRA, which LyCORIS' DyLoRA does not have. */
static void lora_product_build(const lora_adapter *a, float *dw, int out, size_t cols, float *work)
{
    if (a->tucker) {   /* LyCORIS' LoCon with Tucker: up ×₁ (mid ×₂ down), M in work */
        tucker_core_in(work, a->mid, a->down, a->rank, a->in_channels, (int)(cols / (size_t)a->in_channels));
        tucker_expand(dw, work, a->up, 1, out, a->rank, cols);
        return;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, out, (int)cols, a->rank, 1.0f, a->up, a->rank,
                a->down, (int)cols, 0.0f, dw, (int)cols);
}

static void lora_product_backward(const lora_adapter *a, const float *g, int out, size_t cols, float *work)
{
    if (a->tucker) {
        int kk = (int)(cols / (size_t)a->in_channels);
        float *m = work, *dm = work + (size_t)a->rank * cols;
        tucker_core_in(m, a->mid, a->down, a->rank, a->in_channels, kk);
        tucker_du(a->dup, m, g, 1, out, a->rank, cols);
        tucker_dcore(a->dmid, a->ddown, g, a->up, 1, a->mid, a->down, out, a->rank, a->in_channels, kk, dm);
        return;
    }
    if (a->dup)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, out, a->rank, (int)cols, 1.0f, g, (int)cols,
                    a->down, (int)cols, 1.0f, a->dup, a->rank);
    if (a->ddown)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->rank, (int)cols, out, 1.0f, a->up, a->rank,
                    g, (int)cols, 1.0f, a->ddown, (int)cols);
}

size_t lora_delta_work_floats(const lora_adapter *a, int out, size_t cols)
{
    switch (a->kind) {
    case LORA_KIND_LORA:   /* Tucker: M and dM [rank, cols] */
        return a->tucker ? 2 * (size_t)a->rank * cols : 0;
    case LORA_KIND_LOHA:
        return loha_work_floats(a, out, cols);
    case LORA_KIND_LOKR:
        return lokr_work_floats(a);
    case LORA_KIND_GLORA:
        return glora_work_floats(a, out, cols);
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
        return oft_work_floats(a, out, cols);
    default:
        return 0;
    }
}

void lora_delta_build(const lora_adapter *a, const float *w, float *dw, int out, size_t cols,
                      float *work)
{
    size_t n = (size_t)out * cols;
    switch (a->kind) {
    case LORA_KIND_LORA:
        lora_product_build(a, dw, out, cols, work);
        break;
    case LORA_KIND_LOHA:
        loha_delta_build(a, dw, out, cols, work);
        break;
    case LORA_KIND_LOKR:
        lokr_delta_build(a, dw, out, cols, work);
        break;
    case LORA_KIND_IA3:
        ia3_delta_build(a, w, dw, out, cols);
        break;
    case LORA_KIND_FULL:   /* the trained weight less the layer's */
        for (size_t j = 0; j < n; j++)
            dw[j] = a->w[0][j] - w[j];
        break;
    case LORA_KIND_GLORA:
        glora_delta_build(a, w, dw, out, cols, work);
        break;
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
        oft_delta_build(a, w, dw, out, cols, work);
        break;
    default:
        for (size_t j = 0; j < n; j++)
            dw[j] = 0.0f;
        break;
    }
}

void lora_delta_backward(const lora_adapter *a, const float *w, const float *g, int out,
                         size_t cols, float *work)
{
    size_t n = (size_t)out * cols;
    switch (a->kind) {
    case LORA_KIND_LORA:
        lora_product_backward(a, g, out, cols, work);
        break;
    case LORA_KIND_LOHA:
        loha_delta_backward(a, g, out, cols, work);
        break;
    case LORA_KIND_LOKR:
        lokr_delta_backward(a, g, out, cols, work);
        break;
    case LORA_KIND_IA3:
        ia3_delta_backward(a, w, g, out, cols);
        break;
    case LORA_KIND_FULL:
        if (a->dw[0])
            for (size_t j = 0; j < n; j++)
                a->dw[0][j] += g[j];
        break;
    case LORA_KIND_GLORA:
        glora_delta_backward(a, w, g, out, cols, work);
        break;
    case LORA_KIND_DIAG_OFT:
    case LORA_KIND_BOFT:
        oft_delta_backward(a, w, g, out, cols, work);
        break;
    default:
        break;
    }
}
