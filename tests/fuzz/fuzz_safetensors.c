/*
 * fuzz_safetensors.c - the safetensors reader (store/safetensors.h) on
 * bytes in memory, sft_parse, which sft_read calls on a whole file.
 *
 * Promises checked on success: every tensor has a supported dtype, a
 * name, rank 0..4 and exactly the bytes its shape needs, all readable;
 * together the tensors hold no more bytes than the input.
 */
#include "store/safetensors.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sft_file f;
    uerr e = {0};
    if (sft_parse(data, size, "fuzz.safetensors", &f, &e)) {
        FUZZ_CHECK_ERR(&e);
        FUZZ_CHECK(f.n == 0 && f.t == NULL && f.meta == NULL);
        return 0;
    }
    uint64_t total = 0;
    for (int i = 0; i < f.n; i++) {
        const sft_loaded *t = &f.t[i];
        FUZZ_CHECK(t->name && t->name[0] && t->data);
        FUZZ_CHECK(t->dt == DT_F32 || t->dt == DT_F64 || t->dt == DT_I32);
        FUZZ_CHECK(t->shape.rank >= 0 && t->shape.rank <= TENSOR_MAX_RANK);
        uint64_t numel = 1;
        for (int d = 0; d < t->shape.rank; d++) {
            FUZZ_CHECK(t->shape.dim[d] >= 0);
            numel *= (uint64_t)t->shape.dim[d];
        }
        FUZZ_CHECK(numel * dtype_size(t->dt) == t->nbytes);
        unsigned sum = 0;
        for (size_t k = 0; k < t->nbytes; k++)
            sum += ((const unsigned char *)t->data)[k];
        (void)sum;
        total += t->nbytes;
    }
    FUZZ_CHECK(total <= size);
    for (int i = 0; i < 2 * f.nmeta; i++)
        FUZZ_CHECK(f.meta[i] != NULL);
    sft_free(&f);
    return 0;
}
