/* graph.c - the node arena and name pool; see graph.h. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/bytes.h"

static const char *const op_names[OP_COUNT] = {
#define X(id, name) name,
#include "graph/ops.def"
#undef X
};

const char *op_name(int op)
{
    return op >= 0 && op < OP_COUNT ? op_names[op] : "?";
}

int graph_env_limit(size_t *limit, uerr *e)
{
    *limit = 0;
    const char *v = getenv("UNROLL_GRAPH_LIMIT");
    if (!v || !*v)
        return 0;
    uint64_t n;
    if (bytes_parse(v, strlen(v), &n) || n == 0 || n > SIZE_MAX)
        return uerr_set(e, UERR_USER,
                        "UNROLL_GRAPH_LIMIT: expected " BYTES_FORMS ", above 0, found '%s'", v);
    *limit = (size_t)n;
    return 0;
}

int graph_init(graph *g, dtype dt, uerr *e)
{
    memset(g, 0, sizeof *g);
    size_t limit;
    int rc = graph_env_limit(&limit, e);
    if (rc)
        return rc;
    g->limit_bytes = limit;
    g->dt = dt;
    g->cur_t = -1;
    g->names_cap = 256;
    g->names = malloc(g->names_cap);
    if (!g->names)
        return uerr_set(e, UERR_INTERNAL, "graph: out of memory");
    g->names[0] = '\0';
    g->names_len = 1;
    g->used_bytes = g->names_cap;
    return 0;
}

void graph_free(graph *g)
{
    free(g->nodes);
    free(g->names);
    memset(g, 0, sizeof *g);
}

/* Grows *buf to hold need elements of size elem, doubling, within the
 * graph's byte limit. */
static int grow(graph *g, void **buf, size_t *cap, size_t need, size_t elem, uerr *e)
{
    if (need <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need)
        ncap *= 2;
    size_t extra = (ncap - *cap) * elem;
    if (g->limit_bytes && g->used_bytes + extra > g->limit_bytes)
        return uerr_set(e, UERR_USER,
                        "graph: memory limit of %zu bytes reached at %d nodes "
                        "(the unrolled graph is too large; lower train.seq_len, or raise "
                        "UNROLL_GRAPH_LIMIT)",
                        g->limit_bytes, g->n);
    void *p = realloc(*buf, ncap * elem);
    if (!p)
        return uerr_set(e, UERR_INTERNAL, "graph: out of memory at %d nodes", g->n);
    *buf = p;
    *cap = ncap;
    g->used_bytes += extra;
    return 0;
}

static int intern(graph *g, const char *name, uint32_t *off, uerr *e)
{
    if (!name || !*name) {
        *off = 0;
        return 0;
    }
    size_t len = strlen(name) + 1;
    void *buf = g->names;
    int rc = grow(g, &buf, &g->names_cap, g->names_len + len, 1, e);
    if (rc)
        return rc;
    g->names = buf;
    memcpy(g->names + g->names_len, name, len);
    *off = (uint32_t)g->names_len;
    g->names_len += len;
    return 0;
}

int graph_push(graph *g, const gnode *proto, const char *name, int32_t *id, uerr *e)
{
    if (g->n == INT32_MAX)
        return uerr_set(e, UERR_USER, "graph: more than %d nodes", INT32_MAX - 1);
    for (int i = 0; i < proto->nin; i++)
        if (proto->in[i] < 0 || proto->in[i] >= g->n)
            return uerr_set(e, UERR_INTERNAL, "graph: %s input %d refers to node %d of %d",
                            op_name(proto->op), i, proto->in[i], g->n);
    void *buf = g->nodes;
    size_t cap = (size_t)g->cap;
    int rc = grow(g, &buf, &cap, (size_t)g->n + 1, sizeof(gnode), e);
    if (rc)
        return rc;
    g->nodes = buf;
    g->cap = (int32_t)(cap > INT32_MAX ? INT32_MAX : cap);
    uint32_t off = 0;
    rc = intern(g, name, &off, e);
    if (rc)
        return rc;
    gnode *n = &g->nodes[g->n];
    *n = *proto;
    n->name = off;
    *id = g->n++;
    return 0;
}

int graph_leaf(graph *g, const char *name, dtype dt, shape s, uint32_t flags, int32_t t,
               int32_t *id, uerr *e)
{
    gnode n = {.op = OP_INPUT, .dt = (uint8_t)dt, .shape = s, .flags = flags, .t = t};
    return graph_push(g, &n, name, id, e);
}

int graph_set_name(graph *g, int32_t id, const char *name, uerr *e)
{
    uint32_t off = 0;
    int rc = intern(g, name, &off, e);
    if (rc)
        return rc;
    g->nodes[id].name = off;
    return 0;
}

const char *graph_name(const graph *g, int32_t id)
{
    return g->names + g->nodes[id].name;
}

const char *graph_label(const graph *g, int32_t id, char *buf, size_t n)
{
    const gnode *nd = &g->nodes[id];
    const char *nm = graph_name(g, id);
    const char *base = *nm ? nm : op_name(nd->op);
    if (nd->t >= 0)
        snprintf(buf, n, "%s@t%d", base, nd->t);
    else if (*nm)
        snprintf(buf, n, "%s", base);
    else
        snprintf(buf, n, "%s#%d", base, id);
    return buf;
}
