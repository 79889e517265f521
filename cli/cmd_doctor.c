/*
 * cmd_doctor.c - unroll doctor: what this machine gives unroll's kernels,
 * and whether the OpenBLAS installed here (unroll links none; numpy and
 * the benchmarks use it) uses it. One "key  value" line each, so scripts and
 * bug reports can quote them; a weak OpenBLAS core adds a warning line
 * with its fix. Exit 0 whatever it finds: it diagnoses, it does not judge.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "engine/exec.h"
#include "kernels/cpu.h"
#include "train/blascheck.h"

static const char help[] =
    "usage: unroll doctor\n"
    "\n"
    "Prints what unroll finds on this machine: the CPU (vendor, model), its\n"
    "vector features and whether the OS saves their registers (AVX-512F,\n"
    "AVX2, FMA), the kernels' path and vector width, the cores and the\n"
    "threads the kernels run, the cache sizes, the weight from which a\n"
    "batch's per-step product is split among the threads by columns rather\n"
    "than rows (its share of the weight then stays in each core's L2), and\n"
    "the build and core of the OpenBLAS installed here. unroll's products\n"
    "are its own and it links no BLAS, but programs beside it (numpy,\n"
    "PyTorch, the benchmarks) use it: when that core runs weaker kernels\n"
    "than the CPU has (OpenBLAS guesses from the model name, which a VM may\n"
    "mask), a warning line names the OPENBLAS_CORETYPE that fixes it.\n"
    "\n"
    "environment:\n"
    "  UNROLL_ISA         the kernels' path: avx512, avx2 or generic (default: the best)\n"
    "  UNROLL_THREADS     the kernels' threads (default: the cores available)\n"
    "  OPENBLAS_CORETYPE  OpenBLAS's kernels (SkylakeX, Haswell, ...)\n";

static void line(const char *k, const char *v)
{
    printf("%-14s %s\n", k, v && *v ? v : "-");
}

static const char *yes(int on)
{
    return on ? "yes" : "no";
}

/* "32 KiB", "2 MiB" */
static const char *bytes_str(long b, char *buf, size_t n)
{
    if (b <= 0)
        snprintf(buf, n, "?");
    else if (b % 1048576 == 0)
        snprintf(buf, n, "%ld MiB", b / 1048576);
    else
        snprintf(buf, n, "%ld KiB", b / 1024);
    return buf;
}

int cmd_doctor(int argc, char **argv)
{
    cli_common c = {0};
    int pr = cli_parse(argc, argv, "doctor", help, &c, NULL, NULL, 0);
    if (pr)
        return pr < 0 ? 0 : pr;
    blascheck_cpu cpu;
    blascheck_cpu_read(&cpu);
    int level = blascheck_cpu_level(&cpu);
    char buf[512], a[32], b[32], d[32];

    line("cpu", cpu.brand[0] ? cpu.brand : "?");
    line("vendor", cpu.vendor[0] ? cpu.vendor : "?");
    snprintf(buf, sizeof buf, "AVX-512F %s (DQ %s, BW %s, VL %s), AVX2 %s, FMA %s, AVX %s",
             yes(cpu.avx512f), yes(cpu.avx512dq), yes(cpu.avx512bw), yes(cpu.avx512vl),
             yes(cpu.avx2), yes(cpu.fma), yes(cpu.avx));
    line("features", buf);
    snprintf(buf, sizeof buf, "AVX state %s, AVX-512 state %s", yes(cpu.os_avx),
             yes(cpu.os_avx512));
    line("os saves", buf);
    int width = level == BLAS_LEVEL_AVX512 ? 64 : level == BLAS_LEVEL_AVX2 ? 32 : 16;
    snprintf(buf, sizeof buf, "%s, %d-byte vectors (%d float32, %d float64)",
             blascheck_level_name(level), width, width / 4, width / 8);
    line("vector", buf);
    /* a bad UNROLL_ISA or UNROLL_THREADS is reported, the defaults used */
    uerr e = {0};
    if (cpu_init(&e))
        line("environment", e.msg);
    int path = cpu_path();
    const char *isa = getenv("UNROLL_ISA");
    snprintf(buf, sizeof buf, "%s path, %d float32 / %d float64 per vector%s%s",
             cpu_path_name(path), cpu_path_lanes(path, 4), cpu_path_lanes(path, 8),
             isa && *isa ? "; UNROLL_ISA=" : " (the CPU's best)", isa && *isa ? isa : "");
    line("kernels", buf);
    const char *ut = getenv("UNROLL_THREADS");
    int used = ut && *ut && atoi(ut) == cpu_threads();
    snprintf(buf, sizeof buf, "%d available; the kernels run %d threads (%s%s)", cpu.cores,
             cpu_threads(), used ? "UNROLL_THREADS=" : "the default: one per core", used ? ut : "");
    line("cores", buf);
    snprintf(buf, sizeof buf, "L1d %s, L2 %s per core; L3 %s", bytes_str(cpu.l1d, a, sizeof a),
             bytes_str(cpu.l2, b, sizeof b), bytes_str(cpu.l3, d, sizeof d));
    line("cache", buf);
    size_t cb = exec_cols_bytes();
    snprintf(buf, sizeof buf,
             "a batch's rows split among the threads; a product by a weight of %zu bytes or "
             "more (%s) by columns",
             cb, cpu_get()->l2 ? "over the L2" : "the L2 unknown");
    line("row runs", buf);
    blascheck_blas blas;
    if (!blascheck_blas_open(&blas)) {
        line("blas", "no libopenblas.so.0 here (unroll links no BLAS)");
        line("blas core", "-");
        line("blas check", "not checked: no OpenBLAS");
        return 0;
    }
    snprintf(buf, sizeof buf, "%s (not used by unroll)", blas.config);
    line("blas", buf);
    const char *ct = getenv("OPENBLAS_CORETYPE");
    int cl = blascheck_core_level(blas.core);
    snprintf(buf, sizeof buf, "%s (%s kernels%s%s), %d threads", *blas.core ? blas.core : "?",
             blascheck_level_name(cl), ct && *ct ? "; OPENBLAS_CORETYPE=" : "", ct && *ct ? ct : "",
             blas.threads);
    line("blas core", buf);
    char w[256];
    if (blascheck_warning(blas.core, &cpu, w, sizeof w))
        snprintf(buf, sizeof buf, "warning: %s", w);
    else
        snprintf(buf, sizeof buf, "%s",
                 cl == BLAS_LEVEL_UNKNOWN ? "unknown core: not checked"
                                          : "ok: the core uses the CPU's widest vectors");
    line("blas check", buf);
    return 0;
}
