/*
 * blascheck.h - does OpenBLAS run the kernels this CPU can run?
 *
 * Debian's OpenBLAS picks its kernels from the CPU's model name; in a VM
 * that masks the model it falls back to SSE3 ones ("Prescott"), 5x slower
 * on an AVX-512 machine. unroll's own products no longer call BLAS
 * (kernels/gemm.h), but OpenBLAS is still linked in, and whatever else
 * in the process calls it (an embedding program, numpy beside it on the
 * same machine) runs at that speed. The CPU's *features* (cpuid, and the
 * OS's saved state bits from xgetbv) say what it can run; when OpenBLAS's
 * core is weaker, the warning names the OPENBLAS_CORETYPE that fixes it.
 *
 * The check itself (blascheck_warning) is a pure function of a core name
 * and a feature set, so tests feed it made-up ones. Nothing here prints.
 */
#ifndef UNROLL_BLASCHECK_H
#define UNROLL_BLASCHECK_H

#include <stddef.h>

/* Vector instruction levels, weakest first. A level counts only when the
 * OS saves its registers (xgetbv), as a kernel using it needs. */
enum {
    BLAS_LEVEL_UNKNOWN = 0, /* a core name this table does not know */
    BLAS_LEVEL_SSE,         /* SSE2/SSE3 */
    BLAS_LEVEL_AVX,         /* AVX, no AVX2+FMA */
    BLAS_LEVEL_AVX2,        /* AVX2 + FMA */
    BLAS_LEVEL_AVX512       /* AVX-512 F, DQ, BW, VL (OpenBLAS's SkylakeX kernels) */
};

typedef struct blascheck_cpu {
    char vendor[13];
    char brand[49];
    /* instruction set (cpuid) */
    int sse3, avx, fma, avx2, avx512f, avx512dq, avx512bw, avx512vl;
    /* the OS saves the AVX (YMM) and AVX-512 (ZMM, opmask) state */
    int os_avx, os_avx512;
    /* bytes per core (L1 data, L2) and in all (L3); 0 when unknown */
    long l1d, l2, l3;
    int cores; /* CPUs this process may run on */
} blascheck_cpu;

/* Fills *c from cpuid, xgetbv, sysfs and the affinity mask. */
void blascheck_cpu_read(blascheck_cpu *c);

/* The strongest level c can run (never BLAS_LEVEL_UNKNOWN). */
int blascheck_cpu_level(const blascheck_cpu *c);

/* The level of an OpenBLAS core's kernels ("Prescott", "haswell", ...;
 * any case); BLAS_LEVEL_UNKNOWN for a name not in the table. */
int blascheck_core_level(const char *corename);

/* The name of a level ("SSE3", "AVX2+FMA", "AVX-512"). */
const char *blascheck_level_name(int level);

/* When core runs weaker kernels than c can: writes one line into buf
 * (what runs, what the CPU has, the OPENBLAS_CORETYPE that fixes it) and
 * returns 1; otherwise writes "" and returns 0. An unknown core name
 * gives no warning. */
int blascheck_warning(const char *corename, const blascheck_cpu *c, char *buf, size_t n);

/* The same for this process: OpenBLAS's core and this CPU. */
int blascheck_here(char *buf, size_t n);

/* What a run records as its arithmetic (the `program` of `runs show`):
 * "kernels PATH; " (kernels/cpu.h), openblas_get_config(), then the
 * warning in brackets when there is one. The same in every process on the
 * same machine and environment, so resume and ckpt verify compare it. */
void blascheck_describe(char *buf, size_t n);

#endif
