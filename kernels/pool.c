/*
 * pool.c - persistent worker threads and per-thread scratch; see pool.h.
 *
 * Dispatch: the caller publishes the job (fn, ctx, a ticket holding its
 * generation and part count) and increments `gen`. An idle worker spins
 * on `gen` for POOL_SPIN rounds, then sleeps on it in a futex. The caller
 * wakes sleepers only when `sleepers` says one may be asleep: it
 * increments gen before it reads sleepers, a worker increments sleepers
 * before the futex compares gen (both sequentially consistent), so either
 * the caller sees the sleeper or the sleeper sees the new gen. Every
 * thread then claims parts from the ticket until none is left; the caller
 * waits (the same spin, then futex) until all are done. Nobody waits for a
 * worker that has not started: on a loaded machine the caller simply runs
 * more of the parts itself.
 */
#include "kernels/pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "kernels/cpu.h"

/* rounds of a pause before sleeping: some tens of microseconds, about the
 * elementwise work between two products of a step */
#define POOL_SPIN 4000
#define POOL_MAX_THREADS 256

static struct {
    pthread_mutex_t lock;       /* held by the call that owns the workers */
    pthread_t tid[POOL_MAX_THREADS];
    int nworkers;               /* threads 1 .. nworkers exist */
    int born[POOL_MAX_THREADS]; /* gen when each was created: its first job is the next */
    _Atomic uint64_t ticket;    /* see ticket_of */
    atomic_int done;            /* parts of the job finished */
    int exit_hook;              /* atexit registered */
    atomic_int gen;             /* job generation */
    atomic_int sleepers;        /* workers in (or entering) the futex */
    atomic_int caller_sleeps;
    atomic_int stop;
    atomic_int used;            /* threads that ran a part of this job */
    pool_fn fn;
    void *ctx;
    int nth;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct {
    pthread_mutex_t lock;
    const char *name[POOL_MAX_CLASSES];
    long calls[POOL_MAX_CLASSES], multi[POOL_MAX_CLASSES];
    int max[POOL_MAX_CLASSES];
    int n;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void futex_wait(atomic_int *a, int v)
{
    syscall(SYS_futex, (int *)a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(atomic_int *a)
{
    syscall(SYS_futex, (int *)a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Waits until *a != v: spins, then sleeps; *sleeping counts the sleep. */
static void wait_change(atomic_int *a, int v, atomic_int *sleeping)
{
    for (int i = 0; i < POOL_SPIN; i++) {
        if (atomic_load_explicit(a, memory_order_acquire) != v)
            return;
        cpu_relax();
    }
    while (atomic_load(a) == v) {
        atomic_fetch_add(sleeping, 1);
        futex_wait(a, v);
        atomic_fetch_sub(sleeping, 1);
    }
}

/* ---- per-thread scratch ------------------------------------------------------ */

typedef struct scratch {
    void *p;
    size_t bytes;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch tls_scratch;

static void scratch_free(void *arg)
{
    scratch *s = arg;
    free(s->p);
    s->p = NULL;
    s->bytes = 0;
}

static void scratch_free_main(void)
{
    scratch_free(&tls_scratch);
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
    atexit(scratch_free_main);
}

void *pool_scratch(size_t bytes)
{
    scratch *s = &tls_scratch;
    if (bytes <= s->bytes)
        return s->p;
    pthread_once(&scratch_once, scratch_init);
    /* grow by half again, so a slowly growing size reallocates rarely */
    size_t want = (bytes + bytes / 2 + 63) / 64 * 64;
    void *p = aligned_alloc(64, want);
    if (!p)
        return NULL;
    free(s->p);
    s->p = p;
    s->bytes = want;
    pthread_setspecific(scratch_key, s);
    return p;
}

/* ---- workers ------------------------------------------------------------------ */

/* The ticket: job generation (high 16 bits), parts (middle 24), the next
 * unclaimed part (low 24). A claim is one compare-and-swap on it, so a
 * thread that looked at an old job can never claim a part of a newer one
 * by mistake, and the job's fields (fn, ctx) are stable while any of its
 * parts is claimed and not done: the caller changes them only after all
 * are. */
#define TK_PART_BITS 24
#define TK_MASK ((1ull << TK_PART_BITS) - 1)

static uint64_t ticket_of(unsigned gen, int nparts)
{
    return ((uint64_t)(gen & 0xffff) << (2 * TK_PART_BITS)) |
           ((uint64_t)nparts << TK_PART_BITS);
}

/* Claims and runs parts of the current job until none is left. */
static void run_parts(int self)
{
    int ran = 0;
    uint64_t t = atomic_load(&P.ticket);
    for (;;) {
        uint64_t next = t & TK_MASK, n = (t >> TK_PART_BITS) & TK_MASK;
        if (next >= n)
            break;
        if (!atomic_compare_exchange_weak(&P.ticket, &t, t + 1))
            continue;
        if (!ran++)
            atomic_fetch_add(&P.used, 1);
        P.fn(P.ctx, (int)next, self);
        if (atomic_fetch_add(&P.done, 1) + 1 == (int)n && atomic_load(&P.caller_sleeps))
            futex_wake(&P.done);
        t = atomic_load(&P.ticket);
    }
}

static void *worker(void *arg)
{
    int self = (int)(intptr_t)arg;
    int seen = P.born[self];
    for (;;) {
        wait_change(&P.gen, seen, &P.sleepers);
        seen = atomic_load(&P.gen);
        if (atomic_load(&P.stop))
            break;
        /* a stale nth only decides whether to try: the ticket decides */
        if (self < P.nth)
            run_parts(self);
    }
    scratch_free(&tls_scratch);
    return NULL;
}

static void pool_stop(void)
{
    pthread_mutex_lock(&P.lock);
    atomic_store(&P.stop, 1);
    atomic_fetch_add(&P.gen, 1);
    futex_wake(&P.gen);
    for (int w = 1; w <= P.nworkers; w++)
        pthread_join(P.tid[w], NULL);
    P.nworkers = 0;
    pthread_mutex_unlock(&P.lock);
}

/* Threads 1 .. want-1 exist afterwards, as far as the system allows. */
static void grow(int want)
{
    if (!P.exit_hook) {
        P.exit_hook = 1;
        atexit(pool_stop);
    }
    while (P.nworkers + 1 < want) {
        int w = P.nworkers + 1;
        P.born[w] = atomic_load(&P.gen);
        if (pthread_create(&P.tid[w], NULL, worker, (void *)(intptr_t)w))
            break;
        P.nworkers = w;
    }
}

static void count(int cls, int used)
{
    if (cls < 0)
        return;
    pthread_mutex_lock(&S.lock);
    if (cls < S.n) {
        S.calls[cls]++;
        S.multi[cls] += used > 1;
        if (used > S.max[cls])
            S.max[cls] = used;
    }
    pthread_mutex_unlock(&S.lock);
}

void pool_for(int cls, int nparts, pool_fn fn, void *ctx)
{
    int nth = cpu_threads();
    if (nth > nparts)
        nth = nparts;
    if (nth > POOL_MAX_THREADS)
        nth = POOL_MAX_THREADS;
    if (nth <= 1 || nparts >= (int)TK_MASK || pthread_mutex_trylock(&P.lock)) {
        /* one thread, or the workers are busy with another caller's job */
        for (int p = 0; p < nparts; p++)
            fn(ctx, p, 0);
        count(cls, nparts > 0);
        return;
    }
    grow(nth);
    if (nth > P.nworkers + 1)
        nth = P.nworkers + 1;
    P.fn = fn;
    P.ctx = ctx;
    P.nth = nth;
    atomic_store(&P.used, 0);
    atomic_store(&P.done, 0);
    unsigned g = (unsigned)atomic_load(&P.gen) + 1;
    atomic_store(&P.ticket, ticket_of(g, nparts));
    atomic_store(&P.gen, (int)g);
    if (atomic_load(&P.sleepers))
        futex_wake(&P.gen);
    run_parts(0);
    int d;
    while ((d = atomic_load(&P.done)) != nparts)
        wait_change(&P.done, d, &P.caller_sleeps);
    int used = atomic_load(&P.used);
    pthread_mutex_unlock(&P.lock);
    count(cls, used);
}

int pool_class(const char *name)
{
    pthread_mutex_lock(&S.lock);
    int id = -1;
    for (int i = 0; i < S.n && id < 0; i++)
        if (!strcmp(S.name[i], name))
            id = i;
    if (id < 0 && S.n < POOL_MAX_CLASSES) {
        id = S.n++;
        S.name[id] = name;
    }
    pthread_mutex_unlock(&S.lock);
    return id;
}

int pool_stats(int i, pool_stat *s)
{
    pthread_mutex_lock(&S.lock);
    int ok = i >= 0 && i < S.n;
    if (ok) {
        s->name = S.name[i];
        s->calls = S.calls[i];
        s->multi = S.multi[i];
        s->max_threads = S.max[i];
    }
    pthread_mutex_unlock(&S.lock);
    return ok;
}

void pool_stats_reset(void)
{
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < S.n; i++) {
        S.calls[i] = S.multi[i] = 0;
        S.max[i] = 0;
    }
    pthread_mutex_unlock(&S.lock);
}
