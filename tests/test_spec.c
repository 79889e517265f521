/*
 * test_spec.c - the YAML tree and the typed config: defaults, round trips,
 * --set, and one exact one-line message per way a config can be wrong.
 *
 * Inputs live in this file (spec_load_buffer with the display name
 * "t.yaml"), so the test does not depend on the directory it runs from;
 * the file entry points are exercised through a temporary directory.
 * Every spec and tree is freed, so ASan's leak check covers the error
 * paths too.
 */
#include "models/spec.h"
#include "models/yamltree.h"
#include "tests/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int load(spec *s, const char *yaml, uerr *e)
{
    return spec_load_buffer(s, "t.yaml", yaml, strlen(yaml), NULL, 0, e);
}

static int load_set(spec *s, const char *yaml, const char *const *sets, int n, uerr *e)
{
    return spec_load_buffer(s, "t.yaml", yaml, strlen(yaml), sets, n, e);
}

/* The message a config must fail with, or "" if it must load. */
static void expect_msg(const char *yaml, const char *want, int line)
{
    spec s;
    uerr e = {0};
    int rc = load(&s, yaml, &e);
    if (!*want) {
        CHECKF(rc == 0, "line %d: unexpected error: %s", line, e.msg);
        spec_free(&s);
        return;
    }
    CHECKF(rc != 0, "line %d: loaded, want error: %s", line, want);
    CHECKF(rc == 0 || !strcmp(e.msg, want), "line %d:\n    got:  %s\n    want: %s", line, e.msg,
           want);
    CHECKF(rc == 0 || s.name == NULL, "line %d: spec not left empty on failure", line);
    spec_free(&s);
}

#define EXPECT(yaml, want) expect_msg(yaml, want, __LINE__)

static char *write_to_string(const spec *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return NULL;
    int rc = spec_write_yaml(s, m);
    fclose(m);
    if (rc) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* ---- defaults and values -------------------------------------------- */

static void test_defaults(void)
{
    spec s;
    uerr e = {0};
    CHECK_OK(load(&s, "data: {path: tiny.txt}\n", &e), &e);
    CHECK(!strcmp(s.name, "t"));
    CHECK(s.data.kind == SPEC_DATA_TEXT);
    CHECK(!strcmp(s.data.path, "tiny.txt"));
    CHECK(s.data.valid_fraction == 0);
    CHECK(s.model.cell == SPEC_CELL_ELMAN);
    CHECK(s.model.hidden == 100);
    CHECK(!strcmp(spec_value_name("model.activation", s.model.activation), "tanh"));
    CHECK(s.model.output == SPEC_OUT_SOFTMAX);
    CHECK(s.model.loss == SPEC_LOSS_CROSS_ENTROPY);
    CHECK(s.model.outputs == SPEC_OUTPUTS_EVERY_STEP);
    CHECK(s.model.layers == 1);
    CHECK(s.model.bidirectional == false);
    CHECK(s.model.init.std == 0.01);
    CHECK(!s.model.params && !s.model.state && !s.model.step);
    CHECK(s.train.dtype == DT_F32);
    CHECK(s.train.seq_len == 25);
    CHECK(s.train.batch == 1);
    CHECK(s.train.state == SPEC_STATE_CARRY);
    CHECK(s.train.steps == 1000);
    CHECK(s.train.optimizer.name == SPEC_OPT_ADAGRAD);
    CHECK(s.train.optimizer.lr == 0.1);
    CHECK(s.train.optimizer.eps == 1e-8);
    CHECK(s.train.optimizer.momentum == 0.9);
    CHECK(s.train.optimizer.beta1 == 0.9);
    CHECK(s.train.optimizer.beta2 == 0.999);
    CHECK(s.train.clip.value == 0 && s.train.clip.norm == 0);
    CHECK(s.train.seed == 42);
    CHECK(s.train.valid_every == 0);
    CHECK(s.train.log_every == 100);
    CHECK(s.train.checkpoint.every == 0);
    CHECK(!strcmp(s.train.checkpoint.db, "unroll.db"));
    CHECK(s.sample.length == 200);
    CHECK(s.sample.temperature == 1.0);
    CHECK(!strcmp(s.sample.prime, ""));
    CHECK(s.sample.seed == 1);
    spec_free(&s);
}

static const char every_key[] =
    "name: my-run\n"
    "data:\n"
    "  kind: text\n"
    "  path: data/tiny.txt\n"
    "  valid_fraction: 0.5\n"
    "model:\n"
    "  cell: gru\n"
    "  hidden: 65536\n"
    "  activation: relu\n"
    "  output: linear\n"
    "  loss: mse\n"
    "  outputs: last_step\n"
    "  layers: 10\n"
    "  bidirectional: true\n"
    "  init: {std: 2.5e-2}\n"
    "train:\n"
    "  dtype: float64\n"
    "  seq_len: 1000000\n"
    "  batch: 7\n"
    "  state: zero\n"
    "  steps: 9223372036854775807\n"
    "  optimizer: {name: adam, lr: .5, eps: 1E-6, momentum: 0, beta1: 0.5, beta2: 0.99}\n"
    "  clip: {value: 5, norm: 1.0}\n"
    "  seed: 18446744073709551615\n"
    "  valid_every: 10\n"
    "  log_every: 1\n"
    "  checkpoint: {every: 500, db: 'runs/a b.db'}\n"
    "sample:\n"
    "  length: 1000000000\n"
    "  temperature: 0.7\n"
    "  prime: \"The \"\n"
    "  seed: +0\n";

static void check_every_key(const spec *s)
{
    CHECK(!strcmp(s->name, "my-run"));
    CHECK(!strcmp(s->data.path, "data/tiny.txt"));
    CHECK(s->data.valid_fraction == 0.5);
    CHECK(s->model.cell == SPEC_CELL_GRU);
    CHECK(s->model.hidden == 65536);
    CHECK(!strcmp(spec_value_name("model.activation", s->model.activation), "relu"));
    CHECK(s->model.output == SPEC_OUT_LINEAR);
    CHECK(s->model.loss == SPEC_LOSS_MSE);
    CHECK(s->model.outputs == SPEC_OUTPUTS_LAST_STEP);
    CHECK(s->model.layers == 10);
    CHECK(s->model.bidirectional == true);
    CHECK(s->model.init.std == 0.025);
    CHECK(s->train.dtype == DT_F64);
    CHECK(s->train.seq_len == 1000000);
    CHECK(s->train.batch == 7);
    CHECK(s->train.state == SPEC_STATE_ZERO);
    CHECK(s->train.steps == INT64_MAX);
    CHECK(s->train.optimizer.name == SPEC_OPT_ADAM);
    CHECK(s->train.optimizer.lr == 0.5);
    CHECK(s->train.optimizer.eps == 1e-6);
    CHECK(s->train.optimizer.momentum == 0);
    CHECK(s->train.optimizer.beta1 == 0.5);
    CHECK(s->train.optimizer.beta2 == 0.99);
    CHECK(s->train.clip.value == 5 && s->train.clip.norm == 1.0);
    CHECK(s->train.seed == UINT64_MAX);
    CHECK(s->train.valid_every == 10);
    CHECK(s->train.log_every == 1);
    CHECK(s->train.checkpoint.every == 500);
    CHECK(!strcmp(s->train.checkpoint.db, "runs/a b.db"));
    CHECK(s->sample.length == 1000000000);
    CHECK(s->sample.temperature == 0.7);
    CHECK(!strcmp(s->sample.prime, "The "));
    CHECK(s->sample.seed == 0);
}

static void test_every_key(void)
{
    spec s;
    uerr e = {0};
    CHECK_OK(load(&s, every_key, &e), &e);
    if (e.code == 0)
        check_every_key(&s);
    spec_free(&s);
}

/* write -> load -> write gives the same text and the same values. */
static void roundtrip(const char *yaml, int line)
{
    spec a, b;
    uerr e = {0};
    int rc = load(&a, yaml, &e);
    CHECKF(rc == 0, "line %d: %s", line, e.msg);
    if (rc)
        return;
    char *t1 = write_to_string(&a);
    CHECK(t1 != NULL);
    rc = t1 ? load(&b, t1, &e) : -1;
    CHECKF(rc == 0, "line %d: written config does not load: %s\n%s", line, e.msg, t1 ? t1 : "");
    if (rc == 0) {
        char *t2 = write_to_string(&b);
        CHECKF(t2 && !strcmp(t1, t2), "line %d: second write differs:\n%s\n---\n%s", line, t1,
               t2 ? t2 : "");
        free(t2);
        spec_free(&b);
    }
    free(t1);
    spec_free(&a);
}

static void test_roundtrip_defaults(void)
{
    roundtrip("data: {path: x.txt}", __LINE__);

    /* Every default appears in the output, with its section. */
    spec s;
    uerr e = {0};
    CHECK_OK(load(&s, "data: {path: x.txt}", &e), &e);
    char *t = write_to_string(&s);
    CHECK(t != NULL);
    if (t) {
        CHECK(strstr(t, "\nmodel:\n  cell: elman ") != NULL);
        CHECK(strstr(t, "\n  init:\n    std: 0.01 ") != NULL);
        CHECK(strstr(t, "\n    eps: 1.0e-08 ") != NULL);
        CHECK(strstr(t, "\n  seed: 42 ") != NULL);
        CHECK(strstr(t, "\n    db: unroll.db ") != NULL);
        CHECK(strstr(t, "\n  prime: \"\" ") != NULL);
        CHECK(strstr(t, "params") == NULL);
    }
    free(t);
    spec_free(&s);
}

static void test_roundtrip_values(void)
{
    roundtrip(every_key, __LINE__);
    spec a, b;
    uerr e = {0};
    CHECK_OK(load(&a, every_key, &e), &e);
    char *t = e.code ? NULL : write_to_string(&a);
    if (t) {
        CHECK_OK(load(&b, t, &e), &e);
        if (!e.code) {
            check_every_key(&b);
            spec_free(&b);
        }
    }
    free(t);
    spec_free(&a);

    /* Strings that need quoting or look like other types stay strings. */
    roundtrip("name: \"true\"\n"
              "data: {path: \"a: b #c\"}\n"
              "sample: {prime: \"12\\n\\t\\\"q\\\" \\\\ \\u2028 caf\\u00e9 \\x7f\"}\n",
              __LINE__);
    roundtrip("name: '~'\ndata: {path: ' lead'}\nsample: {prime: '-'}\n", __LINE__);
}

static const char custom_cfg[] =
    "data: {path: x.txt}\n"
    "model:\n"
    "  cell: custom\n"
    "  params: {W: [hidden, hidden], U: [hidden, input], b: [hidden],\n"
    "           V: [output, hidden], c: [output]}\n"
    "  state: {h: hidden}\n"
    "  step:\n"
    "    - h[t] = tanh(W @ h[t-1] + U @ x[t] + b)\n"
    "    - o[t] = V @ h[t] + c\n";

static void test_custom(void)
{
    spec s;
    uerr e = {0};
    CHECK_OK(load(&s, custom_cfg, &e), &e);
    if (e.code)
        return;
    CHECK(s.model.cell == SPEC_CELL_CUSTOM);
    const ytree_node *st = s.model.step;
    CHECK(st && st->kind == YTREE_SEQ && st->n == 2);
    if (st && st->kind == YTREE_SEQ && st->n == 2) {
        CHECK(!strcmp(st->kids[0]->text, "h[t] = tanh(W @ h[t-1] + U @ x[t] + b)"));
        CHECK(st->kids[0]->line == 8 && st->kids[0]->col == 7);
        CHECK(!st->kids[1]->quoted);
    }
    const ytree_node *w = ytree_map_get(s.model.params, "W", NULL);
    CHECK(w && w->kind == YTREE_SEQ && w->n == 2 && !strcmp(w->kids[1]->text, "hidden"));
    CHECK(s.model.state && s.model.state->kind == YTREE_MAP && s.model.state->n == 1);
    spec_free(&s);
    roundtrip(custom_cfg, __LINE__);
    roundtrip("data: {path: x}\nmodel:\n  cell: custom\n  step: []\n"
              "  params: {e: {}, n: ~, q: '12', z: , deep: [[1, [2, \"\"]], {x: -5}]}\n",
              __LINE__);

    /* Switching the cell away from custom on the command line makes the
     * equations an error at their key. */
    const char *sets[] = {"model.cell=lstm"};
    CHECK(load_set(&s, custom_cfg, sets, 1, &e) != 0);
    CHECK(!strcmp(e.msg, "t.yaml:4:3: model.params is only valid with model.cell: custom"));
    spec_free(&s);
}

/* ---- the error messages --------------------------------------------- */

static void test_yaml_errors(void)
{
    EXPECT("a: [1, 2\n",
           "t.yaml:2:1: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)");
    EXPECT("data:\n  path: x\n   kind: text\n",
           "t.yaml:3:8: mapping values are not allowed in this context");
    EXPECT("x: \"abc\n", "t.yaml:2:1: found unexpected end of stream (while scanning a "
                         "quoted scalar at 1:4)");
    EXPECT("data: {path: x}\nmodel: &m {hidden: 5}\n",
           "t.yaml:2:8: anchors and aliases are not supported");
    EXPECT("data: {path: x}\nmodel: {hidden: *h}\n",
           "t.yaml:2:17: anchors and aliases are not supported");
    EXPECT("data: {path: !!str x}\n", "t.yaml:1:14: tags are not supported (found '!!str')");
    EXPECT("data: !local {path: x}\n", "t.yaml:1:7: tags are not supported (found '!local')");
    EXPECT("%TAG !e! tag:example.com,2000:\n---\ndata: {path: x}\n",
           "t.yaml:1:1: tags are not supported (found %TAG)");
    EXPECT("data:\n  path: x\nmodel:\n  hidden: 5\n  layers: 2\n  hidden: 6\n",
           "t.yaml:6:3: duplicate key 'hidden' (first at line 4)");
    EXPECT("data: {path: x, 'path': y}\n", "t.yaml:1:17: duplicate key 'path' (first at line 1)");
    EXPECT("data: {path: x}\n? [a, b]\n: 1\n",
           "t.yaml:2:3: a mapping key must be a scalar, found a sequence");
    EXPECT("data: {path: x}\n---\ndata: {path: y}\n",
           "t.yaml:2:1: more than one document (a config is one document)");
    EXPECT("a: \x01\n", "t.yaml:1:4: control characters are not allowed (byte 0x01)");
    EXPECT("a: \xff\n", "t.yaml:1:4: invalid leading UTF-8 octet (byte 0xFF)");
}

static void test_spec_errors(void)
{
    EXPECT("", "t.yaml: empty config");
    EXPECT("# nothing but a comment\n", "t.yaml: empty config");
    EXPECT("---\n", "t.yaml: empty config");
    EXPECT("- data\n- model\n", "t.yaml:1:1: the top level must be a mapping, found a sequence");
    EXPECT("hello\n", "t.yaml:1:1: the top level must be a mapping, found 'hello'");
    EXPECT("model: {hidden: 5}\n", "t.yaml: data.path: required");
    EXPECT("data: {path: ''}\n",
           "t.yaml:1:14: data.path: expected a non-empty string, found the string \"\"");
    EXPECT("data: {path: x}\nmodel: 5\n", "t.yaml:2:8: model: expected a mapping, found '5'");
    EXPECT("data: {path: x}\nmodel:\n  # every key commented out\ntrain:\n", "");

    /* unknown keys, with and without a suggestion */
    EXPECT("data: {path: x}\nmodel:\n  hiden: 5\n",
           "t.yaml:3:3: unknown key 'model.hiden' (did you mean 'model.hidden'?)");
    EXPECT("data: {path: x}\nmodle: {hidden: 5}\n",
           "t.yaml:2:1: unknown key 'modle' (did you mean 'model'?)");
    EXPECT("data: {path: x}\nmodel: {lr: 0.1}\n",
           "t.yaml:2:9: unknown key 'model.lr' (did you mean 'train.optimizer.lr'?)");
    EXPECT("data: {path: x}\ntrain: {optimizer: {nmae: adam}}\n",
           "t.yaml:2:21: unknown key 'train.optimizer.nmae' (did you mean "
           "'train.optimizer.name'?)");
    EXPECT("data: {path: x}\nwhatever: 1\n", "t.yaml:2:1: unknown key 'whatever'");
    EXPECT("data: {path: x}\nmodel.hidden: 5\n",
           "t.yaml:2:1: unknown key 'model.hidden' (write nested keys as mappings, not "
           "dotted)");
    EXPECT("data: {path: x}\n\"a\\nb\": 1\n", "t.yaml:2:1: unknown key 'a\\nb'");

    /* one of each type error */
    EXPECT("data: {path: x}\nmodel: {hidden: abc}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found 'abc'");
    EXPECT("data: {path: x}\nmodel: {hidden: 0}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found '0'");
    EXPECT("data: {path: x}\nmodel: {hidden: 65537}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found '65537'");
    EXPECT("data: {path: x}\nmodel: {hidden: 1e3}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found '1e3'");
    EXPECT("data: {path: x}\nmodel: {hidden: 1000.0}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found '1000.0'");
    EXPECT("data: {path: x}\nmodel: {hidden: \"100\"}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found the "
           "string \"100\"");
    EXPECT("data: {path: x}\nmodel: {hidden: }\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found nothing");
    EXPECT("data: {path: x}\nmodel: {hidden: [1]}\n",
           "t.yaml:2:17: model.hidden: expected an integer from 1 to 65536, found a sequence");
    EXPECT("data: {path: x}\ntrain: {steps: 0}\n",
           "t.yaml:2:16: train.steps: expected an integer >= 1, found '0'");
    EXPECT("data: {path: x}\ntrain: {steps: 9223372036854775808}\n",
           "t.yaml:2:16: train.steps: expected an integer >= 1, found "
           "'9223372036854775808'");
    EXPECT("data: {path: x}\ntrain: {seed: -1}\n",
           "t.yaml:2:15: train.seed: expected an integer from 0 to 18446744073709551615, "
           "found '-1'");
    EXPECT("data: {path: x, valid_fraction: 0.6}\n",
           "t.yaml:1:33: data.valid_fraction: expected a number from 0 to 0.5, found '0.6'");
    EXPECT("data: {path: x}\ntrain: {optimizer: {lr: 0}}\n",
           "t.yaml:2:25: train.optimizer.lr: expected a number > 0, found '0'");
    EXPECT("data: {path: x}\ntrain: {optimizer: {lr: .inf}}\n",
           "t.yaml:2:25: train.optimizer.lr: expected a number > 0, found '.inf'");
    EXPECT("data: {path: x}\ntrain: {optimizer: {lr: 0x1p-3}}\n",
           "t.yaml:2:25: train.optimizer.lr: expected a number > 0, found '0x1p-3'");
    EXPECT("data: {path: x}\ntrain: {optimizer: {beta2: 1}}\n",
           "t.yaml:2:28: train.optimizer.beta2: expected a number in [0, 1), found '1'");
    EXPECT("data: {path: x}\ntrain: {clip: {norm: -1}}\n",
           "t.yaml:2:22: train.clip.norm: expected a number >= 0, found '-1'");
    EXPECT("data: {path: x}\nmodel: {bidirectional: yes}\n",
           "t.yaml:2:24: model.bidirectional: expected true or false, found 'yes'");
    EXPECT("data: {path: x}\nmodel: {cell: lsmt}\n",
           "t.yaml:2:15: model.cell: expected one of elman, jordan, lstm, gru, custom, found "
           "'lsmt' (did you mean 'lstm'?)");
    EXPECT("data: {path: x}\nmodel: {cell: rnn}\n",
           "t.yaml:2:15: model.cell: expected one of elman, jordan, lstm, gru, custom, found "
           "'rnn'");
    EXPECT("data: {path: x}\ntrain: {dtype: int32}\n",
           "t.yaml:2:16: train.dtype: expected float32 or float64, found 'int32'");
    EXPECT("data: {kind: csv, path: x}\n",
           "t.yaml:1:14: data.kind: expected one of text, classify, npy, found 'csv'");
    EXPECT("data: {path: ~}\n", "t.yaml:1:14: data.path: expected a non-empty string, found null");
    EXPECT("data: {path: \"a\\0b\"}\n",
           "t.yaml:1:14: data.path: a string cannot contain a NUL byte");

    /* custom-cell keys */
    EXPECT("data: {path: x}\nmodel:\n  hidden: 5\n  step:\n    - h[t] = x[t]\n",
           "t.yaml:4:3: model.step is only valid with model.cell: custom");
    EXPECT("data: {path: x}\nmodel: {cell: custom, params: {W: [1, 1]}}\n",
           "t.yaml: model.step: required with model.cell: custom");
}

/* ---- limits --------------------------------------------------------- */

static void test_alias_bomb(void)
{
    static const char bomb[] =
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n";
    clock_t t0 = clock();
    EXPECT(bomb, "t.yaml:1:4: anchors and aliases are not supported");
    double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECKF(secs < 0.5, "alias bomb took %.3f s", secs);
}

static void test_depth(void)
{
    char buf[2048];
    uerr e = {0};
    ytree *t;
    /* 32 levels are fine, the 33rd is not. */
    memset(buf, '[', 32);
    memset(buf + 32, ']', 32);
    CHECK_OK(ytree_parse_buffer(&t, "t.yaml", buf, 64, &e), &e);
    ytree_free(t);

    memset(buf, '[', 100);
    memset(buf + 100, ']', 100);
    buf[200] = '\0';
    EXPECT(buf, "t.yaml:1:33: nesting deeper than 32 levels");

    /* Block style counts the same way. */
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%*sk:\n", i, "");
    EXPECT(buf, "t.yaml:33:33: nesting deeper than 32 levels");
}

static void test_size_limit(void)
{
    size_t n = YTREE_MAX_BYTES + 1;
    char *big = malloc(n + 1);
    CHECK(big != NULL);
    if (!big)
        return;
    /* Exactly the limit is accepted (here: one long comment). */
    big[0] = '#';
    memset(big + 1, 'x', n - 2);
    big[n - 1] = '\0';
    spec s;
    uerr e = {0};
    CHECK(spec_load_buffer(&s, "t.yaml", big, n - 1, NULL, 0, &e) != 0);
    CHECK(!strcmp(e.msg, "t.yaml: empty config"));
    spec_free(&s);
    memset(big + 1, 'x', n - 1);
    big[n] = '\0';
    uerr_clear(&e);
    CHECK(spec_load_buffer(&s, "t.yaml", big, n, NULL, 0, &e) != 0);
    CHECK(!strcmp(e.msg, "t.yaml: config is larger than 1 MiB"));
    spec_free(&s);
    free(big);
}

/* ---- --set ---------------------------------------------------------- */

static void set_fails_at(const char *assignment, const char *want, int line)
{
    spec s;
    uerr e = {0};
    const char *sets[] = {assignment};
    int rc = load_set(&s, "data: {path: x}\n", sets, 1, &e);
    CHECKF(rc != 0 && !strcmp(e.msg, want), "line %d:\n    got:  %s\n    want: %s", line,
           rc ? e.msg : "(loaded)", want);
    spec_free(&s);
}

#define set_fails(a, want) set_fails_at(a, want, __LINE__)

static void test_set(void)
{
    spec s;
    uerr e = {0};
    const char *sets[] = {"model.hidden=128",    "train.optimizer.lr=0.05",
                          "train.dtype=float64", "sample.prime=hello world",
                          "model.hidden=256",    "name=x=y"};
    CHECK_OK(load_set(&s, "data: {path: x}\nmodel: {hidden: 5}\n", sets, 6, &e), &e);
    CHECK(s.model.hidden == 256); /* later overrides win */
    CHECK(s.train.optimizer.lr == 0.05);
    CHECK(s.train.dtype == DT_F64);
    CHECK(!strcmp(s.sample.prime, "hello world"));
    CHECK(!strcmp(s.name, "x=y"));
    /* The stored text is the file, not the overrides. */
    CHECK(strstr(s.text, "hidden: 5") != NULL);
    CHECK_OK(spec_set(&s, "model.layers=3", &e), &e);
    CHECK(s.model.layers == 3);
    CHECK_OK(spec_check(&s, &e), &e);
    spec_free(&s);

    /* data.path can come from the command line alone. */
    const char *only[] = {"data.path=tiny.txt"};
    CHECK_OK(load_set(&s, "model: {}\n", only, 1, &e), &e);
    spec_free(&s);

    set_fails("model.hidden=abc", "--set model.hidden=abc: expected an integer from 1 to 65536");
    set_fails("model.hidden=1e3", "--set model.hidden=1e3: expected an integer from 1 to 65536");
    set_fails("model.hiden=5",
              "--set model.hiden=5: unknown key 'model.hiden' (did you mean 'model.hidden'?)");
    set_fails("nonsense=1", "--set nonsense=1: unknown key 'nonsense'");
    set_fails("model.hidden", "--set model.hidden: expected KEY=VALUE");
    set_fails("=5", "--set =5: expected KEY=VALUE");
    set_fails("model=5", "--set model=5: 'model' is a section; set one of its keys");
    set_fails("model.cell=LSTM",
              "--set model.cell=LSTM: expected one of elman, jordan, lstm, gru, custom (did "
              "you mean 'lstm'?)");
    set_fails("model.bidirectional=1", "--set model.bidirectional=1: expected true or false");
    set_fails("data.path=", "--set data.path=: expected a non-empty string");
    set_fails("sample.prime=\xff", "--set sample.prime=\\xFF: expected UTF-8 text");
    set_fails("model.step=h", "--set model.step=h: model.step can only be written in the "
                              "config file");
    set_fails("model.cell=custom", "t.yaml: model.step: required with model.cell: custom");
}

/* ---- text, files, tree ---------------------------------------------- */

static void test_text_preserved(void)
{
    static const char cfg[] = "# my experiment\ndata: {path: x}   # trailing\n\n";
    spec s;
    uerr e = {0};
    CHECK_OK(load(&s, cfg, &e), &e);
    CHECK(s.text && s.text_len == strlen(cfg) && !strcmp(s.text, cfg));
    CHECK(s.path && !strcmp(s.path, "t.yaml"));
    spec_free(&s);
    CHECK(s.text == NULL); /* spec_free leaves it empty; freeing twice is harmless */
    spec_free(&s);
}

static void test_files(void)
{
    char dir[] = "/tmp/unroll_test_spec_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256], big[256], missing[256], want[512];
    snprintf(path, sizeof path, "%s/elman_char.yaml", dir);
    snprintf(big, sizeof big, "%s/big.yml", dir);
    snprintf(missing, sizeof missing, "%s/none.yaml", dir);

    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f) {
        fputs("data: {path: x}\nmodel:\n  hidden: 7\n", f);
        fclose(f);
    }
    spec s;
    uerr e = {0};
    const char *sets[] = {"model.layers=2"};
    CHECK_OK(spec_load(&s, path, sets, 1, &e), &e);
    CHECK(s.name && !strcmp(s.name, "elman_char"));
    CHECK(s.path && !strcmp(s.path, path));
    CHECK(s.model.hidden == 7 && s.model.layers == 2);
    spec_free(&s);

    ytree *t;
    CHECK_OK(ytree_parse_file(&t, path, &e), &e);
    CHECK(t && t->root && t->root->kind == YTREE_MAP && t->root->n == 2);
    ytree_free(t);

    f = fopen(path, "w");
    if (f) {
        fputs("data: {path: x}\nmodel:\n  hidden: x\n", f);
        fclose(f);
    }
    CHECK(spec_load(&s, path, NULL, 0, &e) != 0);
    snprintf(want, sizeof want,
             "%s:3:11: model.hidden: expected an integer from 1 to 65536, found 'x'", path);
    CHECK(!strcmp(e.msg, want));
    spec_free(&s);

    uerr_clear(&e);
    CHECK(spec_load(&s, missing, NULL, 0, &e) != 0);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", missing);
    CHECK(!strcmp(e.msg, want));

    f = fopen(big, "w");
    if (f) {
        for (int i = 0; i < 70000; i++)
            fputs("# padding line\n", f); /* 15 bytes each: just over 1 MiB */
        fclose(f);
    }
    uerr_clear(&e);
    CHECK(spec_load(&s, big, NULL, 0, &e) != 0);
    snprintf(want, sizeof want, "%s: config is larger than 1 MiB", big);
    CHECK(!strcmp(e.msg, want));

    uerr_clear(&e);
    CHECK(spec_load(&s, dir, NULL, 0, &e) != 0);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
    CHECK(!strcmp(e.msg, want));

    unlink(path);
    unlink(big);
    rmdir(dir);
}

static void test_tree(void)
{
    static const char doc[] = "a: 1\nb:\n  - 'x'\n  - \"y\"\n  - |\n    z\nc: {d: [e]}\n";
    ytree *t;
    uerr e = {0};
    CHECK_OK(ytree_parse_buffer(&t, "t.yaml", doc, strlen(doc), &e), &e);
    if (e.code)
        return;
    const ytree_node *key;
    const ytree_node *a = ytree_map_get(t->root, "a", &key);
    CHECK(a && a->kind == YTREE_SCALAR && !a->quoted && a->line == 1 && a->col == 4);
    CHECK(key && key->line == 1 && key->col == 1);
    const ytree_node *b = ytree_map_get(t->root, "b", NULL);
    CHECK(b && b->kind == YTREE_SEQ && b->n == 3);
    if (b && b->n == 3) {
        CHECK(b->kids[0]->quoted && b->kids[0]->line == 3 && b->kids[0]->col == 5);
        CHECK(b->kids[1]->quoted && !strcmp(b->kids[1]->text, "y"));
        CHECK(b->kids[2]->quoted && !strcmp(b->kids[2]->text, "z\n"));
    }
    const ytree_node *d = ytree_map_get(ytree_map_get(t->root, "c", NULL), "d", NULL);
    CHECK(d && d->kind == YTREE_SEQ && d->line == 7 && d->col == 8);
    CHECK(ytree_map_get(t->root, "zz", NULL) == NULL);
    CHECK(ytree_map_get(a, "a", NULL) == NULL);
    ytree_free(t);

    /* A stream with no document has no root; that is for spec to judge. */
    CHECK_OK(ytree_parse_buffer(&t, "t.yaml", "", 0, &e), &e);
    CHECK(t && t->root == NULL);
    ytree_free(t);

    /* Many keys: duplicate detection stays correct past table growth. */
    char *many = malloc(200000);
    CHECK(many != NULL);
    if (many) {
        size_t o = 0;
        for (int i = 0; i < 5000; i++)
            o += (size_t)sprintf(many + o, "k%d: %d\n", i, i);
        CHECK_OK(ytree_parse_buffer(&t, "t.yaml", many, o, &e), &e);
        CHECK(t && t->root && t->root->n == 5000);
        ytree_free(t);
        o += (size_t)sprintf(many + o, "k1234: again\n");
        CHECK(ytree_parse_buffer(&t, "t.yaml", many, o, &e) != 0);
        CHECK(!strcmp(e.msg, "t.yaml:5001:1: duplicate key 'k1234' (first at line 1235)"));
        free(many);
    }
}

static void test_value_names(void)
{
    CHECK(!strcmp(spec_value_name("model.cell", SPEC_CELL_GRU), "gru"));
    CHECK(!strcmp(spec_value_name("train.optimizer.name", SPEC_OPT_ADAM), "adam"));
    CHECK(!strcmp(spec_value_name("train.dtype", DT_F64), "float64"));
    CHECK(spec_value_name("train.dtype", DT_I32) == NULL);
    CHECK(spec_value_name("model.cell", 99) == NULL);
    CHECK(spec_value_name("model.hidden", 0) == NULL);
    CHECK(spec_value_name("nope", 0) == NULL);
}

/* Every prefix of a full config, and bytes flipped in it, must load or
 * fail cleanly; ASan turns any overrun or leak into a failure. */
static void test_prefixes_and_flips(void)
{
    size_t n = strlen(custom_cfg);
    char buf[sizeof custom_cfg];
    for (size_t len = 0; len <= n; len++) {
        spec s;
        uerr e = {0};
        int rc = spec_load_buffer(&s, "t.yaml", custom_cfg, len, NULL, 0, &e);
        CHECK(rc == 0 || (e.code != 0 && strchr(e.msg, '\n') == NULL));
        spec_free(&s);
    }
    uint32_t x = 12345;
    static const char flips[] = "[]{}:,-?&*!|>'\"%@#\n \t.0";
    for (int i = 0; i < 600; i++) {
        memcpy(buf, custom_cfg, n);
        x = x * 1103515245u + 12345u;
        buf[(x >> 8) % n] = flips[(x >> 20) % (sizeof flips - 1)];
        spec s;
        uerr e = {0};
        int rc = spec_load_buffer(&s, "t.yaml", buf, n, NULL, 0, &e);
        CHECK(rc == 0 || (e.code != 0 && strchr(e.msg, '\n') == NULL));
        if (rc == 0) {
            char *t = write_to_string(&s);
            spec r;
            CHECK(t && load(&r, t, &e) == 0);
            spec_free(&r);
            free(t);
        }
        spec_free(&s);
    }
}

int main(void)
{
    RUN(test_defaults);
    RUN(test_every_key);
    RUN(test_roundtrip_defaults);
    RUN(test_roundtrip_values);
    RUN(test_custom);
    RUN(test_yaml_errors);
    RUN(test_spec_errors);
    RUN(test_alias_bomb);
    RUN(test_depth);
    RUN(test_size_limit);
    RUN(test_set);
    RUN(test_text_preserved);
    RUN(test_files);
    RUN(test_tree);
    RUN(test_value_names);
    RUN(test_prefixes_and_flips);
    CHECK_EXIT();
}
