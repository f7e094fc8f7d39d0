/* datashark.native._kernels: quantized-weight x float-activation matrix products for the engine.
 *
 * matmul(qtype, w_ptr, rows, cols, x, out): out (T, rows) = x (T, cols) @ W.T, where W is `rows`
 * rows of GGML blocks at address w_ptr (a memory-mapped GGUF tensor; the caller keeps it alive).
 * Quantized weights: x is rounded to int8 once, in the format llama.cpp uses for that weight type
 * (quantize.c); then each output is one integer-SIMD dot product read straight from the weight
 * blocks. T == 1 is the decode matvec; T > 1 walks the weights in tiles of rows that stay in L1
 * while the activation rows pass over them (4 at a time where a 4-row kernel exists), so each
 * weight byte comes from memory once per call. Rows are split over the pool's threads (pool.c);
 * the GIL is released while computing.
 * Not handled: weight types other than F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q4_K, Q6_K
 * (ValueError), x/out layouts other than C-contiguous float32 (checked by the Python wrapper).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>

#include "kernels.h"
#include "pool.h"

enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q4_1 = 3, T_Q5_0 = 6, T_Q8_0 = 8, T_Q4_K = 12,
       T_Q6_K = 14, T_BF16 = 30, N_TYPES = 31 };

typedef struct {
    int block_size, type_size;
    int act; /* activation format (ACT_*) for quantized types */
    dot_fn dot[2];   /* [scalar, simd] for quantized types */
    dot4_fn dot4;    /* simd kernel for 4 activation rows at once, or NULL */
    fdot_fn fdot[2]; /* [scalar, simd] for float types */
} kernel_info;

#ifdef DATASHARK_AVX2
#define PICK(s, v) {s, v}
#define SIMD4(f) f
#else
#define PICK(s, v) {s, s}
#define SIMD4(f) 0
#endif

static const kernel_info KERNELS[N_TYPES] = {
    [T_F32] = {1, 4, 0, {0, 0}, 0, PICK(fdot_f32_scalar, fdot_f32_avx2)},
    [T_F16] = {1, 2, 0, {0, 0}, 0, PICK(fdot_f16_scalar, fdot_f16_avx2)},
    [T_BF16] = {1, 2, 0, {0, 0}, 0, PICK(fdot_bf16_scalar, fdot_bf16_avx2)},
    [T_Q4_0] = {32, 18, ACT_Q8_0, PICK(dot_q4_0_scalar, dot_q4_0_avx2), SIMD4(dot4_q4_0_avx2), {0, 0}},
    [T_Q4_1] = {32, 20, ACT_Q8_0, PICK(dot_q4_1_scalar, dot_q4_1_avx2), SIMD4(dot4_q4_1_avx2), {0, 0}},
    [T_Q5_0] = {32, 22, ACT_Q8_0, PICK(dot_q5_0_scalar, dot_q5_0_avx2), SIMD4(dot4_q5_0_avx2), {0, 0}},
    [T_Q8_0] = {32, 34, ACT_Q8_0, PICK(dot_q8_0_scalar, dot_q8_0_avx2), SIMD4(dot4_q8_0_avx2), {0, 0}},
    [T_Q4_K] = {256, 144, ACT_Q8_K, PICK(dot_q4_k_scalar, dot_q4_k_avx2), 0, {0, 0}},
    [T_Q6_K] = {256, 210, ACT_Q8_K, PICK(dot_q6_k_scalar, dot_q6_k_avx2), 0, {0, 0}},
};

static int g_threads = 1;
#ifdef DATASHARK_AVX2
static int g_simd = 1;
#else
static int g_simd = 0;
#endif

#define ROW_TILE 8            /* weight rows kept in L1 while the activation rows pass */
#define MIN_PARALLEL (1 << 15) /* below this many multiply-adds one thread is faster */
#define CHUNK_WORK (1 << 15)   /* multiply-adds per chunk, at least */
#define CHUNKS_PER_THREAD 8

/* ------------------------------------------------------------ per-thread scratch */

static _Thread_local void *scratch = NULL;
static _Thread_local size_t scratch_size = 0;

static void *get_scratch(size_t n) {
    if (n > scratch_size) {
        free(scratch);
        scratch = aligned_alloc(64, (n + 63) / 64 * 64);
        scratch_size = scratch ? n : 0;
    }
    return scratch;
}

/* ------------------------------------------------------------ matrix products */

typedef struct {
    const kernel_info *k;
    const uint8_t *w;
    size_t rb;                /* bytes per weight row */
    Py_ssize_t rows, tiles_per_chunk;
    int cols, nb, T;
    const float *x;
    int8_t *xq;
    float *xd, *xs, *out;
} matmul_job;

/* a chunk of quantization work: activation row t */
static void task_quantize(void *ctx, int t) {
    const matmul_job *j = ctx;
    quantize_row_act(j->k->act, j->cols, j->x + (size_t)t * j->cols, j->xq + (size_t)t * j->cols,
                     j->xd + (size_t)t * j->nb, j->xs + (size_t)t * j->nb, g_simd);
}

/* a chunk of output: tiles of ROW_TILE weight rows, each against every activation row */
static void task_quant_rows(void *ctx, int chunk) {
    const matmul_job *j = ctx;
    const dot_fn dot = j->k->dot[g_simd];
    const dot4_fn dot4 = g_simd ? j->k->dot4 : NULL;
    const Py_ssize_t end = (chunk + 1) * j->tiles_per_chunk * ROW_TILE;
    for (Py_ssize_t r0 = chunk * j->tiles_per_chunk * ROW_TILE; r0 < end && r0 < j->rows;
         r0 += ROW_TILE) {
        const Py_ssize_t r1 = r0 + ROW_TILE < j->rows ? r0 + ROW_TILE : j->rows;
        int t = 0;
        if (dot4) { /* 4 activation rows per pass over a weight row */
            for (; t + 4 <= j->T; t += 4) {
                for (Py_ssize_t r = r0; r < r1; r++) {
                    float o4[4];
                    dot4(j->nb, j->w + (size_t)r * j->rb, j->xq + (size_t)t * j->cols, j->cols,
                         j->xd + (size_t)t * j->nb, j->xs + (size_t)t * j->nb, j->nb, o4);
                    for (int u = 0; u < 4; u++) j->out[(size_t)(t + u) * j->rows + r] = o4[u];
                }
            }
        }
        for (; t < j->T; t++) {
            const int8_t *q = j->xq + (size_t)t * j->cols;
            const float *d = j->xd + (size_t)t * j->nb, *s = j->xs + (size_t)t * j->nb;
            float *o = j->out + (size_t)t * j->rows;
            for (Py_ssize_t r = r0; r < r1; r++) o[r] = dot(j->nb, j->w + (size_t)r * j->rb, q, d, s);
        }
    }
}

static void task_float_rows(void *ctx, int chunk) {
    const matmul_job *j = ctx;
    const fdot_fn fdot = j->k->fdot[g_simd];
    const Py_ssize_t end = (chunk + 1) * j->tiles_per_chunk * ROW_TILE;
    for (Py_ssize_t r0 = chunk * j->tiles_per_chunk * ROW_TILE; r0 < end && r0 < j->rows;
         r0 += ROW_TILE) {
        const Py_ssize_t r1 = r0 + ROW_TILE < j->rows ? r0 + ROW_TILE : j->rows;
        for (int t = 0; t < j->T; t++) {
            const float *x = j->x + (size_t)t * j->cols;
            float *o = j->out + (size_t)t * j->rows;
            for (Py_ssize_t r = r0; r < r1; r++) o[r] = fdot(j->cols, j->w + (size_t)r * j->rb, x);
        }
    }
}

/* split rows into chunks of whole tiles: enough chunks to balance threads on a busy machine,
 * each big enough that claiming it costs little */
static int plan_chunks(matmul_job *j, int threads) {
    const Py_ssize_t tiles = (j->rows + ROW_TILE - 1) / ROW_TILE;
    const double work = (double)j->rows * j->cols * j->T;
    Py_ssize_t n = threads <= 1 || work < MIN_PARALLEL ? 1 : (Py_ssize_t)(work / CHUNK_WORK);
    if (n > CHUNKS_PER_THREAD * threads) n = CHUNKS_PER_THREAD * threads;
    if (n > tiles) n = tiles;
    if (n < 1) n = 1;
    j->tiles_per_chunk = (tiles + n - 1) / n;
    return (int)((tiles + j->tiles_per_chunk - 1) / j->tiles_per_chunk);
}

static int matmul_quant(const kernel_info *k, const uint8_t *w, Py_ssize_t rows, int cols, int T,
                        const float *x, float *out, int threads) {
    matmul_job j = {k, w, (size_t)cols / k->block_size * k->type_size, rows, 0, cols, cols / QK8,
                    T, x, NULL, NULL, NULL, out};
    uint8_t *buf = get_scratch((size_t)T * cols + 2 * sizeof(float) * (size_t)T * j.nb + 64);
    if (!buf) return -1;
    j.xq = (int8_t *)buf;
    j.xd = (float *)(buf + ((size_t)T * cols + 63) / 64 * 64);
    j.xs = j.xd + (size_t)T * j.nb;
    if (T >= 4 * threads && threads > 1) {
        pool_run(task_quantize, &j, T, threads);
    } else {
        for (int t = 0; t < T; t++) task_quantize(&j, t);
    }
    pool_run(task_quant_rows, &j, plan_chunks(&j, threads), threads);
    return 0;
}

static void matmul_float(const kernel_info *k, const uint8_t *w, Py_ssize_t rows, int cols, int T,
                         const float *x, float *out, int threads) {
    matmul_job j = {k, w, (size_t)cols * k->type_size, rows, 0, cols, 0, T, x, NULL, NULL, NULL,
                    out};
    pool_run(task_float_rows, &j, plan_chunks(&j, threads), threads);
}

/* ------------------------------------------------------------ Python bindings */

static int get_f32_buffer(PyObject *obj, Py_buffer *view, int writable, const char *what) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) return -1;
    if (view->itemsize != 4 || !view->format || view->format[strlen(view->format) - 1] != 'f') {
        PyErr_Format(PyExc_TypeError, "%s must be a C-contiguous float32 array", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

static PyObject *py_matmul(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "matmul(qtype, w_ptr, rows, cols, x, out)");
        return NULL;
    }
    const long qtype = PyLong_AsLong(args[0]);
    const uint8_t *w = (const uint8_t *)PyLong_AsVoidPtr(args[1]);
    const Py_ssize_t rows = PyLong_AsSsize_t(args[2]);
    const Py_ssize_t cols = PyLong_AsSsize_t(args[3]);
    if (PyErr_Occurred()) return NULL;
    if (qtype < 0 || qtype >= N_TYPES || KERNELS[qtype].block_size == 0) {
        PyErr_Format(PyExc_ValueError, "matmul: unsupported weight type %ld", qtype);
        return NULL;
    }
    const kernel_info *k = &KERNELS[qtype];
    if (!w || rows <= 0 || cols <= 0 || cols > INT32_MAX / 4 || cols % k->block_size ||
        (k->block_size > 1 && cols % QK8)) {
        PyErr_Format(PyExc_ValueError, "matmul: bad weight (rows=%zd, cols=%zd)", rows, cols);
        return NULL;
    }
    Py_buffer xv, ov;
    if (get_f32_buffer(args[4], &xv, 0, "x") < 0) return NULL;
    if (get_f32_buffer(args[5], &ov, 1, "out") < 0) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    const Py_ssize_t T = xv.len / (4 * cols);
    int rc = 0;
    if (T <= 0 || T > INT32_MAX || xv.len != T * 4 * cols || ov.len != T * 4 * rows) {
        PyErr_Format(PyExc_ValueError, "matmul: x has %zd bytes and out %zd bytes for a %zd x %zd weight",
                     xv.len, ov.len, rows, cols);
        rc = -1;
    } else {
        const int nth = g_threads;
        Py_BEGIN_ALLOW_THREADS
        if (k->block_size == 1) {
            matmul_float(k, w, rows, (int)cols, (int)T, xv.buf, ov.buf, nth);
        } else {
            rc = matmul_quant(k, w, rows, (int)cols, (int)T, xv.buf, ov.buf, nth);
        }
        Py_END_ALLOW_THREADS
        if (rc < 0) PyErr_NoMemory();
    }
    PyBuffer_Release(&xv);
    PyBuffer_Release(&ov);
    if (rc < 0) return NULL;
    Py_RETURN_NONE;
}

/* quantize_q8(x, q, d, s, kind): activations of x (n floats) in format `kind` (ACT_*) into int8 q
 * and float32 d, s per 32 values (for tests) */
static PyObject *py_quantize_q8(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "quantize_q8(x, q, d, s, kind)");
        return NULL;
    }
    const long kind = PyLong_AsLong(args[4]);
    if (kind == -1 && PyErr_Occurred()) return NULL;
    if (kind < ACT_Q8_0 || kind > ACT_Q8_K) {
        PyErr_SetString(PyExc_ValueError, "quantize_q8: kind must be 0 (Q8_0) or 1 (Q8_K)");
        return NULL;
    }
    Py_buffer xv, qv, dv, sv;
    if (get_f32_buffer(args[0], &xv, 0, "x") < 0) return NULL;
    if (PyObject_GetBuffer(args[1], &qv, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&xv);
        return NULL;
    }
    if (get_f32_buffer(args[2], &dv, 1, "d") < 0) {
        PyBuffer_Release(&xv);
        PyBuffer_Release(&qv);
        return NULL;
    }
    if (get_f32_buffer(args[3], &sv, 1, "s") < 0) {
        PyBuffer_Release(&xv);
        PyBuffer_Release(&qv);
        PyBuffer_Release(&dv);
        return NULL;
    }
    const Py_ssize_t n = xv.len / 4;
    const int block = kind == ACT_Q8_K ? QK_K : QK8;
    int ok = n % block == 0 && qv.len == n && dv.len == n / QK8 * 4 && sv.len == dv.len;
    if (ok) quantize_row_act((int)kind, (int)n, xv.buf, qv.buf, dv.buf, sv.buf, g_simd);
    else PyErr_SetString(PyExc_ValueError, "quantize_q8: sizes do not match (n % 32 or 256 == 0)");
    PyBuffer_Release(&xv);
    PyBuffer_Release(&qv);
    PyBuffer_Release(&dv);
    PyBuffer_Release(&sv);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

typedef struct {
    const uint8_t *p;
    size_t n, chunk;
    uint64_t sums[256];
} read_job;

static void task_read(void *ctx, int c) {
    read_job *j = ctx;
    const size_t start = (size_t)c * j->chunk, end = start + j->chunk < j->n ? start + j->chunk : j->n;
    uint64_t acc = 0;
#ifdef DATASHARK_AVX2
    __m256i v = _mm256_setzero_si256();
    size_t i = start;
    for (; i + 128 <= end; i += 128) {
        const __m256i a = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(j->p + i)),
                                           _mm256_loadu_si256((const __m256i *)(j->p + i + 32)));
        const __m256i b = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(j->p + i + 64)),
                                           _mm256_loadu_si256((const __m256i *)(j->p + i + 96)));
        v = _mm256_add_epi64(v, _mm256_xor_si256(a, b));
    }
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, v);
    acc = lanes[0] + lanes[1] + lanes[2] + lanes[3];
    for (; i < end; i++) acc += j->p[i];
#else
    for (size_t i = start; i < end; i++) acc += j->p[i];
#endif
    j->sums[c] = acc;
}

/* read_bytes(buffer) -> int: read every byte with the kernels' threads (a memory read-bandwidth
 * probe for the benchmark: the same bytes a matvec reads, with no arithmetic on them) */
static PyObject *py_read_bytes(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    read_job *j = calloc(1, sizeof(read_job));
    if (!j) {
        PyBuffer_Release(&v);
        return PyErr_NoMemory();
    }
    j->p = v.buf;
    j->n = (size_t)v.len;
    int chunks = 8 * g_threads < 256 ? 8 * g_threads : 256;
    j->chunk = (j->n + chunks - 1) / chunks;
    if (j->chunk == 0) j->chunk = 1;
    chunks = (int)((j->n + j->chunk - 1) / j->chunk);
    const int nth = g_threads;
    Py_BEGIN_ALLOW_THREADS
    pool_run(task_read, j, chunks, nth);
    Py_END_ALLOW_THREADS
    uint64_t total = 0;
    for (int c = 0; c < chunks; c++) total += j->sums[c];
    free(j);
    PyBuffer_Release(&v);
    return PyLong_FromUnsignedLongLong(total);
}

static PyObject *py_set_threads(PyObject *self, PyObject *arg) {
    (void)self;
    const long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred()) return NULL;
    if (n < 1 || n > 1024) {
        PyErr_SetString(PyExc_ValueError, "threads must be between 1 and 1024");
        return NULL;
    }
    g_threads = (int)n;
    Py_RETURN_NONE;
}

/* set_simd(on) -> bool: use the SIMD kernels (default when compiled in); returns the new state */
static PyObject *py_set_simd(PyObject *self, PyObject *arg) {
    (void)self;
    const int on = PyObject_IsTrue(arg);
    if (on < 0) return NULL;
#ifdef DATASHARK_AVX2
    g_simd = on;
#endif
    return PyBool_FromLong(g_simd);
}

static PyObject *py_simd_name(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
#ifdef DATASHARK_AVX2
    return PyUnicode_FromString(g_simd ? "avx2" : "scalar");
#else
    return PyUnicode_FromString("scalar");
#endif
}

static PyMethodDef methods[] = {
    {"matmul", (PyCFunction)(void (*)(void))py_matmul, METH_FASTCALL,
     "matmul(qtype, w_ptr, rows, cols, x, out)"},
    {"quantize_q8", (PyCFunction)(void (*)(void))py_quantize_q8, METH_FASTCALL,
     "quantize_q8(x, q, d, s, kind)"},
    {"set_threads", py_set_threads, METH_O, "set_threads(n)"},
    {"read_bytes", py_read_bytes, METH_O, "read_bytes(buffer) -> int (bandwidth probe)"},
    {"set_simd", py_set_simd, METH_O, "set_simd(on) -> bool"},
    {"simd_name", py_simd_name, METH_NOARGS, "simd_name() -> str"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "DataShark quantized matmul kernels", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
