/*
 * sha256.h - SHA-256 (FIPS 180-4) for content-addressing tensors and
 * hashing configs in the checkpoint store.
 *
 * Streaming: init, any number of updates, final. A context is plain data
 * (no allocation), so one can live on the stack. Digests are 32 bytes;
 * the store always shows and keys them as 64 lowercase hex characters.
 */
#ifndef UNROLL_SHA256_H
#define UNROLL_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_HEX_SIZE 65 /* 64 hex digits and the terminating NUL */

typedef struct sha256_ctx {
    uint32_t h[8];     /* chaining state */
    uint64_t nbytes;   /* message length so far, in bytes */
    uint8_t block[64]; /* partial block awaiting compression */
    size_t nblock;     /* bytes used in block, always < 64 between calls */
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
/* Pads, writes the digest, and leaves c unusable until sha256_init. */
void sha256_final(sha256_ctx *c, uint8_t out[SHA256_DIGEST_SIZE]);

/* Lowercase hex of a digest into out (65 bytes, NUL-terminated). */
void sha256_to_hex(const uint8_t d[SHA256_DIGEST_SIZE], char out[SHA256_HEX_SIZE]);
/* One-shot digest of a buffer as hex. */
void sha256_hex(const void *data, size_t n, char out[SHA256_HEX_SIZE]);

#endif
