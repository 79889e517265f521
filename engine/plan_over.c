/*
 * plan_over.c - stacks written over other stacks (PLAN_FUSE_ALL), for the
 * buffers' sweep in plan.c: over the program, before any memory is given.
 *
 * A stack of an in-place op's outputs may take the memory of the stack
 * its members read, member for member, when each of those members is read
 * for the last time by the instruction that writes over it. The case it is
 * for: the softmax's gradient over the logits. At V = 5000 and S2's size
 * (B = 32, T = 64) each stack is 39 MiB, and both were alive at once,
 * putting the step's peak RSS over issue 10's bound (118.7 MiB against
 * 107.7). The bits are the same: each element is computed from the same
 * inputs by the same kernel, which may write over its input (OPF_INPLACE).
 */
#include <stdlib.h>

#include "engine/plan_int.h"
#include "ops/ops.h"

static size_t node_bytes(const plan *p, const graph *g, int32_t id)
{
    const gnode *n = plan_node(p, g, id);
    return (size_t)shape_numel(&n->shape) * dtype_size((dtype)n->dt);
}

/* The node whose memory id's lives in, before any storage is assigned:
 * past a view to its source, past writes in place to their base (plan.c
 * gives each what it gives that node). */
static int32_t memory_root(const plan_decisions *d, const plan *p, int32_t id)
{
    if (id >= p->nnodes && p->vsrc[id - p->nnodes] >= 0)
        id = p->vsrc[id - p->nnodes];
    while (id < p->nnodes && d->alias_of[id] >= 0)
        id = d->alias_of[id];
    return id;
}

/*
 * A member's input may be the stack's member through a write in place (a
 * bias added over a grouped product's output: the logits at V = 5000, B =
 * 64) from this many bytes of stack. Below, its memory hardly counts, and
 * under two lanes the writes over it waited for the loss's reads: S1 ran
 * 0.0499 ms a step instead of 0.0436, S4 1.25 instead of 1.20.
 */
#define OVER_THROUGH_MIN ((size_t)1 << 20)

/*
 * The head of the stack that stack bh can be written over, or -1. Each
 * member of bh is written by an instruction of its own, of an op that may
 * write over its first input, which is (or is written in place over,
 * OVER_THROUGH_MIN) the member in the same place of a stack as long, of
 * as many bytes and no output; a row run that holds such an instruction
 * splits that input by rows (each part writes the rows it read); and
 * every other instruction that reads or writes the other stack comes
 * before the first of them, outside its row run. Under two lanes the
 * writes then wait for the earlier reads: their bytes overlap
 * (plan_lanes.c).
 */
static int32_t stack_over(const plan_needs *n, const plan_decisions *d, const plan *p,
                          const int32_t *head, const int32_t *wr, int32_t bh)
{
    const graph *g = n->g;
    int32_t ah = -1, a = -1, first = INT32_MAX;
    int through = 0;
    size_t bytes = 0;
    for (int32_t b = bh; b >= 0; b = d->next[b]) {
        if (b >= n->N || wr[b] < 0 || p->instr[wr[b]].node != b ||
            !(op_table[g->nodes[b].op]->flags & OPF_INPLACE))
            return -1;
        int32_t in = g->nodes[b].in[0], x = memory_root(d, p, in);
        a = ah < 0 ? x : d->next[a];
        ah = ah < 0 ? x : ah;
        if (a != x || head[x] != ah || n->isout[x] || n->isout[in] ||
            node_bytes(p, g, x) != node_bytes(p, g, b) ||
            (plan_rows_end(p, wr[b]) > wr[b] && !(plan_rows_split(p, g, wr[b]) & 1)))
            return -1;
        first = wr[b] < first ? wr[b] : first;
        through |= in != x;
        bytes += node_bytes(p, g, b);
    }
    if (ah < 0 || d->next[a] >= 0 || (through && bytes < OVER_THROUGH_MIN))
        return -1;
    for (int32_t i = 0; i < p->ninstr; i++) {
        const plan_instr *pi = &p->instr[i];
        int32_t rd[GRAPH_MAX_IN + 1];
        int nr = plan_instr_reads(p, g, pi, rd, GRAPH_MAX_IN + 1), own = head[pi->out] == bh;
        int touches = head[memory_root(d, p, pi->out)] == ah;
        /* an instruction of bh reads its own member as input 0 */
        for (int k = own; k < nr; k++)
            touches |= head[memory_root(d, p, rd[k])] == ah;
        if (touches && (i >= first || plan_rows_end(p, i) >= first))
            return -1;
    }
    return ah;
}

int32_t *plan_stacks_over(const plan_needs *n, const plan_decisions *d, const plan *p)
{
    int32_t G = n->N + p->vg.n;
    int32_t *head = malloc((size_t)G * sizeof *head), *wr = malloc((size_t)G * sizeof *wr);
    int32_t *over = malloc((size_t)G * sizeof *over);
    if (!head || !wr || !over) {
        free(over);
        over = NULL;
        goto out;
    }
    for (int32_t id = 0; id < G; id++)
        head[id] = wr[id] = over[id] = -1;
    for (int32_t id = 0; id < d->nlinks && id < G; id++)
        if (d->prev[id] < 0 && d->next[id] >= 0)
            for (int32_t m = id; m >= 0; m = d->next[m])
                head[m] = id;
    for (int32_t i = 0; i < p->ninstr; i++)
        wr[p->instr[i].out] = i;
    for (int32_t id = 0; id < d->nlinks && id < G; id++)
        if (head[id] == id)
            over[id] = stack_over(n, d, p, head, wr, id);
out:
    free(head);
    free(wr);
    return over;
}
