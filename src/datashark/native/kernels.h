/* Shared declarations of DataShark's quantized dot-product kernels.
 *
 * Activations are quantized to int8 as llama.cpp does (quantize.c): int8 q[i] with one scale d per
 * 32 values and s[b] = d[b] * sum(q in block b) (used by the weight types with an offset).
 * A dot function computes sum_i w[i] * q[i] * d[i/32] for one weight row of `nb` 32-blocks,
 * reading the weight row's GGML blocks directly (never expanding it to float32).
 * Float weights (F32/F16/BF16) use the float activations instead (fdot functions).
 * Every kernel has a portable scalar version; the AVX2 versions are used when compiled in.
 */
#ifndef DATASHARK_KERNELS_H
#define DATASHARK_KERNELS_H

#include <stdint.h>
#include <string.h>

#define QK8 32 /* activation block */
#define QK_K 256

/* sum_i w[i] * x[i] for one row; nb = number of 32-value blocks in the row */
typedef float (*dot_fn)(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                        const float *xs);
/* the same for 4 activation rows: row t at xq + t * xstride, scales at xd/xs + t * sstride */
typedef void (*dot4_fn)(int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
                        const float *xs, int sstride, float *out);
/* sum_i w[i] * x[i] for one row of float weights; n = number of values */
typedef float (*fdot_fn)(int n, const uint8_t *w, const float *x);

static inline float fp16_to_fp32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
    if (exp == 0) {
        if (mant == 0) {
            bits = sign;
        } else { /* subnormal: normalize */
            exp = 127 - 15 + 1;
            while (!(mant & 0x400)) {
                mant <<= 1;
                exp--;
            }
            mant &= 0x3ff;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 0x1f) {
        bits = sign | 0x7f800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

#if defined(__F16C__)
#include <immintrin.h>
#define F16(p) _cvtsh_ss(load_u16(p))
#else
#define F16(p) fp16_to_fp32(load_u16(p))
#endif

/* scalar kernels (always compiled; the reference for the SIMD ones) */
float dot_q4_0_scalar(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q4_1_scalar(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q5_0_scalar(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q8_0_scalar(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q4_k_scalar(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q6_k_scalar(int, const uint8_t *, const int8_t *, const float *, const float *);
float fdot_f32_scalar(int, const uint8_t *, const float *);
float fdot_f16_scalar(int, const uint8_t *, const float *);
float fdot_bf16_scalar(int, const uint8_t *, const float *);

#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__)
#define DATASHARK_AVX2 1
float dot_q4_0_avx2(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q4_1_avx2(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q5_0_avx2(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q8_0_avx2(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q4_k_avx2(int, const uint8_t *, const int8_t *, const float *, const float *);
float dot_q6_k_avx2(int, const uint8_t *, const int8_t *, const float *, const float *);
void dot4_q4_0_avx2(int, const uint8_t *, const int8_t *, int, const float *, const float *, int, float *);
void dot4_q4_1_avx2(int, const uint8_t *, const int8_t *, int, const float *, const float *, int, float *);
void dot4_q5_0_avx2(int, const uint8_t *, const int8_t *, int, const float *, const float *, int, float *);
void dot4_q8_0_avx2(int, const uint8_t *, const int8_t *, int, const float *, const float *, int, float *);
float fdot_f32_avx2(int, const uint8_t *, const float *);
float fdot_f16_avx2(int, const uint8_t *, const float *);
float fdot_bf16_avx2(int, const uint8_t *, const float *);

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}
#endif

/* activation formats (quantize.c): which one a weight type uses is ggml's vec_dot_type */
enum { ACT_Q8_0 = 0, ACT_Q8_K = 1 };
/* quantize one row of n floats (n % 32 == 0; % 256 for Q8_K): int8 q[n], per 32 values the
 * scale d and s = d * sum(q) */
void quantize_row_act(int kind, int n, const float *x, int8_t *q, float *d, float *s, int simd);

#endif
