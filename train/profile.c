/* profile.c - one training step's spans, summed and written; see profile.h. */
#include "train/profile.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "base/outfile.h"
#include "store/json.h"

const char *profile_kind_name(int kind)
{
    static const char *const names[PROFILE_KINDS] = {
        "per-step products", "per-step other ops", "stacked products",   "stacked sums",
        "softmax and loss",  "row runs",           "copies, transposes", "updates"};
    return kind >= 0 && kind < PROFILE_KINDS ? names[kind] : "?";
}

static int kind_of(const exec *x, const exec_span *sp)
{
    const exec_step *s = &x->steps[sp->instr];
    if (s->update)
        return PROFILE_UPDATE;
    if (s->copy_from >= 0)
        return PROFILE_MOVE;
    if (sp->ninstr > 1)
        return PROFILE_ROWS; /* a span of several instructions that are not updates */
    const gnode *n = &s->g->nodes[s->node];
    switch (n->op) {
    case OP_MATMUL:
        return n->t >= 0 ? PROFILE_STEP_PRODUCTS : PROFILE_STACKED_PRODUCTS;
    case OP_SOFTMAX:
    case OP_SOFTMAX_GRAD:
    case OP_SOFTMAX_XENT:
    case OP_SOFTMAX_XENT_GRAD:
    case OP_MSE:
    case OP_SIGMOID_BCE:
        return PROFILE_LOSS;
    case OP_TRANSPOSE:
        return PROFILE_MOVE;
    default:
        return n->t >= 0 ? PROFILE_STEP_OTHER : PROFILE_STACKED_OTHER;
    }
}

int profiler_arm(profiler *pf, net *n, uerr *e)
{
    /* a task per instruction, or a few chunks of one: four times as many
     * spans leaves room */
    int32_t cap = 4 * n->p.ninstr + 64;
    memset(pf, 0, sizeof *pf);
    pf->tr.span = malloc((size_t)cap * sizeof *pf->tr.span);
    if (!pf->tr.span)
        return uerr_set(e, UERR_INTERNAL, "--profile: out of memory");
    pf->tr.cap = cap;
    exec_trace_next(&n->x, &pf->tr);
    return 0;
}

static void write_span(FILE *f, const exec *x, const exec_span *sp, int kind)
{
    char nm[192];
    exec_span_name(x, sp, nm, sizeof nm);
    fputs(",\n{\"ph\": \"X\", \"pid\": 1, \"tid\": ", f);
    fprintf(f, "%d, \"ts\": %.3f, \"dur\": %.3f, \"name\": ", sp->lane < 0 ? 0 : sp->lane,
            (double)sp->t0 / 1e3, (double)(sp->t1 - sp->t0) / 1e3);
    json_write_string(f, nm);
    fputs(", \"cat\": ", f);
    json_write_string(f, profile_kind_name(kind));
    fprintf(f, ", \"args\": {\"instruction\": %d}}", sp->instr);
}

int profiler_finish(profiler *pf, const net *n, int64_t step, const char *path, train_profile *out,
                    uerr *e)
{
    const exec *x = &n->x;
    int32_t made = atomic_load(&pf->tr.n), ns = made < pf->tr.cap ? made : pf->tr.cap;
    memset(out, 0, sizeof *out);
    out->step = step;
    out->spans = ns;
    int lanes = 0;
    for (int32_t k = 0; k < ns; k++) {
        const exec_span *sp = &pf->tr.span[k];
        int kind = kind_of(x, sp);
        out->us[kind][sp->lane + 1] += (double)(sp->t1 - sp->t0) / 1e3;
        out->tasks[kind]++;
        if (out->run_us < (double)sp->t1 / 1e3)
            out->run_us = (double)sp->t1 / 1e3;
        lanes |= sp->lane >= 0;
    }
    if (made > pf->tr.cap)
        return uerr_set(e, UERR_INTERNAL, "--profile: %d spans made, room for %d", made,
                        pf->tr.cap);
    outfile of = {0};
    if (outfile_open(&of, path, e))
        return e->code;
    /* the rows' names first: each lane a thread of one process */
    fputs("{\"displayTimeUnit\": \"ns\", \"traceEvents\": [\n", of.f);
    fprintf(of.f,
            "{\"ph\": \"M\", \"pid\": 1, \"name\": \"process_name\", \"args\": {\"name\": "
            "\"unroll: step %lld\"}}",
            (long long)step);
    for (int l = 0; l < 1 + lanes; l++)
        fprintf(of.f,
                ",\n{\"ph\": \"M\", \"pid\": 1, \"tid\": %d, \"name\": \"thread_name\", "
                "\"args\": {\"name\": \"%s\"}}",
                l,
                !lanes ? "in order"
                : l    ? "lane 1"
                       : "lane 0 and in order");
    for (int32_t k = 0; k < ns; k++)
        write_span(of.f, x, &pf->tr.span[k], kind_of(x, &pf->tr.span[k]));
    fputs("\n]}\n", of.f);
    return outfile_commit(&of, path, e);
}

void profiler_free(profiler *pf)
{
    free(pf->tr.span);
    memset(pf, 0, sizeof *pf);
}
