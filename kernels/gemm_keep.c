/*
 * gemm_keep.c - packings of op(B) kept across the products of a run
 * (gemm.h: gemm_keep_begin and the bkey option), shared by the threads of
 * the run, packed together.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm.h"
#include "kernels/gemm_job_int.h"
#include "kernels/pool.h"

/*
 * Between gemm_keep_begin() and gemm_keep_end() a product with a key
 * packs op(B) whole, once, and later products with that key (and the same
 * B, shape, layout and path) read the packing instead of packing again.
 * The table is the calling thread's own, or one it was lent for a pool
 * job (gemm_keep_lend: a row run's parts on the workers read the packings
 * of the run that started them). So one thread's run never frees what
 * another run's products read; a lock makes the parts of one run agree on
 * the slot, and they pack it together (keep_fill). Its memory stays for
 * the thread's life (freed at its end; the main thread's at exit), at
 * most GEMM_KEEP_BYTES; a product that would pass that packs as usual.
 *
 * One slot serves a weight read both ways. The forward recurrence reads
 * W^T at every step and the backward W: kept apart they were 8 MiB at
 * H = 1024 float32, and S3's peak RSS passed its limit. The two are never
 * read at once: the forward's products have all ended before the
 * backward's start. Phases tell when that is: a product called outside
 * any part of a pool job, and a table handed to a new job
 * (gemm_keep_current), start a new phase, and a slot remembers the phase
 * it was last read in. Nothing of an earlier phase is being read any more
 * (the parts that read it have met), so a slot of the same key in the
 * other layout, last read in an earlier phase, is packed over; within one
 * phase (the parts of one job, which do not wait for each other) a slot
 * is never packed over. A slot is packed over so once per run: a third
 * change of layout (the forward recomputed in segments between the
 * backward's) takes a slot of its own, as before, rather than packing W
 * again for every segment. Nor is a slot kept across runs (a token's)
 * packed over: the next run would pack both layouts again.
 */
#define GEMM_KEEP_SLOTS 16
#define GEMM_KEEP_BYTES ((size_t)32 << 20)

typedef struct keep_slot {
    const void *key, *B;
    int64_t K, N, ldb;
    int tb;
    int flipped; /* packed over in the other layout in its run */
    const gemm_variant *v;
    uint64_t epoch; /* the last run that used it */
    uint64_t phase; /* the last phase of that run that used it */
    uint64_t token; /* a parameter packed under this token, or 0 */
    /* its panels are packed in chunks by whichever parts look it up
     * while some are left (keep_fill): chunks claimed, chunks written */
    atomic_int claimed, done;
    int chunks;
    char *panels;
    size_t bytes;
} keep_slot;

typedef struct keep_table {
    atomic_flag lock; /* keep_lock */
    keep_slot s[GEMM_KEEP_SLOTS];
    size_t total;
    uint64_t epoch; /* of the current run; 0 outside one */
    uint64_t runs;
    uint64_t phase; /* of the current phase (see above) */
    uint64_t token; /* of the current run (gemm_keep_begin) */
    int registered;
} keep_table;

static _Thread_local keep_table keep = {.lock = ATOMIC_FLAG_INIT};
/* the table this thread's products use: its own, or one lent to it */
static _Thread_local keep_table *keep_cur;
static pthread_key_t keep_key;
static pthread_once_t keep_once = PTHREAD_ONCE_INIT;

/* One turn of waiting for another part: a spin, yielding the core now
 * and then (more threads than cores), rather than a sleep. A mutex put
 * the two lanes' pieces of a product to sleep on each other about once a
 * step (min-char-rnn: 2,100 context switches in 2,000 steps, 15%
 * slower). */
static void keep_spin(unsigned n)
{
    if (n % 256)
        pool_relax();
    else
        sched_yield();
}

/* The table's lock is held for a lookup, short: a packing is done outside
 * it (gemm_keep_lookup). */
static void keep_lock(keep_table *t)
{
    for (unsigned n = 1; atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire); n++)
        keep_spin(n);
}

static void keep_unlock(keep_table *t)
{
    atomic_flag_clear_explicit(&t->lock, memory_order_release);
}

/* the kept bytes of every table, for gemm_keep_bytes */
static _Atomic size_t keep_all;

/* t's memory grew by delta bytes (which may wrap: a shrink) */
static void keep_count(keep_table *t, size_t delta)
{
    t->total += delta;
    atomic_fetch_add_explicit(&keep_all, delta, memory_order_relaxed);
}

static void keep_free(void *arg)
{
    keep_table *t = arg;
    for (int i = 0; i < GEMM_KEEP_SLOTS; i++)
        free(t->s[i].panels);
    memset(t->s, 0, sizeof t->s);
    keep_count(t, 0 - t->total);
    t->epoch = 0;
    t->registered = 0;
}

static void keep_free_main(void)
{
    keep_free(&keep);
}

static void keep_init(void)
{
    pthread_key_create(&keep_key, keep_free);
    atexit(keep_free_main);
}

void gemm_keep_begin(uint64_t token)
{
    /* on its own thread: the packings of a run whose parts all ran on
     * workers (lent the table) are freed at this thread's end too */
    if (!keep.registered) {
        pthread_once(&keep_once, keep_init);
        keep.registered = 1;
        pthread_setspecific(keep_key, &keep);
    }
    keep_cur = &keep;
    keep.epoch = ++keep.runs;
    keep.token = token;
}

void gemm_keep_end(void)
{
    keep.epoch = 0;
}

void *gemm_keep_lend(void *table)
{
    void *was = keep_cur;
    keep_cur = table;
    return was;
}

void *gemm_keep_current(void)
{
    /* the parts of the job it is lent to are a phase of their own */
    if (keep_cur) {
        keep_lock(keep_cur);
        keep_cur->phase++;
        keep_unlock(keep_cur);
    }
    return keep_cur;
}

size_t gemm_keep_bytes(void)
{
    return atomic_load_explicit(&keep_all, memory_order_relaxed);
}

/* A kept packing is written in chunks of about this many bytes: small
 * enough that a part that finds none left to claim waits for little. */
#define KEEP_CHUNK_BYTES ((size_t)64 << 10)

static int64_t keep_chunk_panels(const gemm_job *j)
{
    size_t panel = (size_t)j->K * (size_t)j->v->nr * j->es;
    return panel >= KEEP_CHUNK_BYTES ? 1 : (int64_t)(KEEP_CHUNK_BYTES / panel);
}

static int keep_same(const keep_slot *s, const gemm_job *j)
{
    return s->B == j->B && s->K == j->K && s->N == j->N && s->ldb == j->ldb && s->tb == j->tb &&
           s->v == j->v;
}

/* A slot of table t for j's op(B) under key, to pack into: the same
 * key's other layout if that may be packed over (see above), else a free
 * slot, else one no product of this run has used; never one read in this
 * phase. NULL when all are taken. */
static keep_slot *keep_victim(keep_table *t, const void *key, size_t need, int *flip)
{
    for (int i = 0; i < GEMM_KEEP_SLOTS; i++) {
        keep_slot *s = &t->s[i];
        if (s->key == key && s->epoch == t->epoch && s->phase != t->phase && !s->flipped &&
            !s->token) {
            *flip = 1;
            return s;
        }
    }
    /* of the others: the one that held this key, else one large enough
     * (a packing put in a smaller slot grows it while the larger stays),
     * else any */
    keep_slot *any = NULL, *fits = NULL;
    for (int i = 0; i < GEMM_KEEP_SLOTS; i++) {
        keep_slot *s = &t->s[i];
        if (s->key && s->epoch == t->epoch)
            continue;
        if (s->key == key)
            return s;
        if (!fits && s->bytes >= need)
            fits = s;
        if (!any)
            any = s;
    }
    return fits ? fits : any;
}

/* The slot of j's op(B) under key in table t (locked): kept (its panels
 * maybe still being packed), or taken and set up to be packed
 * (keep_fill), or NULL. A parameter's (bconst) packed in an
 * earlier run under this run's token is still good. */
static keep_slot *keep_find(keep_table *t, const gemm_job *j, const void *key, int bconst)
{
    keep_slot *s = NULL;
    for (int i = 0; i < GEMM_KEEP_SLOTS && !s; i++)
        if (t->s[i].key == key && keep_same(&t->s[i], j))
            s = &t->s[i];
    if (s && (s->epoch == t->epoch || (bconst && t->token && s->token == t->token))) {
        s->epoch = t->epoch;
        s->phase = t->phase;
        return s;
    }
    size_t need = (size_t)j->npan * (size_t)j->K * (size_t)j->v->nr * j->es;
    int flip = 0;
    if (!s)
        s = keep_victim(t, key, need, &flip);
    if (!s || t->total - s->bytes + need > GEMM_KEEP_BYTES)
        return NULL;
    if (s->bytes < need || s->bytes / 2 > need) {
        /* the old memory first (not read in this phase), so that it
         * leaves no hole behind in the heap (kernels/pool.c). Nor is
         * one more than twice as large kept: a run's products on two
         * threads read W^T by halves (engine/exec_rows.c), and a slot
         * of all of it from a run on one would have stayed beside them. */
        free(s->panels);
        keep_count(t, 0 - s->bytes);
        memset(s, 0, sizeof *s);
        s->panels = aligned_alloc(64, (need + 63) / 64 * 64);
        if (!s->panels)
            return NULL;
        s->bytes = (need + 63) / 64 * 64;
        keep_count(t, s->bytes);
    }
    int64_t per = keep_chunk_panels(j);
    atomic_store_explicit(&s->claimed, 0, memory_order_relaxed);
    atomic_store_explicit(&s->done, 0, memory_order_relaxed);
    s->chunks = (int)((j->npan + per - 1) / per);
    s->key = key;
    s->B = j->B;
    s->K = j->K;
    s->N = j->N;
    s->ldb = j->ldb;
    s->tb = j->tb;
    s->v = j->v;
    s->epoch = t->epoch;
    s->phase = t->phase;
    s->flipped = flip;
    s->token = bconst ? t->token : 0;
    return s;
}

/* Packs what is left of slot s's panels (j's op(B)) a chunk at a time,
 * beside any other part doing the same, then waits for the chunks others
 * hold. Before, the first part packed alone and the others waited, or
 * (the pieces of a stacked product) each packed all of it again: at
 * V = 5000, H = 256, batch 1, two lanes packed the 5 MB projection weight
 * twice a step, each at once, a third of the step. Packing is copying:
 * who packs which chunk moves no bit. */
static void keep_fill(keep_slot *s, const gemm_job *j)
{
    if (atomic_load_explicit(&s->done, memory_order_acquire) == s->chunks)
        return;
    int64_t per = keep_chunk_panels(j);
    size_t panel = (size_t)j->K * (size_t)j->v->nr * j->es;
    for (int c;
         (c = atomic_fetch_add_explicit(&s->claimed, 1, memory_order_relaxed)) < s->chunks;) {
        int64_t p0 = c * per, p1 = p0 + per < j->npan ? p0 + per : j->npan;
        j->v->pack(j->tb, j->K, j->B, j->ldb, j->N, p0, p1, s->panels + (size_t)p0 * panel);
        atomic_fetch_add_explicit(&s->done, 1, memory_order_acq_rel);
    }
    for (unsigned n = 1; atomic_load_explicit(&s->done, memory_order_acquire) < s->chunks; n++)
        keep_spin(n);
}

const char *gemm_keep_lookup(const gemm_job *j, const void *bkey, int bconst)
{
    keep_table *t = keep_cur;
    if (!bkey || !t)
        return NULL;
    keep_lock(t);
    /* outside a part nothing else reads t now: a new phase */
    t->phase += !pool_in_part();
    keep_slot *s = t->epoch ? keep_find(t, j, bkey, bconst) : NULL;
    keep_unlock(t);
    if (!s)
        return NULL;
    keep_fill(s, j);
    return s->panels;
}
