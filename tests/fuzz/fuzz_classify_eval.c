/*
 * fuzz_classify_eval.c - `unroll eval` of a classifier on a TSV
 * (train/train.h, train_evaluate): the loader, the held-out split, the
 * padded batches, the net's forward pass and the accuracy, end to end.
 *
 * Input: one byte for data.valid_fraction (1 to 64 in 128ths), one for
 * train.seq_len (1 to 64) and one for train.batch (1 to 8), then the TSV.
 * The TSV is handed over as a memfd (/proc/self/fd/N, a regular file). The
 * parameters are a fresh net's for that data (the shapes follow its
 * vocabulary and classes), as a checkpoint's would be.
 * Promises checked: a failure leaves one printable line; a success scored
 * at least one held-out example with a finite, non-negative loss and an
 * accuracy in [0, 1]; a run trained on this data and checked against its
 * hash and label map (data_check_hash) is accepted, and refused under
 * another hash or with a class fewer.
 */
#include <math.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "models/spec.h"
#include "store/store.h"
#include "tests/fuzz/fuzz.h"
#include "train/data.h"
#include "train/net.h"
#include "train/sample.h"
#include "train/train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    int fd = memfd_create("tsv", 0);
    if (fd < 0)
        return 0;
    if (size > 3 && write(fd, data + 3, size - 3) != (ssize_t)(size - 3)) {
        close(fd);
        return 0;
    }
    char cfg[512];
    int n = snprintf(cfg, sizeof cfg,
                     "data: {kind: classify, path: /proc/self/fd/%d, valid_fraction: %g}\n"
                     "model: {cell: elman, hidden: 3, outputs: last_step}\n"
                     "train: {seq_len: %d, batch: %d}\n",
                     fd, (double)(1 + data[0] % 64) / 128.0, 1 + data[1] % 64, 1 + data[2] % 8);
    spec s;
    uerr e = {0};
    int rc = spec_load_buffer(&s, "fuzz.yaml", cfg, (size_t)n, NULL, 0, &e);
    FUZZ_CHECK(rc == 0); /* the config is ours: only the data is fuzzed */
    data_source d;
    net m = {0};
    if ((rc = data_open(&d, &s, &e))) {
        FUZZ_CHECK_ERR(&e);
        spec_free(&s);
        close(fd);
        return 0;
    }
    /* the parameters a checkpoint of this data would hold */
    rc = net_init_io(&m, &s, &d.io, d.B, d.T, NET_FORWARD, NULL, &e);
    if (rc) {
        FUZZ_CHECK_ERR(&e);
    } else {
        net_init_params(&m, 7, 0.1);
        sample_param ps[MODEL_MAX_PARAMS];
        for (int i = 0; i < m.m.nparams; i++)
            ps[i] = (sample_param){m.m.param[i].name, m.dt, (char *)m.params + m.off[i] * m.es,
                                   shape_numel(&m.m.param[i].shape)};
        double loss = NAN, acc = NAN;
        int64_t ex = -1;
        uerr e2 = {0};
        if (train_evaluate(&s, ps, m.m.nparams, &loss, &acc, &ex, &e2)) {
            FUZZ_CHECK_ERR(&e2);
        } else {
            FUZZ_CHECK(ex >= 1 && isfinite(loss) && loss >= 0);
            FUZZ_CHECK(acc >= 0 && acc <= 1);
        }
        /* the run this data trained, as the store holds it */
        char name[] = "fuzz", other[] = "0000";
        store_run r = {.name = name, .data_hash = d.hash};
        if (d.kind == SPEC_DATA_CLASSIFY) {
            r.labels = d.cls.classes;
            r.nlabels = d.cls.nclasses;
        }
        FUZZ_CHECK(data_check_hash(&s, &r, &e2) == 0);
        r.data_hash = other;
        FUZZ_CHECK(data_check_hash(&s, &r, &e2) != 0);
        FUZZ_CHECK_ERR(&e2);
        /* a run that knew one class less: the file's extra label is refused */
        if (r.nlabels >= 2) {
            uerr e3 = {0};
            r.data_hash = d.hash;
            r.nlabels--;
            FUZZ_CHECK(data_check_hash(&s, &r, &e3) != 0);
            FUZZ_CHECK_ERR(&e3);
        }
        net_free(&m);
    }
    data_free(&d);
    spec_free(&s);
    close(fd);
    return 0;
}
