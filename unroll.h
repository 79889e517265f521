/*
 * unroll.h - the embedding API of unroll, in one include.
 *
 * Link with `pkg-config --cflags --libs unroll`. Every function that can
 * fail returns 0 or a non-zero code (UERR_USER for bad input, UERR_INTERNAL
 * for memory or I/O) and fills a caller-owned `uerr` with one line naming
 * the place; nothing in the library prints or exits. Objects are plain
 * structs the caller declares; each `*_init`/`*_load`/`*_build`/`*_open`
 * has a matching `*_free`/`*_close` that releases everything it allocated
 * and is safe on a zeroed object.
 *
 * The pipeline, one module per arrow (examples/embed.c walks it):
 *
 *   spec_load(&s, "configs/x.yaml", sets, nsets, &e)     YAML -> spec
 *       (models/spec.h; spec_free)
 *   model_build_io(&m, &s, &io, B, T, &e)                spec -> unrolled graph
 *       (models/model.h; m.g is the graph, m.param[i].node its parameters,
 *        m.x[t], m.y[t] the data leaves, m.loss the scalar loss; model_free)
 *   autodiff_grad(&m.g, m.loss, params, n, &gt, &e)      build_grad: gradient
 *       nodes added to the same graph; gt.param_grad[i] is dL/dparam i
 *       (engine/autodiff.h; grad_table_free)
 *   autodiff_hvp(&m.g, &gt, v, &hv, &e)                  second order: the
 *       gradient graph differentiated again; hv.param_grad[i] is (H v)_i
 *       for direction leaves v[i] the caller binds (net mode NET_HVP does
 *       it all; gradcheck_hvp checks it against central differences)
 *   plan_build(&m.g, outputs, nout, NULL, &p, &e)        schedule + buffers
 *       (engine/plan.h; plan_free)
 *   exec_init(&x, &m.g, &p, &e); exec_bind(&x, leaf, ptr); exec_run(&x, &e)
 *       one arena allocated at init, nothing during a run; exec_value(&x,
 *       node) points into it (owned by x) or at the caller's bound memory
 *       (engine/exec.h; exec_free)
 *
 * Or the same in fewer calls: net_init_io (train/net.h) builds, differentiates,
 * plans and owns the parameter block; train_run (train/train.h) is the whole
 * training loop with a store (store/store.h) for runs and checkpoints;
 * model_ckpt_load (train/model_ckpt.h) gives a stored checkpoint's spec,
 * vocabulary and parameters, and sample_text (train/sample.h) generates from
 * them into a string the caller frees.
 *
 * Using a trained model (train/session.h; examples/stream.c walks it):
 *
 *   store_open(&db, "unroll.db", STORE_READ_ONLY, &e)
 *   session_open(&s, db, "RUN@best", 1, &e)      a checkpoint by reference:
 *       id, tag, RUN@STEP, RUN@best, run name; 1: for streaming
 *       (a bidirectional model is refused); the store may be closed now
 *   session_reset(&s, B, &e)                       a zero state for B rows
 *   session_step_ids(&s, ids, out, &e)             one step: ids [B] in (or
 *       session_step_real with x [B, D]), out [B, session_outputs(&s)]
 *       doubles: probabilities (softmax, sigmoid) or the linear output;
 *       the state is carried to the next step; nothing is allocated
 *   session_state_save / session_state_restore     the carried state, in
 *       session_state_bytes(&s) bytes of the caller's
 *   session_sample(&s, &opts, &text, &e)           `unroll sample`
 *   session_close(&s)
 *
 * Each session owns its net: several may step on several threads at once
 * and give the same bits as one at a time. train/predict.h scores whole
 * files as `unroll predict` does; train/api.h is the same surface as flat
 * functions over opaque pointers, for foreign-function callers (the
 * Python package python/unroll).
 */
#ifndef UNROLL_H
#define UNROLL_H

#include "engine/autodiff.h"
#include "base/err.h"
#include "engine/exec.h"
#include "engine/gradcheck.h"
#include "graph/graph.h"
#include "engine/plan.h"
#include "base/tensor.h"
#include "base/version.h"
#include "models/model.h"
#include "models/spec.h"
#include "ops/ops.h"
#include "store/npy.h"
#include "store/store.h"
#include "train/data.h"
#include "train/api.h"
#include "train/model_ckpt.h"
#include "train/net.h"
#include "train/predict.h"
#include "train/sample.h"
#include "train/session.h"
#include "train/text.h"
#include "train/train.h"

#define UNROLL_VERSION_STRING UNROLL_VERSION

#endif
