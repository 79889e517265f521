/*
 * vmath_int.h - the vector bodies of kernels/vmath.c, included once per
 * vector width. The includer defines VF32/VI32/VU32 and VF64/VI64/VU64
 * (vector types of one width), W32 and W64 (lanes), and VM_FN(name) (the
 * width's function names). Not a header of its own: vmath.c only.
 */

static inline void VM_FN(exp_f)(const float *in, float *out)
{
    VF32 x, y;
    memcpy(&x, in, sizeof x);
    const VF32 big = (VF32){0} + F_BIG, small = (VF32){0} + F_SMALL;
    VI32 over = x > big, under = x < small, nan = x != x;
    VF32 xc = SEL(VF32, VI32, over, big, x);
    xc = SEL(VF32, VI32, under, small, xc);
    VF32 t = xc * F_LOG2E + F_MAGIC;
    VF32 n = t - F_MAGIC;
    VU32 ni = (VU32)t - (VU32)((VF32){0} + F_MAGIC);
    VF32 r = (xc - n * F_LN2_HI) - n * F_LN2_LO;
    VF32 p = F_POLY_EXP(r);
    /* floor(n / 2), in unsigned arithmetic: n + 256 >= 0 (a NaN's lanes
     * compute garbage here, replaced below, and must not overflow) */
    VU32 h = ((ni + 256u) >> 1) - 128u;
    VF32 s1 = (VF32)((VU32)(h + 127) << 23), s2 = (VF32)((VU32)(ni - h + 127) << 23);
    y = p * s1 * s2;
    y = SEL(VF32, VI32, over, (VF32){0} + __builtin_inff(), y);
    y = SEL(VF32, VI32, under, (VF32){0}, y);
    y = SEL(VF32, VI32, nan, x, y);
    memcpy(out, &y, sizeof y);
}

static inline void VM_FN(tanh_f)(const float *in, float *out)
{
    VF32 x, y;
    memcpy(&x, in, sizeof x);
    const VI32 signbit = (VI32){0} + (int32_t)0x80000000u;
    VI32 nan = x != x;
    VF32 a = (VF32)((VI32)x & ~signbit);
    a = a + a;
    const VF32 cap = (VF32){0} + 20.0f; /* tanh(10) rounds to 1 */
    a = SEL(VF32, VI32, a > cap, cap, a);
    VF32 t = a * F_LOG2E + F_MAGIC;
    VF32 n = t - F_MAGIC;
    VU32 ni = (VU32)t - (VU32)((VF32){0} + F_MAGIC);
    VF32 r = (a - n * F_LN2_HI) - n * F_LN2_LO;
    VF32 q = F_POLY_EXPM1(r);
    VF32 s = (VF32)((VU32)(ni + 127) << 23);
    VF32 m = s * q + (s - 1.0f);
    y = m / (m + 2.0f);
    y = (VF32)(((VI32)y & ~signbit) | ((VI32)x & signbit));
    y = SEL(VF32, VI32, nan, x, y);
    memcpy(out, &y, sizeof y);
}

static inline void VM_FN(sigmoid_f)(const float *in, float *out)
{
    VF32 x, e;
    memcpy(&x, in, sizeof x);
    x = -x;
    VM_FN(exp_f)((const float *)&x, (float *)&e);
    e = 1.0f / (1.0f + e);
    memcpy(out, &e, sizeof e);
}

static inline void VM_FN(exp_d)(const double *in, double *out)
{
    VF64 x, y;
    memcpy(&x, in, sizeof x);
    const VF64 big = (VF64){0} + D_BIG, small = (VF64){0} + D_SMALL;
    VI64 over = x > big, under = x < small, nan = x != x;
    VF64 xc = SEL(VF64, VI64, over, big, x);
    xc = SEL(VF64, VI64, under, small, xc);
    VF64 t = xc * D_LOG2E + D_MAGIC;
    VF64 n = t - D_MAGIC;
    VU64 ni = (VU64)t - (VU64)((VF64){0} + D_MAGIC);
    VF64 r = (xc - n * D_LN2_HI) - n * D_LN2_LO;
    VF64 p = D_POLY_EXP(r);
    /* floor(n / 2) without a 64-bit arithmetic shift (none before
     * AVX-512), in unsigned arithmetic (garbage lanes of a NaN must not
     * overflow): n + 2048 >= 0 */
    VU64 h = ((ni + 2048u) >> 1) - 1024u;
    VF64 s1 = (VF64)((VU64)(h + 1023) << 52), s2 = (VF64)((VU64)(ni - h + 1023) << 52);
    y = p * s1 * s2;
    y = SEL(VF64, VI64, over, (VF64){0} + __builtin_inf(), y);
    y = SEL(VF64, VI64, under, (VF64){0}, y);
    y = SEL(VF64, VI64, nan, x, y);
    memcpy(out, &y, sizeof y);
}

static inline void VM_FN(tanh_d)(const double *in, double *out)
{
    VF64 x, y;
    memcpy(&x, in, sizeof x);
    const VI64 signbit = (VI64){0} + (int64_t)0x8000000000000000ull;
    VI64 nan = x != x;
    VF64 a = (VF64)((VI64)x & ~signbit);
    a = a + a;
    const VF64 cap = (VF64){0} + 44.0; /* tanh(22) rounds to 1 */
    a = SEL(VF64, VI64, a > cap, cap, a);
    VF64 t = a * D_LOG2E + D_MAGIC;
    VF64 n = t - D_MAGIC;
    VU64 ni = (VU64)t - (VU64)((VF64){0} + D_MAGIC);
    VF64 r = (a - n * D_LN2_HI) - n * D_LN2_LO;
    VF64 q = D_POLY_EXPM1(r);
    VF64 s = (VF64)((VU64)(ni + 1023) << 52);
    VF64 m = s * q + (s - 1.0);
    y = m / (m + 2.0);
    y = (VF64)(((VI64)y & ~signbit) | ((VI64)x & signbit));
    y = SEL(VF64, VI64, nan, x, y);
    memcpy(out, &y, sizeof y);
}

static inline void VM_FN(sigmoid_d)(const double *in, double *out)
{
    VF64 x, e;
    memcpy(&x, in, sizeof x);
    x = -x;
    VM_FN(exp_d)((const double *)&x, (double *)&e);
    e = 1.0 / (1.0 + e);
    memcpy(out, &e, sizeof e);
}


#define VM_ARRAY_LOOP(name, T, W, block)                                                   \
    static void VM_FN(name)(const T *x, T *y, int64_t n)                                   \
    {                                                                                      \
        int64_t i = 0;                                                                     \
        for (; i + W <= n; i += W)                                                         \
            block(x + i, y + i);                                                           \
        if (i < n) {                                                                       \
            T buf[W] = {0};                                                                \
            memcpy(buf, x + i, (size_t)(n - i) * sizeof(T));                               \
            block(buf, buf);                                                               \
            memcpy(y + i, buf, (size_t)(n - i) * sizeof(T));                               \
        }                                                                                  \
    }

VM_ARRAY_LOOP(exp_f32, float, W32, VM_FN(exp_f))
VM_ARRAY_LOOP(exp_f64, double, W64, VM_FN(exp_d))
VM_ARRAY_LOOP(tanh_f32, float, W32, VM_FN(tanh_f))
VM_ARRAY_LOOP(tanh_f64, double, W64, VM_FN(tanh_d))
VM_ARRAY_LOOP(sigmoid_f32, float, W32, VM_FN(sigmoid_f))
VM_ARRAY_LOOP(sigmoid_f64, double, W64, VM_FN(sigmoid_d))

#undef VM_ARRAY_LOOP
