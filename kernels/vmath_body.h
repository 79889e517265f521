/*
 * vmath_body.h - exp, tanh and sigmoid over one vector of one element
 * type, included by kernels/vmath_int.h once for float and once for
 * double. The includer defines:
 *
 *   ST, SI, SU     the element type and the integers of its width
 *   VF, VI, VU     vectors of those (one width)
 *   K(name)        the type's constants (F_name or D_name, kernels/vmath.c)
 *   EXP_BIAS       the exponent bias (127, 1023)
 *   MANT_BITS      the stored mantissa bits (23, 52)
 *   TANH_CAP       2|x| beyond which tanh rounds to +-1 (20, 44)
 *   VB_FN(name)    the function names of this type and width
 *
 * Not a header of its own; it undefines all of these at its end so that
 * the next type starts clean.
 */

/* e^xc = p 2^n: p from the polynomial, n's bits in *ni */
static inline VF VB_FN(exp_core)(VF xc, VU *ni)
{
    VF t = xc * K(LOG2E) + K(MAGIC);
    VF n = t - K(MAGIC);
    *ni = (VU)t - (VU)((VF){0} + K(MAGIC));
    VF r = (xc - n * K(LN2_HI)) - n * K(LN2_LO);
    return K(POLY_EXP)(r);
}

static inline void VB_FN(exp)(const ST *in, ST *out)
{
    VF x, y;
    memcpy(&x, in, sizeof x);
    const VF big = (VF){0} + K(BIG), small = (VF){0} + K(SMALL);
    VI over = x > big, under = x < small, nan = x != x;
    VF xc = SEL(VF, VI, over, big, x);
    xc = SEL(VF, VI, under, small, xc);
    VU ni;
    VF p = VB_FN(exp_core)(xc, &ni);
    /* floor(n / 2) without an arithmetic shift (there is none of 64 bits
     * before AVX-512), in unsigned arithmetic, so that the garbage lanes
     * of a NaN cannot overflow: n + 2 (EXP_BIAS + 1) >= 0 */
    const SU off = 2 * (EXP_BIAS + 1);
    VU h = ((ni + off) >> 1) - off / 2;
    VF s1 = (VF)((VU)(h + EXP_BIAS) << MANT_BITS);
    VF s2 = (VF)((VU)(ni - h + EXP_BIAS) << MANT_BITS);
    y = p * s1 * s2;
    y = SEL(VF, VI, over, (VF){0} + (ST)__builtin_inf(), y);
    y = SEL(VF, VI, under, (VF){0}, y);
    y = SEL(VF, VI, nan, x, y);
    memcpy(out, &y, sizeof y);
}

/* exp of a vector within +-K(SAFE) (no NaN): the same bits as exp. No
 * lane is clamped or replaced, and p 2^h 2^(n-h) is p 2^n exactly, every
 * product a normal number (multiplying by a power of two is exact then):
 * one scaling instead of two. */
static inline void VB_FN(exp_safe)(const ST *in, ST *out)
{
    VF x, y;
    memcpy(&x, in, sizeof x);
    VU ni;
    VF p = VB_FN(exp_core)(x, &ni);
    y = p * (VF)((VU)(ni + EXP_BIAS) << MANT_BITS);
    memcpy(out, &y, sizeof y);
}

static inline void VB_FN(tanh)(const ST *in, ST *out)
{
    VF x, y;
    memcpy(&x, in, sizeof x);
    const VI signbit = (VI){0} + (SI)((SU)1 << (8 * sizeof(ST) - 1));
    VI nan = x != x;
    VF a = (VF)((VI)x & ~signbit);
    a = a + a;
    const VF cap = (VF){0} + (ST)TANH_CAP;
    a = SEL(VF, VI, a > cap, cap, a);
    VF t = a * K(LOG2E) + K(MAGIC);
    VF n = t - K(MAGIC);
    VU ni = (VU)t - (VU)((VF){0} + K(MAGIC));
    VF r = (a - n * K(LN2_HI)) - n * K(LN2_LO);
    VF q = K(POLY_EXPM1)(r);
    VF s = (VF)((VU)(ni + EXP_BIAS) << MANT_BITS);
    VF m = s * q + (s - (ST)1);
    y = m / (m + (ST)2);
    y = (VF)(((VI)y & ~signbit) | ((VI)x & signbit));
    y = SEL(VF, VI, nan, x, y);
    memcpy(out, &y, sizeof y);
}

/* 1 / (1 + exp(-x)), exp's safe body or its full one (a constant where
 * it is inlined) */
static inline void VB_FN(sigmoid_by)(const ST *in, ST *out, int safe)
{
    VF x, e;
    memcpy(&x, in, sizeof x);
    x = -x;
    if (safe)
        VB_FN(exp_safe)((const ST *)&x, (ST *)&e);
    else
        VB_FN(exp)((const ST *)&x, (ST *)&e);
    e = (ST)1 / ((ST)1 + e);
    memcpy(out, &e, sizeof e);
}

static inline void VB_FN(sigmoid)(const ST *in, ST *out)
{
    VB_FN(sigmoid_by)(in, out, 0);
}

static inline void VB_FN(sigmoid_safe)(const ST *in, ST *out)
{
    VB_FN(sigmoid_by)(in, out, 1);
}

/* Whether every x[i] lies within +-K(SAFE) (NaN does not) */
static inline int VB_FN(all_safe)(const ST *x, int64_t n)
{
    int in = 1;
    for (int64_t i = 0; i < n; i++)
        in &= (x[i] >= -K(SAFE)) & (x[i] <= K(SAFE));
    return in;
}

#undef ST
#undef SI
#undef SU
#undef VF
#undef VI
#undef VU
#undef K
#undef EXP_BIAS
#undef MANT_BITS
#undef TANH_CAP
#undef VB_FN
