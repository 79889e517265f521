/* dist.c - see dist.h. */
#include "train/dist.h"

#include <stdlib.h>
#include <string.h>

#ifdef UNROLL_MPI
#include <mpi.h>
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
    if (MPI_Init(argc, argv) != MPI_SUCCESS)
        return uerr_set(e, UERR_INTERNAL, "MPI_Init failed");
    d->active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->size);
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
        MPI_Finalize();
#endif
    d->active = 0;
}

int dist_sum(const dist *d, void *buf, int64_t n, dtype dt, uerr *e)
{
    if (!d || d->size <= 1)
        return 0;
#ifdef UNROLL_MPI
    MPI_Datatype t = dt == DT_F64 ? MPI_DOUBLE : dt == DT_F32 ? MPI_FLOAT : MPI_INT;
    /* counts are int: large blocks go in pieces */
    const int64_t chunk = 1 << 30;
    for (int64_t off = 0; off < n; off += chunk) {
        int cnt = (int)(n - off < chunk ? n - off : chunk);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * dtype_size(dt), cnt, t,
                          MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
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
