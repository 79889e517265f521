/*
 * test_blascheck.c - the OpenBLAS core check of train/blascheck.c on
 * made-up cores and CPUs: a weak core on a strong CPU warns with the right
 * OPENBLAS_CORETYPE, a matching or stronger core and an unknown core do
 * not, and features the OS does not save do not count. Then the real
 * machine: its reading is consistent, the recorded program string is the
 * kernels' path and no BLAS, and records differing after the first ';'
 * (OpenBLAS's config, written while it was linked) name the same
 * arithmetic. OpenBLAS, when installed, opens on demand; this binary links
 * none (the Makefile's flags).
 */
#include "check.h"

#include <link.h>

#include "kernels/cpu.h"
#include "train/blascheck.h"

static blascheck_cpu cpu_avx512(void)
{
    blascheck_cpu c = {.sse3 = 1,
                       .avx = 1,
                       .fma = 1,
                       .avx2 = 1,
                       .avx512f = 1,
                       .avx512dq = 1,
                       .avx512bw = 1,
                       .avx512vl = 1,
                       .os_avx = 1,
                       .os_avx512 = 1};
    return c;
}

static void test_levels(void)
{
    blascheck_cpu c = cpu_avx512();
    CHECK(blascheck_cpu_level(&c) == BLAS_LEVEL_AVX512);
    c.os_avx512 = 0; /* the OS does not save ZMM: AVX2 is the most */
    CHECK(blascheck_cpu_level(&c) == BLAS_LEVEL_AVX2);
    c = cpu_avx512();
    c.avx512bw = 0; /* Knights Landing's AVX-512 is not SkylakeX's */
    CHECK(blascheck_cpu_level(&c) == BLAS_LEVEL_AVX2);
    c.fma = 0;
    CHECK(blascheck_cpu_level(&c) == BLAS_LEVEL_AVX);
    c.os_avx = 0;
    CHECK(blascheck_cpu_level(&c) == BLAS_LEVEL_SSE);
    CHECK(blascheck_core_level("Prescott") == BLAS_LEVEL_SSE);
    CHECK(blascheck_core_level("NEHALEM") == BLAS_LEVEL_SSE);
    CHECK(blascheck_core_level("Sandybridge") == BLAS_LEVEL_AVX);
    CHECK(blascheck_core_level("haswell") == BLAS_LEVEL_AVX2);
    CHECK(blascheck_core_level("Zen") == BLAS_LEVEL_AVX2);
    CHECK(blascheck_core_level("Cooperlake") == BLAS_LEVEL_AVX512);
    CHECK(blascheck_core_level("SkylakeX") == BLAS_LEVEL_AVX512);
    CHECK(blascheck_core_level("NoSuchCore") == BLAS_LEVEL_UNKNOWN);
    CHECK(blascheck_core_level(NULL) == BLAS_LEVEL_UNKNOWN);
    CHECK(!strcmp(blascheck_level_name(BLAS_LEVEL_AVX2), "AVX2+FMA"));
    CHECK(!strcmp(blascheck_level_name(99), "unknown"));
}

static void test_warning(void)
{
    char w[256];
    blascheck_cpu c = cpu_avx512();
    /* the machine: an AVX-512 Xeon whose model name is masked */
    CHECK(blascheck_warning("Prescott", &c, w, sizeof w) == 1);
    CHECKF(strstr(w, "Prescott") && strstr(w, "AVX-512") &&
               strstr(w, "OPENBLAS_CORETYPE=SkylakeX") && !strchr(w, '\n'),
           "%s", w);
    CHECK(blascheck_warning("Sandybridge", &c, w, sizeof w) == 1);
    CHECK(blascheck_warning("Haswell", &c, w, sizeof w) == 1 && strstr(w, "=SkylakeX"));
    CHECK(blascheck_warning("SkylakeX", &c, w, sizeof w) == 0 && !w[0]);
    CHECK(blascheck_warning("Cooperlake", &c, w, sizeof w) == 0 && !w[0]);
    CHECK(blascheck_warning("SomethingNew", &c, w, sizeof w) == 0 && !w[0]);
    /* AVX2+FMA, no AVX-512 */
    c.avx512f = c.os_avx512 = 0;
    CHECK(blascheck_warning("Nehalem", &c, w, sizeof w) == 1 &&
          strstr(w, "OPENBLAS_CORETYPE=Haswell") && strstr(w, "AVX2+FMA"));
    CHECK(blascheck_warning("Haswell", &c, w, sizeof w) == 0);
    CHECK(blascheck_warning("Zen", &c, w, sizeof w) == 0);
    /* a stronger core than the CPU (forced by hand): nothing to fix here */
    CHECK(blascheck_warning("SkylakeX", &c, w, sizeof w) == 0);
    /* AVX without FMA: Sandybridge */
    c.fma = c.avx2 = 0;
    CHECK(blascheck_warning("Prescott", &c, w, sizeof w) == 1 &&
          strstr(w, "OPENBLAS_CORETYPE=Sandybridge"));
    /* an old CPU: Prescott is its best */
    c.avx = c.os_avx = 0;
    CHECK(blascheck_warning("Prescott", &c, w, sizeof w) == 0);
    /* a short buffer is cut, not overrun */
    char tiny[8];
    c = cpu_avx512();
    CHECK(blascheck_warning("Prescott", &c, tiny, sizeof tiny) == 1 && strlen(tiny) == 7);
}

static void test_here(void)
{
    blascheck_cpu c;
    blascheck_cpu_read(&c);
    CHECK(c.cores >= 1);
    /* a level needs the one below it: no AVX2 claimed without AVX state */
    CHECK(!c.os_avx512 || c.os_avx);
    int level = blascheck_cpu_level(&c);
    CHECK(level >= BLAS_LEVEL_SSE && level <= BLAS_LEVEL_AVX512);
    char w[256], want[256], d[512];
    blascheck_blas b;
    int found = blascheck_blas_open(&b);
    int warn = blascheck_here(w, sizeof w);
    CHECK(warn == (found ? blascheck_warning(b.core, &c, want, sizeof want) : 0));
    CHECK(!found || !strcmp(w, want));
    CHECK(!found || (b.config[0] && b.threads >= 1));
    blascheck_describe(d, sizeof d);
    char want_d[64];
    snprintf(want_d, sizeof want_d, "kernels %s; no BLAS", cpu_path_name(cpu_path()));
    CHECKF(!strcmp(d, want_d), "%s", d);
}

static void test_same_program(void)
{
    CHECK(blascheck_same_program("kernels avx2; no BLAS", "kernels avx2; no BLAS"));
    CHECK(blascheck_same_program("kernels avx2; OpenBLAS 0.3.21 DYNAMIC_ARCH Haswell",
                                 "kernels avx2; no BLAS"));
    /* every path of the kernels gives the same bits */
    CHECK(blascheck_same_program("kernels avx512; no BLAS", "kernels avx2; no BLAS"));
    CHECK(blascheck_same_program("kernels generic", "kernels avx512; no BLAS"));
    /* products run by BLAS: only the same build is the same arithmetic */
    CHECK(!blascheck_same_program("OpenBLAS 0.3.21", "kernels avx2; no BLAS"));
    CHECK(blascheck_same_program("OpenBLAS 0.3.21", "OpenBLAS 0.3.21"));
}

/* dl_iterate_phdr callback: counts objects named like OpenBLAS */
static int count_blas(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    if (info->dlpi_name && strstr(info->dlpi_name, "openblas"))
        ++*(int *)arg;
    return 0;
}

/* Nothing before blascheck_blas_open maps OpenBLAS: its threaded start-up
 * is what hung under ulimit -v. */
static void test_not_linked(void)
{
    int n = 0;
    dl_iterate_phdr(count_blas, &n);
    CHECKF(n == 0, "%d OpenBLAS objects mapped before blascheck_blas_open", n);
    blascheck_cpu c;
    blascheck_cpu_read(&c);
    char d[256];
    blascheck_describe(d, sizeof d);
    n = 0;
    dl_iterate_phdr(count_blas, &n);
    CHECK(n == 0);
}

int main(void)
{
    RUN(test_not_linked);
    RUN(test_levels);
    RUN(test_warning);
    RUN(test_here);
    RUN(test_same_program);
    CHECK_EXIT();
}
