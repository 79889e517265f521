/*
 * test_plan_counts.c - the plan of every shipped config, at fixed sizes,
 * is the one recorded here: its instruction count, what each rewrite did
 * (in place, accumulated, stacked, transposed), its arena, and a hash of
 * the whole program and every buffer offset. Sizes: batch 3, 6 steps
 * (word_language keeps its longest word), the vocabularies of `make data`.
 *
 * Each custom form (configs/CELL_custom.yaml) is held against its preset
 * too: the same plan (plan_digest) at the bench's sizes.
 *
 * The planner's code may be moved and reshaped; its decisions may not
 * change unnoticed. A change that means to change a plan (a new rewrite,
 * a new kernel) updates the table: the failing line prints the new row in
 * the table's own format.
 */
#include "check.h"

#include <stdint.h>
#include <string.h>

#include "engine/plan.h"
#include "train/data.h"
#include "train/net.h"

typedef struct expect {
    const char *config;
    const char *fuse;
    int mode;
    int32_t ninstr, n_inplace, n_accum, n_stacked, n_stacked_nodes, n_transposed;
    uint64_t arena, hash;
} expect;

/* FNV-1a over the program and the offsets: equal hashes, equal plans */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

static uint64_t plan_hash(const plan *p)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int32_t i = 0; i < p->ninstr; i++) {
        int32_t w[3] = {p->instr[i].kind, p->instr[i].node, p->instr[i].out};
        h = fnv(h, w, sizeof w);
    }
    for (int32_t i = 0; i < p->nnodes + p->vg.n; i++) {
        uint64_t o = p->offset[i];
        h = fnv(h, &o, sizeof o);
    }
    return h;
}

static const expect table[] = {
    /* config, fuse, mode (0 train, 1 forward), instructions, in place,
     * accumulated, stacks, stacked nodes, transposed, arena bytes, hash */
    {"elman_char", "all", 0, 79, 22, 6, 4, 24, 1, 228288u, 0x31a8d8d3cbaca0fau},
    {"elman_char", "all", 1, 43, 17, 6, 1, 6, 1, 92544u, 0x78819cdbca67bc33u},
    {"elman_char", "exact", 0, 116, 65, 21, 0, 0, 0, 276224u, 0xe6d0dd188c68357au},
    {"elman_char", "exact", 1, 47, 29, 6, 0, 0, 0, 11264u, 0x75444793fce2eb0fu},
    {"elman_char", "none", 0, 137, 0, 0, 0, 0, 0, 459968u, 0xabcdb2885b33d977u},
    {"elman_char", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0xd65e8baff8f57c06u},
    {"elman_custom", "all", 0, 79, 22, 6, 4, 24, 1, 228288u, 0x31a8d8d3cbaca0fau},
    {"elman_custom", "all", 1, 43, 17, 6, 1, 6, 1, 92544u, 0x78819cdbca67bc33u},
    {"elman_custom", "exact", 0, 116, 65, 21, 0, 0, 0, 276224u, 0xe6d0dd188c68357au},
    {"elman_custom", "exact", 1, 47, 29, 6, 0, 0, 0, 11264u, 0x75444793fce2eb0fu},
    {"elman_custom", "none", 0, 137, 0, 0, 0, 0, 0, 459968u, 0xabcdb2885b33d977u},
    {"elman_custom", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0xd65e8baff8f57c06u},
    {"gru_custom", "all", 0, 251, 98, 28, 6, 36, 3, 541120u, 0xb27252b33c460b02u},
    {"gru_custom", "all", 1, 135, 77, 18, 1, 6, 3, 226688u, 0x748d4c404caf6425u},
    {"gru_custom", "exact", 0, 336, 183, 53, 0, 0, 0, 564480u, 0xa2b9bff8995a87ffu},
    {"gru_custom", "exact", 1, 137, 89, 18, 0, 0, 0, 14336u, 0xebeb3cff7c5e396au},
    {"gru_custom", "none", 0, 389, 0, 0, 0, 0, 0, 748224u, 0x349a37c234f90b52u},
    {"gru_custom", "none", 1, 155, 0, 0, 0, 0, 0, 17280u, 0xc35484a94b1d692bu},
    {"gru_torch", "all", 0, 259, 103, 27, 6, 36, 3, 550848u, 0x163111016eba6faau},
    {"gru_torch", "all", 1, 147, 83, 12, 1, 6, 3, 228224u, 0xa3dd46cf59a48553u},
    {"gru_torch", "exact", 0, 354, 193, 52, 0, 0, 0, 563456u, 0x4bf6980a8a301a1bu},
    {"gru_torch", "exact", 1, 149, 95, 12, 0, 0, 0, 15872u, 0x2e3b20ac64a1e141u},
    {"gru_torch", "none", 0, 406, 0, 0, 0, 0, 0, 745664u, 0x6b62b5e22d6e1992u},
    {"gru_torch", "none", 1, 161, 0, 0, 0, 0, 0, 18816u, 0x460f8c5cc250073du},
    {"jordan_custom", "all", 0, 73, 17, 6, 3, 18, 0, 218688u, 0x076fd58a1c74ab5au},
    {"jordan_custom", "all", 1, 42, 17, 6, 1, 6, 0, 27008u, 0xc7a48c702ff15090u},
    {"jordan_custom", "exact", 0, 101, 60, 26, 0, 0, 0, 200960u, 0xa91f9ca4f73e92deu},
    {"jordan_custom", "exact", 1, 47, 29, 6, 0, 0, 0, 9728u, 0xa5cbb677005121a9u},
    {"jordan_custom", "none", 0, 127, 0, 0, 0, 0, 0, 319168u, 0x3c821e9bdd06e90fu},
    {"jordan_custom", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0x8a3a961698e2a18au},
    {"lstm_custom", "all", 0, 280, 114, 39, 7, 39, 4, 690624u, 0xf95b161c69c2f1cdu},
    {"lstm_custom", "all", 1, 154, 95, 24, 1, 6, 4, 298368u, 0xefa6279a23500cb7u},
    {"lstm_custom", "exact", 0, 387, 214, 69, 0, 0, 0, 704768u, 0x19082e156166ac22u},
    {"lstm_custom", "exact", 1, 155, 107, 24, 0, 0, 0, 20480u, 0x7f999ba66509731eu},
    {"lstm_custom", "none", 0, 456, 0, 0, 0, 0, 0, 886976u, 0xf070bc509e8c73f3u},
    {"lstm_custom", "none", 1, 179, 0, 0, 0, 0, 0, 23424u, 0xcc435541010db561u},
    {"min_char_rnn", "all", 0, 79, 22, 6, 4, 24, 1, 341504u, 0x3d4a4703332e5947u},
    {"min_char_rnn", "all", 1, 43, 17, 6, 1, 6, 1, 129216u, 0xb80a163b001415adu},
    {"min_char_rnn", "exact", 0, 116, 65, 21, 0, 0, 0, 391488u, 0x956900900ddac55du},
    {"min_char_rnn", "exact", 1, 47, 29, 6, 0, 0, 0, 21120u, 0xf1529a997091de71u},
    {"min_char_rnn", "none", 0, 137, 0, 0, 0, 0, 0, 656640u, 0x165c7077f3b5be5fu},
    {"min_char_rnn", "none", 1, 53, 0, 0, 0, 0, 0, 26304u, 0xe263f021ccb0fcfau},
    {"parity_elman", "all", 0, 1206, 398, 100, 4, 400, 0, 69568u, 0xf62edbb056d0972fu},
    {"parity_elman", "all", 1, 700, 299, 100, 1, 100, 0, 28352u, 0xe655db4e9215b1c6u},
    {"parity_elman", "exact", 0, 1996, 1193, 397, 0, 0, 0, 47616u, 0x4c29784f883c2021u},
    {"parity_elman", "exact", 1, 799, 499, 100, 0, 0, 0, 6912u, 0x29e031b94199b215u},
    {"parity_elman", "none", 0, 2393, 0, 0, 0, 0, 0, 49088u, 0xd037e07c0123178fu},
    {"parity_elman", "none", 1, 899, 0, 0, 0, 0, 0, 7168u, 0x6892c346301899dfu},
    {"parity_jordan", "all", 0, 1107, 299, 100, 3, 300, 0, 69696u, 0x6b79360bbbd74485u},
    {"parity_jordan", "all", 1, 700, 299, 100, 1, 100, 0, 28352u, 0x3c95c2c03f1e51e1u},
    {"parity_jordan", "exact", 0, 1699, 1094, 496, 0, 0, 0, 45504u, 0x06c88f08cc059c31u},
    {"parity_jordan", "exact", 1, 799, 499, 100, 0, 0, 0, 6720u, 0x7dfad526c0c32d4du},
    {"parity_jordan", "none", 0, 2195, 0, 0, 0, 0, 0, 45952u, 0x664b57788fe97341u},
    {"parity_jordan", "none", 1, 899, 0, 0, 0, 0, 0, 7168u, 0x6b01381811ee39a4u},
    {"vanishing_elman", "all", 0, 78, 22, 6, 4, 24, 0, 114560u, 0x65e024ff6295d1edu},
    {"vanishing_elman", "all", 1, 42, 17, 6, 1, 6, 0, 37760u, 0x5d221a710c95b89du},
    {"vanishing_elman", "exact", 0, 116, 65, 21, 0, 0, 0, 103808u, 0x03238d7bd9a1e8d1u},
    {"vanishing_elman", "exact", 1, 47, 29, 6, 0, 0, 0, 17792u, 0xb1ec57cfa7b64c70u},
    {"vanishing_elman", "none", 0, 137, 0, 0, 0, 0, 0, 172480u, 0x985b340fd3ff7ba5u},
    {"vanishing_elman", "none", 1, 53, 0, 0, 0, 0, 0, 21312u, 0xbd02c920365614bbu},
    {"word_language", "all", 0, 346, 117, 39, 4, 80, 2, 208640u, 0xcd5b6006fbb4112au},
    {"word_language", "all", 1, 162, 79, 20, 1, 20, 2, 92352u, 0x3fd92e3408d0b8f5u},
    {"word_language", "exact", 0, 513, 252, 77, 0, 0, 0, 158784u, 0x6ab8f1fe5e59bac3u},
    {"word_language", "exact", 1, 179, 99, 20, 0, 0, 0, 6144u, 0x2d7c98f69ced1c2du},
    {"word_language", "none", 0, 590, 0, 0, 0, 0, 0, 252928u, 0xb67f54bae190c22fu},
    {"word_language", "none", 1, 199, 0, 0, 0, 0, 0, 7488u, 0xa0d3b12a660b2ec5u},
};

static int plan_of(const char *config, const char *fuse, int mode, net *n, uerr *e)
{
    char path[128], f[32];
    snprintf(path, sizeof path, "configs/%s.yaml", config);
    snprintf(f, sizeof f, "train.fuse=%s", fuse);
    /* classify data needs its longest word: keep that config's seq_len */
    const char *sets[] = {"train.batch=3", f, "train.seq_len=6"};
    spec s;
    int rc = spec_load(&s, path, sets, strcmp(config, "word_language") ? 3 : 2, e);
    if (rc)
        return rc;
    data_source d;
    memset(&d, 0, sizeof d);
    rc = data_open(&d, &s, e);
    if (!rc)
        rc = net_init_io(n, &s, &d.io, d.B, d.T, mode, NULL, e);
    data_free(&d);
    spec_free(&s);
    return rc;
}

static void test_shipped_plans_unchanged(void)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        const expect *x = &table[i];
        uerr e = {0};
        net n;
        memset(&n, 0, sizeof n);
        int rc = plan_of(x->config, x->fuse, x->mode, &n, &e);
        CHECKF(!rc, "%s %s: %s", x->config, x->fuse, e.msg);
        if (rc)
            continue;
        const plan *p = &n.p;
        expect got = {x->config,       x->fuse,        x->mode,      p->ninstr,
                      p->n_inplace,    p->n_accum,     p->n_stacked, p->n_stacked_nodes,
                      p->n_transposed, p->arena_bytes, plan_hash(p)};
        int same =
            got.ninstr == x->ninstr && got.n_inplace == x->n_inplace && got.n_accum == x->n_accum &&
            got.n_stacked == x->n_stacked && got.n_stacked_nodes == x->n_stacked_nodes &&
            got.n_transposed == x->n_transposed && got.arena == x->arena && got.hash == x->hash;
        CHECKF(same,
               "%s %s mode %d: the plan changed; now:\n"
               "{\"%s\", \"%s\", %d, %d, %d, %d, %d, %d, %d, %lluu, 0x%016llxu},",
               x->config, x->fuse, x->mode, got.config, got.fuse, got.mode, got.ninstr,
               got.n_inplace, got.n_accum, got.n_stacked, got.n_stacked_nodes, got.n_transposed,
               (unsigned long long)got.arena, (unsigned long long)got.hash);
        net_free(&n);
    }
}

/* A preset (from its name) or its custom form (configs/CELL_custom.yaml)
 * at the given sizes, as bench/bench.c's step loads them, planned. */
static int sized_net(const char *cell, int custom, const char *fuse, int mode, int64_t H, int64_t T,
                     int64_t B, net *n, uerr *e)
{
    char sets[5][64], path[64];
    snprintf(sets[0], sizeof sets[0], "model.hidden=%lld", (long long)H);
    snprintf(sets[1], sizeof sets[1], "train.seq_len=%lld", (long long)T);
    snprintf(sets[2], sizeof sets[2], "train.batch=%lld", (long long)B);
    snprintf(sets[3], sizeof sets[3], "train.fuse=%s", fuse);
    snprintf(sets[4], sizeof sets[4], "train.dtype=float32");
    const char *sp[5] = {sets[0], sets[1], sets[2], sets[3], sets[4]};
    spec s;
    int rc;
    if (custom) {
        snprintf(path, sizeof path, "configs/%s_custom.yaml", cell);
        rc = spec_load(&s, path, sp, 5, e);
    } else {
        char cfg[256];
        snprintf(cfg, sizeof cfg,
                 "name: preset\ndata: {kind: text, path: data/demo.txt}\n"
                 "model: {cell: %s, hidden: 16}\ntrain: {seq_len: 2, batch: 1}\n",
                 cell);
        rc = spec_load_buffer(&s, "preset.yaml", cfg, strlen(cfg), sp, 5, e);
    }
    if (rc)
        return rc;
    plan_options po = {.fuse = s.train.fuse};
    rc = net_init(n, &s, 65, B, T, mode, &po, e);
    spec_free(&s);
    return rc;
}

/* Each shipped custom form is its preset written out: the same graph and
 * the same plan (plan_digest), at every fuse level, training and forward,
 * at the bench's size (row runs, stacks) and at batch 1 (products read as
 * W^T). A rewrite that sees one form and not the other would time them
 * apart (issue 10: custom forms within 5% of the presets). */
static void test_custom_forms_plan_as_presets(void)
{
    static const char *const cells[] = {"elman", "jordan", "lstm", "gru"};
    static const char *const fuses[] = {"all", "exact", "none"};
    static const int64_t sizes[][3] = {{128, 32, 32}, {100, 25, 1}};
    for (int c = 0; c < 4; c++)
        for (int f = 0; f < 3; f++)
            for (int z = 0; z < 2; z++)
                for (int mode = NET_TRAIN; mode <= NET_FORWARD; mode++) {
                    uerr e = {0};
                    net a, b;
                    memset(&a, 0, sizeof a);
                    memset(&b, 0, sizeof b);
                    const int64_t *sz = sizes[z];
                    int rc = sized_net(cells[c], 0, fuses[f], mode, sz[0], sz[1], sz[2], &a, &e);
                    if (!rc)
                        rc = sized_net(cells[c], 1, fuses[f], mode, sz[0], sz[1], sz[2], &b, &e);
                    CHECKF(!rc, "%s %s: %s", cells[c], fuses[f], e.msg);
                    if (rc)
                        continue;
                    CHECKF(plan_digest(&a.p, &a.m.g) == plan_digest(&b.p, &b.m.g),
                           "%s, fuse %s, H %lld B %lld, mode %d: the custom form's plan is not "
                           "the preset's (nodes %d/%d, instructions %d/%d, stacked %d/%d, "
                           "transposed %d/%d, row runs %d/%d, arena %zu/%zu)",
                           cells[c], fuses[f], (long long)sz[0], (long long)sz[2], mode, a.m.g.n,
                           b.m.g.n, a.p.ninstr, b.p.ninstr, a.p.n_stacked, b.p.n_stacked,
                           a.p.n_transposed, b.p.n_transposed, a.p.nruns, b.p.nruns,
                           a.p.arena_bytes, b.p.arena_bytes);
                    CHECK(a.p.ninstr > 0);
                    /* the blocks the kernels read beside the arena start
                     * on a cache line whatever the heap held before */
                    CHECK((uintptr_t)a.params % 64 == 0 && (uintptr_t)b.params % 64 == 0);
                    CHECK((uintptr_t)a.h0 % 64 == 0 && (uintptr_t)b.h0 % 64 == 0);
                    net_free(&a);
                    net_free(&b);
                }
}

int main(void)
{
    RUN(test_shipped_plans_unchanged);
    RUN(test_custom_forms_plan_as_presets);
    CHECK_EXIT();
}
