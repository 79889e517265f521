/*
 * verify.c - `unroll ckpt verify`: proves that a stored checkpoint is what
 * its lineage's training produces, by replaying it (see train.h).
 *
 * The replay is an ordinary train_run without a store: resumed from the
 * checkpoint's parent when that is in the same run, otherwise started as
 * the run was (from the seed, or --from the parent). Its final state is
 * compared with the checkpoint tensor by tensor through the content hash
 * (equal hashes are equal bytes), and each step's loss with the value the
 * run logged, bit for bit.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/version.h"
#include "store/sha256.h"
#include "train/blascheck.h"
#include "train/data.h"
#include "train/model_ckpt.h"
#include "train/train.h"

typedef struct verify_ctx {
    const store_loaded *target;
    train_verify_result *vr;
    int64_t *ls, *vs; /* logged loss / valid_loss steps, ascending */
    double *lv, *vv;
    int64_t ln, vn, li, vi;
    train_progress_fn progress;
    void *pctx;
} verify_ctx;

static void verify_note(train_verify_result *vr, const char *fmt, double a, double b, long long k)
{
    if (vr->first_diff[0])
        return;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
    snprintf(vr->first_diff, sizeof vr->first_diff, fmt, k, a, b);
#pragma GCC diagnostic pop
}

/* Bit equality: two NaNs with the same bits are the same log entry, and
 * -0.0 differs from 0.0, as the bytes do. */
static int same_bits(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0;
}

static void verify_progress(void *ctx, const train_progress *p)
{
    verify_ctx *v = ctx;
    while (v->li < v->ln && v->ls[v->li] < p->step)
        v->li++;
    if (v->li < v->ln && v->ls[v->li] == p->step) {
        v->vr->losses++;
        if (!same_bits(v->lv[v->li], p->loss)) {
            v->vr->losses_differ++;
            verify_note(v->vr, "step %lld: loss %.17g logged, %.17g replayed", v->lv[v->li],
                        p->loss, (long long)p->step);
        }
    }
    if (!isnan(p->valid_loss)) {
        while (v->vi < v->vn && v->vs[v->vi] < p->step)
            v->vi++;
        if (v->vi < v->vn && v->vs[v->vi] == p->step) {
            v->vr->losses++;
            if (!same_bits(v->vv[v->vi], p->valid_loss)) {
                v->vr->losses_differ++;
                verify_note(v->vr, "step %lld: valid_loss %.17g logged, %.17g replayed",
                            v->vv[v->vi], p->valid_loss, (long long)p->step);
            }
        }
    }
    if (v->progress)
        v->progress(v->pctx, p);
}

static void verify_state(void *ctx, const store_tensor *t, int n)
{
    verify_ctx *v = ctx;
    const store_loaded *c = v->target;
    train_verify_result *vr = v->vr;
    for (int i = 0; i < c->n; i++) {
        const store_loaded_tensor *want = &c->t[i];
        const store_tensor *got = NULL;
        for (int j = 0; j < n && !got; j++)
            if (!strcmp(t[j].name, want->name))
                got = &t[j];
        vr->tensors++;
        char hash[65];
        if (!got || store_tensor_hash(got->dt, &got->shape, got->data, hash) ||
            strcmp(hash, want->hash)) {
            vr->tensors_differ++;
            if (!vr->first_diff[0]) {
                double maxd = 0;
                if (got && got->dt == want->dt && shape_equal(&got->shape, &want->shape) &&
                    got->dt != DT_I32) {
                    int64_t k = shape_numel(&got->shape);
                    DT_EACH_REAL(got->dt, T, {
                        const T *a = want->data, *b = got->data;
                        for (int64_t q = 0; q < k; q++)
                            maxd = fmax(maxd, fabs((double)a[q] - (double)b[q]));
                    });
                }
                if (!got)
                    snprintf(vr->first_diff, sizeof vr->first_diff,
                             "tensor '%s' is stored but the replay has none", want->name);
                else
                    snprintf(vr->first_diff, sizeof vr->first_diff,
                             "tensor '%s' differs (max |difference| %.3g)", want->name, maxd);
            }
        }
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Appends "; what (was, now now)" to vr->changed, each value cut to
 * width (12 hex digits tell hashes apart). */
static void changed(train_verify_result *vr, const char *what, const char *was, const char *now,
                    int width)
{
    size_t o = strlen(vr->changed);
    snprintf(vr->changed + o, sizeof vr->changed - o, "%s%s (%.*s, now %.*s)", o ? "; " : "", what,
             width, was, width, now);
}

/* What a failed replay is told apart by: the run's record against what
 * this replay used. The config is the stored text: it changed only if the
 * row no longer matches its hash. (Changed data is refused before any
 * replay.) */
static void verify_changes(const store_run *run, const char *blas, train_verify_result *vr)
{
    char hash[SHA256_HEX_SIZE];
    sha256_hex(run->config_text, strlen(run->config_text), hash);
    if (run->config_hash && *run->config_hash && strcmp(run->config_hash, hash))
        changed(vr, "config: its stored text no longer matches its hash", run->config_hash, hash,
                12);
    if (run->program_version && *run->program_version &&
        strcmp(run->program_version, UNROLL_VERSION))
        changed(vr, "program: unroll", run->program_version, UNROLL_VERSION, 64);
    if (run->blas && *run->blas && !blascheck_same_program(run->blas, blas))
        changed(vr, "program", run->blas, blas, 64);
}

int train_verify(store *db, int64_t ckpt, train_progress_fn progress, void *pctx,
                 train_verify_result *vr, uerr *e)
{
    memset(vr, 0, sizeof *vr);
    vr->ckpt = ckpt;
    store_loaded c = {0}, p = {0};
    store_run run = {0};
    spec s = {0};
    verify_ctx v = {.target = &c, .vr = vr, .progress = progress, .pctx = pctx};
    int rc = store_checkpoint_load(db, ckpt, &c, e);
    if (!rc)
        rc = store_run_get(db, c.run, &run, e);
    if (rc)
        goto out;
    /* an imported checkpoint is a starting point; the steps trained on
     * from it (a resume of the import) replay like any others */
    if ((!strcmp(run.init, "import") && !c.parent) || !*run.config_text) {
        rc = uerr_set(e, UERR_USER,
                      "checkpoint %lld was imported into run '%s': there is no training to "
                      "replay",
                      (long long)ckpt, run.name);
        goto out;
    }
    if (c.step == 0) {
        rc = uerr_set(e, UERR_USER,
                      "checkpoint %lld is at step 0, where run '%s' started: nothing to replay",
                      (long long)ckpt, run.name);
        goto out;
    }
    /* the config of the session that trained up to c: a later resume may
     * have set another rate, and the run's config is the newest one */
    char label[300], *session_config = NULL;
    snprintf(label, sizeof label, "run '%s' config", run.name);
    if ((rc = model_ckpt_check_config(&run, e)) ||
        (rc = store_checkpoint_config(db, ckpt, &session_config, e)))
        goto out;
    const char *config = session_config ? session_config : run.config_text;
    rc = spec_load_buffer(&s, label, config, strlen(config), NULL, 0, e);
    free(session_config);
    if (rc)
        goto out;
    int resume = 0;
    if (c.parent) {
        if ((rc = store_checkpoint_load(db, c.parent, &p, e)))
            goto out;
        resume = p.run == c.run;
        if (resume && p.step > c.step) {
            rc = uerr_set(e, UERR_USER, "checkpoint %lld: its parent %lld is at a later step",
                          (long long)ckpt, (long long)c.parent);
            goto out;
        }
    } else if (!strcmp(run.init, "params") || !strcmp(run.init, "from")) {
        rc =
            uerr_set(e, UERR_USER,
                     "checkpoint %lld is the first of run '%s', whose parameters came from %s; "
                     "that starting point is not stored, so it cannot be replayed",
                     (long long)ckpt, run.name,
                     !strcmp(run.init, "params") ? "--params files" : "a checkpoint since deleted");
        goto out;
    }
    vr->from_ckpt = c.parent;
    vr->from_step = resume ? p.step : 0;
    vr->to_step = c.step;

    /* What else decides bit-exactness: the data and the kernels' path (not
     * the thread count: see blas_info in train.c). */
    data_source d;
    if ((rc = data_open(&d, &s, e)))
        goto out;
    /* changed data cannot replay the run: refused, not replayed to a
     * NOT verified that only the hashes explain */
    if (run.data_hash && *run.data_hash && strcmp(run.data_hash, d.hash)) {
        rc = uerr_set(e, UERR_USER,
                      "%s: the data changed since run '%s' was trained (data hash %.12s, now "
                      "%.12s): a replay would not be the run's, so checkpoint %lld cannot be "
                      "verified",
                      d.path, run.name, run.data_hash, d.hash, (long long)ckpt);
        data_free(&d);
        goto out;
    }
    char blas[256];
    blascheck_describe(blas, sizeof blas);
    verify_changes(&run, blas, vr);
    data_free(&d);
    if (!vr->warning[0] && run.blas && *run.blas && !blascheck_same_program(run.blas, blas))
        snprintf(vr->warning, sizeof vr->warning,
                 "run '%s' was trained with '%s', this process runs '%s'", run.name, run.blas,
                 blas);

    if ((rc = store_metric_series(db, c.run, "loss", &v.ls, &v.lv, &v.ln, e)) ||
        (rc = store_metric_series(db, c.run, "valid_loss", &v.vs, &v.vv, &v.vn, e)))
        goto out;
    /* up to c, with the session's train.steps: the validation of its last
     * step and scheduled sampling's ramp depend on it */
    train_opts o = {.until = c.step,
                    .progress = verify_progress,
                    .ctx = &v,
                    .resume = resume ? &p : NULL,
                    .from = c.parent && !resume ? &p : NULL,
                    .on_state = verify_state};
    train_result r;
    double t0 = now_s();
    if (c.step == 0)
        rc = uerr_set(e, UERR_USER, "checkpoint %lld is at step 0: nothing to replay",
                      (long long)ckpt);
    else
        rc = train_run(&s, &o, &r, e);
    vr->seconds = now_s() - t0;
out:
    free(v.ls);
    free(v.lv);
    free(v.vs);
    free(v.vv);
    spec_free(&s);
    store_run_free(&run);
    store_loaded_free(&p);
    store_loaded_free(&c);
    return rc;
}
