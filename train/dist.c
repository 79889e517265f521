/* dist.c - see dist.h.
 *
 * Open MPI is opened with dlopen when a launcher started this process, not
 * linked: a plain run then maps none of it (about 1.2 MiB of resident
 * pages in every run otherwise), and the binary runs where the MPI runtime
 * is not installed. mpi.h gives the types; Open MPI's predefined handles
 * (MPI_COMM_WORLD, MPI_DOUBLE, MPI_SUM, ...) are the addresses of its
 * ompi_mpi_* objects, looked up by name. */
#include "train/dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef UNROLL_MPI
#include <dlfcn.h>
#include <mpi.h>

#ifndef UNROLL_MPI_LIB
#define UNROLL_MPI_LIB "libmpi.so"
#endif

static struct mpi_api {
    void *lib;
    int (*init)(int *, char ***);
    int (*finalize)(void);
    int (*comm_rank)(MPI_Comm, int *);
    int (*comm_size)(MPI_Comm, int *);
    int (*allreduce)(const void *, void *, int, MPI_Datatype, MPI_Op, MPI_Comm);
    MPI_Comm world;
    MPI_Datatype f64, f32, i32;
    MPI_Op sum;
} mpi;

/* dlsym's object pointer as a function pointer: POSIX allows it */
#define MPI_SYM(field, name) (*(void **)&mpi.field = dlsym(mpi.lib, name)) != NULL

static int mpi_open(uerr *e)
{
    /* RTLD_GLOBAL: Open MPI's own plugins look its symbols up */
    mpi.lib = dlopen(UNROLL_MPI_LIB, RTLD_NOW | RTLD_GLOBAL);
    if (!mpi.lib)
        return uerr_set(e, UERR_USER,
                        "started by an MPI launcher, but Open MPI's library "
                        "cannot be opened: %s",
                        dlerror());
    if (!(MPI_SYM(init, "MPI_Init") && MPI_SYM(finalize, "MPI_Finalize") &&
          MPI_SYM(comm_rank, "MPI_Comm_rank") && MPI_SYM(comm_size, "MPI_Comm_size") &&
          MPI_SYM(allreduce, "MPI_Allreduce") && MPI_SYM(world, "ompi_mpi_comm_world") &&
          MPI_SYM(f64, "ompi_mpi_double") && MPI_SYM(f32, "ompi_mpi_float") &&
          MPI_SYM(i32, "ompi_mpi_int") && MPI_SYM(sum, "ompi_mpi_op_sum")))
        return uerr_set(e, UERR_USER, "%s is not the Open MPI this was built with: %s",
                        UNROLL_MPI_LIB, dlerror());
    return 0;
}
#endif

int dist_available(void)
{
#ifdef UNROLL_MPI
    return 1;
#else
    return 0;
#endif
}

int dist_init(dist *d, int *argc, char ***argv, uerr *e)
{
    memset(d, 0, sizeof *d);
    d->size = 1;
#ifdef UNROLL_MPI
    /* only under a launcher: a plain run must not need an MPI runtime */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMI_SIZE"))
        return 0;
    int rc = mpi_open(e);
    if (rc)
        return rc;
    if (mpi.init(argc, argv) != MPI_SUCCESS)
        return uerr_set(e, UERR_INTERNAL, "MPI_Init failed");
    d->active = 1;
    mpi.comm_rank(mpi.world, &d->rank);
    mpi.comm_size(mpi.world, &d->size);
#else
    (void)argc;
    (void)argv;
    (void)e;
#endif
    return 0;
}

void dist_finalize(dist *d)
{
#ifdef UNROLL_MPI
    if (d->active)
        mpi.finalize();
#endif
    d->active = 0;
}

int dist_sum(const dist *d, void *buf, int64_t n, dtype dt, uerr *e)
{
    if (!d || d->size <= 1)
        return 0;
#ifdef UNROLL_MPI
    MPI_Datatype t = dt == DT_F64 ? mpi.f64 : dt == DT_F32 ? mpi.f32 : mpi.i32;
    /* counts are int: large blocks go in pieces */
    const int64_t chunk = 1 << 30;
    for (int64_t off = 0; off < n; off += chunk) {
        int cnt = (int)(n - off < chunk ? n - off : chunk);
        if (mpi.allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * dtype_size(dt), cnt, t, mpi.sum,
                          mpi.world) != MPI_SUCCESS)
            return uerr_set(e, UERR_INTERNAL, "MPI_Allreduce failed");
    }
    return 0;
#else
    (void)buf;
    (void)n;
    (void)dt;
    return uerr_set(e, UERR_INTERNAL, "dist_sum: built without MPI");
#endif
}
