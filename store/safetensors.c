/* safetensors.c - see safetensors.h. */
#include "store/safetensors.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/infile.h"
#include "base/outfile.h"
#include "store/json.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors data is little-endian and copied as is: the host must be too"
#endif

/* The dtypes of the format; only the first three map to ours. */
static const struct {
    const char *name;
    int ours; /* dtype, or -1 */
} sft_dtypes[] = {
    {"F32", DT_F32}, {"F64", DT_F64}, {"I32", DT_I32}, {"F16", -1},     {"BF16", -1},
    {"I64", -1},     {"I16", -1},     {"I8", -1},      {"U8", -1},      {"U16", -1},
    {"U32", -1},     {"U64", -1},     {"BOOL", -1},    {"F8_E4M3", -1}, {"F8_E5M2", -1},
};

static const char *sft_dtype_name(dtype dt)
{
    return dt == DT_F32 ? "F32" : dt == DT_F64 ? "F64" : dt == DT_I32 ? "I32" : NULL;
}

void sft_free(sft_file *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        free(f->t[i].name);
        free(f->t[i].data);
    }
    for (int i = 0; i < 2 * f->nmeta; i++)
        free(f->meta[i]);
    free(f->t);
    free(f->meta);
    memset(f, 0, sizeof *f);
}

/* ---- writing ------------------------------------------------------------ */

int sft_write(const char *path, const sft_tensor *t, int n, const char *const *meta, int nmeta,
              uerr *e)
{
    char *hdr = NULL;
    size_t hlen = 0;
    FILE *m = open_memstream(&hdr, &hlen);
    if (!m)
        return uerr_set(e, UERR_INTERNAL, "%s: out of memory for the header", path);
    uint64_t off = 0;
    int rc = 0;
    fputc('{', m);
    if (nmeta > 0) {
        fputs("\"__metadata__\":{", m);
        for (int i = 0; i < nmeta; i++) {
            if (i)
                fputc(',', m);
            json_write_string(m, meta[2 * i]);
            fputc(':', m);
            json_write_string(m, meta[2 * i + 1]);
        }
        fputc('}', m);
    }
    for (int i = 0; i < n && !rc; i++) {
        const char *dn = sft_dtype_name(t[i].dt);
        if (!dn || t[i].shape.rank < 0 || t[i].shape.rank > TENSOR_MAX_RANK) {
            rc = uerr_set(e, UERR_INTERNAL, "%s: tensor '%s' has no safetensors form", path,
                          t[i].name);
            break;
        }
        uint64_t nb = (uint64_t)shape_numel(&t[i].shape) * dtype_size(t[i].dt);
        if (nmeta > 0 || i)
            fputc(',', m);
        json_write_string(m, t[i].name);
        fprintf(m, ":{\"dtype\":\"%s\",\"shape\":[", dn);
        for (int d = 0; d < t[i].shape.rank; d++)
            fprintf(m, d ? ",%" PRId64 : "%" PRId64, t[i].shape.dim[d]);
        fprintf(m, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + nb);
        off += nb;
    }
    fputc('}', m);
    /* Spaces up to a multiple of 8, so the data buffer is aligned. */
    while (!rc && (ftell(m) % 8) != 0)
        fputc(' ', m);
    if (fclose(m) != 0 && !rc)
        rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory for the header", path);
    if (rc) {
        free(hdr);
        return rc;
    }
    outfile of;
    if ((rc = outfile_open(&of, path, e))) {
        free(hdr);
        return rc;
    }
    FILE *f = of.f;
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(hdr, 1, hlen, f) == hlen;
    for (int i = 0; ok && i < n; i++) {
        size_t nb = (size_t)shape_numel(&t[i].shape) * dtype_size(t[i].dt);
        ok = !nb || fwrite(t[i].data, 1, nb, f) == nb;
    }
    int err = errno;
    free(hdr);
    if (!ok) {
        outfile_abort(&of);
        return uerr_set(e, UERR_USER, "%s: write failed: %s", path, strerror(err));
    }
    return outfile_commit(&of, path, e);
}

/* ---- reading ------------------------------------------------------------ */

typedef struct sft_span {
    uint64_t b, e;
    int i;
} sft_span;

static int sft_span_cmp(const void *a, const void *b)
{
    const sft_span *x = a, *y = b;
    return x->b < y->b ? -1 : x->b > y->b ? 1 : (x->e > y->e) - (x->e < y->e);
}

/* Checks one header entry and fills out (without data); begin/end get
 * its offsets. */
static int sft_entry(const char *name, const char *key, const json_value *v, uint64_t buflen,
                     sft_loaded *out, uint64_t *begin, uint64_t *end, uerr *e)
{
    if (v->type != JSON_OBJECT)
        return uerr_set(e, UERR_USER, "%s: tensor '%s': expected an object", name, key);
    for (int i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], "dtype") && strcmp(v->keys[i], "shape") &&
            strcmp(v->keys[i], "data_offsets"))
            return uerr_set(e, UERR_USER, "%s: tensor '%s': unexpected field '%s'", name, key,
                            v->keys[i]);
    const json_value *dt = json_get(v, "dtype"), *sh = json_get(v, "shape"),
                     *off = json_get(v, "data_offsets");
    if (!dt || dt->type != JSON_STRING)
        return uerr_set(e, UERR_USER, "%s: tensor '%s': missing or non-string \"dtype\"", name,
                        key);
    int ours = -2;
    for (size_t i = 0; i < sizeof sft_dtypes / sizeof sft_dtypes[0]; i++)
        if (!strcmp(dt->str, sft_dtypes[i].name))
            ours = sft_dtypes[i].ours;
    if (ours == -2)
        return uerr_set(e, UERR_USER, "%s: tensor '%s': '%.20s' is not a safetensors dtype", name,
                        key, dt->str);
    if (ours == -1)
        return uerr_set(e, UERR_USER,
                        "%s: tensor '%s': dtype %s is not supported (F32, F64 and I32 are)", name,
                        key, dt->str);
    out->dt = (dtype)ours;
    if (!sh || sh->type != JSON_ARRAY)
        return uerr_set(e, UERR_USER, "%s: tensor '%s': missing or non-array \"shape\"", name, key);
    if (sh->n > TENSOR_MAX_RANK)
        return uerr_set(e, UERR_USER, "%s: tensor '%s': rank %d is more than %d", name, key, sh->n,
                        TENSOR_MAX_RANK);
    uint64_t numel = 1;
    out->shape.rank = sh->n;
    for (int i = 0; i < sh->n; i++) {
        const json_value *d = &sh->items[i];
        if (d->type != JSON_NUMBER || !d->is_int || d->i < 0)
            return uerr_set(e, UERR_USER,
                            "%s: tensor '%s': shape entries must be non-negative integers", name,
                            key);
        out->shape.dim[i] = d->i;
        if (d->i && numel > UINT64_MAX / 16 / (uint64_t)d->i)
            return uerr_set(e, UERR_USER, "%s: tensor '%s': shape too large", name, key);
        numel *= (uint64_t)d->i;
    }
    if (!off || off->type != JSON_ARRAY || off->n != 2)
        return uerr_set(e, UERR_USER, "%s: tensor '%s': \"data_offsets\" must be [begin, end]",
                        name, key);
    for (int i = 0; i < 2; i++)
        if (off->items[i].type != JSON_NUMBER || !off->items[i].is_int || off->items[i].i < 0)
            return uerr_set(e, UERR_USER,
                            "%s: tensor '%s': data_offsets must be non-negative integers", name,
                            key);
    *begin = (uint64_t)off->items[0].i;
    *end = (uint64_t)off->items[1].i;
    uint64_t want = numel * dtype_size(out->dt);
    if (*end < *begin || *end > buflen)
        return uerr_set(e, UERR_USER,
                        "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64
                        "] outside the %" PRIu64 "-byte data buffer",
                        name, key, *begin, *end, buflen);
    if (*end - *begin != want) {
        char sb[96];
        return uerr_set(
            e, UERR_USER,
            "%s: tensor '%s': %s %s needs %" PRIu64 " bytes, data_offsets give %" PRIu64, name, key,
            dt->str, shape_str(&out->shape, sb, sizeof sb), want, *end - *begin);
    }
    if (want > SIZE_MAX)
        return uerr_set(e, UERR_USER, "%s: tensor '%s' is too large", name, key);
    out->nbytes = (size_t)want;
    return 0;
}

static int sft_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 1024)
        return 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

int sft_parse(const void *buf, size_t n, const char *name, sft_file *out, uerr *e)
{
    memset(out, 0, sizeof *out);
    const unsigned char *b = buf;
    if (n < 8)
        return uerr_set(e, UERR_USER, "%s: %zu bytes is too short for a safetensors file", name, n);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)b[i] << (8 * i);
    if (hlen > n - 8)
        return uerr_set(e, UERR_USER,
                        "%s: header length %" PRIu64 " is more than the %zu bytes that follow "
                        "(not a safetensors file?)",
                        name, hlen, n - 8);
    if (hlen > SFT_MAX_HEADER)
        return uerr_set(e, UERR_USER, "%s: header of %" PRIu64 " bytes is larger than %d", name,
                        hlen, SFT_MAX_HEADER);
    if (hlen < 2 || b[8] != '{')
        return uerr_set(e, UERR_USER, "%s: the header is not a JSON object", name);
    char label[4200];
    snprintf(label, sizeof label, "%s: header", name);
    json_value h;
    int rc = json_parse(label, (const char *)b + 8, (size_t)hlen, &h, e);
    if (rc)
        return rc;
    if (h.type != JSON_OBJECT) {
        json_free(&h);
        return uerr_set(e, UERR_USER, "%s: the header is not a JSON object", name);
    }
    const unsigned char *data = b + 8 + hlen;
    uint64_t buflen = n - 8 - hlen;
    sft_span *spans = calloc((size_t)(h.n ? h.n : 1), sizeof *spans);
    out->t = calloc((size_t)(h.n ? h.n : 1), sizeof *out->t);
    if (!spans || !out->t) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
        goto done;
    }
    int ns = 0;
    for (int i = 0; i < h.n && !rc; i++) {
        const char *key = h.keys[i];
        const json_value *v = &h.items[i];
        if (!strcmp(key, "__metadata__")) {
            if (v->type != JSON_OBJECT) {
                rc = uerr_set(e, UERR_USER, "%s: __metadata__ must be an object", name);
                break;
            }
            out->meta = calloc((size_t)(2 * v->n + 1), sizeof *out->meta);
            if (!out->meta) {
                rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
                break;
            }
            for (int k = 0; k < v->n && !rc; k++) {
                if (v->items[k].type != JSON_STRING) {
                    rc = uerr_set(e, UERR_USER, "%s: __metadata__ '%s' is not a string", name,
                                  v->keys[k]);
                    break;
                }
                out->meta[2 * k] = strdup(v->keys[k]);
                out->meta[2 * k + 1] = strdup(v->items[k].str);
                out->nmeta = k + 1;
                if (!out->meta[2 * k] || !out->meta[2 * k + 1])
                    rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory", name);
            }
            continue;
        }
        if (!sft_name_ok(key)) {
            rc = uerr_set(e, UERR_USER,
                          "%s: tensor name '%.40s' is empty, too long or has control characters",
                          name, key);
            break;
        }
        sft_loaded *t = &out->t[out->n];
        uint64_t bo = 0, eo = 0;
        if ((rc = sft_entry(name, key, v, buflen, t, &bo, &eo, e)))
            break;
        if (!(t->name = strdup(key))) {
            rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory for tensor '%s'", name, key);
            break;
        }
        out->n++;
        spans[ns++] = (sft_span){bo, eo, out->n - 1};
    }
    if (!rc) {
        /* The tensors must tile the buffer: sorted by start, each begins
         * where the previous ended, and the last ends at the file's end. */
        qsort(spans, (size_t)ns, sizeof *spans, sft_span_cmp);
        uint64_t at = 0;
        for (int i = 0; i < ns && !rc; i++) {
            if (spans[i].b < at)
                rc = uerr_set(e, UERR_USER, "%s: tensors '%s' and '%s' overlap", name,
                              out->t[spans[i - 1].i].name, out->t[spans[i].i].name);
            else if (spans[i].b > at)
                rc = uerr_set(e, UERR_USER,
                              "%s: data bytes %" PRIu64 "..%" PRIu64 " belong to no tensor", name,
                              at, spans[i].b);
            at = spans[i].e > at ? spans[i].e : at;
        }
        if (!rc && at != buflen)
            rc = uerr_set(e, UERR_USER,
                          "%s: %" PRIu64 " bytes after the last tensor belong to no tensor", name,
                          buflen - at);
    }
    /* The data is copied only once the tensors are known to tile the
     * buffer: entries that all claim the same bytes would otherwise make
     * a file of a few megabytes allocate gigabytes before the overlap
     * is seen. Tiled, the copies add up to the buffer's size. */
    for (int i = 0; !rc && i < ns; i++) {
        sft_loaded *t = &out->t[spans[i].i];
        if (!(t->data = malloc(t->nbytes ? t->nbytes : 1)))
            rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory for tensor '%s'", name, t->name);
        else if (t->nbytes)
            memcpy(t->data, data + spans[i].b, t->nbytes);
    }
done:
    free(spans);
    json_free(&h);
    if (rc)
        sft_free(out);
    return rc;
}

int sft_read(const char *path, sft_file *out, uerr *e)
{
    memset(out, 0, sizeof *out);
    FILE *f;
    int oc = infile_open(path, INFILE_REGULAR, &f);
    if (oc)
        return oc > 0 ? uerr_set(e, UERR_USER, "%s: not a regular file", path)
                      : uerr_set(e, UERR_USER, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    int rc = 0;
    unsigned char *buf = NULL;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = uerr_set(e, UERR_USER, "%s: not a regular file", path);
    } else if ((uint64_t)st.st_size > SIZE_MAX) {
        rc = uerr_set(e, UERR_USER, "%s: too large", path);
    } else if (!(buf = malloc(st.st_size ? (size_t)st.st_size : 1))) {
        rc = uerr_set(e, UERR_INTERNAL, "%s: out of memory for %lld bytes", path,
                      (long long)st.st_size);
    } else if (st.st_size && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        rc = uerr_set(e, UERR_USER, "%s: read failed: %s", path,
                      ferror(f) ? strerror(errno) : "file shrank while reading");
    }
    fclose(f);
    if (!rc)
        rc = sft_parse(buf, (size_t)st.st_size, path, out, e);
    free(buf);
    return rc;
}
