/*
 * recompute.h - checkpointed BPTT: trade forward work for memory.
 *
 * A plain plan keeps every time step's activations alive from the forward
 * pass until the backward pass reads them, so its memory grows with T.
 * Here the forward-and-backward graph that build_grad produced is
 * rewritten into an equivalent one that stores less:
 *
 *   - the time steps are cut into segments of k steps;
 *   - the backward nodes are regrouped segment by segment, the last
 *     segment first (the order BPTT meets them anyway);
 *   - before each segment's backward nodes come COPIES of the forward
 *     nodes of that segment which the backward nodes read; the copies read
 *     the segment's incoming state from the original forward pass;
 *   - the backward nodes read the copies, not the originals.
 *
 * The original forward nodes are then read by the forward pass only (and
 * the last state of each segment by the next segment's copies), so the
 * plan's liveness frees them as soon as the forward pass is past them:
 * what stays alive is one state per segment (the checkpoints) plus one
 * segment's activations, about T/k + k steps' worth instead of T; with
 * k near sqrt(T) that is the square-root memory of Chen et al. (2016).
 * Every forward node the backward pass reads is computed twice.
 *
 * Every node computes the same op on inputs holding the same values as in
 * the original graph, and every sum keeps its order, so the gradients are
 * bit-identical to those of the unrewritten graph planned the same way
 * (the tests check it). Only the rewrites that keep results bit-identical
 * are used on the result (PLAN_FUSE_EXACT): stacking T products into one
 * would make all T steps live at once again.
 *
 * A backward node whose inputs come from a later-processed segment (as in
 * a layer running backwards in time) is moved to that segment; it then
 * reads the original forward nodes, which stay alive: always correct,
 * only less memory is saved for such models.
 */
#ifndef UNROLL_RECOMPUTE_H
#define UNROLL_RECOMPUTE_H

#include <stddef.h>

#include "engine/plan.h"

/* Rewrites g, whose nodes below nforward are the forward graph and the
 * rest build_grad's, for segments of seg time steps. out receives the new
 * graph (initialised here; the caller frees it): its first nforward nodes
 * are g's, same ids. map[g->n] receives each old node's new id (-1 for a
 * backward node no output needs). outs are the ids the caller will ask
 * of the plan; they must all be needed, and map[] translates them. */
int recompute_graph(const graph *g, int32_t nforward, const int32_t *outs, int nout, int32_t seg,
                    graph *out, int32_t *map, uerr *e);

typedef struct recompute_info {
    int32_t seg;         /* segment length chosen; 0: no recomputation */
    int32_t steps;       /* time steps T of the graph */
    size_t full_bytes;   /* the plain plan's arena */
    size_t arena_bytes;  /* the chosen plan's arena */
    int32_t extra_nodes; /* forward nodes computed a second time */
} recompute_info;

/* Plans g for outs within budget bytes of plan arena. When the plain plan
 * fits (with opt as given, or else with PLAN_FUSE_EXACT, which stacks
 * nothing), *p is that plan and info->seg is 0: *out is left empty and
 * map untouched. A graph without backward nodes ends there, fitting or
 * not. Otherwise segment lengths are tried from about sqrt(T) downhill,
 * and the first whose plan fits is taken (recomputation costs about one
 * forward pass at any length); *out, map and *p are those of
 * recompute_graph() for it. When no length fits,
 * the error says the least this model needs. The caller frees *out and *p. */
int recompute_plan(const graph *g, int32_t nforward, const int32_t *outs, int nout, size_t budget,
                   const plan_options *opt, graph *out, plan *p, int32_t *map, recompute_info *info,
                   uerr *e);

#endif
