/*
 * plot_int.h - what the SVG writers of store/ share (plot.c, plot_ledger.c):
 * XML escaping, the colour ramp of heat maps and their colour bar. A bar
 * spans whole decades and says so ("1e-3", never "1e-0.0"): the ends of a
 * heat map's log10 range are widened to integers before any cell is drawn.
 */
#ifndef UNROLL_PLOT_INT_H
#define UNROLL_PLOT_INT_H

#include <stdio.h>

/* s with &, <, >, quotes escaped and control characters dropped. */
void plot_xml(FILE *f, const char *s);

/* A dark-blue -> teal -> yellow ramp at u in [0, 1] (clamped). */
void plot_ramp(double u, int *r, int *g, int *b);

/* *lo and *hi (log10 of the smallest and largest value) widened to whole
 * decades, at least one apart. */
void plot_decades(double *lo, double *hi);

/* A vertical bar at x from top to top + h, hi (a decade) at the top and lo
 * at the bottom, its decades labelled 1e<k> (every few when many). */
void plot_colour_bar(FILE *f, double x, double top, double h, double lo, double hi);

/* "1e-3" for 10^-3, or "1" for 10^0: a decade as a label. */
void plot_decade_label(int k, char *buf, size_t n);

#endif
