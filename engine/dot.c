/* dot.c - see dot.h. */
#include "engine/dot.h"

#include <stdlib.h>

static void node_line(const graph *g, const grad_table *gt, const grad_table *hv, int32_t v,
                      FILE *f)
{
    const gnode *n = &g->nodes[v];
    char sb[64];
    const char *style = "";
    if (n->flags & NODE_PARAM)
        style = ", shape=ellipse, style=filled, fillcolor=\"#ffe9a8\"";
    else if (n->op == OP_INPUT)
        style = ", shape=ellipse, style=filled, fillcolor=\"#e8e8e8\"";
    else if (n->flags & NODE_GRAD2)
        style = ", style=filled, fillcolor=\"#ffd8b0\"";
    else if (n->flags & NODE_GRAD)
        style = ", style=filled, fillcolor=\"#cfe3ff\"";
    const char *extra = "";
    char gname[64] = "";
    if (gt)
        for (int i = 0; i < gt->nparams; i++)
            if (gt->param_grad[i] == v) {
                snprintf(gname, sizeof gname, "\\nd loss / d %s (sum over t)",
                         graph_name(g, gt->param[i]));
                extra = ", penwidth=2.5, color=\"#1f5fbf\"";
            }
    for (int i = 0; hv && i < hv->nparams; i++)
        if (hv->param_grad[i] == v) {
            snprintf(gname, sizeof gname, "\\nH v for %s", graph_name(g, hv->param[i]));
            extra = ", penwidth=2.5, color=\"#c05a00\"";
        }
    const char *nm = graph_name(g, v);
    fprintf(f, "  n%d [label=\"%s\\n%s%s\"%s%s];\n", v, *nm ? nm : op_name(n->op),
            shape_str(&n->shape, sb, sizeof sb), gname, style, extra);
}

int graph_write_dot(const graph *g, const grad_table *gt, const grad_table *hv, int backward,
                    FILE *f)
{
    int32_t n = backward || !gt ? g->n : gt->n;
    int32_t tmax = -1;
    for (int32_t v = 0; v < n; v++)
        tmax = g->nodes[v].t > tmax ? g->nodes[v].t : tmax;
    fprintf(f, "digraph unroll {\n  rankdir=TB;\n  newrank=true;\n"
               "  node [shape=box, fontname=\"Helvetica\", fontsize=10];\n"
               "  edge [color=\"#555555\", arrowsize=0.6];\n");
    for (int32_t v = 0; v < n; v++)
        if (g->nodes[v].t < 0)
            node_line(g, gt, hv, v, f);
    for (int32_t t = 0; t <= tmax; t++) {
        fprintf(
            f,
            "  subgraph cluster_t%d {\n    label=\"t = %d\"; style=rounded; color=\"#999999\";\n",
            t, t);
        for (int32_t v = 0; v < n; v++)
            if (g->nodes[v].t == t) {
                fprintf(f, "  ");
                node_line(g, gt, hv, v, f);
            }
        fprintf(f, "  }\n");
    }
    for (int32_t v = 0; v < n; v++) {
        const gnode *nd = &g->nodes[v];
        for (int k = 0; k < nd->nin; k++) {
            const char *style = (nd->flags & NODE_GRAD2)  ? " [color=\"#c05a00\"]"
                                : (nd->flags & NODE_GRAD) ? " [color=\"#1f5fbf\"]"
                                                          : "";
            fprintf(f, "  n%d -> n%d%s;\n", nd->in[k], v, style);
        }
    }
    fprintf(f, "}\n");
    return ferror(f) ? -1 : 0;
}
