/*
 * fuzz_import.c - `unroll ckpt import` of a safetensors file
 * (train/ckpt_io.h, ckpt_io_import): the reader, the PyTorch names and
 * their aliases, the non-finite check, the check against a config's model
 * (shapes, dtypes, unknown parameters) and the store's write.
 *
 * Input: one byte of options (bit 0: check against the config, bit 1:
 * --allow-nonfinite), then the file. The file is handed over as a memfd
 * (/proc/self/fd/N, a regular file), as is the config's text; the store
 * is a file in /dev/shm (or the temporary folder), opened once, and every
 * imported run is deleted again so it does not grow.
 * Promises checked: a failure leaves one printable line and no run; a
 * success stored one checkpoint holding every tensor it counted, and
 * with the config bit, the model's every parameter.
 */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store/store.h"
#include "tests/fuzz/fuzz.h"
#include "train/ckpt_io.h"

/* A memfd holding n bytes; its /proc path in path. -1 when memfds fail. */
static int memfd_with(const char *name, const void *data, size_t n, char *path, size_t pn)
{
    int fd = memfd_create(name, 0);
    if (fd < 0)
        return -1;
    if (n && write(fd, data, n) != (ssize_t)n) {
        close(fd);
        return -1;
    }
    snprintf(path, pn, "/proc/self/fd/%d", fd);
    return fd;
}

static store *db;
static char cfg_path[64];

/* The store and the config's text and data, once per process. */
static void setup(void)
{
    static const char text[] = "abcab cab\n";
    char text_path[64], cfg[256], dbp[256];
    if (memfd_with("text", text, sizeof text - 1, text_path, sizeof text_path) < 0)
        abort();
    int n = snprintf(cfg, sizeof cfg,
                     "data: {kind: text, path: %s}\nmodel: {hidden: 2}\ntrain: {seq_len: 3}\n",
                     text_path);
    if (memfd_with("cfg", cfg, (size_t)n, cfg_path, sizeof cfg_path) < 0)
        abort();
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dbp, sizeof dbp, "%s/unroll-fuzz-import-%ld.db", dir, (long)getpid());
    uerr e = {0};
    if (store_open(&db, dbp, STORE_READ_WRITE, &e)) {
        fprintf(stderr, "%s\n", e.msg);
        abort();
    }
    /* the store's files go when the process does */
    unlink(dbp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!db)
        setup();
    char src[64];
    int fd = memfd_with("st", data + 1, size - 1, src, sizeof src);
    if (fd < 0)
        return 0;
    ckpt_import_opts o = {.src = src,
                          .name = "fuzz",
                          .config = data[0] & 1 ? cfg_path : NULL,
                          .step = 1,
                          .command_line = "fuzz",
                          .program_version = "fuzz",
                          .allow_nonfinite = (data[0] >> 1) & 1};
    ckpt_imported out;
    uerr e = {0};
    int rc = ckpt_io_import(db, &o, &out, &e);
    close(fd);
    int64_t id = 0;
    uerr e2 = {0};
    int found = store_run_resolve(db, "fuzz", &id, &e2) == 0 && id > 0;
    if (rc) {
        FUZZ_CHECK_ERR(&e);
        FUZZ_CHECK(!found);
        return 0;
    }
    FUZZ_CHECK(found && id == out.run && out.n >= 1 && out.ckpt > 0);
    FUZZ_CHECK(out.checked == (data[0] & 1));
    store_loaded l = {0};
    FUZZ_CHECK(store_checkpoint_load(db, out.ckpt, &l, &e2) == 0);
    FUZZ_CHECK(l.n == out.n && l.run == out.run);
    store_loaded_free(&l);
    store_removed st;
    FUZZ_CHECK(store_run_delete(db, out.run, 1, &st, &e2) == 0);
    return 0;
}
