/*
 * pool.c - persistent worker threads and per-thread scratch; see pool.h.
 *
 * Dispatch: the caller publishes the job (fn, ctx, a job word holding its
 * number and part count) and increments `gen`. An idle worker spins on
 * `gen` for POOL_SPIN_NS, then sleeps on it in a futex. The caller wakes
 * sleepers only when `sleepers` says one may be asleep: it increments gen
 * before it reads sleepers, a worker increments sleepers before the futex
 * compares gen (both sequentially consistent), so either the caller sees
 * the sleeper or the sleeper sees the new gen. Each thread claims its own
 * parts (p = thread, thread + nthreads, ...) and then any left; the
 * caller leaves the workers' parts to them for POOL_GRACE_NS before it
 * takes them too, then waits (spin, then futex) until all are done. So
 * on a quiet machine every thread runs its share, and on a loaded one a
 * worker the scheduler has not run yet does not hold up the product.
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
#include <time.h>
#include <unistd.h>

#include "kernels/cpu.h"

/* how long an idle thread spins before it sleeps: longer than the
 * elementwise work between two products of a step, so workers stay awake
 * through a step, short enough that an idle process stops burning cores
 * at once. By the clock, as a pause takes 10 to 150 cycles by CPU. */
#define POOL_SPIN_NS 60000
#define POOL_MAX_THREADS 256
#define POOL_MAX_PARTS 1024
/* how long the caller leaves a worker's own parts to it before it runs
 * them itself: a spinning worker claims within a microsecond; one asleep
 * or not running is not waited for long */
#define POOL_GRACE_NS 15000

static struct {
    pthread_mutex_t lock; /* held by the call that owns the workers */
    pthread_t tid[POOL_MAX_THREADS];
    int nworkers;               /* threads 1 .. nworkers exist */
    int born[POOL_MAX_THREADS]; /* gen when each was created: its first job is the next */
    _Atomic uint64_t jobword;   /* job number << 16 | parts; see claim() */
    _Atomic uint64_t claimed[POOL_MAX_PARTS];
    uint64_t ran_mark[POOL_MAX_THREADS]; /* the last job each thread ran a part of */
    uint64_t njobs;
    atomic_int done;     /* parts of the job finished */
    int exit_hook;       /* atexit registered */
    atomic_int gen;      /* job generation */
    atomic_int sleepers; /* workers in (or entering) the futex */
    atomic_int caller_sleeps;
    atomic_int stop;
    atomic_int used; /* threads that ran a part of this job */
    pool_fn fn;
    void *ctx;
    atomic_int nth; /* threads of the job: which parts a worker tries first */
} P = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct {
    pthread_mutex_t lock;
    const char *name[POOL_MAX_CLASSES];
    long calls[POOL_MAX_CLASSES], multi[POOL_MAX_CLASSES];
    int max[POOL_MAX_CLASSES];
    int n;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};
/* S.n as seen without the lock: the classes whose names are written */
static atomic_int published;

static void futex_wait(atomic_int *a, int v)
{
    syscall(SYS_futex, (int *)a, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void futex_wake(atomic_int *a)
{
    syscall(SYS_futex, (int *)a, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* Waits until *a != v: spins, then sleeps; *sleeping counts the sleep. */
static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void wait_change(atomic_int *a, int v, atomic_int *sleeping)
{
    int64_t until = 0;
    for (int i = 0;; i++) {
        if (atomic_load_explicit(a, memory_order_acquire) != v)
            return;
        if (i % 64 == 0) {
            int64_t t = now_ns();
            if (!until)
                until = t + POOL_SPIN_NS;
            else if (t > until)
                break;
        }
        pool_relax();
    }
    while (atomic_load(a) == v) {
        atomic_fetch_add(sleeping, 1);
        futex_wait(a, v);
        atomic_fetch_sub(sleeping, 1);
    }
}

/* set while this thread runs a part: a pool_for inside a part runs all
 * its parts on this thread (the other threads run parts of the same job) */
static _Thread_local int in_part;

/* ---- per-thread scratch ------------------------------------------------------ */

typedef struct scratch {
    void *p;
    size_t bytes;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
/* [0]: pool_scratch, [1]: pool_shared */
static _Thread_local scratch tls_scratch[2];

static void scratch_free(void *arg)
{
    scratch *s = arg;
    for (int i = 0; i < 2; i++) {
        free(s[i].p);
        s[i].p = NULL;
        s[i].bytes = 0;
    }
}

static void scratch_free_main(void)
{
    scratch_free(tls_scratch);
}

static void scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
    atexit(scratch_free_main);
}

static void *scratch_get(int slot, size_t bytes)
{
    scratch *s = &tls_scratch[slot];
    if (bytes <= s->bytes)
        return s->p;
    pthread_once(&scratch_once, scratch_init);
    /* to the page: a step asks for a few sizes, the same ones every step,
     * so growing by more would only leave memory unused (two threads at
     * 1024 units: 3 MiB) */
    size_t want = (bytes + 4095) / 4096 * 4096;
    /* the old buffer first: its contents are not kept, and freed after
     * the new one was had it stayed behind as a hole in the heap, counted
     * in the peak RSS until something smaller happened to reuse it */
    free(s->p);
    s->p = NULL;
    s->bytes = 0;
    void *p = aligned_alloc(64, want);
    if (!p)
        return NULL;
    s->p = p;
    s->bytes = want;
    pthread_setspecific(scratch_key, tls_scratch);
    return p;
}

void *pool_scratch(size_t bytes)
{
    return scratch_get(0, bytes);
}

void *pool_shared(size_t bytes)
{
    return scratch_get(1, bytes);
}

int pool_in_part(void)
{
    return in_part;
}

/* ---- workers ------------------------------------------------------------------ */

/*
 * Claims. The job word holds the job's number (from 1 up) and its part
 * count; claimed[p] holds the number of the last job whose part p was
 * claimed. A thread claims part p of the job it read by raising claimed[p]
 * to that job's number (compare-and-swap), so a thread that read an older
 * job finds its parts claimed and can never run a part of a newer one,
 * and the job's fields (fn, ctx) are stable while any of its parts is
 * claimed and not done: the caller changes them only after all are.
 */
static int claim(int p, uint64_t job)
{
    uint64_t v = atomic_load(&P.claimed[p]);
    return v < job && atomic_compare_exchange_strong(&P.claimed[p], &v, job);
}

/* Runs the parts of job word jw this thread claims: its own ones (p =
 * self, self + nth, ...) first, then (steal) any left. */
static void run_parts(int self, uint64_t jw, int nth, int steal)
{
    uint64_t job = jw >> 16;
    int n = (int)(jw & 0xffff);
    for (int pass = 0; pass < 1 + steal; pass++)
        for (int p = pass ? 0 : self; p < n; p += pass ? 1 : nth) {
            if (!claim(p, job))
                continue;
            if (P.ran_mark[self] != job) {
                P.ran_mark[self] = job;
                atomic_fetch_add(&P.used, 1);
            }
            in_part = 1;
            P.fn(P.ctx, p, self);
            in_part = 0;
            if (atomic_fetch_add(&P.done, 1) + 1 == n && atomic_load(&P.caller_sleeps))
                futex_wake(&P.done);
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
        /* a stale nth only changes which parts are tried first: the
         * claims decide */
        int nth = atomic_load(&P.nth);
        if (self < nth)
            run_parts(self, atomic_load(&P.jobword), nth, 1);
    }
    scratch_free(tls_scratch);
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

void pool_count_alone(int cls)
{
    count(cls, 1);
}

int64_t pool_part_start(int64_t total, int64_t unit, int k, int n)
{
    if (k >= n)
        return total;
    if (total < (int64_t)n * unit)
        unit = 1;
    return (int64_t)k * (total / unit) / n * unit;
}

void pool_for(int cls, int nparts, pool_fn fn, void *ctx)
{
    if (in_part) {
        /* nested: its threads are busy with the outer job's parts */
        for (int p = 0; p < nparts; p++)
            fn(ctx, p, 0);
        return;
    }
    int nth = cpu_threads();
    if (nth > nparts)
        nth = nparts;
    if (nth > POOL_MAX_THREADS)
        nth = POOL_MAX_THREADS;
    if (nth <= 1 || nparts > POOL_MAX_PARTS || pthread_mutex_trylock(&P.lock)) {
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
    atomic_store(&P.nth, nth);
    atomic_store(&P.used, 0);
    atomic_store(&P.done, 0);
    uint64_t jw = ++P.njobs << 16 | (uint64_t)nparts;
    atomic_store(&P.jobword, jw);
    atomic_fetch_add(&P.gen, 1);
    if (atomic_load(&P.sleepers))
        futex_wake(&P.gen);
    run_parts(0, jw, nth, 0);
    /* the workers' own parts: theirs while they come within the grace,
     * then the caller's (a worker the scheduler has not run yet must not
     * hold up the product) */
    int64_t until = now_ns() + POOL_GRACE_NS;
    for (int i = 1; atomic_load(&P.done) != nparts; i++) {
        pool_relax();
        if (i % 64 == 0 && now_ns() > until)
            break;
    }
    run_parts(0, jw, nth, 1);
    int d;
    while ((d = atomic_load(&P.done)) != nparts)
        wait_change(&P.done, d, &P.caller_sleeps);
    int used = atomic_load(&P.used);
    pthread_mutex_unlock(&P.lock);
    count(cls, used);
}

/* The id of name among the first n classes, or -1. */
static int class_find(const char *name, int n)
{
    /* the same literal first: no string compared on the hot path */
    for (int i = 0; i < n; i++)
        if (S.name[i] == name)
            return i;
    for (int i = 0; i < n; i++)
        if (!strcmp(S.name[i], name))
            return i;
    return -1;
}

/* Every product asks for its class, on every thread of a row run: a name
 * already registered is found without the lock (names are only appended,
 * and published after they are written). */
int pool_class(const char *name)
{
    int id = class_find(name, atomic_load_explicit(&published, memory_order_acquire));
    if (id >= 0)
        return id;
    pthread_mutex_lock(&S.lock);
    id = class_find(name, S.n);
    if (id < 0 && S.n < POOL_MAX_CLASSES) {
        id = S.n++;
        S.name[id] = name;
        atomic_store_explicit(&published, S.n, memory_order_release);
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
