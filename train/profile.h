/*
 * profile.h - where a training step's time goes (`unroll train --profile
 * FILE`): one step traced task by task (engine/exec.h: exec_trace_next),
 * its busy time summed by kind of work and by lane, and its timeline
 * written as trace-event JSON (ui.perfetto.dev or chrome://tracing open
 * it: one row per lane, one box per task).
 *
 * Tracing reads the clock twice a task and changes no bit: a profiled
 * run stores the checkpoints it would have stored unprofiled.
 */
#ifndef UNROLL_PROFILE_H
#define UNROLL_PROFILE_H

#include "engine/exec.h"
#include "train/net.h"

/* The kinds of work a step's time is summed by (profile_kind_name). */
enum profile_kind {
    PROFILE_STEP_PRODUCTS,    /* a time step's own products: the recurrence */
    PROFILE_STEP_OTHER,       /* a time step's other ops: activations, gates */
    PROFILE_STACKED_PRODUCTS, /* products over all steps' rows: projections, weight gradients */
    PROFILE_STACKED_OTHER,    /* sums and scatters over all steps */
    PROFILE_LOSS,             /* softmax, the losses and their gradients */
    PROFILE_ROWS,             /* row runs: a batch's recurrence split by rows */
    PROFILE_MOVE,             /* copies and transposed copies */
    PROFILE_UPDATE,           /* the optimiser's updates inside the step */
    PROFILE_KINDS
};

typedef struct train_profile {
    int64_t step;                 /* the step traced; 0: none (the run stopped first) */
    double run_us;                /* its plan's run, start to the last task's end */
    double us[PROFILE_KINDS][3];  /* busy microseconds: in order, lane 0, lane 1 */
    int32_t tasks[PROFILE_KINDS]; /* the spans of each kind */
    int32_t spans;                /* all spans of the run */
} train_profile;

const char *profile_kind_name(int kind);

typedef struct profiler {
    exec_trace tr;
} profiler;

/* Traces n's next run (the spans' memory sized by its plan). */
int profiler_arm(profiler *pf, net *n, uerr *e);

/* After that run: its sums into *out, and its timeline written to path
 * (the JSON; a file that cannot be written is a UERR_USER). */
int profiler_finish(profiler *pf, const net *n, int64_t step, const char *path, train_profile *out,
                    uerr *e);

void profiler_free(profiler *pf);

#endif
