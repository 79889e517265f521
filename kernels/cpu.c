/*
 * cpu.c - the CPU's features, caches and the kernels' path; see cpu.h.
 *
 * A feature counts only when the OS saves its registers: a CPU with
 * AVX-512 under a kernel (or hypervisor) that does not enable ZMM state in
 * XCR0 faults on the first ZMM instruction, so xgetbv is read as well as
 * cpuid. Cache sizes come from cpuid's deterministic cache leaves (leaf 4
 * on Intel, 0x8000001D on AMD), else from sysconf.
 */
#include "kernels/cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define CPU_X86 1
#include <cpuid.h>
#endif

static cpu_info info;
static int path_now, threads_now;
static uerr env_err;
static int env_rc;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static const char *const path_names[CPU_NPATHS] = {"generic", "avx2", "avx512"};

#ifdef CPU_X86
static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* One deterministic cache leaf (4 or 0x8000001D): the data or unified
 * cache of each level, size = ways x partitions x line x sets. */
static void cache_leaf(unsigned leaf)
{
    for (unsigned sub = 0; sub < 16; sub++) {
        unsigned a, b, c, d;
        __cpuid_count(leaf, sub, a, b, c, d);
        unsigned type = a & 31, level = (a >> 5) & 7;
        if (type == 0)
            break;
        if (type == 2) /* instruction cache */
            continue;
        size_t bytes =
            (size_t)((b >> 22) + 1) * (((b >> 12) & 1023) + 1) * ((b & 4095) + 1) * ((size_t)c + 1);
        if (level == 1)
            info.l1d = bytes;
        else if (level == 2)
            info.l2 = bytes;
        else if (level == 3)
            info.l3 = bytes;
    }
}

static void probe_x86(void)
{
    unsigned a, b, c, d, max;
    max = __get_cpuid_max(0, NULL);
    if (max < 1)
        return;
    __cpuid(1, a, b, c, d);
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    info.fma = (c >> 12) & 1;
    if (osxsave && avx) {
        unsigned long long xcr0 = xgetbv0();
        info.os_ymm = (xcr0 & 0x6) == 0x6;
        info.os_zmm = info.os_ymm && (xcr0 & 0xe0) == 0xe0;
    }
    if (max >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        info.avx2 = (b >> 5) & 1;
        info.avx512f = (b >> 16) & 1;
    }
    /* vendor "AuthenticAMD" (or Hygon) lists its caches in 0x8000001D */
    __cpuid(0, a, b, c, d);
    unsigned ext = __get_cpuid_max(0x80000000u, NULL);
    int amd = b == 0x68747541u || b == 0x6f677948u;
    if (amd && ext >= 0x8000001Du) {
        __cpuid(0x80000001u, a, b, c, d);
        if ((c >> 22) & 1) /* topology extensions: the leaf is there */
            cache_leaf(0x8000001Du);
    } else if (!amd && max >= 4) {
        cache_leaf(4);
    }
}
#endif

static int parse_path(const char *s)
{
    for (int p = 0; p < CPU_NPATHS; p++)
        if (!strcmp(s, path_names[p]))
            return p;
    return -1;
}

static void probe(void)
{
#ifdef CPU_X86
    probe_x86();
#endif
    info.best = CPU_GENERIC;
    if (info.avx2 && info.fma && info.os_ymm)
        info.best = CPU_AVX2;
    if (info.avx512f && info.fma && info.os_zmm)
        info.best = CPU_AVX512;
#ifdef _SC_LEVEL1_DCACHE_SIZE
    if (!info.l1d && sysconf(_SC_LEVEL1_DCACHE_SIZE) > 0)
        info.l1d = (size_t)sysconf(_SC_LEVEL1_DCACHE_SIZE);
    if (!info.l2 && sysconf(_SC_LEVEL2_CACHE_SIZE) > 0)
        info.l2 = (size_t)sysconf(_SC_LEVEL2_CACHE_SIZE);
    if (!info.l3 && sysconf(_SC_LEVEL3_CACHE_SIZE) > 0)
        info.l3 = (size_t)sysconf(_SC_LEVEL3_CACHE_SIZE);
#endif
    cpu_set_t set;
    CPU_ZERO(&set);
    info.cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
    if (info.cores < 1) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        info.cores = n > 0 ? (int)n : 1;
    }
    path_now = info.best;
    threads_now = info.cores;

    const char *isa = getenv("UNROLL_ISA");
    if (isa && *isa) {
        int p = parse_path(isa);
        if (p < 0)
            env_rc = uerr_set(&env_err, UERR_USER,
                              "UNROLL_ISA=%s: expected avx512, avx2 or generic", isa);
        else if (p > info.best)
            env_rc = uerr_set(&env_err, UERR_USER,
                              "UNROLL_ISA=%s: this CPU (or its OS) does not support it; "
                              "the best path here is %s",
                              isa, path_names[info.best]);
        else
            path_now = p;
    }
    const char *th = getenv("UNROLL_THREADS");
    if (th && *th) {
        char *end;
        long n = strtol(th, &end, 10);
        if (*end || n < 1 || n > 1024)
            env_rc = uerr_set(&env_err, UERR_USER,
                              "UNROLL_THREADS=%s: expected a thread count from 1 to 1024", th);
        else
            threads_now = (int)n;
    }
}

static void settle(void)
{
    pthread_once(&once, probe);
}

int cpu_init(uerr *e)
{
    settle();
    if (env_rc)
        return uerr_set(e, env_rc, "%s", env_err.msg);
    return 0;
}

const cpu_info *cpu_get(void)
{
    settle();
    return &info;
}

size_t cpu_past_l2(void)
{
    size_t l2 = cpu_get()->l2;
    return l2 ? l2 + 1 : (size_t)1 << 21;
}

int cpu_path(void)
{
    settle();
    return path_now;
}

const char *cpu_path_name(int path)
{
    return path >= 0 && path < CPU_NPATHS ? path_names[path] : "?";
}

int cpu_set_path(int path)
{
    settle();
    if (path < 0 || path > info.best)
        return -1;
    int was = path_now;
    path_now = path;
    return was;
}

int cpu_threads(void)
{
    settle();
    return threads_now;
}

int cpu_set_threads(int n)
{
    settle();
    int was = threads_now;
    if (n >= 1)
        threads_now = n;
    return was;
}

int cpu_path_lanes(int path, size_t elem_size)
{
    int bytes = path == CPU_AVX512 ? 64 : path == CPU_AVX2 ? 32 : 0;
    return bytes ? bytes / (int)elem_size : 1;
}

const char *cpu_describe(char *buf, size_t n)
{
    settle();
    int p = path_now;
    snprintf(buf, n,
             "kernels %s (%d x f32, %d x f64), %d thread%s, L1d %zu KiB, L2 %zu KiB, "
             "L3 %zu KiB",
             path_names[p], cpu_path_lanes(p, 4), cpu_path_lanes(p, 8), threads_now,
             threads_now == 1 ? "" : "s", info.l1d >> 10, info.l2 >> 10, info.l3 >> 10);
    return buf;
}
