/* conv2d.cu — 2-D convolution on cuDNN, with k_conv2d_*'s semantics (NCHW, f32, the same
 * stride and zero padding in both directions, cross-correlation as torch.nn.Conv2d).
 *
 * Descriptors and algorithms are made once per shape and kept in a small plan cache. The
 * algorithms come from cuDNN's heuristics (cudnnGet*Algorithm_v7): the first one that is
 * supported, fits the workspace cap, is deterministic (kernels.h promises bit-identical
 * reruns; cuDNN's atomic-based backward algorithms are not) and, unless TF32 is allowed,
 * runs on plain FMA math. Its workspace size comes from cudnnGet*WorkspaceSize.
 * Gradients accumulate as on the CPU: backward data and filter run with beta = 1; the bias
 * gradient is a deterministic per-channel sum. The forward adds the bias with
 * cudnnAddTensor. cuDNN 9 marks this (legacy) API deprecated but ships it; the graph API
 * would be the replacement. */
#include "kernels/cuda/common.cuh"

#include <cudnn.h>
#include <string.h>

typedef struct conv_plan {
    int valid, tf32;
    k_conv2d_dims d;
    cudnnTensorDescriptor_t x, y, bias;
    cudnnFilterDescriptor_t w;
    cudnnConvolutionDescriptor_t conv;
    cudnnConvolutionFwdAlgo_t fwd;
    cudnnConvolutionBwdDataAlgo_t bwd_data;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter;
    size_t ws_fwd, ws_data, ws_filter;
} conv_plan;

#define CONV_PLANS 64
static conv_plan conv_plans[CONV_PLANS];
static int conv_next; /* round-robin victim when the cache is full */

#define DNN_CHECK(call)                                                                  \
    do {                                                                                 \
        cudnnStatus_t dnn_st_ = (call);                                                  \
        if (dnn_st_ != CUDNN_STATUS_SUCCESS) {                                           \
            kc_fail("%s: %s", #call, cudnnGetErrorString(dnn_st_));                      \
            goto fail;                                                                   \
        }                                                                                \
    } while (0)

static void conv_plan_destroy(conv_plan *p)
{
    if (p->conv)
        cudnnDestroyConvolutionDescriptor(p->conv);
    if (p->w)
        cudnnDestroyFilterDescriptor(p->w);
    if (p->bias)
        cudnnDestroyTensorDescriptor(p->bias);
    if (p->y)
        cudnnDestroyTensorDescriptor(p->y);
    if (p->x)
        cudnnDestroyTensorDescriptor(p->x);
    memset(p, 0, sizeof *p);
}

void kc_conv_cache_clear(void)
{
    for (int i = 0; i < CONV_PLANS; i++)
        conv_plan_destroy(&conv_plans[i]);
    conv_next = 0;
}

static int conv_out(int size, int k, int stride, int pad)
{
    return (size + 2 * pad - k) / stride + 1;
}

static int conv_same(const k_conv2d_dims *a, const k_conv2d_dims *b)
{
    return a->N == b->N && a->C_in == b->C_in && a->H == b->H && a->W == b->W &&
           a->C_out == b->C_out && a->KH == b->KH && a->KW == b->KW &&
           a->stride == b->stride && a->pad == b->pad;
}

static int conv_math_ok(cudnnMathType_t m, int tf32)
{
    return tf32 || m == CUDNN_FMA_MATH || m == CUDNN_DEFAULT_MATH;
}

/* The first acceptable entry of a heuristic list; -1 when none. */
#define CONV_PICK(perf, n, tf32, out)                                                     \
    do {                                                                                  \
        (out) = -1;                                                                       \
        for (int i_ = 0; i_ < (n); i_++)                                                  \
            if ((perf)[i_].status == CUDNN_STATUS_SUCCESS &&                              \
                (perf)[i_].memory <= KC_CONV_WORKSPACE_MAX &&                             \
                (perf)[i_].determinism == CUDNN_DETERMINISTIC &&                          \
                conv_math_ok((perf)[i_].mathType, (tf32))) {                              \
                (out) = i_;                                                               \
                break;                                                                    \
            }                                                                             \
    } while (0)

static int conv_plan_build(conv_plan *p, cudnnHandle_t h, const k_conv2d_dims *d, int tf32)
{
    const int OH = conv_out(d->H, d->KH, d->stride, d->pad);
    const int OW = conv_out(d->W, d->KW, d->stride, d->pad);
    int n = 0, on = 0, oc = 0, oh = 0, ow = 0, pick = -1;
    cudnnConvolutionFwdAlgoPerf_t fp[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    cudnnConvolutionBwdDataAlgoPerf_t dp[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    cudnnConvolutionBwdFilterAlgoPerf_t wp[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];

    memset(p, 0, sizeof *p);
    p->d = *d;
    p->tf32 = tf32;
    DNN_CHECK(cudnnCreateTensorDescriptor(&p->x));
    DNN_CHECK(cudnnCreateTensorDescriptor(&p->y));
    DNN_CHECK(cudnnCreateTensorDescriptor(&p->bias));
    DNN_CHECK(cudnnCreateFilterDescriptor(&p->w));
    DNN_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
    DNN_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->N,
                                         d->C_in, d->H, d->W));
    DNN_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, d->N,
                                         d->C_out, OH, OW));
    DNN_CHECK(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, 1,
                                         d->C_out, 1, 1));
    DNN_CHECK(cudnnSetFilter4dDescriptor(p->w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, d->C_out,
                                         d->C_in, d->KH, d->KW));
    DNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv, d->pad, d->pad, d->stride, d->stride, 1,
                                              1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    DNN_CHECK(cudnnSetConvolutionMathType(p->conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
    DNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &on, &oc, &oh, &ow));
    if (on != d->N || oc != d->C_out || oh != OH || ow != OW) {
        kc_fail("conv2d: cuDNN output %dx%dx%dx%d differs from the op's %dx%dx%dx%d", on, oc, oh,
                ow, d->N, d->C_out, OH, OW);
        goto fail;
    }

    /* Fallbacks when no heuristic entry qualifies: implicit GEMM forward and the
     * deterministic, FMA-capable backward algorithms (ALGO_1 of each). */
    DNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y,
                                                     CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, fp));
    CONV_PICK(fp, n, tf32, pick);
    p->fwd = pick >= 0 ? fp[pick].algo : CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    DNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x,
                                                          CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                          &n, dp));
    CONV_PICK(dp, n, tf32, pick);
    p->bwd_data = pick >= 0 ? dp[pick].algo : CUDNN_CONVOLUTION_BWD_DATA_ALGO_1;
    DNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        h, p->x, p->y, p->conv, p->w, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, wp));
    CONV_PICK(wp, n, tf32, pick);
    p->bwd_filter = pick >= 0 ? wp[pick].algo : CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1;

    DNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(h, p->x, p->w, p->conv, p->y, p->fwd,
                                                      &p->ws_fwd));
    DNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(h, p->w, p->y, p->conv, p->x,
                                                           p->bwd_data, &p->ws_data));
    DNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p->x, p->y, p->conv, p->w,
                                                             p->bwd_filter, &p->ws_filter));
    p->valid = 1;
    return 0;
fail:
    conv_plan_destroy(p);
    return -1;
}

static conv_plan *conv_plan_get(cudnnHandle_t h, const k_conv2d_dims *d)
{
    const int tf32 = kc_get_allow_tf32();
    for (int i = 0; i < CONV_PLANS; i++)
        if (conv_plans[i].valid && conv_plans[i].tf32 == tf32 && conv_same(&conv_plans[i].d, d))
            return &conv_plans[i];
    conv_plan *p = NULL;
    for (int i = 0; i < CONV_PLANS && !p; i++)
        if (!conv_plans[i].valid)
            p = &conv_plans[i];
    if (!p) {
        p = &conv_plans[conv_next];
        conv_next = (conv_next + 1) % CONV_PLANS;
        conv_plan_destroy(p);
    }
    return conv_plan_build(p, h, d, tf32) == 0 ? p : NULL;
}

static int conv_check_dims(const k_conv2d_dims *d)
{
    if (d->N <= 0 || d->C_in <= 0 || d->H <= 0 || d->W <= 0 || d->C_out <= 0 || d->KH <= 0 ||
        d->KW <= 0 || d->stride <= 0 || d->pad < 0 ||
        conv_out(d->H, d->KH, d->stride, d->pad) <= 0 ||
        conv_out(d->W, d->KW, d->stride, d->pad) <= 0)
        return kc_fail("conv2d: invalid dims N=%d C_in=%d H=%d W=%d C_out=%d K=%dx%d s=%d p=%d",
                       d->N, d->C_in, d->H, d->W, d->C_out, d->KH, d->KW, d->stride, d->pad);
    return 0;
}

#define DNN_RETURN(call)                                                                 \
    do {                                                                                 \
        cudnnStatus_t dnn_st_ = (call);                                                  \
        if (dnn_st_ != CUDNN_STATUS_SUCCESS)                                             \
            return kc_fail("%s: %s", #call, cudnnGetErrorString(dnn_st_));               \
    } while (0)

extern "C" int kc_conv2d_forward(float *out, const float *inp, const float *weight,
                                 const float *bias, float *scratch, const k_conv2d_dims *d)
{
    (void)scratch;
    if (conv_check_dims(d))
        return -1;
    cudnnHandle_t h = kc_cudnn();
    if (!h)
        return -1;
    conv_plan *p = conv_plan_get(h, d);
    if (!p)
        return -1;
    void *ws = kc_conv_workspace(p->ws_fwd);
    if (!ws && p->ws_fwd)
        return -1;
    const float one = 1.0f, zero = 0.0f;
    DNN_RETURN(cudnnConvolutionForward(h, &one, p->x, inp, p->w, weight, p->conv, p->fwd, ws,
                                       p->ws_fwd, &zero, p->y, out));
    if (bias)
        DNN_RETURN(cudnnAddTensor(h, &one, p->bias, bias, &one, p->y, out));
    return 0;
}

extern "C" int kc_conv2d_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                                  const float *inp, const float *weight, float *scratch,
                                  const k_conv2d_dims *d)
{
    (void)scratch;
    if (conv_check_dims(d))
        return -1;
    const int P = conv_out(d->H, d->KH, d->stride, d->pad) * conv_out(d->W, d->KW, d->stride, d->pad);
    if (dbias && kc_channel_sum(dbias, dout, d->N, d->C_out, P))
        return -1;
    if (!dinp && !dweight)
        return 0;
    cudnnHandle_t h = kc_cudnn();
    if (!h)
        return -1;
    conv_plan *p = conv_plan_get(h, d);
    if (!p)
        return -1;
    const float one = 1.0f;
    if (dweight) {
        void *ws = kc_conv_workspace(p->ws_filter);
        if (!ws && p->ws_filter)
            return -1;
        DNN_RETURN(cudnnConvolutionBackwardFilter(h, &one, p->x, inp, p->y, dout, p->conv,
                                                  p->bwd_filter, ws, p->ws_filter, &one, p->w,
                                                  dweight));
    }
    if (dinp) {
        void *ws = kc_conv_workspace(p->ws_data);
        if (!ws && p->ws_data)
            return -1;
        DNN_RETURN(cudnnConvolutionBackwardData(h, &one, p->w, weight, p->y, dout, p->conv,
                                                p->bwd_data, ws, p->ws_data, &one, p->x, dinp));
    }
    return 0;
}
