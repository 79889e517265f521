/*
 * blascheck.c - OpenBLAS's core against the CPU's features (see
 * blascheck.h). The features come from kernels/cpu.h (cpuid and xgetbv,
 * read once) and, for what that does not keep, from cpuid here; the
 * levels and the advice are tables, so a core OpenBLAS adds later reads as
 * unknown (no warning) rather than as weak. OpenBLAS itself is opened by
 * name at run time (Debian's alternatives choose which build answers to
 * libopenblas.so.0), never linked.
 */
#include "train/blascheck.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "kernels/cpu.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define BLASCHECK_X86 1
#else
#define BLASCHECK_X86 0
#endif

/* Each core of Debian's DYNAMIC_ARCH build (x86-64) and the vector level
 * its sgemm/dgemm kernels use. The AMD Bulldozer line runs AVX (and FMA4)
 * kernels; Excavator and Zen run Haswell's. */
static const struct {
    const char *name;
    int level;
} cores[] = {
    {"katmai", BLAS_LEVEL_SSE},
    {"coppermine", BLAS_LEVEL_SSE},
    {"northwood", BLAS_LEVEL_SSE},
    {"prescott", BLAS_LEVEL_SSE},
    {"banias", BLAS_LEVEL_SSE},
    {"atom", BLAS_LEVEL_SSE},
    {"core2", BLAS_LEVEL_SSE},
    {"penryn", BLAS_LEVEL_SSE},
    {"dunnington", BLAS_LEVEL_SSE},
    {"nehalem", BLAS_LEVEL_SSE},
    {"athlon", BLAS_LEVEL_SSE},
    {"opteron", BLAS_LEVEL_SSE},
    {"opteron_sse3", BLAS_LEVEL_SSE},
    {"barcelona", BLAS_LEVEL_SSE},
    {"nano", BLAS_LEVEL_SSE},
    {"bobcat", BLAS_LEVEL_SSE},
    {"generic", BLAS_LEVEL_SSE},
    {"sandybridge", BLAS_LEVEL_AVX},
    {"bulldozer", BLAS_LEVEL_AVX},
    {"piledriver", BLAS_LEVEL_AVX},
    {"steamroller", BLAS_LEVEL_AVX},
    {"excavator", BLAS_LEVEL_AVX2},
    {"haswell", BLAS_LEVEL_AVX2},
    {"zen", BLAS_LEVEL_AVX2},
    {"skylakex", BLAS_LEVEL_AVX512},
    {"cooperlake", BLAS_LEVEL_AVX512},
    {"sapphirerapids", BLAS_LEVEL_AVX512},
};

/* The core to force for each level: the oldest whose kernels use it all,
 * so that OpenBLAS accepts it on any CPU of that level. */
static const char *const fix[] = {"", "Prescott", "Sandybridge", "Haswell", "SkylakeX"};
static const char *const level_names[] = {"unknown", "SSE3", "AVX", "AVX2+FMA", "AVX-512"};

const char *blascheck_level_name(int level)
{
    return level >= 0 && level <= BLAS_LEVEL_AVX512 ? level_names[level] : "unknown";
}

int blascheck_core_level(const char *corename)
{
    for (size_t i = 0; corename && i < sizeof cores / sizeof *cores; i++)
        if (!strcasecmp(corename, cores[i].name))
            return cores[i].level;
    return BLAS_LEVEL_UNKNOWN;
}

int blascheck_cpu_level(const blascheck_cpu *c)
{
    if (c->os_avx512 && c->avx512f && c->avx512dq && c->avx512bw && c->avx512vl)
        return BLAS_LEVEL_AVX512;
    if (c->os_avx && c->avx2 && c->fma)
        return BLAS_LEVEL_AVX2;
    if (c->os_avx && c->avx)
        return BLAS_LEVEL_AVX;
    return BLAS_LEVEL_SSE;
}

int blascheck_warning(const char *corename, const blascheck_cpu *c, char *buf, size_t n)
{
    int have = blascheck_core_level(corename), can = blascheck_cpu_level(c);
    if (n)
        buf[0] = 0;
    if (have == BLAS_LEVEL_UNKNOWN || have >= can)
        return 0;
    snprintf(buf, n,
             "OpenBLAS runs its %s kernels (%s) on a CPU with %s: what calls it here (numpy, "
             "PyTorch) runs several times slower; set OPENBLAS_CORETYPE=%s",
             corename, blascheck_level_name(have), blascheck_level_name(can), fix[can]);
    return 1;
}

/* What kernels/cpu.h does not read: the vendor and model strings, AVX
 * itself and the AVX-512 subsets OpenBLAS's SkylakeX kernels need. */
#if BLASCHECK_X86
static void read_extras(blascheck_cpu *c)
{
    unsigned a, b, cx, d;
    unsigned max = (unsigned)__get_cpuid_max(0, NULL);
    if (max == 0 || !__get_cpuid(0, &a, &b, &cx, &d))
        return;
    memcpy(c->vendor, &b, 4);
    memcpy(c->vendor + 4, &d, 4);
    memcpy(c->vendor + 8, &cx, 4);
    c->vendor[12] = 0;
    __get_cpuid(1, &a, &b, &cx, &d);
    c->sse3 = cx & 1;
    c->avx = (cx >> 28) & 1;
    if (max >= 7) {
        __get_cpuid_count(7, 0, &a, &b, &cx, &d);
        c->avx512dq = (b >> 17) & 1;
        c->avx512bw = (b >> 30) & 1;
        c->avx512vl = (b >> 31) & 1;
    }
    if ((unsigned)__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(c->brand, r, 48);
        c->brand[48] = 0;
        /* the brand string is padded with spaces at either end */
        char *s = c->brand;
        while (*s == ' ')
            s++;
        memmove(c->brand, s, strlen(s) + 1);
        for (size_t k = strlen(c->brand); k > 0 && c->brand[k - 1] == ' '; k--)
            c->brand[k - 1] = 0;
    }
}
#else
static void read_extras(blascheck_cpu *c)
{
    (void)c;
}
#endif

void blascheck_cpu_read(blascheck_cpu *c)
{
    memset(c, 0, sizeof *c);
    const cpu_info *k = cpu_get();
    c->fma = k->fma;
    c->avx2 = k->avx2;
    c->avx512f = k->avx512f;
    c->os_avx = k->os_ymm;
    c->os_avx512 = k->os_zmm;
    c->l1d = (long)k->l1d;
    c->l2 = (long)k->l2;
    c->l3 = (long)k->l3;
    c->cores = k->cores;
    read_extras(c);
}

/* dlsym's object pointer as a function pointer: POSIX allows it */
typedef char *(*blas_str_fn)(void);
typedef int (*blas_int_fn)(void);

int blascheck_blas_open(blascheck_blas *b)
{
    memset(b, 0, sizeof *b);
    void *lib = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return 0;
    blas_str_fn config, core;
    blas_int_fn threads;
    *(void **)&config = dlsym(lib, "openblas_get_config");
    *(void **)&core = dlsym(lib, "openblas_get_corename");
    *(void **)&threads = dlsym(lib, "openblas_get_num_threads");
    if (!config || !core || !threads)
        return 0;
    const char *s = config(), *c = core();
    snprintf(b->config, sizeof b->config, "%s", s ? s : "OpenBLAS");
    snprintf(b->core, sizeof b->core, "%s", c ? c : "");
    b->threads = threads();
    b->found = 1;
    return 1;
}

int blascheck_here(char *buf, size_t n)
{
    blascheck_cpu c;
    blascheck_blas b;
    blascheck_cpu_read(&c);
    if (!blascheck_blas_open(&b)) {
        if (n)
            buf[0] = 0;
        return 0;
    }
    return blascheck_warning(b.core, &c, buf, n);
}

void blascheck_describe(char *buf, size_t n)
{
    snprintf(buf, n, "kernels %s; no BLAS", cpu_path_name(cpu_path()));
}

int blascheck_same_program(const char *recorded, const char *now)
{
    static const char head[] = "kernels ";
    if (strncmp(recorded, head, sizeof head - 1) || strncmp(now, head, sizeof head - 1))
        return !strcmp(recorded, now);
    return 1;
}
