/*
 * embed.c - unroll as a library: the pipeline one call at a time, then the
 * training loop, a checkpoint and sampling.
 *
 *   cc embed.c $(pkg-config --cflags --libs unroll) -o embed
 *   ./embed CONFIG.yaml TEXT DB
 *
 * Part 1 loads a spec, unrolls it into a graph, differentiates it, plans
 * it, runs one step and reads a gradient. Part 2 trains a few steps into
 * the database DB, loads the checkpoint back and samples from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unroll.h>

static int fail(const uerr *e)
{
    fprintf(stderr, "embed: %s\n", e->msg);
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: embed CONFIG.yaml TEXT DB\n");
        return 2;
    }
    char set_data[512];
    snprintf(set_data, sizeof set_data, "data.path=%s", argv[2]);
    const char *sets[] = {set_data, "train.dtype=float64", "train.seq_len=8",
                          "model.hidden=16", "train.steps=30"};
    uerr e = {0};
    spec s;
    if (spec_load(&s, argv[1], sets, 5, &e))
        return fail(&e);

    /* part 1: data, graph, gradients, plan, one step */
    text_corpus text;
    if (text_corpus_load(s.data.path, s.data.max_bytes, 0, &text, &e))
        return fail(&e);
    model_io io = {.input = text.vocab.size, .output = text.vocab.size};
    int64_t T = s.train.seq_len;
    model m;
    if (model_build_io(&m, &s, &io, 1, T, &e))
        return fail(&e);
    int32_t params[MODEL_MAX_PARAMS], outs[MODEL_MAX_PARAMS + 1];
    for (int i = 0; i < m.nparams; i++)
        params[i] = m.param[i].node;
    grad_table gt;
    if (autodiff_grad(&m.g, m.loss, params, m.nparams, &gt, &e))
        return fail(&e);
    outs[0] = m.loss;
    for (int i = 0; i < m.nparams; i++)
        outs[i + 1] = gt.param_grad[i];
    plan p;
    exec x;
    if (plan_build(&m.g, outs, m.nparams + 1, NULL, &p, &e) || exec_init(&x, &m.g, &p, &e))
        return fail(&e);
    printf("graph: %d nodes for %lld steps, %d kernel calls, %.1f KiB of buffers\n", m.g.n,
           (long long)T, p.ninstr, (double)p.arena_bytes / 1024);

    /* the caller owns the parameters and the data; the executor reads them */
    double *values[MODEL_MAX_PARAMS];
    for (int i = 0; i < m.nparams; i++) {
        int64_t n = shape_numel(&m.param[i].shape);
        values[i] = calloc((size_t)n, sizeof(double));
        for (int64_t k = 0; k < n; k++)
            values[i][k] = m.param[i].is_bias ? 0 : 0.1 * ((double)((k * 7919) % 201) / 100 - 1);
        exec_bind(&x, m.param[i].node, values[i]);
    }
    double *h0 = calloc((size_t)m.S, sizeof(double));
    int32_t *ids = malloc((size_t)(T + 1) * sizeof(int32_t));
    for (int64_t t = 0; t <= T; t++)
        ids[t] = text.train[t];
    exec_bind(&x, m.h0, h0);
    for (int64_t t = 0; t < T; t++) {
        exec_bind(&x, m.x[t], &ids[t]);
        exec_bind(&x, m.y[t], &ids[t + 1]);
    }
    if (exec_run(&x, &e))
        return fail(&e);
    int w = model_find_param(&m, "W");
    const double *dW = exec_value(&x, gt.param_grad[w]);
    printf("loss %.6f; dL/dW[0][0] = %.6e, summed over %lld steps\n",
           *(const double *)exec_value(&x, m.loss), dW[0], (long long)T);
    for (int i = 0; i < m.nparams; i++)
        free(values[i]);
    free(h0);
    free(ids);
    exec_free(&x);
    plan_free(&p);
    grad_table_free(&gt);
    model_free(&m);
    text_corpus_free(&text);

    /* part 2: train into a store, load the checkpoint, sample */
    store *db = NULL;
    train_result r;
    train_opts o = {.run_name = "embedded"};
    if (store_open(&db, argv[3], STORE_READ_WRITE, &e))
        return fail(&e);
    o.db = db;
    if (train_run(&s, &o, &r, &e))
        return fail(&e);
    printf("trained %lld steps: loss %.3f -> %.3f per token\n", (long long)r.steps_done,
           r.first_loss / (double)T, r.last_loss / (double)T);
    model_ckpt mc;
    if (model_ckpt_load(db, "embedded", &mc, &e))
        return fail(&e);
    sample_opts so = {.length = 60, .temperature = 0.8, .prime = "", .seed = 3};
    char *out = NULL;
    if (sample_text(&mc.s, &mc.vocab, mc.params, mc.nparams, &so, &out, NULL, &e))
        return fail(&e);
    printf("sample: %s\n", out);
    free(out);
    model_ckpt_free(&mc);
    store_close(db);
    spec_free(&s);
    return 0;
}
