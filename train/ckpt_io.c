/*
 * ckpt_io.c - checkpoint export and import (see ckpt_io.h): .npy and
 * safetensors files, PyTorch's state_dict names (train/ckpt_torch.h),
 * dtype conversion.
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
#include "train/ckpt_torch.h"
#include "train/data.h"
#include "train/net.h"
#include "train/optim.h"
#include "train/train.h"

/* The module prefix of exported recurrent tensors: a state_dict of
 * `self.rnn = nn.LSTM(...)` beside `self.fc = nn.Linear(...)`. */
#define TORCH_EXPORT_PREFIX "rnn."

/* ---- export ------------------------------------------------------------ */

void ckpt_exported_free(ckpt_exported *x)
{
    for (int i = 0; i < x->nowned; i++)
        free(x->owned[i]);
    free(x->owned);
    free(x->names);
    free(x->t);
    store_run_free(&x->r);
    store_loaded_free(&x->l);
    memset(x, 0, sizeof *x);
}

/* The tensors in PyTorch's names and layout, for the model of the run's
 * config; x->owned keeps their data. */
static int export_torch(ckpt_exported *x, int all, uerr *e)
{
    if (all)
        return uerr_set(e, UERR_USER, "--torch exports the parameters only (not with --all)");
    if (!x->r.config_text || !*x->r.config_text)
        return uerr_set(e, UERR_USER,
                        "--torch: run '%s' has no config (imported without --config), so "
                        "its model is not known",
                        x->r.name);
    spec s;
    int rc =
        spec_load_buffer(&s, x->r.name, x->r.config_text, strlen(x->r.config_text), NULL, 0, e);
    if (rc)
        return rc;
    const char *names[MODEL_MAX_PARAMS];
    shape shapes[MODEL_MAX_PARAMS];
    const void *src[MODEL_MAX_PARAMS];
    int n = x->n;
    if (n > MODEL_MAX_PARAMS)
        rc =
            uerr_set(e, UERR_USER, "--torch: checkpoint %lld has %d parameters, no model that many",
                     (long long)x->l.id, n);
    dtype dt = n ? x->t[0].dt : DT_F32;
    for (int i = 0; !rc && i < n; i++) {
        names[i] = x->t[i].name, shapes[i] = x->t[i].shape, src[i] = x->t[i].data;
        if (x->t[i].dt != dt)
            rc = uerr_set(e, UERR_USER, "--torch: the parameters differ in dtype");
    }
    torch_map m;
    if (!rc)
        rc = torch_map_build(&s, TORCH_EXPORT_PREFIX, names, shapes, n, &m, e);
    spec_free(&s);
    if (!rc && !(x->owned = calloc((size_t)m.n, sizeof *x->owned)))
        rc = uerr_set(e, UERR_INTERNAL, "out of memory");
    if (!rc && !(rc = torch_pack(&m, dt, src, TORCH_ZERO, x->owned, e))) {
        x->nowned = m.n;
        sft_tensor *t = realloc(x->t, (size_t)m.n * sizeof *t);
        if (!t)
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        x->t = t;
        if (!(x->names = malloc(sizeof m.t[0].name * (size_t)m.n)))
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        for (int j = 0; j < m.n; j++) {
            memcpy(x->names[j], m.t[j].name, sizeof m.t[j].name);
            x->t[j] = (sft_tensor){x->names[j], dt, m.t[j].shape, x->owned[j]};
        }
        x->n = m.n;
    }
    return rc;
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

/* --map OLD=NEW: renamed before anything reads the names. */
static int imp_rename(imp_set *s, const ckpt_import_opts *o, uerr *e)
{
    for (int k = 0; k < o->nmaps; k++) {
        const char *m = o->maps[k], *eq = strchr(m, '=');
        if (!eq || eq == m || !eq[1])
            return uerr_set(e, UERR_USER, "--map '%s': expected OLD=NEW", m);
        imp_tensor *t = NULL;
        for (int i = 0; i < s->n && !t; i++)
            if (strlen(s->t[i].name) == (size_t)(eq - m) && !strncmp(s->t[i].name, m, eq - m))
                t = &s->t[i];
        if (!t)
            return uerr_set(e, UERR_USER, "%s: --map %s: no tensor '%.*s'", o->src, m,
                            (int)(eq - m), m);
        if (imp_find(s, eq + 1))
            return uerr_set(e, UERR_USER, "%s: --map %s: it holds a tensor '%s' already", o->src, m,
                            eq + 1);
        char *c = strdup(eq + 1);
        if (!c)
            return uerr_set(e, UERR_INTERNAL, "out of memory");
        free(t->name);
        t->name = c;
    }
    return 0;
}

/* A name as PyTorch's nn.RNN, nn.LSTM and nn.GRU spell their tensors. */
static int torch_like(const char *name)
{
    static const char *const k[] = {"weight_ih_l", "weight_hh_l", "bias_ih_l", "bias_hh_l"};
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (strstr(name, k[i]))
            return 1;
    return 0;
}

/* x converted to dtype dt in place. */
static int imp_convert(imp_tensor *x, dtype dt, uerr *e)
{
    if (x->dt == dt)
        return 0;
    int64_t k = shape_numel(&x->shape);
    void *conv = malloc((size_t)(k ? k : 1) * dtype_size(dt));
    if (!conv)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    dtype_convert(conv, dt, x->data, x->dt, k);
    free(x->data);
    x->data = conv;
    x->dt = dt;
    return 0;
}

/* The module prefix of a state_dict: what stands before weight_ih_l0
 * ("rnn." in a model's state_dict, "" in the bare module's). */
static void torch_prefix(const imp_set *set, char *out, size_t size)
{
    static const char key[] = "weight_ih_l0";
    size_t k = sizeof key - 1;
    snprintf(out, size, "%s", "");
    for (int i = 0; i < set->n; i++) {
        const char *nm = set->t[i].name;
        size_t l = strlen(nm);
        if (l >= k && !strcmp(nm + l - k, key) && (l == k || nm[l - k - 1] == '.')) {
            snprintf(out, size, "%.*s", (int)(l - k), nm);
            return;
        }
    }
}

/* Replaces the state_dict in set by the parameters of the config's model:
 * every tensor of the map must be there with its shape, and no other, else
 * the first that is not is named and nothing is changed. */
static int imp_from_torch(imp_set *set, const spec *s, const net *n, const char *src, uerr *e)
{
    const model *md = &n->m;
    const char *names[MODEL_MAX_PARAMS];
    shape shapes[MODEL_MAX_PARAMS];
    for (int i = 0; i < md->nparams; i++)
        names[i] = md->param[i].name, shapes[i] = md->param[i].shape;
    char prefix[128], s1[96], s2[96];
    torch_prefix(set, prefix, sizeof prefix);
    torch_map m;
    int rc = torch_map_build(s, prefix, names, shapes, md->nparams, &m, e);
    if (rc)
        return rc;
    char what[160];
    snprintf(what, sizeof what, "%s, %d layer%s%s, hidden %d", m.module, s->model.layers,
             s->model.layers == 1 ? "" : "s", s->model.bidirectional ? ", bidirectional" : "",
             s->model.hidden);
    const void *from[TORCH_MAX_TENSORS];
    for (int j = 0; j < m.n; j++) {
        imp_tensor *x = imp_find(set, m.t[j].name);
        if (!x)
            return uerr_set(e, UERR_USER, "%s: no tensor '%s' (the config's %s needs %s)", src,
                            m.t[j].name, what, shape_str(&m.t[j].shape, s1, sizeof s1));
        if (!shape_equal(&x->shape, &m.t[j].shape) || x->dt == DT_I32)
            return uerr_set(e, UERR_USER, "%s: tensor '%s' is %s %s, the config's %s needs %s", src,
                            x->name, dtype_name(x->dt), shape_str(&x->shape, s1, sizeof s1), what,
                            shape_str(&m.t[j].shape, s2, sizeof s2));
    }
    for (int i = 0; i < set->n; i++) {
        int known = 0;
        for (int j = 0; j < m.n && !known; j++)
            known = !strcmp(m.t[j].name, set->t[i].name);
        if (!known)
            return uerr_set(e, UERR_USER, "%s: tensor '%s' is not in the config's %s", src,
                            set->t[i].name, what);
    }
    for (int j = 0; j < m.n && !rc; j++) {
        imp_tensor *x = imp_find(set, m.t[j].name);
        rc = imp_convert(x, s->train.dtype, e);
        from[j] = x->data;
    }
    void *out[MODEL_MAX_PARAMS];
    if (rc || (rc = torch_unpack(&m, s->train.dtype, from, shapes, md->nparams, out, e)))
        return rc;
    imp_set got = {0};
    for (int i = 0; i < md->nparams; i++) {
        char *nm = rc ? NULL : strdup(names[i]);
        if (!rc && !nm)
            rc = uerr_set(e, UERR_INTERNAL, "out of memory");
        if (rc)
            free(out[i]);
        else
            rc = imp_add(&got, nm, s->train.dtype, shapes[i], out[i], e);
    }
    if (rc) {
        imp_free(&got);
        return rc;
    }
    imp_free(set);
    *set = got;
    return 0;
}

/* The model the config builds (on its data). */
static int imp_model(const ckpt_import_opts *o, spec *s, net *n, data_source *d, uerr *e)
{
    int rc = spec_load(s, o->config, o->sets, o->nsets, e);
    return rc ? rc : train_first_step(s, NULL, NET_TRAIN, n, d, e);
}

/* Checks the tensors against the config's model, converts them to its
 * dtype, and writes the config as resolved. */
static int imp_check(const char *src, imp_set *set, const spec *s, const net *n, char **resolved,
                     uerr *e)
{
    int rc = 0;
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
        else /* stored in the config's dtype, as training would */
            rc = imp_convert(x, s->train.dtype, e);
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
        rc = imp_rename(&set, o, e);
    if (!rc && o->torch && !o->config)
        rc = uerr_set(e, UERR_USER,
                      "--torch needs --config CONFIG: the state_dict's tensors are split into "
                      "that model's parameters");
    for (int i = 0; !rc && !o->torch && i < set.n; i++)
        if (torch_like(set.t[i].name))
            rc = uerr_set(e, UERR_USER,
                          "%s: tensor '%s' is named as in a PyTorch state_dict; import it with "
                          "--torch --config CONFIG",
                          src, set.t[i].name);
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
        rc = imp_model(o, &s, &n, &d, e);
        have_model = !rc;
    }
    if (!rc && o->torch)
        rc = imp_from_torch(&set, &s, &n, src, e);
    if (!rc && have_model)
        rc = imp_check(src, &set, &s, &n, &resolved, e);
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
