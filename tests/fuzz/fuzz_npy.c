/*
 * fuzz_npy.c - the .npy reader (store/npy.h) on bytes in memory.
 *
 * Promises checked on success: a dtype we support, rank 0..4, and exactly
 * as many data bytes as the shape needs, all of them readable (summed, so
 * AddressSanitizer sees any that are not).
 */
#include "store/npy.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dtype dt;
    shape s;
    void *out = (void *)1;
    uerr e = {0};
    if (npy_parse(data, size, "fuzz.npy", &dt, &s, &out, &e)) {
        FUZZ_CHECK_ERR(&e);
        FUZZ_CHECK(out == NULL);
        return 0;
    }
    FUZZ_CHECK(out != NULL);
    FUZZ_CHECK(dt == DT_F32 || dt == DT_F64 || dt == DT_I32);
    FUZZ_CHECK(s.rank >= 0 && s.rank <= TENSOR_MAX_RANK);
    uint64_t numel = 1;
    for (int i = 0; i < s.rank; i++) {
        FUZZ_CHECK(s.dim[i] >= 0);
        numel *= (uint64_t)s.dim[i];
    }
    /* the data came from the input: never more of it than input bytes */
    FUZZ_CHECK(numel * dtype_size(dt) <= size);
    FUZZ_CHECK((uint64_t)shape_numel(&s) == numel);
    unsigned sum = 0;
    const unsigned char *b = out;
    for (uint64_t i = 0; i < numel * dtype_size(dt); i++)
        sum += b[i];
    (void)sum;
    free(out);
    return 0;
}
