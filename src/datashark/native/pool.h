/* A small thread pool for the kernels: run `fn(ctx, chunk)` for chunk = 0..n_chunks-1.
 * Chunks are claimed one at a time from a shared counter by the calling thread and the workers;
 * the caller returns as soon as every chunk is finished, so a worker the OS has not scheduled yet
 * (a busy machine) costs nothing instead of stalling the call at a barrier.
 */
#ifndef DATASHARK_POOL_H
#define DATASHARK_POOL_H

typedef void (*pool_task)(void *ctx, int chunk);

/* threads = total threads including the caller (1 = run inline) */
void pool_run(pool_task fn, void *ctx, int n_chunks, int threads);

#endif
