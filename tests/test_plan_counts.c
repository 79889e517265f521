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
    {"elman_char", "all", 0, 40, 22, 11, 4, 24, 1, 300480u, 0x81efdc67b6e158a3u},
    {"elman_char", "all", 1, 14, 17, 11, 1, 6, 1, 91072u, 0xb1a25cf8e12913dbu},
    {"elman_char", "exact", 0, 95, 65, 26, 0, 0, 0, 333568u, 0x655c401119c18536u},
    {"elman_char", "exact", 1, 36, 29, 11, 0, 0, 0, 11200u, 0x22917d7dde1e755bu},
    {"elman_char", "none", 0, 137, 0, 0, 0, 0, 0, 583872u, 0xba6ede03e8ef3d18u},
    {"elman_char", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0xd65e8baff8f57c06u},
    {"elman_custom", "all", 0, 40, 22, 11, 4, 24, 1, 300480u, 0x81efdc67b6e158a3u},
    {"elman_custom", "all", 1, 14, 17, 11, 1, 6, 1, 91072u, 0xb1a25cf8e12913dbu},
    {"elman_custom", "exact", 0, 95, 65, 26, 0, 0, 0, 333568u, 0x655c401119c18536u},
    {"elman_custom", "exact", 1, 36, 29, 11, 0, 0, 0, 11200u, 0x22917d7dde1e755bu},
    {"elman_custom", "none", 0, 137, 0, 0, 0, 0, 0, 583872u, 0xba6ede03e8ef3d18u},
    {"elman_custom", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0xd65e8baff8f57c06u},
    {"gru_custom", "all", 0, 186, 98, 33, 6, 36, 3, 762624u, 0x354410316899071bu},
    {"gru_custom", "all", 1, 70, 77, 23, 1, 6, 3, 243456u, 0x398a045fccbc68adu},
    {"gru_custom", "exact", 0, 325, 183, 58, 0, 0, 0, 622144u, 0x02f99370b37ae9c2u},
    {"gru_custom", "exact", 1, 126, 89, 23, 0, 0, 0, 14592u, 0xd165e5376ad92cf0u},
    {"gru_custom", "none", 0, 389, 0, 0, 0, 0, 0, 872384u, 0x67fb455cedbcdac9u},
    {"gru_custom", "none", 1, 155, 0, 0, 0, 0, 0, 17536u, 0x05ecdecce444af94u},
    {"gru_torch", "all", 0, 182, 92, 27, 6, 36, 3, 772032u, 0x27281d243b0225f0u},
    {"gru_torch", "all", 1, 76, 77, 17, 1, 6, 3, 244672u, 0x9eccf72a69f90f62u},
    {"gru_torch", "exact", 0, 308, 182, 57, 0, 0, 0, 622336u, 0xba2b0ea5ab87dab1u},
    {"gru_torch", "exact", 1, 114, 89, 17, 0, 0, 0, 15808u, 0x917d3744f6eb3ed9u},
    {"gru_torch", "none", 0, 377, 0, 0, 0, 0, 0, 871104u, 0xb185d9994b3b6647u},
    {"gru_torch", "none", 1, 143, 0, 0, 0, 0, 0, 18816u, 0x2e7f057053797fb6u},
    {"jordan_custom", "all", 0, 62, 17, 11, 3, 18, 0, 218688u, 0xe0cea6fb9f30aaf9u},
    {"jordan_custom", "all", 1, 31, 17, 11, 1, 6, 0, 18880u, 0x57fa1140da40f321u},
    {"jordan_custom", "exact", 0, 90, 60, 31, 0, 0, 0, 258304u, 0xfd205ce1449cb67au},
    {"jordan_custom", "exact", 1, 36, 29, 11, 0, 0, 0, 9664u, 0x1e7b718ee9af128bu},
    {"jordan_custom", "none", 0, 127, 0, 0, 0, 0, 0, 377536u, 0xa020513a79caef60u},
    {"jordan_custom", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0x8a3a961698e2a18au},
    {"lstm_custom", "all", 0, 197, 114, 44, 7, 39, 4, 985536u, 0xb0d53da44bbddafbu},
    {"lstm_custom", "all", 1, 71, 95, 29, 1, 6, 4, 323008u, 0xd4a65aca80c99a96u},
    {"lstm_custom", "exact", 0, 376, 214, 74, 0, 0, 0, 762112u, 0x7e44594a5a1a98f6u},
    {"lstm_custom", "exact", 1, 144, 107, 29, 0, 0, 0, 20416u, 0x7694c46fe7876e03u},
    {"lstm_custom", "none", 0, 456, 0, 0, 0, 0, 0, 1010880u, 0xecfe50954ed8d833u},
    {"lstm_custom", "none", 1, 179, 0, 0, 0, 0, 0, 23424u, 0xcc435541010db561u},
    {"min_char_rnn", "all", 0, 40, 22, 11, 4, 24, 1, 422272u, 0xf94e66c5fc4f4df9u},
    {"min_char_rnn", "all", 1, 14, 17, 11, 1, 6, 1, 113792u, 0xf503c904fba6ebdfu},
    {"min_char_rnn", "exact", 0, 95, 65, 26, 0, 0, 0, 481088u, 0x0af08ad53a9db1f0u},
    {"min_char_rnn", "exact", 1, 36, 29, 11, 0, 0, 0, 21056u, 0x5de92faabc04888bu},
    {"min_char_rnn", "none", 0, 137, 0, 0, 0, 0, 0, 828032u, 0xa4f4af65fc78f605u},
    {"min_char_rnn", "none", 1, 53, 0, 0, 0, 0, 0, 26304u, 0xe263f021ccb0fcfau},
    {"parity_elman", "all", 0, 520, 398, 199, 4, 400, 1, 66432u, 0xc969910749d6b9e9u},
    {"parity_elman", "all", 1, 202, 299, 199, 1, 100, 1, 22720u, 0x6cfd273c68d15806u},
    {"parity_elman", "exact", 0, 1599, 1193, 496, 0, 0, 0, 47744u, 0x49502f8670900ea3u},
    {"parity_elman", "exact", 1, 600, 499, 199, 0, 0, 0, 6848u, 0x525cd3494f42b1f0u},
    {"parity_elman", "none", 0, 2393, 0, 0, 0, 0, 0, 50304u, 0x133288d1ad5644a4u},
    {"parity_elman", "none", 1, 899, 0, 0, 0, 0, 0, 7168u, 0x6892c346301899dfu},
    {"parity_jordan", "all", 0, 918, 299, 199, 3, 300, 0, 65728u, 0x589a46ee612f46deu},
    {"parity_jordan", "all", 1, 501, 299, 199, 1, 100, 0, 21888u, 0xac761aa10dd86d81u},
    {"parity_jordan", "exact", 0, 1500, 1094, 595, 0, 0, 0, 45632u, 0xb86a5d2e3d4ff41cu},
    {"parity_jordan", "exact", 1, 600, 499, 199, 0, 0, 0, 6656u, 0x6989848d333b3d90u},
    {"parity_jordan", "none", 0, 2195, 0, 0, 0, 0, 0, 46144u, 0x6405962e7fc90acdu},
    {"parity_jordan", "none", 1, 899, 0, 0, 0, 0, 0, 7168u, 0x6b01381811ee39a4u},
    {"vanishing_elman", "all", 0, 40, 22, 11, 4, 24, 1, 121984u, 0x10e343e2eba1fb58u},
    {"vanishing_elman", "all", 1, 14, 17, 11, 1, 6, 1, 28992u, 0xf7ecbdf6b236047bu},
    {"vanishing_elman", "exact", 0, 95, 65, 26, 0, 0, 0, 132480u, 0x550f4dec1d23257du},
    {"vanishing_elman", "exact", 1, 36, 29, 11, 0, 0, 0, 17728u, 0xc25bbf19d7e8387bu},
    {"vanishing_elman", "none", 0, 137, 0, 0, 0, 0, 0, 210560u, 0x33b6558ead169a5bu},
    {"vanishing_elman", "none", 1, 53, 0, 0, 0, 0, 0, 21312u, 0xbd02c920365614bbu},
    {"word_language", "all", 0, 247, 117, 58, 4, 80, 2, 271552u, 0x0b7586c9c2fba377u},
    {"word_language", "all", 1, 63, 79, 39, 1, 20, 2, 89728u, 0x3c5e7bf7926d0b0eu},
    {"word_language", "exact", 0, 474, 252, 96, 0, 0, 0, 158784u, 0xe14b38297432f185u},
    {"word_language", "exact", 1, 140, 99, 39, 0, 0, 0, 6080u, 0x251563a64dcd5899u},
    {"word_language", "none", 0, 590, 0, 0, 0, 0, 0, 319808u, 0xc0adb131a68fddf1u},
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
