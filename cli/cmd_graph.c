/*
 * cmd_graph.c - unroll graph CONFIG [--set ...] [--steps N] [--backward
 *               [--hvp]] [-o FILE]: the unrolled graph as Graphviz DOT.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/dot.h"
#include "train/net.h"
#include "train/data.h"

static const char help[] =
    "usage: unroll graph CONFIG [--set KEY=VALUE]... [--steps N] [--backward [--hvp]]\n"
    "                    [-o FILE]\n"
    "\n"
    "Writes the unrolled forward graph as Graphviz DOT (to FILE, or standard\n"
    "output), or draws it when FILE ends in .svg, .png or .pdf (needs Graphviz's\n"
    "dot): nodes clustered by time step, each parameter drawn once with an\n"
    "edge to every step that reads it. --backward adds the gradient nodes that\n"
    "build_grad inserted, in blue, with each parameter's summed gradient marked.\n"
    "--hvp (implies --backward) adds the second-order nodes of the Hessian-vector\n"
    "product (`grad --hvp`: the gradient graph differentiated again), in orange,\n"
    "with the directions v.<name> and each parameter's H v marked.\n"
    "--steps N unrolls N steps (default 3) with batch 1.\n"
    "\n"
    "example:\n"
    "  unroll graph configs/elman_char.yaml --steps 3 --backward -o graph.svg\n";

/* "svg", "png" or "pdf" when the output file asks for a picture */
static const char *image_format(const char *path)
{
    static const char *const fmts[] = {"svg", "png", "pdf"};
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof fmts / sizeof *fmts; i++)
        if (!strcmp(dot + 1, fmts[i]))
            return fmts[i];
    return NULL;
}

static int write_dot_file(const net *n, int backward, const char *out, uerr *e)
{
    FILE *f = out ? fopen(out, "w") : stdout;
    if (!f)
        return uerr_set(e, UERR_USER, "%s: cannot write: %s", out, strerror(errno));
    int rc = graph_write_dot(&n->m.g, &n->gt, n->mode == NET_HVP ? &n->hv : NULL, backward, f);
    if (f != stdout && fclose(f))
        rc = -1;
    return rc ? uerr_set(e, UERR_USER, "%s: write failed", out ? out : "standard output") : 0;
}

/* Renders through Graphviz: the DOT text piped into `dot -T<fmt> -o out`,
 * started without a shell so the file name needs no quoting. */
static int write_image(const net *n, int backward, const char *fmt, const char *out, uerr *e)
{
    int fd[2];
    if (pipe(fd))
        return uerr_set(e, UERR_INTERNAL, "graph: pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) {
        close(fd[0]);
        close(fd[1]);
        return uerr_set(e, UERR_INTERNAL, "graph: fork: %s", strerror(errno));
    }
    if (pid == 0) {
        char tflag[8];
        snprintf(tflag, sizeof tflag, "-T%s", fmt);
        dup2(fd[0], 0);
        close(fd[0]);
        close(fd[1]);
        execlp("dot", "dot", tflag, "-o", out, (char *)NULL);
        _exit(127); /* the parent reports it */
    }
    close(fd[0]);
    /* a dot that is missing (or dies) closes the pipe: that is reported
     * from its exit status below, not by SIGPIPE killing this process */
    signal(SIGPIPE, SIG_IGN);
    FILE *f = fdopen(fd[1], "w");
    int wrc =
        f ? graph_write_dot(&n->m.g, &n->gt, n->mode == NET_HVP ? &n->hv : NULL, backward, f) : -1;
    if (f)
        fclose(f);
    else
        close(fd[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
        return uerr_set(e, UERR_USER,
                        "%s: drawing a picture needs Graphviz's dot, which is not installed "
                        "(apt-get install graphviz); -o FILE.dot writes the DOT text instead",
                        out);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || wrc)
        return uerr_set(e, UERR_USER, "%s: Graphviz's dot failed to draw the graph", out);
    return 0;
}

int cmd_graph(int argc, char **argv)
{
    cli_common c = {0};
    const char *steps_s = NULL, *out = NULL;
    int backward = 0, hvp = 0;
    const cli_opt opts[] = {{"--steps", &steps_s, NULL},
                            {"-o", &out, NULL},
                            {"--backward", NULL, &backward},
                            {"--hvp", NULL, &hvp},
                            {NULL, NULL, NULL}};
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
    /* the input and output sizes are the data's: load it as training would */
    data_source d = {0};
    net n = {0};
    int rc = data_open(&d, &s, &e);
    if (!rc)
        rc = net_init_io(&n, &s, &d.io, 1, steps, hvp ? NET_HVP : NET_TRAIN, NULL, &e);
    backward |= hvp;
    const char *fmt = out ? image_format(out) : NULL;
    if (!rc && fmt)
        rc = write_image(&n, backward, fmt, out, &e);
    else if (!rc)
        rc = write_dot_file(&n, backward, out, &e);
    net_free(&n);
    data_free(&d);
    spec_free(&s);
    return rc ? cli_fail(&e) : 0;
}
