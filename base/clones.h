/*
 * clones.h - UNROLL_CLONES before a function compiles it for the widest
 * vector unit the CPU has (AVX-512, AVX2, or the baseline), chosen when the
 * program loads (GCC's target clones; elsewhere the baseline alone).
 *
 * Only for loops whose every operation is elementwise and correctly
 * rounded (adds, multiplies, divisions, square roots, comparisons), in an
 * order the source fixes: each version then gives the same bits, and the
 * determinism contract does not see which one ran.
 */
#ifndef UNROLL_CLONES_H
#define UNROLL_CLONES_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define UNROLL_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define UNROLL_CLONES
#endif

#endif
