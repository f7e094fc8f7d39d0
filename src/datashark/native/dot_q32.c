/* Dot products of 32-value GGML blocks (Q4_0, Q4_1, Q5_0, Q8_0) with Q8 activations.
 *
 * Block layouts (ggml-common.h): Q4_0 = d f16 | 16 bytes (low nibble = value j, high = j + 16),
 * w = d (q - 8); Q4_1 = d f16 | m f16 | 16 bytes, w = d q + m; Q5_0 = d f16 | qh u32 (bit j = 5th
 * bit of value j) | 16 bytes, w = d (q - 16); Q8_0 = d f16 | 32 int8, w = d q.
 * With activations x = dx * qx per block (and, for Q4_1, s = fp16(dx * sum(qx)) as ggml's Q8_1):
 *   sum w x = sum over blocks of (dw dx) * isum(wq qx)   [+ sum m s for Q4_1]
 * where wq are the signed integer weights (q - 8, q, q - 16, q). The integer sums are exact; the
 * SIMD versions use maddubs (u8 x s8 -> s16 pairs, the sign trick for signed weights), which
 * cannot saturate here since |wq| <= 128 and |qx| <= 127. Per block, the AVX2 kernels compute
 * ggml's AVX2 integer sums; the scalar ones are the portable reference (same sums, plain order).
 */
#include "kernels.h"

/* ---------------------------------------------------------------- scalar reference kernels */

static inline int nibble_dot(const uint8_t *qs, const int8_t *xq, int offset) {
    int sum = 0;
    for (int j = 0; j < 16; j++) {
        sum += ((qs[j] & 0x0f) - offset) * xq[j] + ((qs[j] >> 4) - offset) * xq[j + 16];
    }
    return sum;
}

float dot_q4_0_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    (void)xs;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++, w += 18, xq += 32) {
        acc += F16(w) * xd[b] * (float)nibble_dot(w + 2, xq, 8);
    }
    return acc;
}

float dot_q4_1_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    float acc = 0.0f, summs = 0.0f;
    for (int b = 0; b < nb; b++, w += 20, xq += 32) {
        acc += F16(w) * xd[b] * (float)nibble_dot(w + 4, xq, 0);
        summs += F16(w + 2) * xs[b];
    }
    return acc + summs;
}

float dot_q5_0_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    (void)xs;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++, w += 22, xq += 32) {
        uint32_t qh;
        memcpy(&qh, w + 2, 4);
        const uint8_t *qs = w + 6;
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            const int lo = ((qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16;
            const int hi = ((qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            sum += lo * xq[j] + hi * xq[j + 16];
        }
        acc += F16(w) * xd[b] * (float)sum;
    }
    return acc;
}

float dot_q8_0_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    (void)xs;
    float acc = 0.0f;
    for (int b = 0; b < nb; b++, w += 34, xq += 32) {
        const int8_t *q = (const int8_t *)(w + 2);
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += q[j] * xq[j];
        acc += F16(w) * xd[b] * (float)sum;
    }
    return acc;
}

/* ---------------------------------------------------------------- AVX2 kernels */
#ifdef DATASHARK_AVX2

/* 16 bytes of nibbles -> 32 bytes: values 0..15 in order (low nibbles first) */
static inline __m256i unpack_nibbles(const uint8_t *p) {
    const __m128i t = _mm_loadu_si128((const __m128i *)p);
    const __m256i b = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(b, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0xff where the bit is set */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t x32;
    memcpy(&x32, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32((int)x32), shuf);
    bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
    return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

/* unsigned bytes u (0..127) times signed bytes s -> 8 int32 partial sums, as float */
static inline __m256 udot_ps(__m256i u, __m256i s) {
    const __m256i p16 = _mm256_maddubs_epi16(u, s);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1)));
}

#define LOADX(p) _mm256_loadu_si256((const __m256i *)(p))

enum { K_Q4_0, K_Q4_1, K_Q5_0, K_Q8_0 };

static inline int block_bytes(int kind) {
    return kind == K_Q4_0 ? 18 : kind == K_Q4_1 ? 20 : kind == K_Q5_0 ? 22 : 34;
}

/* 8 float16 values at p, p + stride, ... as 8 floats (the scales of 8 consecutive blocks) */
static inline __m256 f16x8(const uint8_t *p, int stride) {
    return _mm256_cvtph_ps(_mm_setr_epi16(
        (short)load_u16(p), (short)load_u16(p + stride), (short)load_u16(p + 2 * stride),
        (short)load_u16(p + 3 * stride), (short)load_u16(p + 4 * stride),
        (short)load_u16(p + 5 * stride), (short)load_u16(p + 6 * stride),
        (short)load_u16(p + 7 * stride)));
}

/* The weights of one block as maddubs' first operand: Q4_1's unsigned nibbles, or |q| of the
 * signed values (their signs go onto the activations: maddubs takes unsigned x signed) */
static inline __attribute__((always_inline)) __m256i block_weights(int kind, const uint8_t *w,
                                                                   __m256i *sign) {
    __m256i q;
    switch (kind) {
        case K_Q4_0: q = _mm256_sub_epi8(unpack_nibbles(w + 2), _mm256_set1_epi8(8)); break;
        case K_Q4_1: *sign = _mm256_setzero_si256(); return unpack_nibbles(w + 4);
        case K_Q5_0:
            q = _mm256_or_si256(unpack_nibbles(w + 6), _mm256_andnot_si256(bits_to_bytes(w + 2),
                                                                           _mm256_set1_epi8((char)0xF0)));
            break;
        default: q = LOADX(w + 2); break;
    }
    *sign = q;
    return _mm256_sign_epi8(q, q);
}

/* activation bytes x matched with block_weights: signed weights' signs moved onto x */
static inline __attribute__((always_inline)) __m256 block_mul(int kind, __m256i u, __m256i sign,
                                                              const int8_t *xq) {
    const __m256i x = LOADX(xq);
    return udot_ps(u, kind == K_Q4_1 ? x : _mm256_sign_epi8(x, sign));
}

/* The shared loop of the 32-block kernels. Blocks go 8 at a time so that the 8 weight scales are
 * converted and multiplied by the activation scales in one vector op (coef = dw * dx); Q4_1's
 * offset term sum(m * s) is a vector FMA too. One accumulator, blocks in order (as ggml's
 * vec_dot): the 4-row kernel below keeps one per row in 8 registers. The integer part of each
 * block is ggml's (signed weights for Q4_0/Q5_0/Q8_0, unsigned nibbles plus m * s for Q4_1).
 * Inlined per kind, so every `kind` test folds away. */
static inline __attribute__((always_inline)) float dot_blocks(int kind, int nb, const uint8_t *w,
                                                              const int8_t *xq, const float *xd,
                                                              const float *xs) {
    const int bs = block_bytes(kind);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * bs, xq += 256) {
        float coef[8];
        _mm256_storeu_ps(coef, _mm256_mul_ps(f16x8(w, bs), _mm256_loadu_ps(xd + b)));
        if (kind == K_Q4_1) accm = _mm256_fmadd_ps(f16x8(w + 2, bs), _mm256_loadu_ps(xs + b), accm);
        for (int k = 0; k < 8; k++) {
            __m256i sg;
            const __m256i u = block_weights(kind, w + k * bs, &sg);
            acc = _mm256_fmadd_ps(block_mul(kind, u, sg, xq + 32 * k), _mm256_broadcast_ss(coef + k),
                                  acc);
        }
    }
    float offt = 0.0f;
    for (; b < nb; b++, w += bs, xq += 32) {
        __m256i sg;
        const __m256i u = block_weights(kind, w, &sg);
        acc = _mm256_fmadd_ps(block_mul(kind, u, sg, xq), _mm256_set1_ps(F16(w) * xd[b]), acc);
        if (kind == K_Q4_1) offt += F16(w + 2) * xs[b];
    }
    return hsum_ps(acc) + (hsum_ps(accm) + offt);
}

/* The same loop for 4 activation rows at once (prefill and batches): each weight block is
 * unpacked once and multiplied with the 4 rows' bytes. Every row goes through exactly the
 * operations of dot_blocks in the same order, so a row's result never depends on which other
 * rows share the call (batch invariance: a sequence decodes the same alone or in a batch).
 * Rows t = 0..3 start at xq + t * xstride (their scales at xd/xs + t * sstride). */
static inline __attribute__((always_inline)) void dot_blocks_x4(
    int kind, int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
    const float *xs, int sstride, float *out) {
    const int bs = block_bytes(kind);
    __m256 acc[4], accm[4];
    for (int t = 0; t < 4; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * bs, xq += 256) {
        const __m256 dw = f16x8(w, bs);
        const __m256 mw = kind == K_Q4_1 ? f16x8(w + 2, bs) : dw;
        float coef[4][8];
        for (int t = 0; t < 4; t++) {
            _mm256_storeu_ps(coef[t], _mm256_mul_ps(dw, _mm256_loadu_ps(xd + t * sstride + b)));
            if (kind == K_Q4_1)
                accm[t] = _mm256_fmadd_ps(mw, _mm256_loadu_ps(xs + t * sstride + b), accm[t]);
        }
        for (int k = 0; k < 8; k++) {
            __m256i sg;
            const __m256i u = block_weights(kind, w + k * bs, &sg);
            for (int t = 0; t < 4; t++) {
                acc[t] = _mm256_fmadd_ps(block_mul(kind, u, sg, xq + t * xstride + 32 * k),
                                         _mm256_broadcast_ss(coef[t] + k), acc[t]);
            }
        }
    }
    float offt[4] = {0, 0, 0, 0};
    for (; b < nb; b++, w += bs, xq += 32) {
        __m256i sg;
        const __m256i u = block_weights(kind, w, &sg);
        const float d0 = F16(w), m0 = kind == K_Q4_1 ? F16(w + 2) : 0.0f;
        for (int t = 0; t < 4; t++) {
            acc[t] = _mm256_fmadd_ps(block_mul(kind, u, sg, xq + t * xstride),
                                     _mm256_set1_ps(d0 * xd[t * sstride + b]), acc[t]);
            if (kind == K_Q4_1) offt[t] += m0 * xs[t * sstride + b];
        }
    }
    for (int t = 0; t < 4; t++) out[t] = hsum_ps(acc[t]) + (hsum_ps(accm[t]) + offt[t]);
}

#define DEFINE_KERNELS(name, kind)                                                              \
    float dot_##name##_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,       \
                            const float *xs) {                                                 \
        return dot_blocks(kind, nb, w, xq, xd, xs);                                            \
    }                                                                                          \
    void dot4_##name##_avx2(int nb, const uint8_t *w, const int8_t *xq, int xstride,           \
                            const float *xd, const float *xs, int sstride, float *out) {       \
        dot_blocks_x4(kind, nb, w, xq, xstride, xd, xs, sstride, out);                         \
    }

DEFINE_KERNELS(q4_0, K_Q4_0)
DEFINE_KERNELS(q4_1, K_Q4_1)
DEFINE_KERNELS(q5_0, K_Q5_0)
DEFINE_KERNELS(q8_0, K_Q8_0)

#endif /* DATASHARK_AVX2 */
