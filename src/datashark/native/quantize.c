/* Activation quantization in llama.cpp's formats, so that our products round like llama.cpp's.
 *
 * Where it comes from: ggml-cpu's quantize_row_q8_0 / q8_1 (x86 path) and quantize_row_q8_K_ref.
 * The weight type picks the format, as ggml's `vec_dot_type` does:
 *   Q8_0 (for Q4_0, Q4_1, Q5_0, Q8_0 weights), per 32 values: d = max|x| / 127 stored as
 *        float16, q = round_half_even(x * (127 / max|x|))
 *   Q8_K (for Q4_K, Q6_K), per 256 values: iscale = -127 / x[argmax |x|],
 *        q = min(127, round_half_even(iscale * x)), d = 1 / iscale (float32)
 * Every format is written as one scale per 32 values (Q8_K repeats its d 8 times) plus s per 32.
 * For Q8_0, s = fp16(max|x| / 127 * sum(q)), the unrounded scale times the sum rounded to float16,
 * exactly ggml's Q8_1 `s` (only Q4_1 weights read it, for their offset term m * s). For Q8_K,
 * s = d * sum(q). So a product is the dequantized weights times q * d, except that Q4_1's offset
 * term uses the float16 s, as llama.cpp's does.
 * The NumPy fallback (fallback.py) computes bit-identical values; tests/engine/test_kernels.py
 * checks it.
 */
#include <math.h>

#include "kernels.h"

/* float32 -> float16 bits, round to nearest even (FP16 library's fp16_ieee_from_fp32_value) */
static inline uint16_t fp32_to_fp16(float f) {
    uint32_t w, bits;
    memcpy(&w, &f, 4);
    const float scale_to_inf = 0x1.0p+112f, scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t shl1_w = w + w, sign = w & 0x80000000u;
    uint32_t bias = shl1_w & 0xFF000000u;
    if (bias < 0x71000000u) bias = 0x71000000u;
    const uint32_t bias_bits = (bias >> 1) + 0x07800000u;
    float bias_f;
    memcpy(&bias_f, &bias_bits, 4);
    base = bias_f + base;
    memcpy(&bits, &base, 4);
    const uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
    return (uint16_t)((sign >> 16) | (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

static inline float round_fp16(float f) {
#if defined(__F16C__)
    return _cvtsh_ss(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#else
    return fp16_to_fp32(fp32_to_fp16(f));
#endif
}

static void quantize_q8_32_scalar(int n, const float *x, int8_t *q, float *d, float *s) {
    for (int b = 0; b < n / QK8; b++, x += QK8, q += QK8) {
        float amax = 0.0f;
        for (int i = 0; i < QK8; i++) {
            const float a = fabsf(x[i]);
            amax = a > amax ? a : amax;
        }
        const float db = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int i = 0; i < QK8; i++) {
            q[i] = (int8_t)nearbyintf(x[i] * id);
            sum += q[i];
        }
        d[b] = round_fp16(db);
        s[b] = round_fp16(db * (float)sum);
    }
}

#ifdef DATASHARK_AVX2
static void quantize_q8_32_avx2(int n, const float *x, int8_t *q, float *d, float *s) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    const __m256i perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const int rnd = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;
    for (int b = 0; b < n / QK8; b++, x += QK8, q += QK8) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_max_ps(
            _mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
            _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
        __m128 m4 = _mm_max_ps(_mm256_extractf128_ps(m, 1), _mm256_castps256_ps128(m));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        const float db = amax / 127.0f;
        const __m256 id = _mm256_set1_ps(amax != 0.0f ? 127.0f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, id), rnd));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, id), rnd));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, id), rnd));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, id), rnd));
        __m256i t = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
        __m128i t4 = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        t4 = _mm_hadd_epi32(t4, t4);
        t4 = _mm_hadd_epi32(t4, t4);
        const float sum = (float)_mm_cvtsi128_si32(t4);
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_permutevar8x32_epi32(_mm256_packs_epi16(i0, i2), perm);
        _mm256_storeu_si256((__m256i *)q, i0);
        d[b] = round_fp16(db);
        s[b] = round_fp16(db * sum);
    }
}
#endif

/* Q8_K: one scale per 256 values (n % 256 == 0), written out per 32 */
static void quantize_q8_k(int n, const float *x, int8_t *q, float *d, float *s) {
    for (int sb = 0; sb < n / QK_K; sb++, x += QK_K, q += QK_K, d += 8, s += 8) {
        float amax = 0.0f, max = 0.0f;
        for (int i = 0; i < QK_K; i++) {
            const float a = fabsf(x[i]);
            if (a > amax) {
                amax = a;
                max = x[i];
            }
        }
        if (amax == 0.0f) {
            memset(q, 0, QK_K);
            for (int j = 0; j < 8; j++) d[j] = s[j] = 0.0f;
            continue;
        }
        const float iscale = -127.0f / max;
        for (int i = 0; i < QK_K; i++) {
            const float v = nearbyintf(iscale * x[i]);
            q[i] = (int8_t)(v < 127.0f ? v : 127.0f);
        }
        const float db = 1.0f / iscale;
        for (int j = 0; j < 8; j++) {
            int sum = 0;
            for (int i = 0; i < QK8; i++) sum += q[QK8 * j + i];
            d[j] = db;
            s[j] = db * (float)sum;
        }
    }
}

void quantize_row_act(int kind, int n, const float *x, int8_t *q, float *d, float *s, int simd) {
    if (kind == ACT_Q8_K) {
        quantize_q8_k(n, x, q, d, s);
        return;
    }
#ifdef DATASHARK_AVX2
    if (simd) {
        quantize_q8_32_avx2(n, x, q, d, s);
        return;
    }
#endif
    (void)simd;
    quantize_q8_32_scalar(n, x, q, d, s);
}
