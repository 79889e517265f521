/*
 * test_init.c - model.init's per-parameter entries (issue 11 item 7a):
 * each kind gives what it says (constant, the mean and spread of normal
 * and uniform, orthonormal columns or rows, the identity), parameters
 * without one start as they always did, an entry leaves the others'
 * starts alone, the same seed gives the same bits, config show writes
 * the entries back, and each misuse is one line naming the key.
 */
#include "check.h"

#include "train/net.h"
#include "train/rng.h"

/* An IndRNN-like cell: u multiplies, so it needs an entry. */
static const char *cell_text = "data: {kind: text, path: unused.txt}\n"
                               "model:\n"
                               "  cell: custom\n"
                               "  hidden: 6\n"
                               "  init:\n"
                               "    std: 0.3\n"
                               "%s"
                               "  params: {u: [hidden], W: [hidden, hidden], U: [hidden, input],\n"
                               "           b: [hidden], V: [output, hidden], c: [output]}\n"
                               "  state: {h: hidden}\n"
                               "  step:\n"
                               "    - h[t] = tanh(u * h[t-1] + W @ h[t-1] + U @ x[t] + b)\n"
                               "    - o[t] = V @ h[t] + c\n"
                               "train: {dtype: %s}\n";

#define INITS_ALL                                                                                  \
    "    u: {kind: uniform, value: 0.5, std: 0.1}\n"                                               \
    "    W: {kind: \"identity\", value: 0.9}\n"                                                    \
    "    U: {kind: orthogonal, value: 2}\n"                                                        \
    "    V: {kind: orthogonal}\n"                                                                  \
    "    b: {kind: constant, value: 0.25}\n"

/* Loads the cell with inits (and sets), builds its net with V = 10 and
 * fills the parameters from seed 7; 0 or the error. */
static int make(net *n, spec *s, const char *inits, const char *dt, const char *const *sets,
                int nsets, uerr *e)
{
    char text[2048];
    snprintf(text, sizeof text, cell_text, inits, dt);
    int rc = spec_load_buffer(s, "cell.yaml", text, strlen(text), sets, nsets, e);
    if (rc)
        return rc;
    if ((rc = net_init(n, s, 10, 1, 2, NET_FORWARD, NULL, e))) {
        spec_free(s);
        return rc;
    }
    net_init_params(n, s->train.seed, s->model.init.std);
    return 0;
}

static double val(const net *n, const char *name, int64_t k)
{
    int i = model_find_param(&n->m, name);
    if (i < 0)
        return NAN;
    const void *v = net_param(n, i);
    return n->dt == DT_F32 ? (double)((const float *)v)[k] : ((const double *)v)[k];
}

/* max |A^T A - I| over the min(m, n) columns (or rows) of [m, n], / gain^2 */
static double ortho_error(const net *n, const char *name, double gain)
{
    const model_param *p = &n->m.param[model_find_param(&n->m, name)];
    int64_t m = p->shape.dim[0], c = p->shape.dim[1], K = m < c ? m : c, L = m < c ? c : m;
    double worst = 0;
    for (int64_t a = 0; a < K; a++)
        for (int64_t b = 0; b < K; b++) {
            double d = 0;
            for (int64_t i = 0; i < L; i++)
                d += val(n, name, m >= c ? i * c + a : a * c + i) *
                     val(n, name, m >= c ? i * c + b : b * c + i);
            d = d / (gain * gain) - (a == b);
            worst = fabs(d) > worst ? fabs(d) : worst;
        }
    return worst;
}

static void test_each_kind(void)
{
    const char *dts[2] = {"float64", "float32"};
    for (int d = 0; d < 2; d++) {
        net n;
        spec s;
        uerr e = {0};
        CHECK_OK(make(&n, &s, INITS_ALL, dts[d], NULL, 0, &e), &e);
        if (e.code)
            continue;
        double lo = 0.5 - sqrt(3.0) * 0.1, hi = 0.5 + sqrt(3.0) * 0.1, mean = 0;
        for (int k = 0; k < 6; k++) {
            CHECKF(val(&n, "u", k) >= lo - 1e-7 && val(&n, "u", k) < hi + 1e-7, "u[%d] = %g", k,
                   val(&n, "u", k));
            CHECK(val(&n, "b", k) == (d ? (double)0.25f : 0.25));
            for (int j = 0; j < 6; j++)
                CHECK(val(&n, "W", k * 6 + j) == (k == j ? (d ? (double)0.9f : 0.9) : 0));
            mean += val(&n, "u", k) / 6;
        }
        CHECK(fabs(mean - 0.5) < 0.2);
        /* U [6, 10]: orthonormal rows times 2; V [10, 6]: columns */
        double tol = d ? 1e-5 : 1e-12;
        CHECKF(ortho_error(&n, "U", 2) < tol, "U: %g", ortho_error(&n, "U", 2));
        CHECKF(ortho_error(&n, "V", 1) < tol, "V: %g", ortho_error(&n, "V", 1));
        /* c has no entry: a bias, 0 */
        for (int k = 0; k < 10; k++)
            CHECK(val(&n, "c", k) == 0);
        net_free(&n);
        spec_free(&s);
    }
}

/* An entry draws from its own stream: the parameters without one start
 * exactly as they would without any entry, and so do the other entries
 * when one is added. The same seed gives the same bits. */
static void test_streams(void)
{
    net a, b, c;
    spec sa, sb, sc;
    uerr e = {0};
    CHECK_OK(make(&a, &sa, "    u: {kind: normal, value: 1}\n", "float64", NULL, 0, &e), &e);
    CHECK_OK(make(&b, &sb, "    u: {kind: normal, value: 1}\n    V: {kind: normal, std: 0.5}\n",
                  "float64", NULL, 0, &e),
             &e);
    CHECK_OK(make(&c, &sc, "    u: {kind: normal, value: 1}\n", "float64", NULL, 0, &e), &e);
    if (e.code)
        return;
    /* u the same in all three; W and U (no entry) the same in all three */
    for (int k = 0; k < 6; k++)
        CHECK(val(&a, "u", k) == val(&b, "u", k) && val(&a, "u", k) == val(&c, "u", k));
    for (int k = 0; k < 36; k++)
        CHECK(val(&a, "W", k) == val(&b, "W", k) && val(&a, "W", k) == val(&c, "W", k));
    for (int k = 0; k < 60; k++)
        CHECK(val(&a, "U", k) == val(&b, "U", k));
    /* V changed where it has its entry, with about its std */
    double ss = 0;
    for (int k = 0; k < 60; k++) {
        CHECK(val(&a, "V", k) == val(&c, "V", k));
        ss += val(&b, "V", k) * val(&b, "V", k) / 60;
    }
    CHECKF(sqrt(ss) > 0.3 && sqrt(ss) < 0.7, "V's spread %g", sqrt(ss));
    /* u is normal around 1 with model.init.std 0.3 */
    for (int k = 0; k < 6; k++)
        CHECK(fabs(val(&a, "u", k) - 1) < 1.5);
    net_free(&a), net_free(&b), net_free(&c);
    spec_free(&sa), spec_free(&sb), spec_free(&sc);
}

/* The starts of parameters without entries are what they were before
 * entries existed: one N(0, std^2) stream in model order, biases 0. */
static void test_defaults_unchanged(void)
{
    net n;
    spec s;
    uerr e = {0};
    CHECK_OK(make(&n, &s, "    u: {kind: constant, value: 1}\n", "float64", NULL, 0, &e), &e);
    if (e.code)
        return;
    rng r;
    rng_seed(&r, s.train.seed);
    for (int i = 0; i < n.m.nparams; i++) {
        const model_param *p = &n.m.param[i];
        for (int64_t k = 0; !p->has_init && k < shape_numel(&p->shape); k++) {
            double want = p->is_bias ? 0 : 0.3 * rng_normal(&r);
            CHECKF(val(&n, p->name, k) == want, "%s[%lld]", p->name, (long long)k);
        }
    }
    net_free(&n);
    spec_free(&s);
}

/* --set makes and changes entries; config show writes them, and the
 * written config loads to the same entries. */
static void test_set_and_show(void)
{
    net n;
    spec s, back;
    uerr e = {0};
    const char *sets[] = {"model.init.u.kind=constant", "model.init.u.value=0.75",
                          "model.init.W.kind=orthogonal"};
    CHECK_OK(make(&n, &s, "", "float64", sets, 3, &e), &e);
    if (e.code)
        return;
    CHECK(val(&n, "u", 3) == 0.75);
    CHECK(ortho_error(&n, "W", 1) < 1e-12);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    CHECK(f && !spec_write_yaml(&s, f));
    fclose(f);
    CHECKF(strstr(out, "    u: {kind: constant, value: 0.75}\n") &&
               strstr(out, "    W: {kind: orthogonal, value: 1}\n"),
           "%s", out);
    CHECK_OK(spec_load_buffer(&back, "back.yaml", out, len, NULL, 0, &e), &e);
    CHECK(back.model.init.n == 2 && !strcmp(back.model.init.param[0].name, "u") &&
          back.model.init.param[0].kind == SPEC_INIT_CONSTANT &&
          back.model.init.param[0].value == 0.75 &&
          back.model.init.param[1].kind == SPEC_INIT_ORTHOGONAL);
    free(out);
    spec_free(&back);
    net_free(&n);
    spec_free(&s);
}

/* Every misuse: one line naming the key, at its place in the file. */
static void test_errors(void)
{
    static const struct {
        const char *inits, *set, *want;
    } cases[] = {
        {"", NULL,
         "cell.yaml:7:12: model.params.u: a vector that is not only added (a bias starts at 0) "
         "has no default start; give it one, e.g. model.init: {u: {kind: constant, value: 1}}"},
        {"    u: {kind: constant}\n    Q: {kind: normal}\n", NULL,
         "cell.yaml:8:5: model.init.Q: the cell has no parameter Q (u, W, U, b, V, c)"},
        {"    u: {kind: identity}\n", NULL,
         "cell.yaml:7:5: model.init.u: identity needs a matrix; u is a vector (use constant, "
         "normal or uniform)"},
        {"    u: {value: 1}\n", NULL,
         "cell.yaml:7:5: model.init.u: kind is required (constant, normal, uniform, orthogonal "
         "or identity)"},
        {"    u: {kind: constant, std: 1}\n", NULL,
         "cell.yaml:7:5: model.init.u: std goes with normal and uniform, not constant"},
        {"    u: {kind: ortogonal}\n", NULL,
         "cell.yaml:7:15: model.init.u.kind: expected constant, normal, uniform, orthogonal or "
         "identity (did you mean 'orthogonal'?)"},
        {"    u: {kind: normal, std: 0}\n", NULL,
         "cell.yaml:7:28: model.init.u.std: expected a number > 0"},
        {"    u: {kind: normal, mean: 1}\n", NULL,
         "cell.yaml:7:23: model.init.u.mean: unknown field (kind, value, std)"},
        {"    u: {kind: constant, value: \"1\"}\n", NULL,
         "cell.yaml:7:32: model.init.u.value: expected a plain value, found a quoted string"},
        {"    u: {kind: constant}\n", "model.init.u.value=abc",
         "--set model.init.u.value=abc: expected a number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        net n;
        spec s;
        uerr e = {0};
        const char *sets[1] = {cases[i].set};
        int rc = make(&n, &s, cases[i].inits, "float64", sets, cases[i].set ? 1 : 0, &e);
        CHECKF(rc && !strcmp(e.msg, cases[i].want), "case %zu: got '%s'", i, e.msg);
        if (!rc) {
            net_free(&n);
            spec_free(&s);
        }
    }
}

int main(void)
{
    RUN(test_each_kind);
    RUN(test_streams);
    RUN(test_defaults_unchanged);
    RUN(test_set_and_show);
    RUN(test_errors);
    CHECK_EXIT();
}
