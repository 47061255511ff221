/* amp.cu — mixed-precision helpers: f32 ↔ bf16/f16 conversion, the non-finite gradient
 * check (with unscaling) and the dynamic loss scaler, as torch.cuda.amp does it:
 * scale the loss, unscale the gradients, skip the step and halve the scale when a gradient
 * overflowed, double it after growth_interval clean steps. */
#include "kernels/cuda/common.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#define AMP_THREADS 256
#define AMP_LOOP(i, n)                                                                   \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);              \
         i += (size_t)gridDim.x * blockDim.x)

__device__ static inline float amp_load(const void *p, kc_dtype t, size_t i)
{
    if (t == KC_BF16)
        return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    if (t == KC_F16)
        return __half2float(((const __half *)p)[i]);
    return ((const float *)p)[i];
}

__device__ static inline void amp_store(void *p, kc_dtype t, size_t i, float x)
{
    if (t == KC_BF16)
        ((__nv_bfloat16 *)p)[i] = __float2bfloat16_rn(x);
    else if (t == KC_F16)
        ((__half *)p)[i] = __float2half_rn(x);
    else
        ((float *)p)[i] = x;
}

__global__ static void amp_convert(void *dst, kc_dtype dt, const void *src, kc_dtype stype,
                                   size_t n)
{
    AMP_LOOP(i, n)
    amp_store(dst, dt, i, amp_load(src, stype, i));
}

extern "C" int kc_convert(void *dst, kc_dtype dst_type, const void *src, kc_dtype src_type,
                          size_t n)
{
    if (n == 0)
        return 0;
    if (dst_type == src_type)
        return kc_copy(dst, 1, src, 1, n * kc_dtype_size(dst_type));
    amp_convert<<<kc_blocks(n, AMP_THREADS), AMP_THREADS>>>(dst, dst_type, src, src_type, n);
    return kc_launched("convert");
}

/* Writes only 1s, and only from threads that saw a non-finite value: any order gives the
 * same flag. */
__global__ static void amp_found_inf(float *flag, float *x, float inv_scale, int unscale,
                                     size_t n)
{
    int bad = 0;
    AMP_LOOP(i, n)
    {
        float v = x[i];
        if (unscale) {
            v *= inv_scale;
            x[i] = v;
        }
        bad |= !isfinite(v);
    }
    if (bad)
        flag[0] = 1.0f;
}

extern "C" int kc_found_inf(float *flag, const float *x, size_t n)
{
    if (n == 0)
        return 0;
    amp_found_inf<<<kc_blocks(n, AMP_THREADS), AMP_THREADS>>>(flag, (float *)x, 1.0f, 0, n);
    return kc_launched("found_inf");
}

extern "C" int kc_unscale_found_inf(float *x, float *flag, float inv_scale, size_t n)
{
    if (n == 0)
        return 0;
    amp_found_inf<<<kc_blocks(n, AMP_THREADS), AMP_THREADS>>>(flag, x, inv_scale, 1, n);
    return kc_launched("unscale_found_inf");
}

extern "C" void kc_loss_scaler_init(kc_loss_scaler *s, float init_scale, int growth_interval)
{
    s->scale = init_scale > 0.0f ? init_scale : 65536.0f;
    s->growth_factor = 2.0f;
    s->backoff_factor = 0.5f;
    s->growth_interval = growth_interval > 0 ? growth_interval : 2000;
    s->good_steps = 0;
    s->min_scale = 1.0f;
}

extern "C" int kc_loss_scaler_update(kc_loss_scaler *s, int found_inf)
{
    if (found_inf) {
        s->scale *= s->backoff_factor;
        if (s->scale < s->min_scale)
            s->scale = s->min_scale;
        s->good_steps = 0;
        return 1;
    }
    if (++s->good_steps >= s->growth_interval) {
        const float grown = s->scale * s->growth_factor;
        if (isfinite(grown)) /* torch keeps the scale when growing would overflow */
            s->scale = grown;
        s->good_steps = 0;
    }
    return 0;
}
