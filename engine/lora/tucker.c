/* tucker.c — LyCORIS' Tucker factors of a k×k convolution (use_tucker; its
 * functional/general.py rebuild_tucker, einsum "i j ..., i p, j r -> p r ..."):
 *   T[o, i, s] = Σ_ab t[a, b, s] · u[a, o] · v[b, i]
 * with the core t [R, R, KK] (s runs over the KK = k·k kernel positions), u on the output side
 * ([R, O], or [O, R] for LoCon's lora_up) and v [R, I] on the input side. T is formed as
 * M = t ×_b v, M[a, i, s] = Σ_b t[a, b, s] v[b, i] ([R, I·KK]), then T = uᵀ·M. From
 * G = dL/dT [O, I·KK]:
 *   du = M·Gᵀ (or G·Mᵀ),  dM = u·G (or uᵀ·G),
 *   dt[a, :, :] = v · dM_a,  dv = Σ_a t_a · dM_aᵀ   (t_a = t[a] [R, KK], dM_a = dM[a] [I, KK]). */
#include "engine/lora/lycoris.h"

#include <cblas.h>

void tucker_core_in(float *M, const float *t, const float *v, int R, int nin, int KK)
{
    for (int a = 0; a < R; a++)   /* M_a [nin, KK] = vᵀ [nin, R] · t_a [R, KK] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nin, KK, R, 1.0f, v, nin,
                    t + (size_t)a * R * KK, KK, 0.0f, M + (size_t)a * nin * KK, KK);
}

void tucker_expand(float *T, const float *M, const float *u, int u_out_first, int nout, int R, size_t cols)
{
    cblas_sgemm(CblasRowMajor, u_out_first ? CblasNoTrans : CblasTrans, CblasNoTrans, nout, (int)cols, R,
                1.0f, u, u_out_first ? R : nout, M, (int)cols, 0.0f, T, (int)cols);
}

void tucker_du(float *du, const float *M, const float *G, int u_out_first, int nout, int R, size_t cols)
{
    if (!du)
        return;
    if (u_out_first)   /* du [nout, R] += G · Mᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nout, R, (int)cols, 1.0f, G, (int)cols, M,
                    (int)cols, 1.0f, du, R);
    else               /* du [R, nout] += M · Gᵀ */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, nout, (int)cols, 1.0f, M, (int)cols, G,
                    (int)cols, 1.0f, du, nout);
}

void tucker_dcore(float *dt, float *dv, const float *G, const float *u, int u_out_first, const float *t,
                  const float *v, int nout, int R, int nin, int KK, float *dM)
{
    if (!dt && !dv)
        return;
    size_t cols = (size_t)nin * KK;
    cblas_sgemm(CblasRowMajor, u_out_first ? CblasTrans : CblasNoTrans, CblasNoTrans, R, (int)cols, nout, 1.0f,
                u, u_out_first ? R : nout, G, (int)cols, 0.0f, dM, (int)cols);
    for (int a = 0; a < R; a++) {
        const float *dMa = dM + (size_t)a * cols;
        if (dt)   /* dt_a [R, KK] += v [R, nin] · dM_a [nin, KK] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, R, KK, nin, 1.0f, v, nin, dMa, KK, 1.0f,
                        dt + (size_t)a * R * KK, KK);
        if (dv)   /* dv [R, nin] += t_a [R, KK] · dM_aᵀ [KK, nin] */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, R, nin, KK, 1.0f, t + (size_t)a * R * KK, KK,
                        dMa, KK, 1.0f, dv, nin);
    }
}
