/*
 * smallmm_int.h - the vector body of kernels/smallmm.c, included once per
 * element type and vector unit. The includer defines:
 *
 *   ST           the element type (double, float)
 *   VT           a vector of W elements
 *   MT           a lane mask for the last, partial vector of a row
 *   W            lanes per vector
 *   NVMAX        the most vectors a one-row tile holds
 *   MASK(n)      the mask of the first n lanes (1 <= n <= W)
 *   ZERO()       LOAD(p)  LOADM(p, m)  STORE(p, v)  STOREM(p, m, v)
 *   SET1(x)      FMA(a, b, c) = a * b + c rounded once   ADD(a, b)
 *   SMM_FN(name) the function names of this variant
 *
 * Not a header of its own: smallmm.c only. It undefines all of these but
 * NVMAX at its end, so the next variant starts clean.
 */

/*
 * One tile: rows i0 .. i0+MR-1 of C, columns j0 .. j0+NV*W-1 (the last
 * vector masked by m). MR and NV are constants where it is inlined, so
 * the accumulators live in registers. a(i, k) = A[i*sai + k*sak].
 */
static inline __attribute__((always_inline)) void
SMM_FN(tile)(const int MR, const int NV, int64_t K, const ST *A, int64_t sai, int64_t sak,
             const ST *B, int64_t ldb, ST *C, int64_t ldc, MT m, int acc, const ST *bias)
{
    VT c[4][NVMAX];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            c[r][v] = ZERO();
    for (int64_t k = 0; k < K; k++) {
        const ST *b = B + k * ldb;
        VT bv[NVMAX];
        for (int v = 0; v < NV - 1; v++)
            bv[v] = LOAD(b + v * W);
        bv[NV - 1] = LOADM(b + (NV - 1) * W, m);
        for (int r = 0; r < MR; r++) {
            VT a = SET1(A[r * sai + k * sak]);
            for (int v = 0; v < NV; v++)
                c[r][v] = FMA(a, bv[v], c[r][v]);
        }
    }
    for (int r = 0; r < MR; r++) {
        ST *cr = C + r * ldc;
        for (int v = 0; v < NV - 1; v++) {
            VT x = acc ? ADD(LOAD(cr + v * W), c[r][v]) : c[r][v];
            STORE(cr + v * W, bias ? ADD(x, LOAD(bias + v * W)) : x);
        }
        ST *cl = cr + (NV - 1) * W;
        VT x = acc ? ADD(LOADM(cl, m), c[r][NV - 1]) : c[r][NV - 1];
        STOREM(cl, m, bias ? ADD(x, LOADM(bias + (NV - 1) * W, m)) : x);
    }
}

/* Rows of up to 4 with columns in panels of up to 3 vectors; a one-row
 * product (a matrix-vector product) takes its columns in as few panels of
 * up to NVMAX vectors as it can, of equal widths: enough independent
 * chains to hide the latency of the fused adds, and each row of B read
 * once, whole, from the cache. */
#define SMM_TILE_CASE(mr, nv)                                                                      \
    case (mr)*32 + (nv):                                                                           \
        SMM_FN(tile)                                                                               \
        (mr, nv, K, a, sai, sak, B + j0, ldb, C + i0 * ldc + j0, ldc, m, acc,                      \
         bias ? bias + j0 : NULL);                                                                 \
        break;
#define SMM_TILE_ROW(mr) SMM_TILE_CASE(mr, 1) SMM_TILE_CASE(mr, 2) SMM_TILE_CASE(mr, 3)

static void SMM_FN(run)(int ta, int64_t M, int64_t N, int64_t K, const ST *A, int64_t lda,
                        const ST *B, int64_t ldb, ST *C, int64_t ldc, int acc, const ST *bias)
{
    int64_t sai = ta ? 1 : lda, sak = ta ? lda : 1;
    int64_t nvec = (N + W - 1) / W;
    for (int64_t i0 = 0; i0 < M; i0 += 4) {
        int mr = M - i0 < 4 ? (int)(M - i0) : 4;
        const ST *a = A + i0 * sai;
        int64_t most = mr == 1 ? NVMAX : 3, panels = (nvec + most - 1) / most;
        int64_t nvp = (nvec + panels - 1) / panels;
        for (int64_t j0 = 0; j0 < N; j0 += nvp * W) {
            int64_t cols = N - j0 < nvp * W ? N - j0 : nvp * W;
            int nv = (int)((cols + W - 1) / W);
            MT m = MASK((int)(cols - (int64_t)(nv - 1) * W));
            /* one case per tile, as the macro lays them out */
            /* clang-format off */
            switch (mr * 32 + nv) {
                SMM_TILE_ROW(1)
                SMM_TILE_CASE(1, 4) SMM_TILE_CASE(1, 5) SMM_TILE_CASE(1, 6)
                SMM_TILE_CASE(1, 7) SMM_TILE_CASE(1, 8) SMM_TILE_CASE(1, 9)
                SMM_TILE_CASE(1, 10) SMM_TILE_CASE(1, 11) SMM_TILE_CASE(1, 12)
#if NVMAX > 12
                SMM_TILE_CASE(1, 13) SMM_TILE_CASE(1, 14) SMM_TILE_CASE(1, 15)
                SMM_TILE_CASE(1, 16)
#endif
                SMM_TILE_ROW(2)
                SMM_TILE_ROW(3)
                SMM_TILE_ROW(4)
            default:
                break;
            }
            /* clang-format on */
        }
    }
}

#undef SMM_TILE_CASE
#undef SMM_TILE_ROW

#undef W
#undef ST
#undef VT
#undef MT
#undef MASK
#undef ZERO
#undef LOAD
#undef LOADM
#undef STORE
#undef STOREM
#undef SET1
#undef FMA
#undef ADD
#undef SMM_FN
