/*
 * exec_int.h - the executor's row runs (engine/exec_rows.c), private to
 * engine/exec*.c.
 */
#ifndef UNROLL_EXEC_INT_H
#define UNROLL_EXEC_INT_H

#include "engine/exec.h"

/* Instruction s over rows r0 .. r1-1 (rows: the inputs it splits). */
void exec_step_rows(const exec *x, const exec_step *s, unsigned rows, int64_t r0, int64_t r1);

/* Whether instruction s of a row run is split by columns (exec_step.cols),
 * once its fields are set. */
int exec_split_cols(const exec_step *s);

/* A row run on the kernels' threads. */
void exec_run_rows(const exec *x, const plan_rows_run *run);

#endif
