/*
 * vmath_int.h - the vector bodies of kernels/vmath.c, included once per
 * vector width. The includer defines VM_BYTES (the vector's size),
 * VM_FN(name) (the width's function names) and VM_TAIL_IN(T, buf, src,
 * m), VM_TAIL_OUT(T, dst, buf, m) (m < W elements of type T between an
 * array and a vector's buffer, the rest of buf zero); this file undefines
 * them at its end. Not a header of its own: vmath.c only.
 */

typedef float VM_FN(vf32) __attribute__((vector_size(VM_BYTES)));
typedef int32_t VM_FN(vi32) __attribute__((vector_size(VM_BYTES)));
typedef uint32_t VM_FN(vu32) __attribute__((vector_size(VM_BYTES)));
typedef double VM_FN(vf64) __attribute__((vector_size(VM_BYTES)));
typedef int64_t VM_FN(vi64) __attribute__((vector_size(VM_BYTES)));
typedef uint64_t VM_FN(vu64) __attribute__((vector_size(VM_BYTES)));

#define ST float
#define SI int32_t
#define SU uint32_t
#define VF VM_FN(vf32)
#define VI VM_FN(vi32)
#define VU VM_FN(vu32)
#define K(name) F_##name
#define EXP_BIAS 127
#define MANT_BITS 23
#define TANH_CAP 20 /* tanh(10) rounds to 1 */
#define VB_FN(name) VM_FN(name##_f)
#include "kernels/vmath_body.h"

#define ST double
#define SI int64_t
#define SU uint64_t
#define VF VM_FN(vf64)
#define VI VM_FN(vi64)
#define VU VM_FN(vu64)
#define K(name) D_##name
#define EXP_BIAS 1023
#define MANT_BITS 52
#define TANH_CAP 44 /* tanh(22) rounds to 1 */
#define VB_FN(name) VM_FN(name##_d)
#include "kernels/vmath_body.h"

/* An array's last n < W elements, padded with zeros, into buf, and back
 * out of it: where the width has masked loads and stores (VM_TAIL_IN and
 * VM_TAIL_OUT, defined by vmath.c), one of each. A memcpy call there
 * spilled every constant of the body around it and stalled the vector
 * load of the bytes it had just stored: a 65-element row's exp took as
 * long for its one last element as for its first 64. */
#define VM_ARRAY_LOOP(name, T, W, block)                                                           \
    static void VM_FN(name)(const T *x, T *y, int64_t n)                                           \
    {                                                                                              \
        int64_t i = 0;                                                                             \
        for (; i + W <= n; i += W)                                                                 \
            block(x + i, y + i);                                                                   \
        if (i < n) {                                                                               \
            T buf[W];                                                                              \
            VM_TAIL_IN(T, buf, x + i, (int)(n - i));                                               \
            block(buf, buf);                                                                       \
            VM_TAIL_OUT(T, y + i, buf, (int)(n - i));                                              \
        }                                                                                          \
    }

VM_ARRAY_LOOP(exp_all_f32, float, VM_BYTES / 4, VM_FN(exp_f))
VM_ARRAY_LOOP(exp_all_f64, double, VM_BYTES / 8, VM_FN(exp_d))
VM_ARRAY_LOOP(exp_safe_f32, float, VM_BYTES / 4, VM_FN(exp_safe_f))
VM_ARRAY_LOOP(exp_safe_f64, double, VM_BYTES / 8, VM_FN(exp_safe_d))
VM_ARRAY_LOOP(tanh_f32, float, VM_BYTES / 4, VM_FN(tanh_f))
VM_ARRAY_LOOP(tanh_f64, double, VM_BYTES / 8, VM_FN(tanh_d))
VM_ARRAY_LOOP(sigmoid_all_f32, float, VM_BYTES / 4, VM_FN(sigmoid_f))
VM_ARRAY_LOOP(sigmoid_all_f64, double, VM_BYTES / 8, VM_FN(sigmoid_d))
VM_ARRAY_LOOP(sigmoid_safe_f32, float, VM_BYTES / 4, VM_FN(sigmoid_safe_f))
VM_ARRAY_LOOP(sigmoid_safe_f64, double, VM_BYTES / 8, VM_FN(sigmoid_safe_d))

/* An array whose every element is safe (the activations of a network
 * that trains: nearly always) takes the shorter body; the bits are the
 * same (vmath_body.h: exp_safe). The test costs a compare an element. */
#define VM_ARRAY_SAFE(fn, ty, T, sfx)                                                              \
    static void VM_FN(fn##_##ty)(const T *x, T *y, int64_t n)                                      \
    {                                                                                              \
        if (VM_FN(all_safe_##sfx)(x, n))                                                           \
            VM_FN(fn##_safe_##ty)(x, y, n);                                                        \
        else                                                                                       \
            VM_FN(fn##_all_##ty)(x, y, n);                                                         \
    }
VM_ARRAY_SAFE(exp, f32, float, f)
VM_ARRAY_SAFE(exp, f64, double, d)
VM_ARRAY_SAFE(sigmoid, f32, float, f)
VM_ARRAY_SAFE(sigmoid, f64, double, d)
#undef VM_ARRAY_SAFE

#undef VM_ARRAY_LOOP
#undef VM_TAIL_IN
#undef VM_TAIL_OUT
#undef VM_BYTES
#undef VM_FN
