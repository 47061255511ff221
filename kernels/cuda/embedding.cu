/* embedding.cu — token + position embedding of the CLIP text encoders on the GPU, as
 * k_embedding_* in kernels/cpu/embedding.c: out[b, t] = tok[ids[b, t]] + pos[t].
 *
 * Out-of-range ids: the forward gives them a zero token row, as on the CPU, and raises a flag
 * in device memory (emb_bad, a module variable, so nothing is allocated); kc_embedding_forward
 * reads it back, which waits for the kernel, and returns -1 with the error recorded. One
 * synchronisation per text-encoder forward is cheap next to the encoder itself. Calls from
 * several host threads at once would share the flag: the backend runs on one stream anyway.
 *
 * Backward without atomics, in the CPU's order:
 *  - dpos: one thread per (t, c) adds dout[b, t, c] for b = 0, 1, ...
 *  - dtok: one block per position bt whose id does not occur at an earlier position (the
 *    "owner" of that vocabulary row; the other blocks return after the check); its threads
 *    split the channels and add dout[bt', c] for every bt' ≥ bt with the same id, in order.
 *    Every row of dtok has one writer and its sums run in token order, as on the CPU, so the
 *    result is deterministic and equals the CPU's bit for bit. The price is O((B·T)²) id
 *    comparisons in all, read from cache: nothing for CLIP's B·T of a few hundred or
 *    thousand; a sort-based scatter would be needed for much longer sequences.
 * Rows of ids outside [0, V) are skipped, as on the CPU. */
#include "kernels/cuda/common.cuh"

#include <stdint.h>

#define EMB_THREADS 256

__device__ static int emb_bad;

__global__ static void embedding_forward_kernel(float *out, const int32_t *ids, const float *tok,
                                                const float *pos, int T, int C, int V, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        const size_t bt = i / C, c = i % C;
        const int32_t id = ids[bt];
        const float p = pos ? pos[(bt % T) * C + c] : 0.0f;
        if (id < 0 || id >= V) {
            if (c == 0)
                emb_bad = 1;
            out[i] = p;
            continue;
        }
        const float e = tok[(size_t)id * C + c];
        out[i] = pos ? e + p : e;
    }
}

__global__ static void embedding_dpos_kernel(float *dpos, const float *dout, int B, int T, int C)
{
    const size_t n = (size_t)T * C, stride = (size_t)T * C;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float s = dpos[i];
        for (int b = 0; b < B; b++)
            s += dout[b * stride + i];
        dpos[i] = s;
    }
}

/* Block bt: if it owns ids[bt]'s row (first occurrence), sums that id's rows of dout into it. */
__global__ static void embedding_dtok_kernel(float *dtok, const float *dout, const int32_t *ids,
                                             int BT, int C, int V)
{
    const int bt = blockIdx.x;
    const int32_t id = ids[bt];
    if (id < 0 || id >= V)
        return;
    int seen = 0;
    for (int j = threadIdx.x; j < bt; j += blockDim.x)
        seen |= ids[j] == id;
    if (__syncthreads_or(seen))
        return;
    float *dt = dtok + (size_t)id * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float s = dt[c];
        for (int j = bt; j < BT; j++)
            if (ids[j] == id)
                s += dout[(size_t)j * C + c];
        dt[c] = s;
    }
}

extern "C" int kc_embedding_forward(float *out, const int32_t *ids, const float *tok,
                                    const float *pos, int B, int T, int C, int V)
{
    const size_t n = (size_t)B * T * C;
    if (B <= 0 || T <= 0 || C <= 0)
        return 0;
    const int zero = 0;
    KC_CHECK(cudaMemcpyToSymbol(emb_bad, &zero, sizeof zero));
    embedding_forward_kernel<<<kc_blocks(n, EMB_THREADS), EMB_THREADS>>>(out, ids, tok, pos, T,
                                                                          C, V, n);
    if (kc_launched("embedding_forward"))
        return -1;
    int bad = 0;
    KC_CHECK(cudaMemcpyFromSymbol(&bad, emb_bad, sizeof bad));
    if (bad)
        return kc_fail("embedding: a token id is outside [0, %d)", V);
    return 0;
}

extern "C" int kc_embedding_backward(float *dtok, float *dpos, const float *dout,
                                     const int32_t *ids, int B, int T, int C, int V)
{
    if (B <= 0 || T <= 0 || C <= 0)
        return 0;
    if (dpos) {
        const size_t n = (size_t)T * C;
        embedding_dpos_kernel<<<kc_blocks(n, EMB_THREADS), EMB_THREADS>>>(dpos, dout, B, T, C);
        if (kc_launched("embedding_backward dpos"))
            return -1;
    }
    if (dtok) {
        embedding_dtok_kernel<<<B * T, EMB_THREADS>>>(dtok, dout, ids, B * T, C, V);
        if (kc_launched("embedding_backward dtok"))
            return -1;
    }
    return 0;
}
