/* model_ckpt.c - see model_ckpt.h. */
#include "train/model_ckpt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/sha256.h"

int model_ckpt_check_config(const store_run *run, uerr *e)
{
    char h[SHA256_HEX_SIZE];
    const char *text = run->config_text ? run->config_text : "";
    sha256_hex(text, strlen(text), h);
    if (run->config_hash && strcmp(h, run->config_hash))
        return uerr_set(e, UERR_USER,
                        "run '%s': the stored config does not match its stored hash (%.12s, the "
                        "text hashes to %.12s): it was changed outside unroll; refusing to use it",
                        run->name, run->config_hash, h);
    return 0;
}

int model_ckpt_has_config(const store_run *run, uerr *e)
{
    if (run->config_text && *run->config_text)
        return 0;
    return uerr_set(e, UERR_USER,
                    "run '%s' has no config (imported without --config): import it again with "
                    "one, 'unroll ckpt import FILE --name RUN --config CONFIG', or train from its "
                    "weights with 'unroll train CONFIG --from %s'",
                    run->name, run->name);
}

int model_ckpt_load(store *db, const char *ref, model_ckpt *m, uerr *e)
{
    memset(m, 0, sizeof *m);
    int64_t id = 0;
    int rc = ref ? store_checkpoint_resolve(db, ref, &id, e) : store_checkpoint_latest(db, &id, e);
    if (rc || (rc = store_checkpoint_load(db, id, &m->ck, e)) ||
        (rc = store_run_get(db, m->ck.run, &m->run, e)) ||
        (rc = model_ckpt_check_config(&m->run, e)) || (rc = model_ckpt_has_config(&m->run, e)))
        return rc;
    char name[300];
    snprintf(name, sizeof name, "run '%s' config", m->run.name);
    if ((rc = spec_load_buffer(&m->s, name, m->run.config_text, strlen(m->run.config_text), NULL, 0,
                               e)))
        return rc;
    /* the run's vocabulary: known code points, then -1 for the unknown id */
    int32_t nknown = m->run.nvocab;
    while (nknown > 0 && m->run.vocab[nknown - 1] < 0)
        nknown--;
    uint32_t *cps = malloc((size_t)(nknown ? nknown : 1) * sizeof(uint32_t));
    if (!cps)
        return uerr_set(e, UERR_INTERNAL, "out of memory");
    for (int32_t i = 0; i < nknown; i++)
        cps[i] = (uint32_t)m->run.vocab[i];
    rc = text_vocab_init(&m->vocab, cps, nknown, m->run.nvocab > nknown, e);
    free(cps);
    if (rc)
        return rc;
    for (int i = 0; i < m->ck.n && m->nparams < MODEL_MAX_PARAMS; i++)
        if (!strcmp(m->ck.t[i].role, "param"))
            m->params[m->nparams++] = (sample_param){
                m->ck.t[i].name, m->ck.t[i].dt, m->ck.t[i].data, shape_numel(&m->ck.t[i].shape)};
    return 0;
}

void model_ckpt_free(model_ckpt *m)
{
    text_vocab_free(&m->vocab);
    spec_free(&m->s);
    store_run_free(&m->run);
    store_loaded_free(&m->ck);
    memset(m, 0, sizeof *m);
}
