/*
 * fuzz_spec.c - the YAML config loader (models/spec.h), which runs the
 * yamltree parser, and what a loaded config feeds: its cell (a preset or
 * model.cell: custom with model.params/state/step equations) unrolled by
 * model_build_io over a few steps, and the gradient graph autodiff adds.
 *
 * Lines "#set KEY=VALUE" in the input (comments to YAML) are passed as
 * --set overrides. Promises checked on success: `unroll config show`
 * output (spec_write_yaml) loads back, and writing that again gives the
 * same text. The model is built with small sizes (B = 2, T <= 3, 5 input ids,
 * 4 classes) so that every input stays fast; the graph holds shapes, not
 * data, so large dimensions written in a config cost nothing here.
 */
#include "engine/autodiff.h"
#include "models/cell.h"
#include "models/model.h"
#include "models/spec.h"
#include "tests/fuzz/fuzz.h"

/* spec_write_yaml into a new buffer. */
static char *written(const spec *s, size_t *n)
{
    char *text = NULL;
    *n = 0;
    FILE *f = open_memstream(&text, n);
    FUZZ_CHECK(f != NULL);
    FUZZ_CHECK(spec_write_yaml(s, f) == 0);
    FUZZ_CHECK(fclose(f) == 0 && text != NULL);
    return text;
}

static void round_trip(const spec *s)
{
    size_t n1, n2;
    char *t1 = written(s, &n1);
    spec again;
    uerr e = {0};
    if (spec_load_buffer(&again, s->path, t1, n1, NULL, 0, &e)) {
        fprintf(stderr, "written config does not load: %s\n---\n%s---\n", e.msg, t1);
        abort();
    }
    char *t2 = written(&again, &n2);
    if (n1 != n2 || memcmp(t1, t2, n1)) {
        fprintf(stderr, "written config changes when loaded and written again\n---\n%s---\n%s",
                t1, t2);
        abort();
    }
    spec_free(&again);
    free(t1);
    free(t2);
}

static void build(const spec *s)
{
    uerr e = {0};
    cell c;
    if (cell_from_spec(s, &c, &e))
        FUZZ_CHECK_ERR(&e);
    else
        cell_free(&c);

    /* what each data kind gives the model (train/data.c), in small */
    model_io io = {.input = 5, .output = 4};
    io.masked = s->data.kind == SPEC_DATA_CLASSIFY;
    io.real = s->data.kind == SPEC_DATA_NPY && s->model.output != SPEC_OUT_SOFTMAX;
    io.dense = s->data.kind == SPEC_DATA_NPY && (s->train.seed & 1);
    int64_t T = s->train.seq_len < 3 ? s->train.seq_len : 3;
    model m;
    uerr e2 = {0};
    if (model_build_io(&m, s, &io, 2, T, &e2)) {
        FUZZ_CHECK_ERR(&e2);
        return;
    }
    int32_t params[MODEL_MAX_PARAMS];
    for (int i = 0; i < m.nparams; i++)
        params[i] = m.param[i].node;
    grad_table gt;
    uerr e3 = {0};
    if (autodiff_grad(&m.g, m.loss, params, m.nparams, &gt, &e3))
        FUZZ_CHECK_ERR(&e3);
    else
        grad_table_free(&gt);
    model_free(&m);
}

/* Lines "#set KEY=VALUE" (YAML comments, so the document is unchanged)
 * become --set overrides, up to four of them, so that spec_set's parser
 * is fuzzed along with the file's. Returns how many; free each. */
enum { MAX_SETS = 4 };
static int find_sets(const uint8_t *data, size_t size, char *sets[MAX_SETS])
{
    int n = 0;
    for (size_t i = 0; i + 5 <= size && n < MAX_SETS; i++) {
        if ((i > 0 && data[i - 1] != '\n') || memcmp(data + i, "#set ", 5))
            continue;
        size_t b = i + 5, end = b;
        while (end < size && data[end] != '\n')
            end++;
        sets[n] = malloc(end - b + 1);
        FUZZ_CHECK(sets[n] != NULL);
        memcpy(sets[n], data + b, end - b);
        sets[n++][end - b] = '\0'; /* an embedded NUL just ends it early */
        i = end;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    spec s;
    uerr e = {0};
    char *sets[MAX_SETS] = {0};
    int nsets = find_sets(data, size, sets);
    int rc = spec_load_buffer(&s, "fuzz.yaml", (const char *)data, size,
                              (const char *const *)sets, nsets, &e);
    for (int i = 0; i < nsets; i++)
        free(sets[i]);
    if (rc) {
        FUZZ_CHECK_ERR(&e);
        return 0;
    }
    FUZZ_CHECK(s.name && s.data.path && s.data.path[0] && s.train.checkpoint.db && s.sample.prime);
    FUZZ_CHECK(s.text_len == size && s.tree != NULL);
    FUZZ_CHECK((s.model.cell == SPEC_CELL_CUSTOM) == (s.model.step != NULL));
    round_trip(&s);
    build(&s);
    spec_free(&s);
    return 0;
}
