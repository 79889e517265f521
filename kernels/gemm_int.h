/*
 * gemm_int.h - the vector body of kernels/gemm.c, included once per
 * element type and vector unit. The includer defines:
 *
 *   ST, VT       the element type and a vector of W of them
 *   W            lanes per vector
 *   MR, NV       a tile: MR rows of C by NV vectors (NR = NV * W columns)
 *   ZERO() LOAD(p) STORE(p, v) SET1(x) ADD(a, b)
 *   FMA(a, b, c) a * b + c rounded once
 *   TRB, TRANS(d, ldd, s, lds)  a TRB x TRB block transposed:
 *                d[k * ldd + c] = s[c * lds + k] (TRB 1: one element)
 *   GFN(name)    the function names of this variant
 *
 * Not a header of its own: gemm.c only. It undefines all of these at its
 * end, so the next variant starts clean.
 *
 * Packed B (op(B), K x N): panels of NR columns, panel p holding columns
 * p*NR .. p*NR+NR-1 as K rows of NR elements (zero past N). A is read in
 * place: row i, column k of op(A) is A[i*lda + k], or A[k*lda + i] when
 * transposed; a tile's MR rows of A are read once per tile from L1 or L2.
 */

#define NR (NV * W)

/*
 * The chains of a tile: c[r][v] (r < mr, v < nv) += the products over k =
 * 0 .. K-1 in order, each row's B vectors loaded once per k. Inlined into
 * each tile, where mr and nv are constants.
 */
static inline __attribute__((always_inline)) void GFN(chains)(const int mr, const int ta,
                                                              const int nv, int64_t K, const ST *a,
                                                              int64_t lda, const ST *pb,
                                                              VT c[MR][NV])
{
    for (int64_t k = 0; k < K; k++) {
        VT b[NV];
        for (int v = 0; v < nv; v++)
            b[v] = LOAD(pb + k * NR + v * W);
        for (int r = 0; r < mr; r++) {
            VT x = SET1(ta ? a[k * lda + r] : a[r * lda + k]);
            for (int v = 0; v < nv; v++)
                c[r][v] = FMA(x, b[v], c[r][v]);
        }
    }
}

/*
 * One tile: rows i .. i+mr-1 of C (mr <= MR) by the first nv vectors of
 * one panel of NR columns, of which the first nc are stored. Each lane of
 * c[r][v] is one element's chain over k = 0 .. K-1, started from zero;
 * accumulating adds the finished sum to C once. A partial tile computes
 * in full (zeros in the padding) and stores through a buffer: the same
 * arithmetic per element. A last panel of at most one vector's columns
 * (65 symbols: 64 + 1) computes that vector alone.
 */
static inline __attribute__((always_inline)) void
GFN(tile)(const int mr, const int ta, const int nv, int64_t K, const ST *a, int64_t lda,
          const ST *pb, ST *C, int64_t ldc, int nc, int acc, const ST *bias, const ST *ad, int ct,
          int cont)
{
    VT c[MR][NV];
    ST tmp[NR];
    for (int r = 0; r < mr; r++)
        for (int v = 0; v < nv; v++)
            c[r][v] = ZERO();
    /* cont: the chains go on from where an earlier pass over k left them
     * in C (gemm.c: kc) */
    for (int r = 0; cont && r < mr; r++) {
        for (int j = 0; j < NR; j++)
            tmp[j] = j < nc ? C[r * ldc + j] : 0;
        for (int v = 0; v < nv; v++)
            c[r][v] = LOAD(tmp + v * W);
    }
    GFN(chains)(mr, ta, nv, K, a, lda, pb, c);
    /* what is accumulated onto: C, or the addend in its stead */
    const ST *q = ad ? ad : C;
    if (ct) {
        /* C stored transposed: row r's element j at C[j * ldc + r], and
         * the bias is the row's (gemm.c: gemm_swap) */
        for (int r = 0; r < mr; r++) {
            for (int v = 0; v < nv; v++)
                STORE(tmp + v * W, c[r][v]);
            for (int j = 0; j < nc; j++) {
                ST x = acc ? q[j * ldc + r] + tmp[j] : tmp[j];
                C[j * ldc + r] = bias ? x + bias[r] : x;
            }
        }
        return;
    }
    if (nc == NR) {
        for (int r = 0; r < mr; r++)
            for (int v = 0; v < NV; v++) {
                ST *p = C + r * ldc + v * W;
                VT x = acc ? ADD(LOAD(q + r * ldc + v * W), c[r][v]) : c[r][v];
                STORE(p, bias ? ADD(x, LOAD(bias + v * W)) : x);
            }
        return;
    }
    for (int r = 0; r < mr; r++) {
        for (int v = 0; v < nv; v++)
            STORE(tmp + v * W, c[r][v]);
        ST *p = C + r * ldc;
        for (int j = 0; j < nc; j++) {
            ST x = acc ? q[r * ldc + j] + tmp[j] : tmp[j];
            p[j] = bias ? x + bias[j] : x;
        }
    }
}

/*
 * A whole tile (MR rows by NR columns, C stored as it is: all but a
 * product's last rows and last panel, and a swapped product; the chains
 * from zero, or with cont from C, a later pass over K) without the buffer the
 * other paths store through, so that the compiler keeps the accumulators
 * in registers from the first fused add to the store. With the buffer in
 * the body it kept them in memory around the loop: at K = 25 (a weight
 * gradient of 25 steps) a tile spent a third of its time outside the loop
 * (96 x 96 x 25 in float32: 73% of the FMA peak, 86% with this one). The
 * same arithmetic in the same order: the same bits. Only whole tiles: the
 * last rows too (a body per row count) took gemm.c a fifth longer to
 * compile for nothing measurable.
 */
static inline __attribute__((always_inline)) void
GFN(tile_panel)(const int ta, int64_t K, const ST *a, int64_t lda, const ST *pb, ST *C, int64_t ldc,
                int acc, const ST *bias, const ST *ad, int cont)
{
    VT c[MR][NV];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++)
            c[r][v] = cont ? LOAD(C + r * ldc + v * W) : ZERO();
    GFN(chains)(MR, ta, NV, K, a, lda, pb, c);
    const ST *q = ad ? ad : C;
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) {
            VT x = acc ? ADD(LOAD(q + r * ldc + v * W), c[r][v]) : c[r][v];
            STORE(C + r * ldc + v * W, bias ? ADD(x, LOAD(bias + v * W)) : x);
        }
}

/* whole tiles in functions of their own, so that the block around them
 * does not crowd the rows' strides out of registers (gemm.c: GEMM_CALL_K) */
static __attribute__((noinline)) void GFN(panel_a)(int64_t K, const ST *a, int64_t lda,
                                                   const ST *pb, ST *C, int64_t ldc, int acc,
                                                   const ST *bias, const ST *ad, int cont)
{
    GFN(tile_panel)(0, K, a, lda, pb, C, ldc, acc, bias, ad, cont);
}
static __attribute__((noinline)) void GFN(panel_at)(int64_t K, const ST *a, int64_t lda,
                                                    const ST *pb, ST *C, int64_t ldc, int acc,
                                                    const ST *bias, const ST *ad, int cont)
{
    GFN(tile_panel)(1, K, a, lda, pb, C, ldc, acc, bias, ad, cont);
}

#define GEMM_TILE_CASE(mr)                                                                         \
    case mr:                                                                                       \
        if (ta && nc <= W)                                                                         \
            GFN(tile)(mr, 1, 1, K, a, alda, b, c, ldc, nc, acc, bj, aj, ct, cont);                 \
        else if (ta)                                                                               \
            GFN(tile)(mr, 1, NV, K, a, alda, b, c, ldc, nc, acc, bj, aj, ct, cont);                \
        else if (nc <= W)                                                                          \
            GFN(tile)(mr, 0, 1, K, a, alda, b, c, ldc, nc, acc, bj, aj, ct, cont);                 \
        else                                                                                       \
            GFN(tile)(mr, 0, NV, K, a, alda, b, c, ldc, nc, acc, bj, aj, ct, cont);                \
        break;

/*
 * Rows i0 .. i1-1 of C by panels p0 .. p1-1 of packed B (pb points at
 * panel p0). Rows outside, panels inside: a tile's rows of A stay in L1
 * while every panel of the block streams past them from L2. With apk, A
 * was packed by GFN(pack_at) for exactly these rows; with a bias (C's
 * columns from 0), each stored element gets its column's added. With ct,
 * C is stored transposed ([N, ldc]) and the bias is per row. With cont,
 * each element's chain starts from C, not from zero.
 */
static void GFN(block)(int ta, int64_t K, const void *Av, int64_t lda, int64_t i0, int64_t i1,
                       const void *pbv, int64_t p0, int64_t p1, int64_t N, void *Cv, int64_t ldc,
                       int acc, const void *apk, const void *biasv, const void *addv, int ct,
                       int cont)
{
    const ST *A = Av, *pb = pbv, *bias = biasv, *addend = addv;
    ST *C = Cv;
    for (int64_t i = i0; i < i1; i += MR) {
        int mr = i1 - i < MR ? (int)(i1 - i) : MR;
        const ST *a = ta ? A + i : A + i * lda;
        int64_t alda = lda;
        if (apk) {
            a = (const ST *)apk + (i - i0) * K;
            alda = MR;
        }
        for (int64_t p = p0; p < p1; p++) {
            int64_t j = p * NR;
            int nc = N - j < NR ? (int)(N - j) : NR;
            /* C's element (i, j), and its bias (ct: see the tile) */
            int64_t at = ct ? j * ldc + i : i * ldc + j;
            const ST *b = pb + (p - p0) * K * NR, *bj = bias ? bias + (ct ? i : j) : NULL;
            ST *c = C + at;
            const ST *aj = addend ? addend + at : NULL;
            if (mr == MR && nc == NR && !ct) {
                if (K >= GEMM_CALL_K)
                    (ta ? GFN(panel_at) : GFN(panel_a))(K, a, alda, b, c, ldc, acc, bj, aj, cont);
                else if (ta)
                    GFN(tile_panel)(1, K, a, alda, b, c, ldc, acc, bj, aj, cont);
                else
                    GFN(tile_panel)(0, K, a, alda, b, c, ldc, acc, bj, aj, cont);
                continue;
            }
            /* one case per tile, as the macro lays them out */
            /* clang-format off */
            switch (mr) {
#if MR > 6
                GEMM_TILE_CASE(8) GEMM_TILE_CASE(7)
#endif
#if MR > 4
                GEMM_TILE_CASE(6) GEMM_TILE_CASE(5)
#endif
                GEMM_TILE_CASE(4) GEMM_TILE_CASE(3)
                GEMM_TILE_CASE(2) GEMM_TILE_CASE(1)
            default:
                break;
            }
            /* clang-format on */
        }
    }
}

/*
 * Rows i0 .. i1-1 of a transposed A (stored [K, lda]) into dst as tiles of
 * MR rows, each K x MR contiguous (the tile reads it with ta = 1, lda =
 * MR; a last tile of fewer rows leaves its other lanes unwritten, and the
 * tile reads only its rows). Read in place, a tile's MR elements of each k
 * lie a row of A apart: with rows of a power of two (1024 floats: the
 * weight gradients) all of them fall into a few cache sets and, in
 * float64, onto more pages than the TLB holds, so the tile's A left the
 * caches before the next panel read it (measured: half the speed in
 * float32, a third in float64). Copied here GEMM_PACK_KB rows of A at a time
 * (they stay in L1), each tile's MR elements of a row at once, so each
 * tile gets GEMM_PACK_KB * MR contiguous elements per pass.
 */
static void GFN(pack_at)(int64_t K, const void *Av, int64_t lda, int64_t i0, int64_t i1, void *dstv)
{
    const ST *A = Av;
    ST *dst = dstv;
    int64_t full = (i1 - i0) / MR;
    int rem = (int)((i1 - i0) % MR);
    for (int64_t k0 = 0; k0 < K; k0 += GEMM_PACK_KB) {
        int64_t k1 = k0 + GEMM_PACK_KB < K ? k0 + GEMM_PACK_KB : K;
        for (int64_t t = 0; t <= full; t++) {
            const ST *src = A + i0 + t * MR;
            ST *d = dst + t * K * MR;
            if (t < full)
                for (int64_t k = k0; k < k1; k++)
                    memcpy(d + k * MR, src + k * lda, MR * sizeof(ST));
            else
                for (int64_t k = k0; k < k1; k++)
                    for (int r = 0; r < rem; r++)
                        d[k * MR + r] = src[k * lda + r];
        }
    }
}

/*
 * Panels p0 .. p1-1 of op(B) into dst (K * NR elements each, zero past N).
 * Both ways GEMM_PACK_KB rows of op(B) at a time: untransposed, those rows of B
 * are read whole (in order, from L1 for every panel after the first) and
 * each panel gets GEMM_PACK_KB * NR contiguous elements; transposed (B^T: each
 * column of a panel is a row of B), a panel's GEMM_PACK_KB x NR block is
 * written column by column from contiguous runs of B's rows, and stays in
 * L1 while it is.
 */
static void GFN(pack)(int tb, int64_t K, const void *Bv, int64_t ldb, int64_t N, int64_t p0,
                      int64_t p1, void *dstv)
{
    const ST *B = Bv;
    ST *dst = dstv;
    for (int64_t k0 = 0; k0 < K; k0 += GEMM_PACK_KB) {
        int64_t k1 = k0 + GEMM_PACK_KB < K ? k0 + GEMM_PACK_KB : K;
        for (int64_t p = p0; p < p1; p++) {
            int64_t j0 = p * NR;
            int nc = N - j0 < NR ? (int)(N - j0) : NR;
            ST *d = dst + (p - p0) * K * NR;
            if (!tb && nc == NR) {
                for (int64_t k = k0; k < k1; k++)
                    for (int v = 0; v < NV; v++)
                        STORE(d + k * NR + v * W, LOAD(B + k * ldb + j0 + v * W));
                continue;
            }
            if (nc < NR)
                for (int64_t k = k0; k < k1; k++)
                    for (int c = nc; c < NR; c++)
                        d[k * NR + c] = 0;
            if (!tb) {
                for (int64_t k = k0; k < k1; k++)
                    for (int c = 0; c < nc; c++)
                        d[k * NR + c] = B[k * ldb + j0 + c];
                continue;
            }
            /* TRB x TRB blocks in registers, then what is left one by one */
            for (int c = 0; c < nc; c += TRB) {
                const ST *col = B + (j0 + c) * ldb;
                int64_t k = k0;
                if (c + TRB <= nc)
                    for (; k + TRB <= k1; k += TRB)
                        TRANS(d + k * NR + c, NR, col + k, ldb);
                int ce = c + TRB < nc ? c + TRB : nc;
                for (; k < k1; k++)
                    for (int cc = c; cc < ce; cc++)
                        d[k * NR + cc] = col[(cc - c) * ldb + k];
            }
        }
    }
}

#undef GEMM_TILE_CASE
#undef NR
#undef W
#undef MR
#undef NV
#undef ST
#undef VT
#undef ZERO
#undef LOAD
#undef STORE
#undef SET1
#undef FMA
#undef ADD
#undef TRB
#undef TRANS
#undef GFN
