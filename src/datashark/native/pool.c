/* Thread pool for the quantized kernels (see pool.h).
 *
 * State is one 64-bit word, generation << 32 | next chunk. A job is published by storing a new
 * generation; any thread claims chunk n of generation g with a compare-and-swap (g, n) -> (g, n+1),
 * which fails once the caller has moved on, so a late worker can never run a chunk of a finished
 * job. Job parameters live in a 2-slot ring indexed by generation; a slot is rewritten only after
 * its job completed and the generation advanced twice. Workers spin briefly (calls arrive every few
 * microseconds during a forward pass), then sleep on a condition variable. Concurrent callers (the
 * GIL is released during kernels) do not share the pool: the second runs its job inline.
 * Not handled: shrinking the pool (extra workers stay asleep), Windows threads.
 */
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

#define MAX_WORKERS 255
#define SPIN_ROUNDS 4000  /* ~100 microseconds of polling before sleeping */
#define WAIT_SPINS 2000   /* ~ 50 microseconds before the caller yields while it waits */

typedef struct {
    _Atomic(pool_task) fn;
    _Atomic(void *) ctx;
    atomic_int total;
    atomic_int done;
} job_t;

static job_t jobs[2];
static _Atomic uint64_t state; /* generation << 32 | next chunk */
static atomic_int allowed;     /* workers that may take part in the current job */
static atomic_int sleepers;
static int n_workers;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t submit_mu = PTHREAD_MUTEX_INITIALIZER;
static int atfork_done;

/* claim and run chunks of generation g until none are left; returns when g is over */
static void work_on(uint32_t g) {
    job_t *j = &jobs[g & 1];
    for (;;) {
        uint64_t s = atomic_load(&state);
        if ((uint32_t)(s >> 32) != g) return;
        const uint32_t n = (uint32_t)s;
        if ((int)n >= atomic_load_explicit(&j->total, memory_order_relaxed)) return;
        const pool_task fn = atomic_load_explicit(&j->fn, memory_order_relaxed);
        void *ctx = atomic_load_explicit(&j->ctx, memory_order_relaxed);
        if (atomic_compare_exchange_weak(&state, &s, s + 1)) {
            fn(ctx, (int)n);
            atomic_fetch_add(&j->done, 1);
        }
    }
}

static void *worker_main(void *arg) {
    const int id = (int)(intptr_t)arg;
    uint32_t seen = (uint32_t)(atomic_load(&state) >> 32);
    for (;;) {
        uint32_t g = (uint32_t)(atomic_load(&state) >> 32);
        for (int spin = 0; g == seen && spin < SPIN_ROUNDS; spin++) {
            CPU_RELAX();
            g = (uint32_t)(atomic_load(&state) >> 32);
        }
        if (g == seen) {
            pthread_mutex_lock(&mu);
            atomic_fetch_add(&sleepers, 1);
            while ((uint32_t)(atomic_load(&state) >> 32) == seen) pthread_cond_wait(&cv, &mu);
            atomic_fetch_sub(&sleepers, 1);
            pthread_mutex_unlock(&mu);
            continue;
        }
        seen = g;
        if (id < atomic_load(&allowed)) work_on(g);
    }
    return NULL;
}

static void after_fork_child(void) {
    /* the workers do not exist in a forked child: start afresh */
    n_workers = 0;
    pthread_mutex_init(&mu, NULL);
    pthread_cond_init(&cv, NULL);
    pthread_mutex_init(&submit_mu, NULL);
    atomic_store(&sleepers, 0);
}

static void ensure_workers(int want) {
    if (!atfork_done) {
        pthread_atfork(NULL, NULL, after_fork_child);
        atfork_done = 1;
    }
    while (n_workers < want && n_workers < MAX_WORKERS) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        const int rc = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)n_workers);
        pthread_attr_destroy(&attr);
        if (rc != 0) break;
        n_workers++;
    }
}

void pool_run(pool_task fn, void *ctx, int n_chunks, int threads) {
    if (n_chunks <= 0) return;
    if (threads <= 1 || n_chunks == 1 || pthread_mutex_trylock(&submit_mu) != 0) {
        for (int c = 0; c < n_chunks; c++) fn(ctx, c);
        return;
    }
    ensure_workers(threads - 1);
    const uint32_t g = (uint32_t)(atomic_load(&state) >> 32) + 1;
    job_t *j = &jobs[g & 1];
    atomic_store_explicit(&j->fn, fn, memory_order_relaxed);
    atomic_store_explicit(&j->ctx, ctx, memory_order_relaxed);
    atomic_store_explicit(&j->total, n_chunks, memory_order_relaxed);
    atomic_store_explicit(&j->done, 0, memory_order_relaxed);
    atomic_store(&allowed, threads - 1);
    atomic_store(&state, (uint64_t)g << 32); /* publish (seq_cst) */
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&mu);
        pthread_cond_broadcast(&cv);
        pthread_mutex_unlock(&mu);
    }
    work_on(g);
    /* wait for chunks still running on other threads; on a busy machine the thread holding one
     * may be preempted, so after a short spin give the CPU away rather than burn it */
    for (int spin = 0; atomic_load(&j->done) < n_chunks; spin++) {
        if (spin < WAIT_SPINS) CPU_RELAX();
        else sched_yield();
    }
    pthread_mutex_unlock(&submit_mu);
}
