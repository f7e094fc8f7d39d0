/* Dot products of float weight rows (F32, F16, BF16) with float32 activations.
 * F16 converts with F16C (vcvtph2ps) where available; BF16 is the top half of a float32.
 */
#include "kernels.h"

static inline float bf16_to_fp32(uint16_t h) {
    const uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float fdot_f32_scalar(int n, const uint8_t *w, const float *x) {
    float acc = 0.0f, v;
    for (int i = 0; i < n; i++) {
        memcpy(&v, w + 4 * i, 4);
        acc += v * x[i];
    }
    return acc;
}

float fdot_f16_scalar(int n, const uint8_t *w, const float *x) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += fp16_to_fp32(load_u16(w + 2 * i)) * x[i];
    return acc;
}

float fdot_bf16_scalar(int n, const uint8_t *w, const float *x) {
    float acc = 0.0f;
    for (int i = 0; i < n; i++) acc += bf16_to_fp32(load_u16(w + 2 * i)) * x[i];
    return acc;
}

#ifdef DATASHARK_AVX2

float fdot_f32_avx2(int n, const uint8_t *w, const float *x) {
    const float *wf = (const float *)w; /* GGUF data is aligned to >= 32 bytes */
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(wf + i), _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(wf + i + 8), _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = hsum_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += wf[i] * x[i];
    return acc;
}

float fdot_f16_avx2(int n, const uint8_t *w, const float *x) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 w0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
        const __m256 w1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(w + 2 * i + 16)));
        a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(x + i), a0);
        a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(x + i + 8), a1);
    }
    float acc = hsum_ps(_mm256_add_ps(a0, a1));
    for (; i < n; i++) acc += _cvtsh_ss(load_u16(w + 2 * i)) * x[i];
    return acc;
}

float fdot_bf16_avx2(int n, const uint8_t *w, const float *x) {
    __m256 a0 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + 2 * i)));
        const __m256 wv = _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
        a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + i), a0);
    }
    float acc = hsum_ps(a0);
    for (; i < n; i++) acc += bf16_to_fp32(load_u16(w + 2 * i)) * x[i];
    return acc;
}

#endif /* DATASHARK_AVX2 */
