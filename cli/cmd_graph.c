/*
 * cmd_graph.c - unroll graph CONFIG [--set ...] [--steps N] [--backward]
 *               [-o FILE]: the unrolled graph as Graphviz DOT.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "graph/dot.h"
#include "train/net.h"
#include "train/text.h"

static const char help[] =
    "usage: unroll graph CONFIG [--set KEY=VALUE]... [--steps N] [--backward] [-o FILE]\n"
    "\n"
    "Writes the unrolled forward graph as Graphviz DOT (to FILE, or standard\n"
    "output): nodes clustered by time step, each parameter drawn once with an\n"
    "edge to every step that reads it. --backward adds the gradient nodes that\n"
    "build_grad inserted, in blue, with each parameter's summed gradient marked.\n"
    "--steps N unrolls N steps (default 3) with batch 1.\n"
    "\n"
    "example:\n"
    "  unroll graph configs/elman_char.yaml --steps 3 --backward -o g.dot && dot -Tsvg g.dot > g.svg\n";

int cmd_graph(int argc, char **argv)
{
    cli_common c = {0};
    const char *steps_s = NULL, *out = NULL;
    int backward = 0;
    const cli_opt opts[] = {{"--steps", &steps_s, NULL}, {"-o", &out, NULL},
                            {"--backward", NULL, &backward}, {NULL, NULL, NULL}};
    int pr = cli_parse(argc, argv, "graph", help, &c, opts, &c.config, 1);
    if (pr)
        return pr < 0 ? 0 : pr;
    if (!c.config)
        return cli_usage("graph: which config? (unroll graph CONFIG)");
    long long steps = 3;
    if (steps_s && cli_int("--steps", steps_s, 1, 1000, &steps))
        return UERR_USAGE;
    uerr e = {0};
    spec s;
    if (spec_load(&s, c.config, c.sets, c.nsets, &e))
        return cli_fail(&e);
    /* the vocabulary size is the data's: load it as training would */
    text_corpus corpus = {0};
    net n = {0};
    int rc = text_corpus_load(s.data.path, s.data.valid_fraction, &corpus, &e);
    if (!rc)
        rc = net_init(&n, &s, corpus.vocab.size, 1, steps, NET_TRAIN, NULL, &e);
    FILE *f = stdout;
    if (!rc && out && !(f = fopen(out, "w")))
        rc = uerr_set(&e, UERR_USER, "%s: cannot write", out);
    if (!rc && graph_write_dot(&n.m.g, &n.gt, backward, f))
        rc = uerr_set(&e, UERR_USER, "%s: write failed", out ? out : "standard output");
    if (f && f != stdout && fclose(f) && !rc)
        rc = uerr_set(&e, UERR_USER, "%s: write failed", out);
    net_free(&n);
    text_corpus_free(&corpus);
    spec_free(&s);
    return rc ? cli_fail(&e) : 0;
}
