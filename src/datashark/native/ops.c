/* Fused non-matmul steps of the forward pass: RMSNorm, residual + norm, GLU activations, and
 * attention over a sequence's KV cache (QK norm, RoPE, cache write, softmax, weighted sum).
 *
 * Where it comes from: the same equations as datashark/engine/arch/ops.py (the NumPy path, which
 * is the reference); RoPE layouts and the sliding-window rule follow llama.cpp (ggml_rope_ext
 * "normal" = adjacent pairs for llama, "neox" = halves for gemma3; a key at position j is visible
 * from position p when j <= p and p - j < window). Loaded with ctypes from the same shared object
 * as the quantized matmul kernels; every symbol is prefixed dsops_.
 *
 * Not handled: float16 caches, attention logit softcapping, ALiBi. Callers check shapes; these
 * functions trust the sizes they are given.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#if defined(__F16C__)
#include <immintrin.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

/* -std=c11 turns off multiply-add contraction; these loops want fused multiply-adds. (-Wpsabi:
 * GCC notes that 32-byte vectors pass differently without AVX; only static functions take them.) */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#pragma GCC diagnostic ignored "-Wpsabi"
#elif defined(__clang__)
#pragma clang fp contract(fast)
#endif

/* Bumped whenever a signature below changes: ops.py refuses a stale build instead of calling a
 * function with the wrong arguments. */
int dsops_abi_version(void) { return 4; }

/* 1 / sqrt(mean(x^2) + eps), the sum in double like ggml's rms_norm */
static float dsops_rms_scale(const float *x, int d, float eps) {
    double ss = 0.0;
    for (int i = 0; i < d; i++) ss += (double)x[i] * (double)x[i];
    return (float)(1.0 / sqrt(ss / d + (double)eps));
}

static void dsops_norm_row(const float *x, const float *w, float *out, int d, float eps) {
    const float s = dsops_rms_scale(x, d, eps);
    if (w) {
        for (int i = 0; i < d; i++) out[i] = x[i] * s * w[i];
    } else {
        for (int i = 0; i < d; i++) out[i] = x[i] * s;
    }
}

/* out[r] = rmsnorm(x[r]) * w, for n rows of d values (out may equal x) */
void dsops_rmsnorm(const float *x, const float *w, float *out, int n, int d, float eps) {
    for (int r = 0; r < n; r++) dsops_norm_row(x + (size_t)r * d, w, out + (size_t)r * d, d, eps);
}

/* per row: x += post_w ? rmsnorm(y) * post_w : y; then out = rmsnorm(x) * next_w */
void dsops_residual_norm(float *x, float *y, const float *post_w, const float *next_w,
                         float *out, int n, int d, float eps) {
    for (int r = 0; r < n; r++) {
        float *xr = x + (size_t)r * d;
        float *yr = y + (size_t)r * d;
        if (post_w) dsops_norm_row(yr, post_w, yr, d, eps);
        for (int i = 0; i < d; i++) xr[i] += yr[i];
        dsops_norm_row(xr, next_w, out + (size_t)r * d, d, eps);
    }
}

/* 8 floats (aligned(4): loads from any float address are allowed); GCC/Clang vector extensions
 * lower to AVX2, AVX-512, NEON or scalar code as the target allows */
typedef float v8f __attribute__((vector_size(32), aligned(4)));
typedef int v8i __attribute__((vector_size(32), aligned(4)));

static inline float dsops_hsum8(v8f v) {
    return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

static inline v8f dsops_clamp8(v8f x, float lo, float hi) {
    const v8f vlo = (v8f){0} + lo, vhi = (v8f){0} + hi;
    const v8i below = x < vlo, above = x > vhi;
    x = (v8f)(((v8i)x & ~below) | ((v8i)vlo & below));
    return (v8f)(((v8i)x & ~above) | ((v8i)vhi & above));
}

/* exp of 8 values: x = n ln2 + r with n = nearest integer (the 1.5 * 2^23 rounding trick),
 * |r| <= ln2/2, exp(r) by its degree-6 Taylor polynomial (relative error < 2e-7). x is clamped
 * to [-87, 88]; values below -87 give 0 (softmax tails). */
static inline v8f dsops_exp8(v8f x) {
    const v8i under = x < ((v8f){0} - 87.0f);
    x = dsops_clamp8(x, -87.0f, 88.0f);
    const v8f magic = (v8f){0} + 12582912.0f;
    const v8f nm = x * 1.44269504088896341f + magic;
    const v8f n = nm - magic;
    const v8i ni = (v8i)nm - (v8i)magic;
    const v8f r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    v8f p = r * (1.0f / 720.0f) + (1.0f / 120.0f);
    p = p * r + (1.0f / 24.0f);
    p = p * r + (1.0f / 6.0f);
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    const v8f y = p * (v8f)((ni + 127) << 23);
    return (v8f)((v8i)y & ~under);
}

/* out = act(gate) * up for n rows of `width` values; gate and up rows are `gate_stride` and
 * `up_stride` floats apart (they may be column blocks of one fused matmul output), out is
 * contiguous. kind 0: SiLU (SwiGLU), 1: GELU tanh form (GeGLU):
 * silu(g) = g / (1 + e^-g); gelu(g) = g / (1 + e^(-2c(g + 0.044715 g^3))) = 0.5 g (1 + tanh(..)) */
void dsops_glu(const float *gate, const float *up, float *out, int n, int width, long gate_stride,
               long up_stride, int kind) {
    const float c = 0.7978845608028654f; /* sqrt(2 / pi) */
    for (int r = 0; r < n; r++) {
        const float *gr = gate + r * gate_stride, *ur = up + r * up_stride;
        float *o = out + (size_t)r * width;
        int i = 0;
        for (; i + 8 <= width; i += 8) {
            const v8f g = *(const v8f *)(gr + i);
            const v8f z = kind == 0 ? -g : (g + 0.044715f * g * g * g) * (-2.0f * c);
            *(v8f *)(o + i) = g / (1.0f + dsops_exp8(z)) * *(const v8f *)(ur + i);
        }
        for (; i < width; i++) {
            const float g = gr[i];
            const float z = kind == 0 ? -g : -2.0f * c * (g + 0.044715f * g * g * g);
            o[i] = g / (1.0f + expf(z)) * ur[i];
        }
    }
}

/* rotate the first rope_dim channels of one head vector by the angles whose cos/sin are given */
static void dsops_rope_head(float *x, int rope_dim, const float *cs, const float *sn, int neox) {
    const int half = rope_dim / 2;
    if (neox) {
        for (int i = 0; i < half; i++) {
            const float x0 = x[i], x1 = x[i + half];
            x[i] = x0 * cs[i] - x1 * sn[i];
            x[i + half] = x0 * sn[i] + x1 * cs[i];
        }
    } else {
        for (int i = 0; i < half; i++) {
            const float x0 = x[2 * i], x1 = x[2 * i + 1];
            x[2 * i] = x0 * cs[i] - x1 * sn[i];
            x[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
        }
    }
}

/* The KV cache holds IEEE float16 (as llama.cpp's does): half the bytes to stream per token.
 * Conversions round to nearest even, like F16C and NumPy's astype(float16). */
static inline uint16_t dsops_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffff;
    if (ax >= 0x7f800000) return (uint16_t)(sign | (ax > 0x7f800000 ? 0x7e00 : 0x7c00));
    if (ax >= 0x477ff000) return (uint16_t)(sign | 0x7c00); /* rounds to infinity */
    if (ax < 0x38800000) {                                 /* float16 subnormal or zero */
        float af;
        memcpy(&af, &ax, 4);
        return (uint16_t)(sign | (uint32_t)lrintf(af * 16777216.0f)); /* units of 2^-24 */
    }
    uint32_t h = ((ax >> 23) - 112) << 10 | ((ax & 0x7fffff) >> 13);
    const uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

static inline float dsops_f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    uint32_t bits;
    if (e == 0) {
        const float v = (float)m * 5.9604644775390625e-08f; /* 2^-24 */
        memcpy(&bits, &v, 4);
        bits |= sign;
    } else if (e == 31) {
        bits = sign | 0x7f800000 | (m << 13);
    } else {
        bits = sign | ((e + 112) << 23) | (m << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline v8f dsops_load8h(const uint16_t *p) {
#if defined(__F16C__)
    return (v8f)_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
#else
    v8f v;
    for (int i = 0; i < 8; i++) v[i] = dsops_f16_to_f32(p[i]);
    return v;
#endif
}

static void dsops_to_f16(uint16_t *dst, const float *src, int n) {
    int i = 0;
#if defined(__F16C__)
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
    for (; i < n; i++) dst[i] = dsops_f32_to_f16(src[i]);
}

#define DSOPS_SUB 4 /* query heads of one KV group handled per pass over the cache */

/* out[i] (hd) = sum_j att[i][j] * V[j] for the gn (a constant after inlining) heads i of a
 * sub-group, j in [lo, hi]. Each V row is read once for all gn heads; 2 x gn accumulators of a
 * 16-column block stay in registers. Needs hd % 16 == 0. */
static inline __attribute__((always_inline)) void dsops_wsum_block(
    int gn, float *const *out, const float *const *att, const uint16_t *V, int lo, int hi, int hd) {
    for (int c = 0; c < hd; c += 16) {
        v8f acc[DSOPS_SUB][2];
        for (int i = 0; i < gn; i++) acc[i][0] = acc[i][1] = (v8f){0};
        for (int j = lo; j <= hi; j++) {
            const v8f v0 = dsops_load8h(V + (size_t)j * hd + c);
            const v8f v1 = dsops_load8h(V + (size_t)j * hd + c + 8);
            for (int i = 0; i < gn; i++) {
                const float w = att[i][j];
                acc[i][0] += w * v0;
                acc[i][1] += w * v1;
            }
        }
        for (int i = 0; i < gn; i++) {
            *(v8f *)(out[i] + c) = acc[i][0];
            *(v8f *)(out[i] + c + 8) = acc[i][1];
        }
    }
}

static void dsops_weighted_sum(int gn, float *const *out, const float *const *att,
                               const uint16_t *V, int lo, int hi, int hd) {
    if (hd % 16 == 0) {
        switch (gn) {
            case 1: dsops_wsum_block(1, out, att, V, lo, hi, hd); return;
            case 2: dsops_wsum_block(2, out, att, V, lo, hi, hd); return;
            case 3: dsops_wsum_block(3, out, att, V, lo, hi, hd); return;
            default: dsops_wsum_block(4, out, att, V, lo, hi, hd); return;
        }
    }
    for (int i = 0; i < gn; i++) {
        memset(out[i], 0, sizeof(float) * hd);
        for (int j = lo; j <= hi; j++) {
            const float w = att[i][j];
            const uint16_t *vj = V + (size_t)j * hd;
            for (int x = 0; x < hd; x++) out[i][x] += w * dsops_f16_to_f32(vj[x]);
        }
    }
}

static inline float dsops_dot_hd(const float *a, const uint16_t *b, int hd) {
    if (hd % 16 == 0) {
        v8f s0 = {0}, s1 = {0};
        for (int i = 0; i < hd; i += 16) {
            s0 += *(const v8f *)(a + i) * dsops_load8h(b + i);
            s1 += *(const v8f *)(a + i + 8) * dsops_load8h(b + i + 8);
        }
        return dsops_hsum8(s0 + s1);
    }
    float s = 0.0f;
    for (int i = 0; i < hd; i++) s += a[i] * dsops_f16_to_f32(b[i]);
    return s;
}

/* softmax of x[lo..hi] in place (subtract the max, exp, normalise) */
static void dsops_softmax(float *x, int lo, int hi, float m) {
    float sum = 0.0f;
    int j = lo;
    v8f vs = {0};
    for (; j + 8 <= hi + 1; j += 8) {
        const v8f e = dsops_exp8(*(v8f *)(x + j) - m);
        *(v8f *)(x + j) = e;
        vs += e;
    }
    sum = dsops_hsum8(vs);
    for (; j <= hi; j++) {
        x[j] = expf(x[j] - m);
        sum += x[j];
    }
    const float inv = 1.0f / sum;
    for (j = lo; j <= hi; j++) x[j] *= inv;
}

/* One query row t and KV head kvh (task = t * n_kv + kvh): the `group` query heads that share
 * this KV head attend over its cache, DSOPS_SUB heads per pass so each K and V row is loaded
 * once for all of them. att: scratch of DSOPS_SUB * n_ctx floats. */
static void dsops_attend(long task, const float *q, long q_stride, const uint16_t *kc,
                         const uint16_t *vc, float *out, float *att, int n_ctx, int n_heads, int n_kv,
                         int hd, int max_t, int pos0, int window, float scale) {
    const int group = n_heads / n_kv;
    const int t = (int)(task / n_kv), kvh = (int)(task % n_kv);
    const int p = pos0 + t;
    const int lo = (window > 0 && p - window + 1 > 0) ? p - window + 1 : 0;
    const uint16_t *K = kc + (size_t)kvh * max_t * hd;
    const uint16_t *V = vc + (size_t)kvh * max_t * hd;
    for (int g0 = 0; g0 < group; g0 += DSOPS_SUB) {
        const int gn = group - g0 < DSOPS_SUB ? group - g0 : DSOPS_SUB;
        const float *qi[DSOPS_SUB];
        float *oi[DSOPS_SUB], *ai[DSOPS_SUB], m[DSOPS_SUB];
        for (int i = 0; i < gn; i++) {
            const size_t head = (size_t)kvh * group + g0 + i;
            qi[i] = q + t * q_stride + head * hd;
            oi[i] = out + ((size_t)t * n_heads + head) * hd;
            ai[i] = att + (size_t)i * n_ctx;
            m[i] = -INFINITY;
        }
        /* scores: scale * q . k for every visible position */
        for (int j = lo; j <= p; j++) {
            const uint16_t *kj = K + (size_t)j * hd;
            for (int i = 0; i < gn; i++) {
                const float sc = dsops_dot_hd(qi[i], kj, hd) * scale;
                ai[i][j] = sc;
                m[i] = sc > m[i] ? sc : m[i];
            }
        }
        for (int i = 0; i < gn; i++) dsops_softmax(ai[i], lo, p, m[i]);
        dsops_weighted_sum(gn, oi, (const float *const *)ai, V, lo, p, hd);
    }
}

/* Attention of one segment: n new tokens of one sequence at positions pos0 .. pos0+n-1.
 *
 * q (n, n_heads*hd), k and v (n, n_kv*hd): this segment's rows of the projections, rows
 * q_stride / k_stride / v_stride floats apart (column blocks of a fused matmul output). q and k are
 * changed in place (QK norm when q_norm/k_norm are given, then RoPE); k and v are written into
 * the float16 caches kc, vc (n_kv, max_t, hd) at pos0; out (n, n_heads*hd) gets softmax(scale q.k) v over
 * the visible cache positions (causal; window > 0 limits to the last `window` positions).
 */
void dsops_attention(float *q, long q_stride, float *k, long k_stride, const float *v,
                     long v_stride, int n, uint16_t *kc, uint16_t *vc, int max_t, int pos0, float *out, int n_heads, int n_kv, int hd, int rope_dim,
                     double rope_base, double pos_scale, int neox, int window, float scale,
                     const float *q_norm, const float *k_norm, float eps, int n_threads) {
    const int half = rope_dim / 2;
    float *cs = malloc(sizeof(float) * (half > 0 ? 2 * half : 1));
    float *sn = cs + half;

    /* 1. QK norm and RoPE (angle pos * base^(-2i/rope_dim), computed in double), cache k and v */
    for (int t = 0; t < n; t++) {
        const double pos = (double)(pos0 + t) * pos_scale;
        for (int i = 0; i < half; i++) {
            const double theta = pos * pow(rope_base, -2.0 * i / rope_dim);
            cs[i] = (float)cos(theta);
            sn[i] = (float)sin(theta);
        }
        for (int h = 0; h < n_heads; h++) {
            float *qh = q + t * q_stride + (size_t)h * hd;
            if (q_norm) dsops_norm_row(qh, q_norm, qh, hd, eps);
            dsops_rope_head(qh, rope_dim, cs, sn, neox);
        }
        for (int h = 0; h < n_kv; h++) {
            float *kh = k + t * k_stride + (size_t)h * hd;
            if (k_norm) dsops_norm_row(kh, k_norm, kh, hd, eps);
            dsops_rope_head(kh, rope_dim, cs, sn, neox);
            dsops_to_f16(kc + ((size_t)h * max_t + pos0 + t) * hd, kh, hd);
            dsops_to_f16(vc + ((size_t)h * max_t + pos0 + t) * hd, v + t * v_stride + (size_t)h * hd,
                         hd);
        }
    }
    free(cs);

    /* 2. one (query row, KV head) pair per task */
    const int n_ctx = pos0 + n;
    const long tasks = (long)n * n_kv;
    const long work = (long)n * n_heads * (long)(window > 0 && window < n_ctx ? window : n_ctx) * hd;
    int threads = n_threads > 0 ? n_threads : 1;
    if (work < (1L << 22)) threads = 1; /* waking threads costs more than it saves */
    if (threads == 1) {
        float *att = malloc(sizeof(float) * DSOPS_SUB * (size_t)n_ctx);
        for (long task = 0; task < tasks; task++)
            dsops_attend(task, q, q_stride, kc, vc, out, att, n_ctx, n_heads, n_kv, hd, max_t,
                         pos0, window, scale);
        free(att);
        return;
    }
#pragma omp parallel num_threads(threads)
    {
        float *att = malloc(sizeof(float) * DSOPS_SUB * (size_t)n_ctx);
#pragma omp for schedule(dynamic, 4)
        for (long task = 0; task < tasks; task++)
            dsops_attend(task, q, q_stride, kc, vc, out, att, n_ctx, n_heads, n_kv, hd, max_t,
                         pos0, window, scale);
        free(att);
    }
}

/* Attention of a batched decode step: segment s is one new token of its own sequence, row s of
 * q, k, v and out, with its own caches kcs[s], vcs[s] (max_ts[s] positions) at position pos0s[s].
 * One call for the whole batch instead of one per sequence, the sequences spread over the thread
 * pool. Each row goes through dsops_attention with one thread, exactly as when it runs alone, so
 * a sequence's result does not depend on the batch it is in. */
typedef struct {
    float *q, *k, *out;
    const float *v;
    long q_stride, k_stride, v_stride;
    uint16_t *const *kcs, *const *vcs;
    const int *max_ts, *pos0s;
    int n_heads, n_kv, hd, rope_dim, neox, window;
    double rope_base, pos_scale;
    float scale, eps;
    const float *q_norm, *k_norm;
} dsops_decode_job;

static void dsops_decode_task(void *ctx, int s) {
    const dsops_decode_job *j = ctx;
    dsops_attention(j->q + s * j->q_stride, j->q_stride, j->k + s * j->k_stride, j->k_stride,
                    j->v + s * j->v_stride, j->v_stride, 1, j->kcs[s], j->vcs[s], j->max_ts[s],
                    j->pos0s[s], j->out + (size_t)s * j->n_heads * j->hd, j->n_heads, j->n_kv, j->hd,
                    j->rope_dim, j->rope_base, j->pos_scale, j->neox, j->window, j->scale,
                    j->q_norm, j->k_norm, j->eps, 1);
}

void dsops_attention_decode(int n_seg, float *q, long q_stride, float *k, long k_stride,
                            const float *v, long v_stride, uint16_t *const *kcs,
                            uint16_t *const *vcs, const int *max_ts, const int *pos0s, float *out,
                            int n_heads, int n_kv, int hd, int rope_dim, double rope_base,
                            double pos_scale, int neox, int window, float scale,
                            const float *q_norm, const float *k_norm, float eps, int n_threads) {
    dsops_decode_job j = {q, k, out, v, q_stride, k_stride, v_stride, kcs, vcs, max_ts, pos0s,
                          n_heads, n_kv, hd, rope_dim, neox, window, rope_base, pos_scale, scale,
                          eps, q_norm, k_norm};
    pool_run(dsops_decode_task, &j, n_seg, n_threads < n_seg ? n_threads : n_seg);
}
