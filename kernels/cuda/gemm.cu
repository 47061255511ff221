/* gemm.cu — matrix products on cuBLASLt and the linear op built on them.
 *
 * kc_gemm takes row-major operands (as the CPU code's cblas calls) and hands cuBLASLt, which
 * is column-major, the transposed problem: row-major C = op(A) op(B) is column-major
 * Cᵀ = op(B)ᵀ op(A)ᵀ, and a row-major [R, C] buffer with stride ld is a column-major C × R
 * matrix with the same ld, so only the operand order changes. A bias over C's columns
 * becomes a bias over the column-major rows, which is cuBLASLt's BIAS epilogue.
 * f32 GEMMs use CUBLAS_COMPUTE_32F (no TF32) unless kc_set_allow_tf32(1); bf16/f16 inputs
 * always accumulate in f32. cuBLASLt's heuristics assume 256-byte aligned buffers unless told
 * otherwise, so each call states the real alignment of its pointers (activations are often
 * sub-buffers of an arena). */
#include "kernels/cuda/common.cuh"

#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

extern "C" size_t kc_dtype_size(kc_dtype t)
{
    return t == KC_F32 ? 4 : 2;
}

static cudaDataType_t gemm_cuda_type(kc_dtype t)
{
    return t == KC_BF16 ? CUDA_R_16BF : t == KC_F16 ? CUDA_R_16F : CUDA_R_32F;
}

static uint32_t gemm_alignment(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && a % al)
        al >>= 1;
    return al;
}

/* C[r, j] += bias[j] for a row-major [rows, cols] f32 matrix with stride ld: the fallback
 * when no cuBLASLt algorithm offers the bias epilogue. */
__global__ static void gemm_add_bias(float *c, const float *bias, int rows, int cols, int ld)
{
    size_t n = (size_t)rows * cols;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / cols, j = i % cols;
        c[r * ld + j] += bias[j];
    }
}

/* Sums of each column of a row-major [rows, cols] matrix, added to out[cols]. Block (32, 8):
 * 32 columns per block, 8 partial sums per column over rows ty, ty + 8, ..., added in a
 * fixed order: deterministic. */
template <typename T>
__global__ static void gemm_column_sum(float *out, const T *x, int rows, int cols)
{
    __shared__ float part[8][33];
    const int col = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (col < cols)
        for (int r = threadIdx.y; r < rows; r += 8)
            s += (float)x[(size_t)r * cols + col];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && col < cols) {
        float t = 0.0f;
        for (int k = 0; k < 8; k++)
            t += part[k][threadIdx.x];
        out[col] += t;
    }
}

static int gemm_column_sum_launch(float *out, const void *x, kc_dtype t, int rows, int cols)
{
    dim3 block(32, 8), grid((unsigned)((cols + 31) / 32));
    if (t == KC_F32)
        gemm_column_sum<float><<<grid, block>>>(out, (const float *)x, rows, cols);
    else if (t == KC_BF16)
        gemm_column_sum<__nv_bfloat16><<<grid, block>>>(out, (const __nv_bfloat16 *)x, rows, cols);
    else
        gemm_column_sum<__half><<<grid, block>>>(out, (const __half *)x, rows, cols);
    return kc_launched("gemm_column_sum");
}

/* The descriptors of one cuBLASLt call, destroyed together. */
typedef struct gemm_call {
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t a, b, c;
    cublasLtMatmulPreference_t pref;
} gemm_call;

static void gemm_call_destroy(gemm_call *g)
{
    if (g->pref)
        cublasLtMatmulPreferenceDestroy(g->pref);
    if (g->c)
        cublasLtMatrixLayoutDestroy(g->c);
    if (g->b)
        cublasLtMatrixLayoutDestroy(g->b);
    if (g->a)
        cublasLtMatrixLayoutDestroy(g->a);
    if (g->op)
        cublasLtMatmulDescDestroy(g->op);
}

#define LT_CHECK(call)                                                                   \
    do {                                                                                 \
        cublasStatus_t lt_st_ = (call);                                                  \
        if (lt_st_ != CUBLAS_STATUS_SUCCESS) {                                           \
            kc_fail("%s: cuBLAS status %d", #call, (int)lt_st_);                         \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

extern "C" int kc_gemm(void *c, kc_dtype c_type, const void *a, const void *b, kc_dtype ab,
                       const float *bias, int M, int N, int K, int trans_a, int trans_b,
                       int lda, int ldb, int ldc, float alpha, float beta)
{
    if (M <= 0 || N <= 0)
        return 0;
    if (K <= 0)
        return kc_fail("kc_gemm: K = %d", K);
    if (!a || !b || !c)
        return kc_fail("kc_gemm: NULL operand");
    if (c_type != KC_F32 && c_type != ab)
        return kc_fail("kc_gemm: C must be f32 or the type of A and B");
    if (bias && c_type != KC_F32)
        return kc_fail("kc_gemm: a bias needs an f32 C");
    cublasLtHandle_t lt = kc_cublaslt();
    if (!lt)
        return -1;
    size_t ws_bytes = 0;
    void *ws = kc_gemm_workspace(&ws_bytes);
    if (!ws)
        return -1;

    /* column-major problem: m' = N, n' = M, k' = K; A' = b, B' = a */
    cublasOperation_t op_a = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t op_b = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasComputeType_t compute = (ab == KC_F32 && kc_get_allow_tf32())
                                      ? CUBLAS_COMPUTE_32F_FAST_TF32
                                      : CUBLAS_COMPUTE_32F;
    const uint64_t ws64 = ws_bytes;
    const uint32_t al_a = gemm_alignment(b), al_b = gemm_alignment(a),
                   al_c = gemm_alignment(c);
    gemm_call g = {};
    cublasLtMatmulHeuristicResult_t heur = {};
    int found = 0, fused_bias = bias != NULL, rc = -1;

    LT_CHECK(cublasLtMatmulDescCreate(&g.op, compute, CUDA_R_32F));
    LT_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
    LT_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
    LT_CHECK(cublasLtMatrixLayoutCreate(&g.a, gemm_cuda_type(ab), trans_b ? K : N,
                                        trans_b ? N : K, ldb));
    LT_CHECK(cublasLtMatrixLayoutCreate(&g.b, gemm_cuda_type(ab), trans_a ? M : K,
                                        trans_a ? K : M, lda));
    LT_CHECK(cublasLtMatrixLayoutCreate(&g.c, gemm_cuda_type(c_type), N, M, ldc));
    LT_CHECK(cublasLtMatmulPreferenceCreate(&g.pref));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(g.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                  &ws64, sizeof ws64));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(g.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                  &al_a, sizeof al_a));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(g.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                  &al_b, sizeof al_b));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(g.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                  &al_c, sizeof al_c));
    LT_CHECK(cublasLtMatmulPreferenceSetAttribute(g.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                  &al_c, sizeof al_c));
    if (fused_bias) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        LT_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
        LT_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias,
                                                sizeof bias));
        if (cublasLtMatmulAlgoGetHeuristic(lt, g.op, g.a, g.b, g.c, g.c, g.pref, 1, &heur, &found)
                != CUBLAS_STATUS_SUCCESS || found == 0) {
            /* no algorithm with the epilogue for this shape: plain GEMM, then a bias kernel */
            cublasLtEpilogue_t none = CUBLASLT_EPILOGUE_DEFAULT;
            LT_CHECK(cublasLtMatmulDescSetAttribute(g.op, CUBLASLT_MATMUL_DESC_EPILOGUE, &none,
                                                    sizeof none));
            fused_bias = 0;
            found = 0;
        }
    }
    if (!found &&
        (cublasLtMatmulAlgoGetHeuristic(lt, g.op, g.a, g.b, g.c, g.c, g.pref, 1, &heur, &found)
             != CUBLAS_STATUS_SUCCESS || found == 0)) {
        kc_fail("kc_gemm: no cuBLASLt algorithm for M=%d N=%d K=%d (types %d/%d)", M, N, K,
                (int)ab, (int)c_type);
        goto fail;
    }
    LT_CHECK(cublasLtMatmul(lt, g.op, &alpha, b, g.a, a, g.b, &beta, c, g.c, c, g.c, &heur.algo,
                            ws, ws_bytes, 0));
    rc = 0;
    if (bias && !fused_bias) {
        gemm_add_bias<<<kc_blocks((size_t)M * N, 256), 256>>>((float *)c, bias, M, N, ldc);
        rc = kc_launched("gemm_add_bias");
    }
fail:
    gemm_call_destroy(&g);
    return rc;
}

static int linear_forward(float *out, const void *inp, const void *weight, const float *bias,
                          kc_dtype t, int N, int C_in, int C_out)
{
    /* out[N, C_out] = inp[N, C_in] · weight[C_out, C_in]ᵀ + bias */
    return kc_gemm(out, KC_F32, inp, weight, t, bias, N, C_out, C_in, 0, 1, C_in, C_in, C_out,
                   1.0f, 0.0f);
}

static int linear_backward(float *dinp, float *dweight, float *dbias, const void *dout,
                           const void *inp, const void *weight, kc_dtype t, int N, int C_in,
                           int C_out)
{
    /* dinp[N, C_in] += dout[N, C_out] · weight[C_out, C_in] */
    if (dinp && kc_gemm(dinp, KC_F32, dout, weight, t, NULL, N, C_in, C_out, 0, 0, C_out, C_in,
                        C_in, 1.0f, 1.0f))
        return -1;
    /* dweight[C_out, C_in] += dout[N, C_out]ᵀ · inp[N, C_in] */
    if (dweight && kc_gemm(dweight, KC_F32, dout, inp, t, NULL, C_out, C_in, N, 1, 0, C_out,
                           C_in, C_in, 1.0f, 1.0f))
        return -1;
    if (dbias && N > 0 && C_out > 0)
        return gemm_column_sum_launch(dbias, dout, t, N, C_out);
    return 0;
}

extern "C" int kc_linear_forward(float *out, const float *inp, const float *weight,
                                 const float *bias, int N, int C_in, int C_out)
{
    return linear_forward(out, inp, weight, bias, KC_F32, N, C_in, C_out);
}

extern "C" int kc_linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, int N, int C_in,
                                  int C_out)
{
    return linear_backward(dinp, dweight, dbias, dout, inp, weight, KC_F32, N, C_in, C_out);
}

extern "C" int kc_linear_forward_mixed(float *out, const void *inp, const void *weight,
                                       const float *bias, kc_dtype t, int N, int C_in,
                                       int C_out)
{
    return linear_forward(out, inp, weight, bias, t, N, C_in, C_out);
}

extern "C" int kc_linear_backward_mixed(float *dinp, float *dweight, float *dbias,
                                        const void *dout, const void *inp, const void *weight,
                                        kc_dtype t, int N, int C_in, int C_out)
{
    return linear_backward(dinp, dweight, dbias, dout, inp, weight, t, N, C_in, C_out);
}
