/* Dot products of 32-value GGML blocks (Q4_0, Q4_1, Q5_0, Q8_0) with Q8 activations.
 *
 * Block layouts (ggml-common.h): Q4_0 = d f16 | 16 bytes (low nibble = value j, high = j + 16),
 * w = d (q - 8); Q4_1 = d f16 | m f16 | 16 bytes, w = d q + m; Q5_0 = d f16 | qh u32 (bit j = 5th
 * bit of value j) | 16 bytes, w = d (q - 16); Q8_0 = d f16 | 32 int8, w = d q.
 * With activations x = dx * qx per block and sx = dx * sum(qx):
 *   sum w x = dw dx sum(q qx) + (offset terms: Q4_0 -8 dw sx, Q4_1 + m sx, Q5_0 -16 dw sx).
 * The integer sums are exact; the SIMD versions use maddubs (u8 x s8 -> s16 pairs), which cannot
 * saturate here since |q| <= 31 for unsigned weights and |qx| <= 127.
 */
#include "kernels.h"

/* ---------------------------------------------------------------- scalar reference kernels */

static inline int nibble_dot(const uint8_t *qs, const int8_t *xq) {
    int sum = 0;
    for (int j = 0; j < 16; j++) {
        sum += (qs[j] & 0x0f) * xq[j] + (qs[j] >> 4) * xq[j + 16];
    }
    return sum;
}

float dot_q4_0_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    float acc = 0.0f, corr = 0.0f;
    for (int b = 0; b < nb; b++, w += 18, xq += 32) {
        const float d = F16(w);
        acc += d * xd[b] * (float)nibble_dot(w + 2, xq);
        corr += d * xs[b];
    }
    return acc - 8.0f * corr;
}

float dot_q4_1_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    float acc = 0.0f, corr = 0.0f;
    for (int b = 0; b < nb; b++, w += 20, xq += 32) {
        acc += F16(w) * xd[b] * (float)nibble_dot(w + 4, xq);
        corr += F16(w + 2) * xs[b];
    }
    return acc + corr;
}

float dot_q5_0_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    float acc = 0.0f, corr = 0.0f;
    for (int b = 0; b < nb; b++, w += 22, xq += 32) {
        const float d = F16(w);
        uint32_t qh;
        memcpy(&qh, w + 2, 4);
        const uint8_t *qs = w + 6;
        int sum = 0;
        for (int j = 0; j < 16; j++) {
            const int lo = (qs[j] & 0x0f) | (((qh >> j) & 1) << 4);
            const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            sum += lo * xq[j] + hi * xq[j + 16];
        }
        acc += d * xd[b] * (float)sum;
        corr += d * xs[b];
    }
    return acc - 16.0f * corr;
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

/* 8 float16 values at p, p + stride, ... as 8 floats (the scales of 8 consecutive blocks) */
static inline __m256 f16x8(const uint8_t *p, int stride) {
    return _mm256_cvtph_ps(_mm_setr_epi16(
        (short)load_u16(p), (short)load_u16(p + stride), (short)load_u16(p + 2 * stride),
        (short)load_u16(p + 3 * stride), (short)load_u16(p + 4 * stride),
        (short)load_u16(p + 5 * stride), (short)load_u16(p + 6 * stride),
        (short)load_u16(p + 7 * stride)));
}

static inline __m256i q5_values(const uint8_t *w) {
    const __m256i hi = _mm256_and_si256(bits_to_bytes(w + 2), _mm256_set1_epi8(0x10));
    return _mm256_or_si256(unpack_nibbles(w + 6), hi);
}

enum { K_Q4_0, K_Q4_1, K_Q5_0, K_Q8_0 };

/* one block's 32 weights times 32 activation bytes -> 8 partial sums (unscaled) */
static inline __attribute__((always_inline)) __m256 block_dot(int kind, const uint8_t *w,
                                                              const int8_t *xq) {
    switch (kind) {
        case K_Q4_0: return udot_ps(unpack_nibbles(w + 2), LOADX(xq));
        case K_Q4_1: return udot_ps(unpack_nibbles(w + 4), LOADX(xq));
        case K_Q5_0: return udot_ps(q5_values(w), LOADX(xq));
        default: return sdot_ps(LOADX(w + 2), LOADX(xq));
    }
}

/* The shared loop of the 32-block kernels. Blocks go 8 at a time so that the 8 weight scales are
 * converted and multiplied by the activation scales in one vector op (coef = dw * dx) rather than
 * a scalar chain per block; the offset terms (Q4_0/Q5_0: dw * sx, Q4_1: m * sx) are vector FMAs
 * too. Returns sum(dw dx dot) in *dot and sum(offset scale * sx) in *off. Inlined per kind, so
 * every `kind` test folds away. */
static inline __attribute__((always_inline)) void dot_blocks(int kind, int nb, const uint8_t *w,
                                                             const int8_t *xq, const float *xd,
                                                             const float *xs, float *dot,
                                                             float *off) {
    const int bs = kind == K_Q4_0 ? 18 : kind == K_Q4_1 ? 20 : kind == K_Q5_0 ? 22 : 34;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * bs, xq += 256) {
        const __m256 dw = f16x8(w, bs);
        float coef[8];
        _mm256_storeu_ps(coef, _mm256_mul_ps(dw, _mm256_loadu_ps(xd + b)));
        if (kind == K_Q4_1) accm = _mm256_fmadd_ps(f16x8(w + 2, bs), _mm256_loadu_ps(xs + b), accm);
        if (kind == K_Q4_0 || kind == K_Q5_0) accm = _mm256_fmadd_ps(dw, _mm256_loadu_ps(xs + b), accm);
        for (int k = 0; k < 8; k += 2) {
            acc0 = _mm256_fmadd_ps(block_dot(kind, w + k * bs, xq + 32 * k),
                                   _mm256_broadcast_ss(coef + k), acc0);
            acc1 = _mm256_fmadd_ps(block_dot(kind, w + (k + 1) * bs, xq + 32 * k + 32),
                                   _mm256_broadcast_ss(coef + k + 1), acc1);
        }
    }
    float offt = 0.0f;
    for (; b < nb; b++, w += bs, xq += 32) {
        const float d0 = F16(w);
        acc0 = _mm256_fmadd_ps(block_dot(kind, w, xq), _mm256_set1_ps(d0 * xd[b]), acc0);
        if (kind == K_Q4_1) offt += F16(w + 2) * xs[b];
        if (kind == K_Q4_0 || kind == K_Q5_0) offt += d0 * xs[b];
    }
    *dot = hsum_ps(_mm256_add_ps(acc0, acc1));
    *off = hsum_ps(accm) + offt;
}

/* The same loop for 4 activation rows at once (prefill and batches): each weight block is
 * unpacked once and multiplied with the 4 rows' bytes. Rows t = 0..3 start at xq + t * xstride
 * (their scales at xd/xs + t * sstride). */
static inline __attribute__((always_inline)) void dot_blocks_x4(
    int kind, int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
    const float *xs, int sstride, float *dot, float *off) {
    const int bs = kind == K_Q4_0 ? 18 : kind == K_Q4_1 ? 20 : kind == K_Q5_0 ? 22 : 34;
    __m256 acc[4], accm[4];
    for (int t = 0; t < 4; t++) acc[t] = accm[t] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 8 <= nb; b += 8, w += 8 * bs, xq += 256) {
        const __m256 dw = f16x8(w, bs);
        const __m256 ow = kind == K_Q4_1 ? f16x8(w + 2, bs) : dw;
        float coef[4][8];
        for (int t = 0; t < 4; t++) {
            _mm256_storeu_ps(coef[t], _mm256_mul_ps(dw, _mm256_loadu_ps(xd + t * sstride + b)));
            if (kind != K_Q8_0)
                accm[t] = _mm256_fmadd_ps(ow, _mm256_loadu_ps(xs + t * sstride + b), accm[t]);
        }
        for (int k = 0; k < 8; k++) {
            const uint8_t *blk = w + k * bs;
            __m256i u; /* unsigned weights, or |w| for Q8_0 */
            switch (kind) {
                case K_Q4_0: u = unpack_nibbles(blk + 2); break;
                case K_Q4_1: u = unpack_nibbles(blk + 4); break;
                case K_Q5_0: u = q5_values(blk); break;
                default: u = LOADX(blk + 2); break;
            }
            const __m256i a = kind == K_Q8_0 ? _mm256_sign_epi8(u, u) : u;
            for (int t = 0; t < 4; t++) {
                __m256i x = LOADX(xq + t * xstride + 32 * k);
                if (kind == K_Q8_0) x = _mm256_sign_epi8(x, u);
                acc[t] = _mm256_fmadd_ps(udot_ps(a, x), _mm256_broadcast_ss(coef[t] + k), acc[t]);
            }
        }
    }
    float offt[4] = {0, 0, 0, 0};
    for (; b < nb; b++, w += bs, xq += 32) {
        const float d0 = F16(w);
        const float o0 = kind == K_Q4_1 ? F16(w + 2) : d0;
        for (int t = 0; t < 4; t++) {
            acc[t] = _mm256_fmadd_ps(block_dot(kind, w, xq + t * xstride),
                                     _mm256_set1_ps(d0 * xd[t * sstride + b]), acc[t]);
            offt[t] += o0 * xs[t * sstride + b];
        }
    }
    for (int t = 0; t < 4; t++) {
        dot[t] = hsum_ps(acc[t]);
        off[t] = hsum_ps(accm[t]) + offt[t];
    }
}

void dot4_q4_0_avx2(int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
                    const float *xs, int sstride, float *out) {
    float dot[4], off[4];
    dot_blocks_x4(K_Q4_0, nb, w, xq, xstride, xd, xs, sstride, dot, off);
    for (int t = 0; t < 4; t++) out[t] = dot[t] - 8.0f * off[t];
}

void dot4_q4_1_avx2(int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
                    const float *xs, int sstride, float *out) {
    float dot[4], off[4];
    dot_blocks_x4(K_Q4_1, nb, w, xq, xstride, xd, xs, sstride, dot, off);
    for (int t = 0; t < 4; t++) out[t] = dot[t] + off[t];
}

void dot4_q5_0_avx2(int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
                    const float *xs, int sstride, float *out) {
    float dot[4], off[4];
    dot_blocks_x4(K_Q5_0, nb, w, xq, xstride, xd, xs, sstride, dot, off);
    for (int t = 0; t < 4; t++) out[t] = dot[t] - 16.0f * off[t];
}

void dot4_q8_0_avx2(int nb, const uint8_t *w, const int8_t *xq, int xstride, const float *xd,
                    const float *xs, int sstride, float *out) {
    float dot[4], off[4];
    dot_blocks_x4(K_Q8_0, nb, w, xq, xstride, xd, xs, sstride, dot, off);
    for (int t = 0; t < 4; t++) out[t] = dot[t];
}

float dot_q4_0_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                    const float *xs) {
    float dot, off;
    dot_blocks(K_Q4_0, nb, w, xq, xd, xs, &dot, &off);
    return dot - 8.0f * off;
}

float dot_q4_1_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                    const float *xs) {
    float dot, off;
    dot_blocks(K_Q4_1, nb, w, xq, xd, xs, &dot, &off);
    return dot + off;
}

float dot_q5_0_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                    const float *xs) {
    float dot, off;
    dot_blocks(K_Q5_0, nb, w, xq, xd, xs, &dot, &off);
    return dot - 16.0f * off;
}

float dot_q8_0_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                    const float *xs) {
    float dot, off;
    dot_blocks(K_Q8_0, nb, w, xq, xd, xs, &dot, &off);
    return dot;
}

#endif /* DATASHARK_AVX2 */
