/*
 * ckpt_io.c - checkpoint export and import (see ckpt_io.h): .npy and
 * safetensors files, PyTorch's names for an Elman cell, dtype conversion.
 */
#include "train/ckpt_io.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/outfile.h"
#include "base/vec.h"
#include "store/npy.h"
#include "train/ckpt_state.h"
#include "train/data.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/train.h"

/* ---- PyTorch names ----------------------------------------------------- */

/* torch.nn.RNN (tanh, one layer) + nn.Linear: the state_dict names of the
 * Elman parameters. PyTorch has two hidden biases; b goes to bias_ih_l0
 * and bias_hh_l0 gets zeros on export (their sum is what the cell adds),
 * and on import bias_hh_l0 is summed into b. A state_dict saved from the
 * bare nn.RNN has no "rnn." prefix; either form imports. */
static const char *const torch_names[][2] = {
    {"U", "rnn.weight_ih_l0"}, {"W", "rnn.weight_hh_l0"}, {"b", "rnn.bias_ih_l0"},
    {"V", "linear.weight"},    {"c", "linear.bias"},
};
#define NTORCH (sizeof torch_names / sizeof torch_names[0])

/* A torch name without the nn.RNN module's "rnn." prefix. */
static const char *torch_bare(const char *name)
{
    return strncmp(name, "rnn.", 4) ? name : name + 4;
}

/* ---- export ------------------------------------------------------------ */

void ckpt_exported_free(ckpt_exported *x)
{
    free(x->zeros);
    free(x->t);
    store_run_free(&x->r);
    store_loaded_free(&x->l);
    memset(x, 0, sizeof *x);
}

/* Renames the parameters to torch names and adds the zero bias_hh_l0. */
static int export_torch(ckpt_exported *x, int all, uerr *e)
{
    int np = 0, n = x->n;
    const store_loaded_tensor *b = NULL;
    for (int i = 0; i < n; i++) {
        const char *tn = NULL;
        for (size_t k = 0; k < NTORCH; k++)
            if (!strcmp(x->t[i].name, torch_names[k][0]))
                tn = torch_names[k][1];
        if (tn)
            x->t[i].name = tn, np++;
        if (!strcmp(x->l.t[i].name, "b"))
            b = &x->l.t[i];
    }
    if (all || np != 5 || n != 5 || !b)
        return uerr_set(e, UERR_USER,
                        "--torch maps the parameters U, W, b, V, c of an Elman cell (and "
                        "goes without --all); checkpoint %lld has %d parameters",
                        (long long)x->l.id, n);
    if (!(x->zeros = calloc(b->nbytes ? b->nbytes : 1, 1)))
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    x->t[x->n++] = (sft_tensor){"rnn.bias_hh_l0", b->dt, b->shape, x->zeros};
    return 0;
}

static int export_npy(const ckpt_exported *x, const char *dir, uerr *e)
{
    int rc = outfile_mkdir_p(dir, e);
    for (int i = 0; !rc && i < x->n; i++) {
        /* a name must stay one file inside DIR */
        if (strchr(x->t[i].name, '/') || x->t[i].name[0] == '.')
            return uerr_set(e, UERR_USER, "tensor '%s' cannot be a file name", x->t[i].name);
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.npy", dir, x->t[i].name);
        rc = npy_write(path, x->t[i].dt, &x->t[i].shape, x->t[i].data, e);
    }
    return rc;
}

int ckpt_io_export(store *db, const char *ref, const ckpt_export_opts *o, ckpt_exported *x, uerr *e)
{
    memset(x, 0, sizeof *x);
    int64_t ck;
    int rc = store_checkpoint_resolve(db, ref, &ck, e);
    if (rc || (rc = store_checkpoint_load(db, ck, &x->l, e)) ||
        (rc = store_run_get(db, x->l.run, &x->r, e)))
        return rc;
    if (!(x->t = calloc((size_t)x->l.n + 1, sizeof *x->t)))
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int i = 0; i < x->l.n; i++)
        if (o->all || !strcmp(x->l.t[i].role, "param"))
            x->t[x->n++] =
                (sft_tensor){x->l.t[i].name, x->l.t[i].dt, x->l.t[i].shape, x->l.t[i].data};
    if (o->torch && (rc = export_torch(x, o->all, e)))
        return rc;
    if (x->n == 0)
        return uerr_set(e, UERR_USER, "checkpoint %lld has no parameters to export",
                        (long long)x->l.id);
    if (o->npy_dir && (rc = export_npy(x, o->npy_dir, e)))
        return rc;
    if (o->sft_path) {
        char id[32], step[32];
        snprintf(id, sizeof id, "%lld", (long long)x->l.id);
        snprintf(step, sizeof step, "%lld", (long long)x->l.step);
        const char *meta[] = {"format", "pt",          "unroll.run", x->r.name, "unroll.checkpoint",
                              id,       "unroll.step", step};
        rc = sft_write(o->sft_path, x->t, x->n, meta, 4, e);
    }
    return rc;
}

/* ---- import ------------------------------------------------------------ */

typedef struct imp_tensor {
    char *name;
    dtype dt;
    shape shape;
    void *data;
} imp_tensor;

typedef struct imp_set {
    imp_tensor *t;
    int n, cap;
} imp_set;

static void imp_free(imp_set *s)
{
    for (int i = 0; i < s->n; i++) {
        free(s->t[i].name);
        free(s->t[i].data);
    }
    free(s->t);
    memset(s, 0, sizeof *s);
}

/* Takes ownership of name and data. */
static int imp_add(imp_set *s, char *name, dtype dt, shape sh, void *data, uerr *e)
{
    if (VEC_GROW(s->t, s->cap, s->n + 1)) {
        free(name);
        free(data);
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    }
    s->t[s->n++] = (imp_tensor){name, dt, sh, data};
    return 0;
}

static int imp_name_cmp(const void *a, const void *b)
{
    return strcmp(((const imp_tensor *)a)->name, ((const imp_tensor *)b)->name);
}

static int imp_read(const char *src, imp_set *set, uerr *e)
{
    struct stat st;
    if (stat(src, &st) != 0)
        return uerr_set(e, UERR_USER, "%s: %s", src, strerror(errno));
    if (!S_ISDIR(st.st_mode)) {
        sft_file f;
        int rc = sft_read(src, &f, e);
        for (int i = 0; !rc && i < f.n; i++) {
            rc = imp_add(set, f.t[i].name, f.t[i].dt, f.t[i].shape, f.t[i].data, e);
            f.t[i].name = NULL;
            f.t[i].data = NULL;
        }
        if (!rc && set->n == 0)
            rc = uerr_set(e, UERR_USER, "%s: no tensors", src);
        sft_free(&f);
        return rc;
    }
    DIR *d = opendir(src);
    if (!d)
        return uerr_set(e, UERR_USER, "%s: %s", src, strerror(errno));
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len <= 4 || strcmp(de->d_name + len - 4, ".npy") || de->d_name[0] == '.')
            continue;
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", src, de->d_name);
        dtype dt;
        shape sh;
        void *data = NULL;
        if ((rc = npy_read(path, &dt, &sh, &data, e)))
            break;
        char *name = strndup(de->d_name, len - 4);
        if (!name) {
            free(data);
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
            break;
        }
        rc = imp_add(set, name, dt, sh, data, e);
    }
    closedir(d);
    if (!rc && set->n == 0)
        rc = uerr_set(e, UERR_USER, "%s: no .npy files", src);
    if (!rc)
        qsort(set->t, (size_t)set->n, sizeof *set->t, imp_name_cmp);
    return rc;
}

static imp_tensor *imp_find(imp_set *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (!strcmp(s->t[i].name, name))
            return &s->t[i];
    return NULL;
}

/* torch state_dict names (with or without the "rnn." prefix) back to U,
 * W, b = bias_ih + bias_hh, V, c. */
static int imp_from_torch(imp_set *s, const char *src, uerr *e)
{
    imp_tensor *wih = imp_find(s, "rnn.weight_ih_l0");
    if (!wih)
        wih = imp_find(s, "weight_ih_l0");
    if (!wih)
        return 0;
    int pre = !strncmp(wih->name, "rnn.", 4);
    imp_tensor *bhh = imp_find(s, pre ? "rnn.bias_hh_l0" : "bias_hh_l0");
    imp_tensor *bih = imp_find(s, pre ? "rnn.bias_ih_l0" : "bias_ih_l0");
    if (bhh && bih) {
        if (bhh->dt != bih->dt || !shape_equal(&bhh->shape, &bih->shape) || bhh->dt == DT_I32)
            return uerr_set(e, UERR_USER, "bias_ih_l0 and bias_hh_l0 differ in dtype or shape");
        int64_t n = shape_numel(&bih->shape);
        DT_EACH_REAL(bih->dt, T, {
            T *x = bih->data;
            const T *y = bhh->data;
            for (int64_t k = 0; k < n; k++)
                x[k] += y[k];
        });
    }
    for (int i = 0; i < s->n; i++) {
        const char *nm = s->t[i].name;
        if (pre && !strncmp(nm, "rnn.", 4))
            nm += 4;
        if (!strcmp(nm, "bias_hh_l0")) {
            /* summed into b above; dropped */
            free(s->t[i].name);
            free(s->t[i].data);
            s->t[i--] = s->t[--s->n];
            continue;
        }
        for (size_t k = 0; k < NTORCH; k++)
            if (!strcmp(nm, torch_bare(torch_names[k][1]))) {
                if (imp_find(s, torch_names[k][0]))
                    return uerr_set(e, UERR_USER,
                                    "%s: holds both '%s' and '%s', its PyTorch name; keep one", src,
                                    torch_names[k][0], s->t[i].name);
                char *c = strdup(torch_names[k][0]);
                if (!c)
                    return uerr_set(e, UERR_INTERNAL, "out of memory");
                /* nm points into the name freed here: stop looking */
                free(s->t[i].name);
                s->t[i].name = c;
                break;
            }
    }
    return 0;
}

/* Checks the tensors against the model the config builds (on its data),
 * converts them to its dtype, and writes the config as resolved. */
static int imp_check(const ckpt_import_opts *o, imp_set *set, spec *s, net *n, data_source *d,
                     char **resolved, uerr *e)
{
    const char *src = o->src;
    int rc = spec_load(s, o->config, o->sets, o->nsets, e);
    if (!rc)
        rc = train_first_step(s, NULL, NET_TRAIN, n, d, e);
    if (rc)
        return rc;
    for (int i = 0; !rc && i < n->m.nparams; i++) {
        const model_param *p = &n->m.param[i];
        imp_tensor *x = imp_find(set, p->name);
        char s1[96], s2[96];
        if (!x)
            rc = uerr_set(e, UERR_USER, "%s: no tensor '%s' (the model's parameter %s %s)", src,
                          p->name, p->name, shape_str(&p->shape, s1, sizeof s1));
        else if (!shape_equal(&x->shape, &p->shape) || x->dt == DT_I32)
            rc = uerr_set(e, UERR_USER, "%s: tensor '%s' is %s %s, the model needs %s %s", src,
                          p->name, dtype_name(x->dt), shape_str(&x->shape, s1, sizeof s1),
                          dtype_name(s->train.dtype), shape_str(&p->shape, s2, sizeof s2));
        else if (x->dt != s->train.dtype) {
            /* stored in the config's dtype, as training would */
            int64_t k = shape_numel(&x->shape);
            void *conv = malloc((size_t)(k ? k : 1) * dtype_size(s->train.dtype));
            if (!conv)
                return uerr_set(e, UERR_INTERNAL, "out of memory");
            dtype_convert(conv, s->train.dtype, x->data, x->dt, k);
            free(x->data);
            x->data = conv;
            x->dt = s->train.dtype;
        }
    }
    for (int i = 0; !rc && i < set->n; i++) {
        int known = 0;
        for (int j = 0; j < n->m.nparams && !known; j++)
            known = !strcmp(n->m.param[j].name, set->t[i].name);
        if (!known && !strcmp(ckpt_role(set->t[i].name), "param"))
            rc = uerr_set(e, UERR_USER, "%s: tensor '%s' is not a parameter of this model", src,
                          set->t[i].name);
    }
    size_t rl;
    FILE *m = rc ? NULL : open_memstream(resolved, &rl);
    if (!rc && (!m || spec_write_yaml(s, m) || fclose(m)))
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    return rc;
}

int ckpt_io_import(store *db, const ckpt_import_opts *o, ckpt_imported *out, uerr *e)
{
    const char *src = o->src;
    memset(out, 0, sizeof *out);
    imp_set set = {0};
    spec s = {0};
    net n = {0};
    data_source d = {0};
    int have_model = 0;
    char *resolved = NULL;
    int32_t *cps = NULL;
    store_tensor *ts = NULL;
    int rc = imp_read(src, &set, e);
    if (!rc)
        rc = imp_from_torch(&set, src, e);
    /* a diverged model stored as good would make sample and eval fail later */
    for (int i = 0; !rc && !o->allow_nonfinite && i < set.n; i++) {
        int64_t k = set.t[i].dt == DT_I32
                        ? -1
                        : first_nonfinite(set.t[i].dt, set.t[i].data, shape_numel(&set.t[i].shape));
        if (k >= 0)
            rc = uerr_set(e, UERR_USER,
                          "%s: tensor '%s' holds a non-finite value (element %lld); "
                          "--allow-nonfinite imports it anyway",
                          src, set.t[i].name, (long long)k);
    }
    if (!rc && o->config) {
        rc = imp_check(o, &set, &s, &n, &d, &resolved, e);
        have_model = !rc;
    }
    for (int i = 0; !rc && i < set.n; i++) {
        const char *nm = set.t[i].name;
        if (!*nm || strlen(nm) > 200)
            rc = uerr_set(e, UERR_USER, "%s: tensor name '%.40s' is empty or too long", src, nm);
        for (const char *p = nm; !rc && *p; p++)
            if ((unsigned char)*p < 0x20)
                rc = uerr_set(e, UERR_USER, "%s: a tensor name has a control character", src);
    }
    int nv = 0;
    if (!rc && have_model) {
        const text_vocab *v = data_vocab(&d);
        nv = v->size;
        if (!(cps = malloc((size_t)(nv ? nv : 1) * sizeof *cps)))
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        for (int i = 0; !rc && i < nv; i++)
            cps[i] = i < v->n_known ? (int32_t)v->cp[i] : -1;
    }
    if (!rc && !(ts = calloc((size_t)set.n, sizeof *ts)))
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int i = 0; !rc && i < set.n; i++)
        ts[i] = (store_tensor){set.t[i].name, ckpt_role(set.t[i].name), set.t[i].dt, set.t[i].shape,
                               set.t[i].data};
    int64_t run = 0, ck = 0;
    if (!rc) {
        store_run_info info = {.name = o->name,
                               .config_text = resolved ? resolved : "",
                               .command_line = o->command_line,
                               .program_version = o->program_version,
                               .data_hash = have_model ? d.hash : "",
                               .vocab = cps,
                               .nvocab = nv,
                               .init = "import"};
        info.labels = data_labels(&d, &info.nlabels); /* a classifier's, with --config */
        rc = store_run_begin(db, &info, &run, e);
    }
    if (!rc) {
        rc = store_checkpoint_save(db, run, o->step, ts, set.n, NULL, &ck, e);
        if (!rc)
            rc = store_run_finish(db, run, "finished", e);
        if (rc) {
            /* no half-imported run left behind */
            store_removed st;
            uerr e2 = {0};
            (void)store_run_delete(db, run, 1, &st, &e2);
        }
    }
    if (!rc)
        *out = (ckpt_imported){set.n, run, ck, have_model};
    free(ts);
    free(cps);
    free(resolved);
    if (n.params)
        net_free(&n);
    data_free(&d);
    spec_free(&s);
    imp_free(&set);
    return rc;
}
