/*
 * pool.h - the kernels' persistent worker threads and per-thread scratch.
 *
 * pool_for(cls, nparts, fn, ctx) runs fn(ctx, part, thread) for every
 * part 0 .. nparts-1 on up to min(nparts, cpu_threads()) threads, the
 * calling thread among them (thread 0), and returns when all have run.
 * The parts are the caller's fixed partition; which thread runs which part
 * is decided at run time (each claims the next part left), so a part's
 * arithmetic must not depend on its thread: then a kernel whose parts
 * write disjoint outputs (kernels/gemm.c) gives the same bits on any
 * number of threads and under any load.
 *
 * The workers are created on the first call that needs them and live for
 * the process (joined at exit). A call costs one atomic increment of a
 * generation counter that the idle workers spin on for a short while
 * before they sleep on a futex (so three threads on two cores do not
 * burn a core between products), and a wake-up only if one sleeps. The
 * caller never waits for a worker that has not started: on a loaded
 * machine it runs the parts left itself.
 * pool_for is safe to call from several threads: one call owns the
 * workers at a time; a concurrent call runs all its parts on its own
 * thread (same bits), and so does a call from inside a part (nested: not
 * counted in the statistics below).
 *
 * pool_scratch(bytes) is memory of the calling thread (a worker's or any
 * caller's), 64-byte aligned, kept and grown for later calls, freed when
 * its thread ends (the main thread's at exit); NULL when out of memory.
 * A kernel uses it for packed operands: nothing is allocated per product
 * once the buffers have grown to the sizes in use.
 *
 * Each call is counted in a class (pool_class: a name such as "gemm
 * recurrence") with the number of threads that actually ran a part, for
 * --verbose.
 */
#ifndef UNROLL_POOL_H
#define UNROLL_POOL_H

#include <stddef.h>
#include <stdint.h>

#define POOL_MAX_CLASSES 16

typedef void (*pool_fn)(void *ctx, int part, int thread);

/* The first of total items in part k of n equal parts, at multiples of
 * unit when every part gets one (n when k >= n: the end). */
int64_t pool_part_start(int64_t total, int64_t unit, int k, int n);

void pool_for(int cls, int nparts, pool_fn fn, void *ctx);

/* The id of a class name (a string that outlives the process's use of
 * it, e.g. a literal), registered on first use; -1 (not counted) when the
 * table is full. */
int pool_class(const char *name);

typedef struct pool_stat {
    const char *name;
    long calls;      /* pool_for calls of this class */
    long multi;      /* of them, how many ran on more than one thread */
    int max_threads; /* the most threads that ran parts of one call */
} pool_stat;

/* Counts a call of class cls that its caller ran on its own thread, the
 * pool not asked (two lanes after contention, engine/exec.c). */
void pool_count_alone(int cls);

/* Class i (0 ..): 1 and *s filled, or 0 past the last class. */
int pool_stats(int i, pool_stat *s);
void pool_stats_reset(void);

void *pool_scratch(size_t bytes);
/* A second such buffer of the calling thread, for an operand it packs
 * once and lends to the parts of its next jobs (kernels/gemm.c); never
 * used by a part itself. */
void *pool_shared(size_t bytes);

/* One turn of a spin loop that waits for another thread (a pause). */
static inline void pool_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Whether the calling thread is running a part of a job (a pool_for
 * called now runs on this thread alone). */
int pool_in_part(void);

#endif
