/*
 * cpu.h - what the CPU can do and what the kernels use of it.
 *
 * The vector path is chosen by the CPU's *features* (cpuid) and the OS's
 * saved-state bits (xgetbv), never by its model name:
 *
 *   avx512   AVX-512F + FMA, the OS saves ZMM and opmask registers
 *   avx2     AVX2 + FMA, the OS saves YMM registers
 *   generic  portable C: every product is C's fma(), one chain per element
 *
 * All three give the same bits (kernels/gemm.h); only their speed
 * differs. On a CPU without FMA the generic path's fma() runs in software:
 * slow, but the bits stay those of the other paths.
 *
 * UNROLL_ISA=avx512|avx2|generic forces a path (tests); UNROLL_THREADS=N
 * (N >= 1, also above the core count) sets the kernels' threads; default:
 * the cores this process may run on (sched_getaffinity). The environment
 * is read once, on the first call of any function here; cpu_init() reports
 * a bad value or a path the CPU lacks as an error (the others then fall
 * back to the defaults), so a command can say so before it starts.
 *
 * Thread-safe: the first call settles everything under a once-guard;
 * cpu_set_path / cpu_set_threads (tests) must not race with products.
 */
#ifndef UNROLL_CPU_H
#define UNROLL_CPU_H

#include <stddef.h>

#include "base/err.h"

enum cpu_path { CPU_GENERIC = 0, CPU_AVX2 = 1, CPU_AVX512 = 2, CPU_NPATHS = 3 };

typedef struct cpu_info {
    int avx2, fma, avx512f; /* instruction sets, by cpuid */
    int os_ymm, os_zmm;     /* the OS saves YMM / ZMM + opmask state */
    int best;               /* enum cpu_path: the widest path that runs here */
    size_t l1d, l2, l3;     /* data cache sizes in bytes (per core for L1/L2); 0 unknown */
    int cores;              /* CPUs this process may run on */
} cpu_info;

/* Reads UNROLL_ISA and UNROLL_THREADS; 0, or UERR_USER naming the bad
 * value (an unknown path, one this CPU lacks, a thread count that is not
 * a positive integer). */
int cpu_init(uerr *e);

const cpu_info *cpu_get(void);

/* The least bytes past one core's L2 (its size plus one; 2 MiB when it is
 * unknown): a weight of that many no longer stays in one core's cache
 * from one step to the next (engine/exec_rows.c's columns,
 * engine/plan_stack.c's groups). */
size_t cpu_past_l2(void);

/* The path in use (enum cpu_path) and its name ("avx512", "avx2", "generic"). */
int cpu_path(void);
const char *cpu_path_name(int path);

/* Forces a path; returns the previous one, or -1 (nothing changed) when
 * this CPU cannot run it. For tests. */
int cpu_set_path(int path);

/* Worker threads of the kernels (the caller included); cpu_set_threads
 * returns the previous count (n < 1 leaves it). */
int cpu_threads(void);
int cpu_set_threads(int n);

/* Elements of a vector on a path: 16 / 8 / 1 for float32, half for float64. */
int cpu_path_lanes(int path, size_t elem_size);

/* One line for a run's program record and `unroll doctor`, e.g.
 * "kernels avx512 (16 x f32), 2 threads, L1d 32 KiB, L2 1024 KiB, L3 32768 KiB". */
const char *cpu_describe(char *buf, size_t n);

#endif
