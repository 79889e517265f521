/*
 * check.h - the smallest test harness that still tells the truth.
 *
 * A test file defines functions `static void test_x(void)` and lists them
 * in main() with RUN(test_x). Each RUN prints "PASS name" or
 * "FAIL name: file:line: what" and main returns non-zero if anything
 * failed, so a test binary can never report success by accident.
 * tests/run.sh adds the PASS/FAIL lines of every binary into the closing
 * "N passed, N failed" line.
 */
#ifndef UNROLL_CHECK_H
#define UNROLL_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failed_; /* failures in the current test */
static int check_nfail_;  /* failed tests in this binary */
static int check_npass_;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (!check_failed_)                                                                    \
                printf("  %s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond);                         \
            check_failed_++;                                                                       \
        }                                                                                          \
    } while (0)

#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            printf("  %s:%d: ", __FILE__, __LINE__);                                               \
            printf(__VA_ARGS__);                                                                   \
            printf("\n");                                                                          \
            check_failed_++;                                                                       \
        }                                                                                          \
    } while (0)

/* An uerr-returning call that must succeed. */
#define CHECK_OK(call, e)                                                                          \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != 0) {                                                                            \
            printf("  %s:%d: %s failed: %s\n", __FILE__, __LINE__, #call, (e)->msg);               \
            check_failed_++;                                                                       \
        }                                                                                          \
    } while (0)

#define RUN(fn)                                                                                    \
    do {                                                                                           \
        check_failed_ = 0;                                                                         \
        fn();                                                                                      \
        if (check_failed_) {                                                                       \
            printf("FAIL %s\n", #fn);                                                              \
            check_nfail_++;                                                                        \
        } else {                                                                                   \
            printf("PASS %s\n", #fn);                                                              \
            check_npass_++;                                                                        \
        }                                                                                          \
        fflush(stdout);                                                                            \
    } while (0)

/* A test that cannot run here: "SKIP name (why)", which tests/run.sh
 * counts apart from PASS and FAIL. */
#define SKIP(fn, why)                                                                              \
    do {                                                                                           \
        printf("SKIP %s (%s)\n", #fn, why);                                                        \
        fflush(stdout);                                                                            \
    } while (0)

#define CHECK_EXIT() return check_nfail_ ? 1 : 0

/* A fresh scratch folder /tmp/unroll-NAME-XXXXXX, written into dir: 0, or
 * -1 after a FAIL line (the caller returns 1). */
static inline int check_tmpdir(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "/tmp/unroll-%s-XXXXXX", name);
    if (mkdtemp(dir))
        return 0;
    printf("FAIL mkdtemp %s\n", dir);
    return -1;
}

/* Removes a scratch folder and all it holds; says so when it cannot. */
static inline void check_rmdir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("  could not remove %s\n", dir);
}

#endif
