/* Dot products of 32-value GGML blocks (Q4_0, Q4_1, Q5_0, Q8_0) with Q8 activations.
 *
 * Block layouts (ggml-common.h): Q4_0 = d f16 | 16 bytes (low nibble = value j, high = j + 16),
 * w = d (q - 8); Q4_1 = d f16 | m f16 | 16 bytes, w = d q + m; Q5_0 = d f16 | qh u32 (bit j = 5th
 * bit of value j) | 16 bytes, w = d (q - 16); Q8_0 = d f16 | 32 int8, w = d q.
 * With activations x = dx * qx per block (and, for Q4_1, s = fp16(dx * sum(qx)) as ggml's Q8_1):
 *   sum w x = sum over blocks of (dw dx) * isum(wq qx)   [+ sum m s for Q4_1]
 * where wq are the signed integer weights (q - 8, q, q - 16, q). The integer sums are exact; the
 * SIMD versions use maddubs (u8 x s8 -> s16 pairs, the sign trick for signed weights), which
 * cannot saturate here since |wq| <= 128 and |qx| <= 127. The AVX2 kernels follow ggml's AVX2
 * vec_dot order exactly; the scalar ones are the portable reference (same sums, plain order).
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

/* signed bytes a times signed bytes b (|a| <= 128, |b| <= 127) -> 8 int32 partial sums as float */
static inline __m256 sdot_ps(__m256i a, __m256i b) {
    return udot_ps(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

#define LOADX(p) _mm256_loadu_si256((const __m256i *)(p))

enum { K_Q4_0, K_Q4_1, K_Q5_0, K_Q8_0 };

/* one block's 32 weights times 32 activation bytes -> 8 int32 partial sums as float, as ggml's
 * AVX2 vec_dot computes them: Q4_0 and Q5_0 as signed values (q - 8, q - 16), Q4_1 unsigned (its
 * offset m is a separate term), Q8_0 signed */
static inline __attribute__((always_inline)) __m256 block_dot(int kind, const uint8_t *w,
                                                              const int8_t *xq) {
    switch (kind) {
        case K_Q4_0:
            return sdot_ps(_mm256_sub_epi8(unpack_nibbles(w + 2), _mm256_set1_epi8(8)), LOADX(xq));
        case K_Q4_1: return udot_ps(unpack_nibbles(w + 4), LOADX(xq));
        case K_Q5_0: {
            /* a clear 5th bit makes the byte q - 16 (its high nibble 0xF) */
            const __m256i hi = _mm256_andnot_si256(bits_to_bytes(w + 2), _mm256_set1_epi8((char)0xF0));
            return sdot_ps(_mm256_or_si256(unpack_nibbles(w + 6), hi), LOADX(xq));
        }
        default: return sdot_ps(LOADX(w + 2), LOADX(xq));
    }
}

static inline int block_bytes(int kind) {
    return kind == K_Q4_0 ? 18 : kind == K_Q4_1 ? 20 : kind == K_Q5_0 ? 22 : 34;
}

/* The shared loop of the 32-block kernels, in ggml's order (ggml_vec_dot_q4_0_q8_0 and friends,
 * AVX2): one vector accumulator, acc += (dw * dx) * block_dot per block, then a horizontal sum;
 * Q4_1 adds sum(m * s) accumulated as a scalar in block order. The same operations in the same
 * order give the same bits as llama.cpp's CPU backend on an AVX2 machine, which keeps greedy
 * decoding on llama.cpp's side of near-ties. Inlined per kind, so every `kind` test folds away. */
static inline __attribute__((always_inline)) float dot_blocks(int kind, int nb, const uint8_t *w,
                                                              const int8_t *xq, const float *xd,
                                                              const float *xs) {
    const int bs = block_bytes(kind);
    __m256 acc = _mm256_setzero_ps();
    float summs = 0.0f;
    for (int b = 0; b < nb; b++, w += bs, xq += 32) {
        if (kind == K_Q4_1) summs += F16(w + 2) * xs[b];
        acc = _mm256_fmadd_ps(_mm256_set1_ps(F16(w) * xd[b]), block_dot(kind, w, xq), acc);
    }
    return hsum_ps(acc) + summs;
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
    __m256 acc[4];
    float summs[4] = {0, 0, 0, 0};
    for (int t = 0; t < 4; t++) acc[t] = _mm256_setzero_ps();
    for (int b = 0; b < nb; b++, w += bs, xq += 32) {
        const float dw = F16(w);
        __m256i a; /* the weights as maddubs' unsigned operand */
        switch (kind) {
            case K_Q4_0:
                a = _mm256_sub_epi8(unpack_nibbles(w + 2), _mm256_set1_epi8(8));
                break;
            case K_Q4_1: a = unpack_nibbles(w + 4); break;
            case K_Q5_0:
                a = _mm256_or_si256(unpack_nibbles(w + 6),
                                    _mm256_andnot_si256(bits_to_bytes(w + 2),
                                                        _mm256_set1_epi8((char)0xF0)));
                break;
            default: a = LOADX(w + 2); break;
        }
        const __m256i ua = kind == K_Q4_1 ? a : _mm256_sign_epi8(a, a);
        const float m = kind == K_Q4_1 ? F16(w + 2) : 0.0f;
        for (int t = 0; t < 4; t++) {
            __m256i x = LOADX(xq + t * xstride);
            if (kind != K_Q4_1) x = _mm256_sign_epi8(x, a);
            if (kind == K_Q4_1) summs[t] += m * xs[t * sstride + b];
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * xd[t * sstride + b]), udot_ps(ua, x),
                                     acc[t]);
        }
    }
    for (int t = 0; t < 4; t++) out[t] = hsum_ps(acc[t]) + summs[t];
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
