/* Dot products of 256-value K-quant super-blocks (Q4_K, Q6_K) with Q8 activations (per 32).
 *
 * Layouts (ggml-common.h):
 *   Q4_K (144 bytes) = d f16 | dmin f16 | 12 bytes: 8 six-bit scales + 8 six-bit mins | 128 bytes
 *     of nibbles; sub-block j (32 values) is the low (j even) or high (j odd) nibbles of bytes
 *     32*(j/2)..+31;  w = d*sc[j]*q - dmin*m[j].
 *   Q6_K (210 bytes) = ql 128 bytes (low 4 bits) | qh 64 bytes (high 2 bits) | 16 int8 scales
 *     (one per 16 values) | d f16;  w = d*scale*(q - 32). In half h (128 values) chunk c (32
 *     values): low bits = ql[64h + 32(c&1) + i] >> 4*(c>>1), high bits = qh[32h + i] >> 2c.
 * Activations keep one scale per 32 values (more precise than llama.cpp's one per 256), so each
 * 32-value chunk gets its own float multiply-add.
 */
#include "kernels.h"

/* the 8 scales and 8 mins of a Q4_K super-block, as in ggml's get_scale_min_k4 */
static inline void q4_k_scales(const uint8_t *p, uint8_t sc[8], uint8_t mn[8]) {
    const uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
    uint32_t u[4];
    memcpy(u, p, 12);
    u[3] = ((u[2] >> 4) & kmask2) | (((u[1] >> 6) & kmask3) << 4);
    const uint32_t aux = u[1] & kmask1;
    u[1] = (u[2] & kmask2) | (((u[0] >> 6) & kmask3) << 4);
    u[2] = aux;
    u[0] &= kmask1;
    memcpy(sc, u, 8);
    memcpy(mn, u + 2, 8);
}

float dot_q4_k_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    float acc = 0.0f, accm = 0.0f;
    for (int sb = 0; sb < nb / 8; sb++, w += 144, xq += QK_K, xd += 8, xs += 8) {
        const float d = F16(w), dmin = F16(w + 2);
        uint8_t sc[8], mn[8];
        q4_k_scales(w + 4, sc, mn);
        const uint8_t *qs = w + 16;
        for (int j = 0; j < 8; j++) {
            const uint8_t *q = qs + 32 * (j / 2);
            const int shift = 4 * (j & 1);
            int sum = 0;
            for (int i = 0; i < 32; i++) sum += ((q[i] >> shift) & 0x0f) * xq[32 * j + i];
            acc += d * (float)sc[j] * xd[j] * (float)sum;
            accm += dmin * (float)mn[j] * xs[j];
        }
    }
    return acc - accm;
}

float dot_q6_k_scalar(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                      const float *xs) {
    (void)xs;
    float acc = 0.0f;
    for (int sb = 0; sb < nb / 8; sb++, w += 210, xq += QK_K, xd += 8) {
        const uint8_t *ql = w, *qh = w + 128;
        const int8_t *scales = (const int8_t *)(w + 192);
        const float d = F16(w + 208);
        for (int k = 0; k < 8; k++) { /* chunk k = 4h + c */
            const int h = k >> 2, c = k & 3;
            const uint8_t *l = ql + 64 * h + 32 * (c & 1);
            const uint8_t *hb = qh + 32 * h;
            int sum0 = 0, sum1 = 0;
            for (int i = 0; i < 32; i++) {
                const int q = (((l[i] >> (4 * (c >> 1))) & 0x0f) | (((hb[i] >> (2 * c)) & 3) << 4)) - 32;
                if (i < 16) sum0 += q * xq[32 * k + i];
                else sum1 += q * xq[32 * k + i];
            }
            acc += d * xd[k] * (float)(scales[2 * k] * sum0 + scales[2 * k + 1] * sum1);
        }
    }
    return acc;
}

#ifdef DATASHARK_AVX2

float dot_q4_k_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                    const float *xs) {
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f), ones = _mm256_set1_epi16(1);
    for (int sb = 0; sb < nb / 8; sb++, w += 144, xq += QK_K, xd += 8, xs += 8) {
        uint8_t sc[8], mn[8];
        q4_k_scales(w + 4, sc, mn);
        const __m256 vd = _mm256_set1_ps(F16(w));
        const __m256 vdmin = _mm256_set1_ps(F16(w + 2));
        /* per-chunk coefficients: d * sc[j] * xd[j]; mins term: dmin * m[j] * xs[j] */
        const __m256 fsc = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)sc)));
        const __m256 fmn = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)mn)));
        accm = _mm256_fmadd_ps(_mm256_mul_ps(vdmin, fmn), _mm256_loadu_ps(xs), accm);
        float coef[8];
        _mm256_storeu_ps(coef, _mm256_mul_ps(_mm256_mul_ps(vd, fsc), _mm256_loadu_ps(xd)));
        const uint8_t *qs = w + 16;
        for (int g = 0; g < 4; g++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(qs + 32 * g));
            const __m256i lo = _mm256_and_si256(q, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            const __m256i x0 = _mm256_loadu_si256((const __m256i *)(xq + 64 * g));
            const __m256i x1 = _mm256_loadu_si256((const __m256i *)(xq + 64 * g + 32));
            const __m256 p0 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(lo, x0), ones));
            const __m256 p1 = _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(hi, x1), ones));
            acc0 = _mm256_fmadd_ps(p0, _mm256_broadcast_ss(coef + 2 * g), acc0);
            acc1 = _mm256_fmadd_ps(p1, _mm256_broadcast_ss(coef + 2 * g + 1), acc1);
        }
    }
    return hsum_ps(_mm256_add_ps(acc0, acc1)) - hsum_ps(accm);
}

float dot_q6_k_avx2(int nb, const uint8_t *w, const int8_t *xq, const float *xd,
                    const float *xs) {
    (void)xs;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    const __m256i off = _mm256_set1_epi8(32);
    for (int sb = 0; sb < nb / 8; sb++, w += 210, xq += QK_K, xd += 8) {
        const uint8_t *ql = w, *qh = w + 128;
        const __m128i scales = _mm_loadu_si128((const __m128i *)(w + 192));
        const float d = F16(w + 208);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 64 * h + 32));
            const __m256i hb = _mm256_loadu_si256((const __m256i *)(qh + 32 * h));
            for (int c = 0; c < 4; c++) {
                const int k = 4 * h + c;
                const __m256i l = (c & 1) ? l1 : l0;
                const __m256i lo = (c >> 1) ? _mm256_and_si256(_mm256_srli_epi16(l, 4), m4)
                                            : _mm256_and_si256(l, m4);
                __m256i hi;
                switch (c) {
                    case 0: hi = _mm256_and_si256(hb, m2); break;
                    case 1: hi = _mm256_and_si256(_mm256_srli_epi16(hb, 2), m2); break;
                    case 2: hi = _mm256_and_si256(_mm256_srli_epi16(hb, 4), m2); break;
                    default: hi = _mm256_and_si256(_mm256_srli_epi16(hb, 6), m2); break;
                }
                const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)), off);
                const __m256i x = _mm256_loadu_si256((const __m256i *)(xq + 32 * k));
                const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(q, q), _mm256_sign_epi8(x, q));
                /* int16 scales: values 0..15 use scales[2k], values 16..31 use scales[2k+1] */
                const __m128i s2 = _mm_shuffle_epi8(
                    scales, _mm_set_epi8(2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k + 1,
                                         2 * k + 1, 2 * k + 1, 2 * k + 1, 2 * k, 2 * k, 2 * k,
                                         2 * k, 2 * k, 2 * k, 2 * k, 2 * k));
                const __m256i s16 = _mm256_cvtepi8_epi16(s2);
                const __m256 p = _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, s16));
                if (c & 1) acc1 = _mm256_fmadd_ps(p, _mm256_set1_ps(d * xd[k]), acc1);
                else acc0 = _mm256_fmadd_ps(p, _mm256_set1_ps(d * xd[k]), acc0);
            }
        }
    }
    return hsum_ps(_mm256_add_ps(acc0, acc1));
}

#endif /* DATASHARK_AVX2 */
