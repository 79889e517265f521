/*
 * plot.h - loss curves as a standalone SVG file (`unroll runs plot`), so
 * that variants can be compared by looking rather than reading.
 *
 * One chart: x is the training step, y the value; each series is a
 * polyline (the training loss) and/or a set of circle markers (the
 * validation loss) in one colour, named in a legend on the right. Axes get
 * "nice" ticks (1, 2, 5 times a power of ten) and light grid lines. Hand
 * written SVG 1.1 with no scripts or external references; text is
 * XML-escaped. Polylines longer than PLOT_MAX_POINTS are thinned by taking
 * evenly spaced points (after any smoothing), which a 800-pixel-wide chart
 * cannot show anyway.
 */
#ifndef UNROLL_PLOT_H
#define UNROLL_PLOT_H

#include <stdint.h>
#include <stdio.h>

#include "base/err.h"

#define PLOT_MAX_POINTS 2000

typedef struct plot_series {
    const char *label;
    const int64_t *x; /* the line: [n] steps, ascending */
    const double *y;  /* [n] values; NaN points are skipped */
    int64_t n;
    const int64_t *mx; /* the markers: [mn] steps */
    const double *my;
    int64_t mn;
} plot_series;

typedef struct plot_opts {
    const char *title;
    const char *xlabel, *ylabel;
    const char *line_note, *marker_note; /* legend suffixes, e.g. "train", "valid" */
    int width, height;                   /* 0: 860 x 500 */
} plot_opts;

/* Writes the chart of n series to f. An error if there is nothing finite
 * to draw or writing fails. */
int plot_svg(FILE *f, const plot_series *s, int n, const plot_opts *o, uerr *e);

/* A heat map: z[r * ncols + c] over rows (training steps, listed in
 * row_steps) and columns (time steps t), coloured by log10 of the value,
 * dark for small (vanishing) and bright for large (exploding). */
int plot_heatmap_svg(FILE *f, const double *z, int64_t nrows, int64_t ncols,
                     const int64_t *row_steps, const char *title, uerr *e);

/* One matrix of the vanishing-gradient ledger (`unroll grad --jacobian`):
 * z [T, T] (row t, column k <= t), the mean log10 of z at each distance
 * d = t - k (NaN where none is positive), and the line fitted to it. */
typedef struct plot_ledger_panel {
    const char *label;       /* "||dL_t/dh_k||" */
    const double *z;         /* [T, T] */
    const double *prof;      /* [T] */
    double slope, intercept; /* decades per step and at d = 0; NaN: no line */
} plot_ledger_panel;

/* The n (1 or 2) matrices as triangular heat maps side by side, each with
 * a colour bar labelled in decades, and below them their decay against
 * t - k with the fitted lines (the factor per step in the legend). */
int plot_ledger_svg(FILE *f, const plot_ledger_panel *p, int n, int64_t T, const char *title,
                    uerr *e);

/* out[i] = mean of the finite y[j] for |j - i| <= half (NaN if none): a
 * centred moving average, which unlike an exponential one does not lag
 * the curve. out may not alias y. */
void plot_smooth(const double *y, int64_t n, int64_t half, double *out);

#endif
