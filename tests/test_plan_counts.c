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
    {"elman_char", "all", 0, 45, 22, 6, 4, 24, 1, 292352u, 0xf49b258148aa26acu},
    {"elman_char", "all", 1, 19, 17, 6, 1, 6, 1, 82944u, 0xa0fa338ef4a0e3b5u},
    {"elman_char", "exact", 0, 100, 65, 21, 0, 0, 0, 333632u, 0xfbfa592bdf3cf4b8u},
    {"elman_char", "exact", 1, 41, 29, 6, 0, 0, 0, 11264u, 0xe56857709cd75f53u},
    {"elman_char", "none", 0, 137, 0, 0, 0, 0, 0, 583872u, 0xba6ede03e8ef3d18u},
    {"elman_char", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0xd65e8baff8f57c06u},
    {"elman_custom", "all", 0, 45, 22, 6, 4, 24, 1, 292352u, 0xf49b258148aa26acu},
    {"elman_custom", "all", 1, 19, 17, 6, 1, 6, 1, 82944u, 0xa0fa338ef4a0e3b5u},
    {"elman_custom", "exact", 0, 100, 65, 21, 0, 0, 0, 333632u, 0xfbfa592bdf3cf4b8u},
    {"elman_custom", "exact", 1, 41, 29, 6, 0, 0, 0, 11264u, 0xe56857709cd75f53u},
    {"elman_custom", "none", 0, 137, 0, 0, 0, 0, 0, 583872u, 0xba6ede03e8ef3d18u},
    {"elman_custom", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0xd65e8baff8f57c06u},
    {"gru_custom", "all", 0, 191, 98, 28, 6, 36, 3, 738048u, 0x456812ef7a8a9f75u},
    {"gru_custom", "all", 1, 75, 77, 18, 1, 6, 3, 218880u, 0x5d5e5aa668b164d9u},
    {"gru_custom", "exact", 0, 330, 183, 53, 0, 0, 0, 622144u, 0xb9a4b96a48ad5ec2u},
    {"gru_custom", "exact", 1, 131, 89, 18, 0, 0, 0, 14592u, 0x74caf2275fd06527u},
    {"gru_custom", "none", 0, 389, 0, 0, 0, 0, 0, 872384u, 0x67fb455cedbcdac9u},
    {"gru_custom", "none", 1, 155, 0, 0, 0, 0, 0, 17536u, 0x05ecdecce444af94u},
    {"gru_torch", "all", 0, 187, 92, 22, 6, 36, 3, 747520u, 0x462e3157a053b4fdu},
    {"gru_torch", "all", 1, 81, 77, 12, 1, 6, 3, 220160u, 0xb83573da3a2b0ce8u},
    {"gru_torch", "exact", 0, 313, 182, 52, 0, 0, 0, 622400u, 0x674fbc1b142a16a2u},
    {"gru_torch", "exact", 1, 119, 89, 12, 0, 0, 0, 15872u, 0x262ab0877ae60449u},
    {"gru_torch", "none", 0, 377, 0, 0, 0, 0, 0, 871104u, 0xb185d9994b3b6647u},
    {"gru_torch", "none", 1, 143, 0, 0, 0, 0, 0, 18816u, 0x2e7f057053797fb6u},
    {"jordan_custom", "all", 0, 67, 17, 6, 3, 18, 0, 218752u, 0xb77163bd39ed940du},
    {"jordan_custom", "all", 1, 36, 17, 6, 1, 6, 0, 18944u, 0xf97b53187bfed00cu},
    {"jordan_custom", "exact", 0, 95, 60, 26, 0, 0, 0, 258368u, 0x9955396eea106d20u},
    {"jordan_custom", "exact", 1, 41, 29, 6, 0, 0, 0, 9728u, 0x816286321de7d905u},
    {"jordan_custom", "none", 0, 127, 0, 0, 0, 0, 0, 377536u, 0xa020513a79caef60u},
    {"jordan_custom", "none", 1, 53, 0, 0, 0, 0, 0, 14208u, 0x8a3a961698e2a18au},
    {"lstm_custom", "all", 0, 202, 114, 39, 7, 39, 4, 952832u, 0x7b8af2b69a2a8b1bu},
    {"lstm_custom", "all", 1, 76, 95, 24, 1, 6, 4, 290304u, 0xa35aecdf7970b222u},
    {"lstm_custom", "exact", 0, 381, 214, 69, 0, 0, 0, 762176u, 0x3f6a674fc7923232u},
    {"lstm_custom", "exact", 1, 149, 107, 24, 0, 0, 0, 20480u, 0xb997f7a88ae04d4eu},
    {"lstm_custom", "none", 0, 456, 0, 0, 0, 0, 0, 1010880u, 0xecfe50954ed8d833u},
    {"lstm_custom", "none", 1, 179, 0, 0, 0, 0, 0, 23424u, 0xcc435541010db561u},
    {"min_char_rnn", "all", 0, 45, 22, 6, 4, 24, 1, 419136u, 0xbadeb2a45bab7cd6u},
    {"min_char_rnn", "all", 1, 19, 17, 6, 1, 6, 1, 110656u, 0x9d9f9faeec6af860u},
    {"min_char_rnn", "exact", 0, 100, 65, 21, 0, 0, 0, 481152u, 0x2e774705200ff935u},
    {"min_char_rnn", "exact", 1, 41, 29, 6, 0, 0, 0, 21120u, 0x71104f52af985fadu},
    {"min_char_rnn", "none", 0, 137, 0, 0, 0, 0, 0, 828032u, 0xa4f4af65fc78f605u},
    {"min_char_rnn", "none", 1, 53, 0, 0, 0, 0, 0, 26304u, 0xe263f021ccb0fcfau},
    {"parity_elman", "all", 0, 618, 398, 100, 4, 400, 0, 65472u, 0xfb76f296afc0c817u},
    {"parity_elman", "all", 1, 300, 299, 100, 1, 100, 0, 21760u, 0xf6780ae6f199145bu},
    {"parity_elman", "exact", 0, 1698, 1193, 397, 0, 0, 0, 47744u, 0x4a31544413ceaa33u},
    {"parity_elman", "exact", 1, 699, 499, 100, 0, 0, 0, 6912u, 0xc9f3cc93add6a922u},
    {"parity_elman", "none", 0, 2393, 0, 0, 0, 0, 0, 50304u, 0x133288d1ad5644a4u},
    {"parity_elman", "none", 1, 899, 0, 0, 0, 0, 0, 7168u, 0x6892c346301899dfu},
    {"parity_jordan", "all", 0, 1017, 299, 100, 3, 300, 0, 65792u, 0x3fe1ccfd4d9ce3fdu},
    {"parity_jordan", "all", 1, 600, 299, 100, 1, 100, 0, 21952u, 0x020bd2fc8d6ae546u},
    {"parity_jordan", "exact", 0, 1599, 1094, 496, 0, 0, 0, 45632u, 0x15fedc565d50439fu},
    {"parity_jordan", "exact", 1, 699, 499, 100, 0, 0, 0, 6720u, 0x0676fccb340f8f8au},
    {"parity_jordan", "none", 0, 2195, 0, 0, 0, 0, 0, 46144u, 0x6405962e7fc90acdu},
    {"parity_jordan", "none", 1, 899, 0, 0, 0, 0, 0, 7168u, 0x6b01381811ee39a4u},
    {"vanishing_elman", "all", 0, 44, 22, 6, 4, 24, 0, 113856u, 0x172cb1ebb0e9164eu},
    {"vanishing_elman", "all", 1, 18, 17, 6, 1, 6, 0, 20864u, 0x35a700f6ae3a10c2u},
    {"vanishing_elman", "exact", 0, 100, 65, 21, 0, 0, 0, 132544u, 0x40f8bba076ab5dbcu},
    {"vanishing_elman", "exact", 1, 41, 29, 6, 0, 0, 0, 17792u, 0x0acd6fd5afedbb0cu},
    {"vanishing_elman", "none", 0, 137, 0, 0, 0, 0, 0, 210560u, 0x33b6558ead169a5bu},
    {"vanishing_elman", "none", 1, 53, 0, 0, 0, 0, 0, 21312u, 0xbd02c920365614bbu},
    {"word_language", "all", 0, 266, 117, 39, 4, 80, 2, 271616u, 0x8987d20545ddca73u},
    {"word_language", "all", 1, 82, 79, 20, 1, 20, 2, 89792u, 0x49cd88282558460bu},
    {"word_language", "exact", 0, 493, 252, 77, 0, 0, 0, 158848u, 0xcf4d6415b9f73702u},
    {"word_language", "exact", 1, 159, 99, 20, 0, 0, 0, 6144u, 0x9e8eb43b938f3a41u},
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
