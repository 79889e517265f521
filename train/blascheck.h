/*
 * blascheck.h - does OpenBLAS run the kernels this CPU can run?
 *
 * Debian's OpenBLAS picks its kernels from the CPU's model name; in a VM
 * that masks the model it falls back to SSE3 ones ("Prescott"), 5x slower
 * on an AVX-512 machine. unroll's products are its own (kernels/gemm.h)
 * and unroll links no BLAS: OpenBLAS's threaded start-up allocated its
 * buffers before main and, under an address-space limit (ulimit -v),
 * retried forever instead of letting unroll report out of memory. What
 * runs beside unroll (numpy, PyTorch, the benchmarks) may still use
 * OpenBLAS, so `unroll doctor` opens it on demand (blascheck_blas_open,
 * dlopen) and checks its core. The CPU's *features* (cpuid, and the OS's
 * saved state bits from xgetbv) say what it can run; when OpenBLAS's core
 * is weaker, the warning names the OPENBLAS_CORETYPE that fixes it.
 *
 * The check itself (blascheck_warning) is a pure function of a core name
 * and a feature set, so tests feed it made-up ones. Nothing here prints,
 * and nothing but blascheck_blas_open (and blascheck_here) loads BLAS.
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

/* OpenBLAS as installed here, opened with dlopen on first use and kept
 * open (its threads outlive a dlclose). found is 0 when no libopenblas
 * could be opened; the strings are then empty. */
typedef struct blascheck_blas {
    int found;
    char config[256]; /* openblas_get_config() */
    char core[64];    /* openblas_get_corename() */
    int threads;      /* openblas_get_num_threads() */
} blascheck_blas;

/* Fills *b; returns b->found. Loads OpenBLAS into the process (its
 * threads start): for diagnostics, never on a training path. */
int blascheck_blas_open(blascheck_blas *b);

/* blascheck_warning for the installed OpenBLAS's core and this CPU; 0
 * when OpenBLAS is not installed. */
int blascheck_here(char *buf, size_t n);

/* What a run records as its arithmetic (the `program` of `runs show`):
 * "kernels PATH; no BLAS" (kernels/cpu.h). The same in every process on
 * the same machine and environment, so resume and ckpt verify compare it
 * (blascheck_same_program). */
void blascheck_describe(char *buf, size_t n);

/* Whether two such records name the same arithmetic. Every path of the
 * kernels gives the same bits (kernels/gemm.h: avx512, avx2 and the
 * generic one with C's fma(), in software on a CPU without FMA), so any
 * two "kernels ..." records do, whatever follows (records written while
 * OpenBLAS was linked read "kernels PATH; OpenBLAS ..." with the same
 * products). A record without "kernels " (products run by BLAS, whose
 * bits depend on its build and core) must match whole. */
int blascheck_same_program(const char *recorded, const char *now);

#endif
