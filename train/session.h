/*
 * session.h - a stored model run one time step at a time (the streaming
 * API of unroll.h), and what `unroll predict` shares with it.
 *
 * A session holds a checkpoint's config, vocabulary and parameters, the
 * shape of its data (model_io: for classify and npy runs read from the
 * run's data.path, which also names the classes) and, after
 * session_reset(B), a net of B rows unrolled for ONE step. Each
 * session_step feeds one step of inputs for every row and reads the
 * outputs, the final state becoming the next step's initial state, so
 * that feeding a sequence step by step gives the outputs of the unrolled
 * model. What y[t-1] reads between steps: for a text model the character
 * just fed (as in sampling), otherwise the model's own previous output
 * (as `eval --free-running`).
 *
 * Invariants: a step allocates nothing (the net is built by reset, and
 * again only when B changes); a session touches no global state of its
 * own, so several sessions may step on several threads at once, and give
 * the same bits as one at a time (kernels/pool.h: pool_for is re-entrant
 * and its partition does not depend on the thread). A bidirectional
 * model reads a whole sequence before its first output: opening one for
 * streaming is refused (predict unrolls it over each whole sequence).
 */
#ifndef UNROLL_SESSION_H
#define UNROLL_SESSION_H

#include "train/model_ckpt.h"
#include "train/net.h"

typedef struct session {
    model_ckpt mc;
    model_io io;
    char **classes; /* classify: the run's class names [io.output]; else NULL */
    net n;
    int built;
    int first; /* no step since the reset */
} session;

/* Loads checkpoint ref (store_checkpoint_resolve; NULL: the latest) of db.
 * streaming: refuse a bidirectional model. The store may be closed after. */
int session_open(session *s, store *db, const char *ref, int streaming, uerr *e);
void session_close(session *s);

/* A zero state for batch rows (>= 1): the net is built on the first reset
 * and rebuilt when batch changes. */
int session_reset(session *s, int64_t batch, uerr *e);

/* One step: ids [B] (one-hot inputs; -1 is a zero input) or x [B, D] real
 * vectors (dense models), out [B, O] in double: probabilities for a
 * softmax or sigmoid output, the output itself for a linear one. */
int session_step_ids(session *s, const int32_t *ids, double *out, uerr *e);
int session_step_real(session *s, const double *x, double *out, uerr *e);

/* Outputs (O) and inputs (vocabulary or D) per row; whether inputs are
 * real vectors; the batch of the last reset (0: none yet). */
int64_t session_outputs(const session *s);
int64_t session_inputs(const session *s);
int session_dense(const session *s);
int64_t session_batch(const session *s);

/* The carried state (hidden state and y[t-1]) as bytes: save it into a
 * buffer of session_state_bytes, restore it into a session reset for
 * the same batch. */
size_t session_state_bytes(const session *s);
void session_state_save(const session *s, void *buf);
void session_state_restore(session *s, const void *buf);

/* `unroll sample` from this model (text runs only), independent of the
 * streaming state. o NULL: the run's sample.* defaults. */
int session_sample(const session *s, const sample_opts *o, char **out, uerr *e);

/* 0 for a text run; else the error that sampling one is (classify and
 * npy runs have no characters to generate: predict serves them). */
int session_text_only(const model_ckpt *mc, uerr *e);

/* The run's sample.* defaults. */
sample_opts session_sample_defaults(const session *s);

/* Converts logits row by row into what session_step returns: softmax,
 * sigmoid or copied, for rows x O values in dtype dt. */
void session_outputs_of(const session *s, const void *logits, dtype dt, int64_t rows, double *out);

#endif
