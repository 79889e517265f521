/*
 * test_torch.c - PyTorch interop: a state_dict of nn.RNN (2 layers),
 * bidirectional nn.RNN (relu), nn.LSTM (2 layers, bidirectional) and
 * nn.GRU (2 layers, model.gru: torch) imported with `ckpt import --torch`
 * gives the loss and every gradient PyTorch 1.13 gave, to 1e-12 in
 * float64, `ckpt export --torch` then import gives back the same bits,
 * and the export writes PyTorch's weight matrices back bit for bit.
 *
 * The goldens in tests/golden/torch/CASE/ were made once by
 * tools/torch_golden.py (no Python here): the state_dict, PyTorch's loss
 * and its gradient of every state_dict tensor, on the data and config
 * beside them. unroll's gradients are compared under PyTorch's names,
 * packed by the same map as an export, with each bias PyTorch keeps twice
 * (bias_ih and bias_hh) given unroll's one gradient in both.
 */
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store/npy.h"
#include "train/ckpt_io.h"
#include "train/ckpt_torch.h"
#include "train/data.h"
#include "train/net.h"
#include "train/train.h"

static const char *const cases[] = {"rnn2", "rnn_bi", "lstm2_bi", "gru2"};

static char tmp[256];

static double load_scalar(const char *path)
{
    dtype dt;
    shape sh;
    void *data = NULL;
    uerr e = {0};
    double v = NAN;
    if (!npy_read(path, &dt, &sh, &data, &e) && dt == DT_F64 && shape_numel(&sh) == 1)
        v = *(double *)data;
    free(data);
    return v;
}

/* The largest |a - torch| over tensor j of the map, against
 * DIR/grad/NAME.npy; NAN when the file does not fit. */
static double compare_tensor(const char *dir, const torch_tensor *t, const double *a)
{
    char path[512];
    snprintf(path, sizeof path, "%s/grad/%s.npy", dir, t->name);
    dtype dt;
    shape sh;
    void *data = NULL;
    uerr e = {0};
    double worst = NAN;
    if (!npy_read(path, &dt, &sh, &data, &e) && dt == DT_F64 && shape_equal(&sh, &t->shape)) {
        worst = 0;
        const double *b = data;
        for (int64_t k = 0; k < shape_numel(&sh); k++)
            worst = fmax(worst, fabs(a[k] - b[k]) / fmax(1, fabs(b[k])));
    } else {
        printf("  %s: %s\n", path, e.code ? e.msg : "not float64 of the map's shape");
    }
    free(data);
    return worst;
}

/* Loss and gradients of the imported run, from its parameters exported
 * as .npy into the config's first (whole) batch. */
static void check_against_torch(store *db, const char *name, const char *dir, const char *config)
{
    uerr e = {0};
    char pdir[512];
    snprintf(pdir, sizeof pdir, "%s/%s_params", tmp, name);
    ckpt_exported x;
    ckpt_export_opts xo = {.npy_dir = pdir};
    CHECK_OK(ckpt_io_export(db, name, &xo, &x, &e), &e);
    ckpt_exported_free(&x);
    spec s;
    net n = {0};
    data_source d = {0};
    double loss = 0;
    CHECK_OK(spec_load(&s, config, NULL, 0, &e), &e);
    CHECK_OK(train_first_step(&s, pdir, NET_TRAIN, &n, &d, &e), &e);
    CHECK_OK(net_run(&n, &loss, &e), &e);
    char path[512];
    snprintf(path, sizeof path, "%s/loss.npy", dir);
    double want = load_scalar(path);
    printf("  %s: loss unroll %.17g  torch %.17g  diff %.1e\n", name, loss, want,
           fabs(loss - want));
    CHECKF(fabs(loss - want) <= 1e-12 * fmax(1, fabs(want)), "%s: loss %.17g, torch %.17g", name,
           loss, want);

    const char *names[MODEL_MAX_PARAMS];
    shape shapes[MODEL_MAX_PARAMS];
    const void *grads[MODEL_MAX_PARAMS];
    for (int i = 0; i < n.m.nparams; i++) {
        names[i] = n.m.param[i].name, shapes[i] = n.m.param[i].shape;
        grads[i] = net_grad(&n, i);
    }
    torch_map m;
    const char *prefix = strcmp(name, "rnn2") ? "rnn." : "";
    CHECK_OK(torch_map_build(&s, prefix, names, shapes, n.m.nparams, &m, &e), &e);
    void *packed[TORCH_MAX_TENSORS];
    CHECK_OK(torch_pack(&m, DT_F64, grads, TORCH_COPY, packed, &e), &e);
    double worst = 0;
    for (int j = 0; j < m.n; j++) {
        double w = compare_tensor(dir, &m.t[j], packed[j]);
        CHECKF(w <= 1e-12, "%s: gradient of %s differs from torch's by %.3g", name, m.t[j].name, w);
        worst = isnan(w) ? w : fmax(worst, w);
        free(packed[j]);
    }
    printf("  %s: %d gradients, largest |unroll - torch| / max(1, |torch|) %.1e\n", name, m.n,
           worst);
    net_free(&n);
    data_free(&d);
    spec_free(&s);
}

static int64_t import_run(store *db, const char *src, const char *name, const char *config, uerr *e)
{
    ckpt_import_opts o = {.src = src, .name = name, .config = config, .torch = 1};
    ckpt_imported r;
    return ckpt_io_import(db, &o, &r, e) ? -1 : r.ckpt;
}

/* 1 if files a and b hold the same dtype, shape and bytes */
static int same_npy(const char *a, const char *b)
{
    dtype da, db;
    shape sa, sb;
    void *xa = NULL, *xb = NULL;
    uerr e = {0};
    int same = !npy_read(a, &da, &sa, &xa, &e) && !npy_read(b, &db, &sb, &xb, &e) && da == db &&
               shape_equal(&sa, &sb) && !memcmp(xa, xb, (size_t)shape_numel(&sa) * dtype_size(da));
    free(xa);
    free(xb);
    return same;
}

/* export --torch writes PyTorch's weights back as they were, bit for bit
 * (the biases come back summed into bias_ih: PyTorch adds both) */
static void check_export_weights(store *db, const char *name, const char *dir)
{
    uerr e = {0};
    char out[512];
    snprintf(out, sizeof out, "%s/%s_torch", tmp, name);
    ckpt_exported x;
    ckpt_export_opts xo = {.npy_dir = out, .torch = 1};
    CHECK_OK(ckpt_io_export(db, name, &xo, &x, &e), &e);
    int nw = 0;
    for (int i = 0; i < x.n; i++) {
        if (!strstr(x.t[i].name, "weight"))
            continue;
        char a[700], b[700];
        snprintf(a, sizeof a, "%s/%s.npy", out, x.t[i].name);
        /* rnn2's state_dict is the bare module's: no "rnn." */
        snprintf(b, sizeof b, "%s/state/%s.npy", dir,
                 strcmp(name, "rnn2") || strncmp(x.t[i].name, "rnn.", 4) ? x.t[i].name
                                                                         : x.t[i].name + 4);
        CHECKF(same_npy(a, b), "%s: exported %s differs from PyTorch's", name, x.t[i].name);
        nw++;
    }
    CHECKF(nw >= 3, "%s: %d weights exported", name, nw);
    ckpt_exported_free(&x);
}

/* export --torch, import --torch: every parameter the same bits */
static void check_round_trip(store *db, const char *name, int64_t ck, const char *config)
{
    uerr e = {0};
    char sft[512], back[64];
    snprintf(sft, sizeof sft, "%s/%s.safetensors", tmp, name);
    snprintf(back, sizeof back, "%s_back", name);
    ckpt_exported x;
    ckpt_export_opts xo = {.sft_path = sft, .torch = 1};
    CHECK_OK(ckpt_io_export(db, name, &xo, &x, &e), &e);
    ckpt_exported_free(&x);
    int64_t ck2 = import_run(db, sft, back, config, &e);
    CHECKF(ck2 > 0, "%s: %s", name, e.msg);
    store_loaded a = {0}, b = {0};
    CHECK_OK(store_checkpoint_load(db, ck, &a, &e), &e);
    CHECK_OK(store_checkpoint_load(db, ck2, &b, &e), &e);
    int same = a.n == b.n && a.n > 0;
    for (int i = 0; same && i < a.n; i++) {
        const store_loaded_tensor *t = store_loaded_find(&b, a.t[i].name);
        same = t && t->nbytes == a.t[i].nbytes && !memcmp(t->data, a.t[i].data, t->nbytes);
    }
    CHECKF(same, "%s: export --torch then import differs", name);
    store_loaded_free(&a);
    store_loaded_free(&b);
}

static void test_import_matches_torch(void)
{
    char dbp[300];
    snprintf(dbp, sizeof dbp, "%s/t.db", tmp);
    store *db = NULL;
    uerr e = {0};
    CHECK_OK(store_open(&db, dbp, 0, &e), &e);
    for (size_t i = 0; db && i < sizeof cases / sizeof cases[0]; i++) {
        char dir[256], src[300], config[300];
        snprintf(dir, sizeof dir, "tests/golden/torch/%s", cases[i]);
        snprintf(src, sizeof src, "%s/state", dir);
        snprintf(config, sizeof config, "%s/config.yaml", dir);
        int64_t ck = import_run(db, src, cases[i], config, &e);
        CHECKF(ck > 0, "%s: %s", cases[i], e.msg);
        if (ck <= 0)
            continue;
        check_against_torch(db, cases[i], dir, config);
        check_round_trip(db, cases[i], ck, config);
        check_export_weights(db, cases[i], dir);
    }
    store_close(db);
}

int main(void)
{
    if (check_tmpdir(tmp, sizeof tmp, "torch"))
        return 1;
    RUN(test_import_matches_torch);
    check_rmdir(tmp);
    CHECK_EXIT();
}
