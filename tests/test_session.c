/*
 * test_session.c - a stored model used one step at a time (train/session.h),
 * on new data (train/predict.h), and RUN@best.
 *
 * The streamed outputs must be the unrolled model's: the stream's loss on
 * a text equals eval_text's, a classifier's last-step distribution equals
 * predict's (which unrolls the whole sequence), rows of a batch equal the
 * same sequences one at a time, a saved state replays the same bits, and
 * sessions stepping on several threads at once give the bits of one
 * thread. A step allocates nothing.
 */
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/store.h"
#include "train/eval.h"
#include "train/predict.h"
#include "train/session.h"
#include "train/train.h"

static char dir[64];

static const char *path_in(const char *name)
{
    static char p[4][128];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static const char text[] = "the cat sat on the mat. the dog sat on the log. a cat and a dog\n"
                           "sat on a mat and a log; the cat ran, the dog ran after it.\n";

static const char words[] = "house\tenglish\nwater\tenglish\nbright\tenglish\nthing\tenglish\n"
                            "haus\tgerman\nwasser\tgerman\nhell\tgerman\nding\tgerman\n"
                            "maison\tfrench\neau\tfrench\nclair\tfrench\nchose\tfrench\n";

static void write_file(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

/* Trains cfg into db.db under name; 0 ok. */
static int train_into(const char *cfg, const char *name)
{
    uerr e = {0};
    spec s;
    if (spec_load_buffer(&s, "r.yaml", cfg, strlen(cfg), NULL, 0, &e)) {
        printf("  %s\n", e.msg);
        return 1;
    }
    store *st = NULL;
    train_opts o = {.run_name = name};
    train_result r;
    int rc = store_open(&st, path_in("db.db"), STORE_READ_WRITE, &e);
    o.db = st;
    if (!rc)
        rc = train_run(&s, &o, &r, &e);
    if (rc)
        printf("  %s\n", e.msg);
    store_close(st);
    spec_free(&s);
    return rc;
}

static int open_run(session *s, const char *ref, int streaming, uerr *e)
{
    store *db = NULL;
    int rc = store_open(&db, path_in("db.db"), STORE_READ_ONLY, e);
    if (!rc)
        rc = session_open(s, db, ref, streaming, e);
    store_close(db);
    return rc;
}

static void test_setup(void)
{
    char cfg[1024];
    write_file(path_in("text.txt"), text);
    write_file(path_in("words.tsv"), words);
    snprintf(cfg, sizeof cfg,
             "data: {kind: text, path: %s, valid_fraction: 0.2}\n"
             "model: {cell: elman, hidden: 8}\n"
             "train: {dtype: float64, seq_len: 6, batch: 2, steps: 24, valid_every: 8,\n"
             "        optimizer: {name: adam, lr: 0.01}, checkpoint: {every: 8}}\n",
             path_in("text.txt"));
    CHECK(train_into(cfg, "t") == 0);
    snprintf(cfg, sizeof cfg,
             "data: {kind: text, path: %s}\n"
             "model: {cell: elman, hidden: 4}\n"
             "train: {dtype: float32, seq_len: 4, steps: 2, checkpoint: {every: 2}}\n",
             path_in("text.txt"));
    CHECK(train_into(cfg, "t0") == 0);
    for (int bi = 0; bi < 2; bi++) {
        snprintf(cfg, sizeof cfg,
                 "data: {kind: classify, path: %s, valid_fraction: 0.25}\n"
                 "model: {cell: elman, hidden: 6, outputs: last_step, bidirectional: %s}\n"
                 "train: {dtype: float64, seq_len: 8, batch: 3, steps: 12,\n"
                 "        optimizer: {name: adam, lr: 0.01}, checkpoint: {every: 12}}\n",
                 path_in("words.tsv"), bi ? "true" : "false");
        CHECK(train_into(cfg, bi ? "wb" : "w") == 0);
    }
}

static void test_ref_best(void)
{
    uerr e = {0};
    store *db = NULL;
    CHECK_OK(store_open(&db, path_in("db.db"), STORE_READ_ONLY, &e), &e);
    int64_t best = 0, want = 0, run = 0;
    double v;
    CHECK_OK(store_checkpoint_resolve(db, "t@best", &best, &e), &e);
    CHECK_OK(store_run_resolve(db, "t", &run, &e), &e);
    CHECK_OK(store_checkpoint_best(db, run, "valid_loss", 0, &want, &v, &e), &e);
    CHECK(best == want && best > 0);
    /* a run whose checkpoints have no valid_loss: the lowest loss */
    CHECK_OK(store_checkpoint_resolve(db, "w@best", &best, &e), &e);
    CHECK_OK(store_run_resolve(db, "w", &run, &e), &e);
    CHECK_OK(store_checkpoint_best(db, run, "loss", 0, &want, &v, &e), &e);
    CHECK(best == want && best > 0);
    CHECK(store_checkpoint_resolve(db, "t@bestest", &best, &e) == UERR_USER);
    CHECKF(strstr(e.msg, "RUN@best") != NULL, "got: %s", e.msg);
    store_close(db);
}

/* The text's ids in the run's vocabulary. */
static int64_t text_ids(const session *s, int32_t *ids, int64_t cap)
{
    int64_t n = 0;
    for (const char *p = text; *p && n < cap; p++) {
        ids[n] = text_vocab_find(&s->mc.vocab, (uint32_t)*p);
        ids[n] = ids[n] < 0 ? s->mc.vocab.unknown : ids[n];
        n++;
    }
    return n;
}

static void test_stream_equals_eval(void)
{
    uerr e = {0};
    session s;
    CHECK_OK(open_run(&s, "t", 1, &e), &e);
    if (e.code)
        return;
    int32_t ids[256];
    uint32_t cp[256];
    int64_t n = text_ids(&s, ids, 256), V = session_outputs(&s);
    for (int64_t i = 0; i < n; i++)
        cp[i] = (uint32_t)text[i];
    double *out = malloc((size_t)V * sizeof(double)), sum = 0;
    CHECK_OK(session_reset(&s, 1, &e), &e);
    for (int64_t i = 0; i + 1 < n && !e.code; i++) {
        CHECK_OK(session_step_ids(&s, &ids[i], out, &e), &e);
        sum -= log(out[ids[i + 1]]);
    }
    eval_result r;
    CHECK_OK(eval_text(&s.mc.s, &s.mc.vocab, s.mc.params, s.mc.nparams, cp, n, 0, &r, &e), &e);
    CHECKF(fabs(sum / (double)(n - 1) - r.loss) < 1e-12, "stream %.17g, eval %.17g",
           sum / (double)(n - 1), r.loss);
    free(out);
    session_close(&s);
}

/* Feeds rows of ids (B of them, n steps each, row-major [B][n]) and keeps
 * every output: outs [n][B][V]. */
static int feed(session *s, const int32_t *ids, int64_t B, int64_t n, double *outs, uerr *e)
{
    int32_t step[8];
    int rc = session_reset(s, B, e);
    for (int64_t t = 0; t < n && !rc; t++) {
        for (int64_t b = 0; b < B; b++)
            step[b] = ids[b * n + t];
        rc = session_step_ids(s, step, outs + t * B * session_outputs(s), e);
    }
    return rc;
}

static void test_batch_rows_and_state(void)
{
    uerr e = {0};
    session s;
    CHECK_OK(open_run(&s, "t", 1, &e), &e);
    if (e.code)
        return;
    int32_t ids[256], rows[3 * 20];
    int64_t V = session_outputs(&s);
    text_ids(&s, ids, 256);
    for (int b = 0; b < 3; b++)
        memcpy(rows + b * 20, ids + 7 * b, 20 * sizeof(int32_t));
    double *all = malloc((size_t)(20 * 3 * V) * sizeof(double));
    double *one = malloc((size_t)(20 * V) * sizeof(double));
    CHECK_OK(feed(&s, rows, 3, 20, all, &e), &e);
    for (int b = 0; b < 3 && !e.code; b++) {
        CHECK_OK(feed(&s, rows + b * 20, 1, 20, one, &e), &e);
        double worst = 0;
        for (int t = 0; t < 20; t++)
            for (int64_t j = 0; j < V; j++)
                worst = fmax(worst, fabs(one[t * V + j] - all[(t * 3 + b) * V + j]));
        CHECKF(worst < 1e-12, "row %d differs by %g", b, worst);
    }
    /* save after 10 steps, run 10 more; restore and run them again */
    CHECK_OK(feed(&s, rows, 1, 10, one, &e), &e);
    void *st = malloc(session_state_bytes(&s));
    session_state_save(&s, st);
    double a[64], b2[64];
    for (int t = 10; t < 20; t++)
        CHECK_OK(session_step_ids(&s, &rows[t], a, &e), &e);
    session_state_restore(&s, st);
    for (int t = 10; t < 20; t++)
        CHECK_OK(session_step_ids(&s, &rows[t], b2, &e), &e);
    CHECK(V <= 64 && !memcmp(a, b2, (size_t)V * sizeof(double)));
    /* no step allocates */
    struct mallinfo2 m0 = mallinfo2();
    for (int t = 0; t < 200; t++)
        session_step_ids(&s, &rows[t % 20], a, &e);
    struct mallinfo2 m1 = mallinfo2();
    CHECKF(m0.uordblks == m1.uordblks, "%zu bytes allocated in 200 steps",
           m1.uordblks - m0.uordblks);
    CHECK(session_step_real(&s, a, b2, &e) == UERR_USER && strstr(e.msg, "reads ids"));
    free(st);
    free(all);
    free(one);
    session_close(&s);
}

typedef struct worker {
    session s;
    int32_t ids[256];
    double out[200 * 64];
    int rc;
} worker;

static void *work(void *p)
{
    worker *w = p;
    uerr e = {0};
    int64_t V = session_outputs(&w->s);
    w->rc = session_reset(&w->s, 1, &e);
    for (int t = 0; t < 200 && !w->rc; t++)
        w->rc = session_step_ids(&w->s, &w->ids[t % 100], w->out + t * V, &e);
    return NULL;
}

static void test_threads_same_bits(void)
{
    uerr e = {0};
    static worker w[4];
    for (int i = 0; i < 4; i++) {
        CHECK_OK(open_run(&w[i].s, "t", 1, &e), &e);
        if (e.code)
            return;
        text_ids(&w[i].s, w[i].ids, 256);
    }
    if (session_outputs(&w[0].s) > 64)
        return;
    work(&w[0]);
    pthread_t th[3];
    for (int i = 1; i < 4; i++)
        pthread_create(&th[i - 1], NULL, work, &w[i]);
    for (int i = 1; i < 4; i++)
        pthread_join(th[i - 1], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(w[i].rc == 0);
        CHECK(!memcmp(w[i].out, w[0].out, sizeof w[0].out));
        session_close(&w[i].s);
    }
}

typedef struct got {
    double p[16];
    int64_t n, O;
    int32_t label_id;
} got;

static int keep_first(void *ctx, const predict_item *it, uerr *e)
{
    (void)e;
    got *g = ctx;
    if (g->n++ == 0) {
        memcpy(g->p, it->p, (size_t)g->O * sizeof(double));
        g->label_id = it->label_id;
    }
    return 0;
}

static void test_classify_predict(void)
{
    uerr e = {0};
    session s;
    CHECK_OK(open_run(&s, "w", 1, &e), &e);
    if (e.code)
        return;
    /* a new file: no label on the first line, a TAB label on the second */
    write_file(path_in("new.tsv"), "hause\n\nwater\tenglish\n");
    got g = {.O = session_outputs(&s)};
    CHECK(g.O == 3 && !strcmp(s.classes[0], "english") && !strcmp(s.classes[2], "german"));
    CHECK_OK(predict_lines(&s, path_in("new.tsv"), keep_first, &g, &e), &e);
    CHECK(g.n == 2 && g.label_id == -1);
    /* the stream's output after the last character is predict's */
    const char *w = "hause";
    double out[16];
    CHECK_OK(session_reset(&s, 1, &e), &e);
    for (const char *p = w; *p; p++) {
        int32_t id = text_vocab_find(&s.mc.vocab, (uint32_t)*p);
        CHECK_OK(session_step_ids(&s, &id, out, &e), &e);
    }
    for (int64_t j = 0; j < g.O; j++)
        CHECKF(fabs(out[j] - g.p[j]) < 1e-12, "class %lld: %g vs %g", (long long)j, out[j], g.p[j]);
    /* 'Q' is in no vocabulary here: the unknown id where the run has one */
    write_file(path_in("bad.tsv"), "house\nhauQ\n");
    g.n = 0;
    CHECK(s.mc.vocab.unknown >= 0);
    CHECK_OK(predict_lines(&s, path_in("bad.tsv"), keep_first, &g, &e), &e);
    CHECK(g.n == 2);
    session_close(&s);
    /* a text run trained on all its text has no unknown id: refused */
    CHECK_OK(open_run(&s, "t0", 0, &e), &e);
    if (e.code)
        return;
    CHECK(s.mc.vocab.unknown < 0);
    write_file(path_in("bad.txt"), "the cat\nthe Qat\n");
    CHECK(predict_lines(&s, path_in("bad.txt"), keep_first, &g, &e) == UERR_USER);
    CHECKF(strstr(e.msg, "bad.txt:2: 'Q' (U+0051) at position 4 is not in the vocabulary"),
           "got: %s", e.msg);
    session_close(&s);
}

static void test_bidirectional(void)
{
    uerr e = {0};
    session s;
    CHECK(open_run(&s, "wb", 1, &e) == UERR_USER);
    CHECKF(strstr(e.msg, "bidirectional") && !strchr(e.msg, '\n'), "got: %s", e.msg);
    uerr_clear(&e);
    CHECK_OK(open_run(&s, "wb", 0, &e), &e);
    if (e.code)
        return;
    got g = {.O = session_outputs(&s)};
    CHECK_OK(predict_lines(&s, path_in("new.tsv"), keep_first, &g, &e), &e);
    double sum = 0;
    for (int64_t j = 0; j < g.O; j++)
        sum += g.p[j];
    CHECK(g.n == 2 && fabs(sum - 1) < 1e-12);
    session_close(&s);
}

int main(void)
{
    if (check_tmpdir(dir, sizeof dir, "session"))
        return 1;
    RUN(test_setup);
    RUN(test_ref_best);
    RUN(test_stream_equals_eval);
    RUN(test_batch_rows_and_state);
    RUN(test_threads_same_bits);
    RUN(test_classify_predict);
    RUN(test_bidirectional);
    check_rmdir(dir);
    CHECK_EXIT();
}
