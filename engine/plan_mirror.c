/*
 * plan_mirror.c - transposed copies kept across runs (plan.h: plan_mirror).
 *
 * At batch 1 a step's first products wait for the copies W^T and U^T
 * made at the head of the program (engine/plan_transpose.c): at S1 size
 * the two transposes and the cold lines they left took some 7 us of a
 * 44 us step on the chain's lane. A copy of a parameter the plan itself
 * updates can instead be rewritten by that update, chunk by chunk, at the
 * end of the step, where a lane has room; the next run then finds it made
 * (engine/exec.c: exec_params_kept). Copying moves no bit: the products
 * read the same values either way. Where the update runs on the other
 * core than the products that read the copy whole, the copy is made at
 * the head as before (plan_lanes_sched.c: drop_far_mirrors).
 */
#include <stdlib.h>

#include "base/vec.h"
#include "engine/plan_int.h"
#include "ops/ops.h"

/* A copy is kept only up to this size: it then lives for the whole run,
 * where it could have given its memory back after the forward. The small
 * ones are the ones whose making shows in a step. */
#define MIRROR_MAX_BYTES ((size_t)1 << 20)

int32_t plan_mirror_leaf(const plan *p, const plan_options *opt, int32_t i)
{
    const plan_instr *pi = &p->instr[i];
    if (!opt || !opt->update_leaves || pi->kind != PLAN_RUN || pi->node < p->nnodes)
        return -1;
    const gnode *n = &p->vg.nodes[pi->node - p->nnodes];
    if (n->op != OP_TRANSPOSE || op_value_bytes(n) > MIRROR_MAX_BYTES)
        return -1;
    int32_t leaf = p->vsrc[n->in[0]];
    for (int32_t k = 0; leaf >= 0 && k < opt->nfixed; k++)
        if (opt->update_leaves[k] == leaf)
            return leaf;
    return -1;
}

/* Whether vg node v is read by gathers only: of its own, or folded into
 * a product (its table an input past the two factors, ops/matmul.c) */
static int only_gathered(const plan *p, int32_t v)
{
    for (int32_t k = 0; k < p->vg.n; k++) {
        const gnode *n = &p->vg.nodes[k];
        for (int q = 0; q < n->nin; q++)
            if (n->in[q] == v && n->op != OP_GATHER && !(n->op == OP_MATMUL && q >= 2))
                return 0;
    }
    return 1;
}

int plan_mirrors_find(plan *p, const plan_options *opt)
{
    int32_t cap = 0;
    for (int32_t i = 0; i < p->ninstr; i++) {
        int32_t leaf = plan_mirror_leaf(p, opt, i);
        /* one copy a parameter: a second (a weight both gathered and
         * multiplied) is made at the head of every run */
        for (int32_t k = 0; leaf >= 0 && k < p->nmirrors; k++)
            leaf = p->mirrors[k].leaf == leaf ? -1 : leaf;
        if (leaf < 0)
            continue;
        for (int32_t u = p->ninstr - p->nupdate; u < p->ninstr; u++)
            if (p->instr[u].node == leaf) {
                if (VEC_GROW(p->mirrors, cap, p->nmirrors + 1))
                    return -1;
                p->mirrors[p->nmirrors++] =
                    (plan_mirror){.pre = i,
                                  .update = u,
                                  .copy = p->instr[i].out,
                                  .leaf = leaf,
                                  .gathered = only_gathered(p, p->instr[i].node - p->nnodes)};
            }
    }
    return 0;
}

int32_t plan_mirror_of_update(const plan *p, int32_t i)
{
    for (int32_t k = 0; k < p->nmirrors; k++)
        if (p->mirrors[k].update == i)
            return p->mirrors[k].copy;
    return -1;
}

void plan_mirror_drop(plan *p, int32_t update)
{
    for (int32_t k = 0; k < p->nmirrors; k++)
        if (p->mirrors[k].update == update && !p->mirrors[k].gathered)
            p->mirrors[k--] = p->mirrors[--p->nmirrors];
}
