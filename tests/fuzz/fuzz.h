/*
 * fuzz.h - what every fuzz target shares.
 *
 * A target is one file tests/fuzz/fuzz_NAME.c defining
 * LLVMFuzzerTestOneInput. It is linked two ways: with libFuzzer
 * (`make fuzz`, clang -fsanitize=fuzzer) to search for crashes, and with
 * tests/fuzz/driver.c (any C compiler) so that `make test` replays the
 * seed corpus and the regression inputs through the very same code.
 *
 * A target calls in-memory entry points only, frees everything it got
 * whatever the outcome (LeakSanitizer checks each input), and checks the
 * contracts the headers promise with FUZZ_CHECK: a broken promise aborts,
 * so the fuzzer reports it like a crash.
 */
#ifndef UNROLL_FUZZ_H
#define UNROLL_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);     \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* A failed call must leave a code and one printable line: library errors
 * end up on a terminal, so raw control bytes from the input must not. */
#define FUZZ_CHECK_ERR(e)                                                                  \
    do {                                                                                   \
        FUZZ_CHECK((e)->code != 0 && (e)->msg[0] != '\0');                                 \
        for (const char *p_ = (e)->msg; *p_; p_++)                                         \
            if ((unsigned char)*p_ < 0x20 || *p_ == 0x7F) {                                \
                fprintf(stderr, "message with control byte 0x%02X: %s\n",                 \
                        (unsigned)(unsigned char)*p_, (e)->msg);                           \
                abort();                                                                   \
            }                                                                              \
    } while (0)

#endif
