/*
 * plot_ledger.c - the vanishing-gradient ledger as one SVG picture; see
 * plot.h. Each heat map has a colour scale of its own (the two matrices
 * differ by orders of magnitude at the diagonal); the decay chart shares
 * one log axis, its grid and labels on whole decades.
 */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "store/plot.h"
#include "store/plot_int.h"

static const char *const ledger_colors[2] = {"#1f77b4", "#d62728"};

enum { LW = 960, LH = 900, MAP = 340, MTOP = 70, CTOP = 520, CH = 300, CLEFT = 80, CW = 560 };

static void text(FILE *f, double x, double y, const char *anchor, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\">", x, y, anchor);
    plot_xml(f, s);
    fputs("</text>\n", f);
}

enum { NLEVEL = 64 };

/* The colour level of v on [lo, hi] (log10), or -1 for zero. */
static int level(double v, double lo, double hi)
{
    if (!(v > 0) || !isfinite(v))
        return -1;
    double u = (log10(v) - lo) / (hi - lo);
    int q = (int)floor(u * (NLEVEL - 1) + 0.5);
    return q < 0 ? 0 : q >= NLEVEL ? NLEVEL - 1 : q;
}

/* One triangular heat map with its left edge at x0: rows t down, columns
 * k across, cells above the diagonal left blank. */
static void heat_map(FILE *f, const plot_ledger_panel *p, int64_t T, double x0)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t t = 0; t < T; t++)
        for (int64_t k = 0; k <= t; k++) {
            double v = p->z[t * T + k];
            if (v > 0 && isfinite(v))
                lo = fmin(lo, log10(v)), hi = fmax(hi, log10(v));
        }
    if (!(hi >= lo))
        lo = hi = 0;
    plot_decades(&lo, &hi);
    double c = (double)MAP / (double)T;
    /* cells in NLEVEL colours, one path per colour, runs of a row merged:
     * a T = 50 map stays some 20 kB where a rect per cell takes 100 */
    fprintf(f, "<g transform=\"translate(%g %d) scale(%.6g)\" shape-rendering=\"crispEdges\">\n",
            x0, MTOP, c);
    for (int q = -1; q < NLEVEL; q++) {
        int R = 225, G = 225, B = 225, any = 0; /* q = -1, exactly zero: no path from h_k */
        if (q >= 0)
            plot_ramp(q / (NLEVEL - 1.0), &R, &G, &B);
        for (int64_t t = 0; t < T; t++)
            for (int64_t k = 0; k <= t;) {
                int64_t run = 0;
                while (k + run <= t && level(p->z[t * T + k + run], lo, hi) == q)
                    run++;
                if (!run) {
                    k++;
                    continue;
                }
                if (!any)
                    fprintf(f, "<path fill=\"rgb(%d,%d,%d)\" d=\"", R, G, B);
                any = 1;
                fprintf(f, "M%lld %lldh%lldv1h-%lldz", (long long)k, (long long)t, (long long)run,
                        (long long)run);
                k += run;
            }
        if (any)
            fputs("\"/>\n", f);
    }
    fputs("</g>\n", f);
    fprintf(f,
            "<rect x=\"%g\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#888\"/>\n",
            x0, MTOP, MAP, MAP);
    int64_t every = T > 10 ? (T + 9) / 10 : 1;
    for (int64_t i = 0; i < T; i += every) {
        char lab[32];
        snprintf(lab, sizeof lab, "%lld", (long long)i);
        text(f, x0 + ((double)i + 0.5) * c, MTOP + MAP + 16, "middle", lab);
        text(f, x0 - 6, MTOP + ((double)i + 0.5) * c + 4, "end", lab);
    }
    text(f, x0 + MAP / 2.0, MTOP - 8, "middle", p->label);
    text(f, x0 + MAP / 2.0, MTOP + MAP + 34, "middle", "k (the earlier step)");
    fprintf(f,
            "<text x=\"%g\" y=\"%g\" transform=\"rotate(-90 %g %g)\" "
            "text-anchor=\"middle\">t</text>\n",
            x0 - 36, MTOP + MAP / 2.0, x0 - 36, MTOP + MAP / 2.0);
    plot_colour_bar(f, x0 + MAP + 10, MTOP, MAP, lo, hi);
}

/* The decay chart: each panel's mean log10 at distance d (line and
 * dots) and its fitted line (dashed), on a log axis of whole decades. */
static void decay_chart(FILE *f, const plot_ledger_panel *p, int n, int64_t T)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < n; k++)
        for (int64_t d = 0; d < T; d++)
            if (isfinite(p[k].prof[d]))
                lo = fmin(lo, p[k].prof[d]), hi = fmax(hi, p[k].prof[d]);
    if (!(hi >= lo))
        lo = hi = 0;
    plot_decades(&lo, &hi);
    double xs = T > 1 ? (double)CW / (double)(T - 1) : CW;
#define CX(d) (CLEFT + (double)(d)*xs)
#define CY(v) (CTOP + (hi - (v)) / (hi - lo) * CH)
    int every = ((int)(hi - lo) + 9) / 10;
    for (int dec = (int)hi; dec >= (int)lo; dec -= every) {
        char lab[32];
        plot_decade_label(dec, lab, sizeof lab);
        fprintf(f, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#ddd\"/>\n", CLEFT,
                CY(dec), CLEFT + CW, CY(dec));
        text(f, CLEFT - 6, CY(dec) + 4, "end", lab);
    }
    int64_t xstep = T > 10 ? (T + 9) / 10 : 1;
    for (int64_t d = 0; d < T; d += xstep) {
        char lab[32];
        snprintf(lab, sizeof lab, "%lld", (long long)d);
        text(f, CX(d), CTOP + CH + 16, "middle", lab);
    }
    fprintf(f,
            "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
            "stroke=\"#888\"/>\n",
            CLEFT, CTOP, CW, CH);
    text(f, CLEFT + CW / 2.0, CTOP + CH + 36, "middle",
         "t - k (steps back); each point: the geometric mean over t");
    text(f, CLEFT, CTOP - 12, "start", "decay with distance");
    for (int k = 0; k < n; k++) {
        const char *col = ledger_colors[k % 2];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", col);
        for (int64_t d = 0; d < T; d++)
            if (isfinite(p[k].prof[d]))
                fprintf(f, "%.1f,%.1f ", CX(d), CY(p[k].prof[d]));
        fputs("\"/>\n", f);
        for (int64_t d = 0; d < T; d++)
            if (isfinite(p[k].prof[d]))
                fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"%s\"/>\n", CX(d),
                        CY(p[k].prof[d]), col);
        char leg[160];
        if (isfinite(p[k].slope)) {
            double y0 = p[k].intercept, y1 = p[k].intercept + p[k].slope * (double)(T - 1);
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                    "stroke-dasharray=\"6 4\"/>\n",
                    CX(0), CY(fmax(fmin(y0, hi), lo)), CX(T - 1), CY(fmax(fmin(y1, hi), lo)), col);
            snprintf(leg, sizeof leg, "%s: fit x%.3g per step", p[k].label, pow(10, p[k].slope));
        } else {
            snprintf(leg, sizeof leg, "%s: nothing to fit", p[k].label);
        }
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/>\n",
                CLEFT + CW + 16, CTOP + 10 + 22 * k, col);
        text(f, CLEFT + CW + 36, CTOP + 15 + 22 * k, "start", leg);
    }
    text(f, CLEFT + CW + 16, CTOP + 15 + 22 * n, "start", "dashed: least squares on log10");
#undef CX
#undef CY
}

int plot_ledger_svg(FILE *f, const plot_ledger_panel *p, int n, int64_t T, const char *title,
                    uerr *e)
{
    if (n < 1 || n > 2 || T < 1)
        return uerr_set(e, UERR_INTERNAL, "plot: a ledger of 1 or 2 matrices, T >= 1");
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            LW, LH);
    fputs("<g font-size=\"15\">", f);
    text(f, 20, 24, "start", title ? title : "");
    fputs("</g>\n", f);
    for (int k = 0; k < n; k++)
        heat_map(f, &p[k], T, 70 + k * (MAP + 130));
    decay_chart(f, p, n, T);
    fputs("</svg>\n", f);
    if (fflush(f) != 0 || ferror(f))
        return uerr_set(e, UERR_USER, "plot: writing failed: %s", strerror(errno));
    return 0;
}
