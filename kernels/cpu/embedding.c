/* embedding.c — token + position embedding of the CLIP text encoders:
 * out[b, t] = tok[ids[b, t]] + pos[t]. The backward scatters rows back into the tables; it
 * splits the work by channel, not by token, so repeated ids never race and the sums are
 * added in token order whatever the thread count. */
#include "kernels/ops_attention.h"

#include <string.h>

#define EMB_PAR_MIN 65536

int k_embedding_forward(float *out, const int32_t *ids, const float *tok, const float *pos,
                        int B, int T, int C, int V)
{
    int bad = 0;
    #pragma omp parallel for reduction(| : bad) if ((long)B * T * C > EMB_PAR_MIN)
    for (int bt = 0; bt < B * T; bt++) {
        float *o = out + (size_t)bt * C;
        const int32_t id = ids[bt];
        const float *p = pos ? pos + (size_t)(bt % T) * C : NULL;
        if (id < 0 || id >= V) {
            bad = 1;
            for (int c = 0; c < C; c++)
                o[c] = p ? p[c] : 0.0f;
            continue;
        }
        const float *e = tok + (size_t)id * C;
        if (p)
            for (int c = 0; c < C; c++)
                o[c] = e[c] + p[c];
        else
            memcpy(o, e, (size_t)C * sizeof *o);
    }
    return bad ? -1 : 0;
}

void k_embedding_backward(float *dtok, float *dpos, const float *dout, const int32_t *ids,
                          int B, int T, int C, int V)
{
    /* blocks of 64 channels: whole cache lines per thread, no false sharing */
    const int nblk = (C + 63) / 64;
    #pragma omp parallel for if ((long)B * T * C > EMB_PAR_MIN)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * 64, c1 = c0 + 64 < C ? c0 + 64 : C;
        for (int bt = 0; bt < B * T; bt++) {
            const float *g = dout + (size_t)bt * C;
            if (dpos) {
                float *dp = dpos + (size_t)(bt % T) * C;
                for (int c = c0; c < c1; c++)
                    dp[c] += g[c];
            }
            if (dtok && ids[bt] >= 0 && ids[bt] < V) {
                float *dt = dtok + (size_t)ids[bt] * C;
                for (int c = c0; c < c1; c++)
                    dt[c] += g[c];
            }
        }
    }
}
