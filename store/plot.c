/* plot.c - see plot.h. */
#include "store/plot.h"

#include "store/plot_int.h"

#include <errno.h>
#include <math.h>
#include <string.h>

/* Matplotlib's "tab10": distinct hues that stay apart for colour-blind
 * readers better than a rainbow. */
static const char *const plot_colors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                          "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
#define PLOT_NCOLORS (int)(sizeof plot_colors / sizeof plot_colors[0])

void plot_smooth(const double *y, int64_t n, int64_t half, double *out)
{
    /* A running sum over the window; NaNs are counted out, not summed. */
    double sum = 0;
    int64_t cnt = 0, lo = 0, hi = -1;
    for (int64_t i = 0; i < n; i++) {
        int64_t want_lo = i - half < 0 ? 0 : i - half;
        int64_t want_hi = i + half >= n ? n - 1 : i + half;
        while (hi < want_hi) {
            hi++;
            if (isfinite(y[hi]))
                sum += y[hi], cnt++;
        }
        while (lo < want_lo) {
            if (isfinite(y[lo]))
                sum -= y[lo], cnt--;
            lo++;
        }
        out[i] = cnt ? sum / (double)cnt : NAN;
    }
}

void plot_xml(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            /* XML 1.0 forbids most control characters even escaped. */
            if ((unsigned char)*s >= 0x20 || *s == '\t')
                fputc(*s, f);
        }
    }
}

/* A tick step of 1, 2 or 5 times a power of ten giving about `want`
 * intervals over range. */
static double plot_step(double range, int want)
{
    double raw = range / want;
    double p = pow(10, floor(log10(raw)));
    double m = raw / p;
    return (m < 1.5 ? 1 : m < 3.5 ? 2 : m < 7.5 ? 5 : 10) * p;
}

/* Tick label: integers plainly, else the fewest digits that tell ticks
 * apart. */
static void plot_label(double v, double step, char *buf, size_t n)
{
    if (fabs(v) < step * 1e-9)
        v = 0;
    int dec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (fabs(v) >= 1e6 || (fabs(v) > 0 && fabs(v) < 1e-4))
        snprintf(buf, n, "%.3g", v);
    else
        snprintf(buf, n, "%.*f", dec, v);
}

int plot_svg(FILE *f, const plot_series *s, int n, const plot_opts *o, uerr *e)
{
    static const plot_opts defaults = {0};
    if (!o)
        o = &defaults;
    int W = o->width > 0 ? o->width : 860, H = o->height > 0 ? o->height : 500;
    const double L = 72, R = 200, T = 44, B = 56; /* margins: room for labels, legend */
    double pw = W - L - R, ph = H - T - B;
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int k = 0; k < n; k++) {
        for (int64_t i = 0; i < s[k].n; i++)
            if (isfinite(s[k].y[i])) {
                x0 = fmin(x0, (double)s[k].x[i]), x1 = fmax(x1, (double)s[k].x[i]);
                y0 = fmin(y0, s[k].y[i]), y1 = fmax(y1, s[k].y[i]);
            }
        for (int64_t i = 0; i < s[k].mn; i++)
            if (isfinite(s[k].my[i])) {
                x0 = fmin(x0, (double)s[k].mx[i]), x1 = fmax(x1, (double)s[k].mx[i]);
                y0 = fmin(y0, s[k].my[i]), y1 = fmax(y1, s[k].my[i]);
            }
    }
    if (!(x0 <= x1) || !(y0 <= y1))
        return uerr_set(e, UERR_USER, "plot: no finite values to draw");
    if (x1 == x0)
        x0 -= 1, x1 += 1;
    double pad = (y1 - y0) * 0.05;
    if (pad == 0)
        pad = fabs(y0) * 0.05 + 1e-3;
    y0 -= pad, y1 += pad;
    double xs = plot_step(x1 - x0, 8), ys = plot_step(y1 - y0, 6);
    /* Axes start and end on ticks, so the frame is labelled at both ends. */
    x0 = floor(x0 / xs) * xs, x1 = ceil(x1 / xs) * xs;
    y0 = floor(y0 / ys) * ys, y1 = ceil(y1 / ys) * ys;
#define PX(v) (L + ((v)-x0) / (x1 - x0) * pw)
#define PY(v) (T + (y1 - (v)) / (y1 - y0) * ph)

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
            "font-size=\"12\">\n"
            "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
            W, H, W, H, W, H);
    if (o->title) {
        fprintf(f, "<text x=\"%.1f\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">",
                L + pw / 2);
        plot_xml(f, o->title);
        fputs("</text>\n", f);
    }
    /* grid and ticks */
    fputs("<g stroke=\"#e6e6e6\" stroke-width=\"1\">\n", f);
    for (double v = x0; v <= x1 + xs * 1e-9; v += xs)
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", PX(v), T, PX(v),
                T + ph);
    for (double v = y0; v <= y1 + ys * 1e-9; v += ys)
        fprintf(f, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", L, PY(v), L + pw,
                PY(v));
    fputs("</g>\n<g fill=\"#333\">\n", f);
    char lab[64];
    for (double v = x0; v <= x1 + xs * 1e-9; v += xs) {
        plot_label(v, xs, lab, sizeof lab);
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>"
                "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">%s</text>\n",
                PX(v), T + ph, PX(v), T + ph + 5, PX(v), T + ph + 19, lab);
    }
    for (double v = y0; v <= y1 + ys * 1e-9; v += ys) {
        plot_label(v, ys, lab, sizeof lab);
        fprintf(f,
                "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"#333\"/>"
                "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"end\">%s</text>\n",
                L - 5, PY(v), L, PY(v), L - 8, PY(v) + 4, lab);
    }
    fputs("</g>\n", f);
    fprintf(f,
            "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
            "stroke=\"#333\"/>\n",
            L, T, pw, ph);
    fprintf(f, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"middle\">", L + pw / 2, (double)H - 14);
    plot_xml(f, o->xlabel ? o->xlabel : "step");
    fputs("</text>\n", f);
    fprintf(f,
            "<text x=\"18\" y=\"%.2f\" text-anchor=\"middle\" transform=\"rotate(-90 18 %.2f)\">",
            T + ph / 2, T + ph / 2);
    plot_xml(f, o->ylabel ? o->ylabel : "value");
    fputs("</text>\n", f);

    /* series, clipped to the plot area */
    fprintf(f,
            "<defs><clipPath id=\"area\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
            "height=\"%.2f\"/></clipPath></defs>\n<g clip-path=\"url(#area)\">\n",
            L, T, pw, ph);
    for (int k = 0; k < n; k++) {
        const char *col = plot_colors[k % PLOT_NCOLORS];
        int64_t every =
            s[k].n > PLOT_MAX_POINTS ? (s[k].n + PLOT_MAX_POINTS - 1) / PLOT_MAX_POINTS : 1;
        int open = 0;
        for (int64_t i = 0; i < s[k].n; i++) {
            if (i % every && i != s[k].n - 1)
                continue;
            if (!isfinite(s[k].y[i])) {
                /* a gap: end this polyline, start another after it */
                if (open)
                    fputs("\"/>\n", f);
                open = 0;
                continue;
            }
            if (!open)
                fprintf(f,
                        "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.6\" "
                        "stroke-linejoin=\"round\" points=\"",
                        col);
            fprintf(f, "%s%.2f,%.2f", open ? " " : "", PX((double)s[k].x[i]), PY(s[k].y[i]));
            open = 1;
        }
        if (open)
            fputs("\"/>\n", f);
        for (int64_t i = 0; i < s[k].mn; i++)
            if (isfinite(s[k].my[i]))
                fprintf(f,
                        "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"white\" "
                        "stroke-width=\"1.2\"/>\n",
                        PX((double)s[k].mx[i]), PY(s[k].my[i]), col);
    }
    fputs("</g>\n", f);

    /* legend */
    double ly = T + 8;
    fprintf(f, "<g font-size=\"12\" fill=\"#222\">\n");
    for (int k = 0; k < n; k++) {
        const char *col = plot_colors[k % PLOT_NCOLORS];
        double lx = L + pw + 16;
        if (s[k].n > 0) {
            fprintf(f,
                    "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
                    "stroke-width=\"2\"/><text x=\"%.2f\" y=\"%.2f\">",
                    lx, ly, lx + 22, ly, col, lx + 28, ly + 4);
            plot_xml(f, s[k].label ? s[k].label : "");
            if (o->line_note) {
                fputs(" (", f);
                plot_xml(f, o->line_note);
                fputc(')', f);
            }
            fputs("</text>\n", f);
            ly += 18;
        }
        if (s[k].mn > 0) {
            fprintf(f,
                    "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"4\" fill=\"%s\" stroke=\"white\"/>"
                    "<text x=\"%.2f\" y=\"%.2f\">",
                    lx + 11, ly, col, lx + 28, ly + 4);
            plot_xml(f, s[k].label ? s[k].label : "");
            if (o->marker_note) {
                fputs(" (", f);
                plot_xml(f, o->marker_note);
                fputc(')', f);
            }
            fputs("</text>\n", f);
            ly += 18;
        }
    }
    fputs("</g>\n</svg>\n", f);
#undef PX
#undef PY
    if (fflush(f) != 0 || ferror(f))
        return uerr_set(e, UERR_USER, "plot: writing failed: %s", strerror(errno));
    return 0;
}

void plot_ramp(double u, int *r, int *g, int *b)
{
    static const double stop[4][3] = {{20, 24, 82}, {33, 145, 140}, {122, 209, 81}, {253, 231, 37}};
    u = u < 0 ? 0 : u > 1 ? 1 : u;
    double x = u * 3;
    int i = x >= 3 ? 2 : (int)x;
    double f = x - i;
    *r = (int)(stop[i][0] + f * (stop[i + 1][0] - stop[i][0]));
    *g = (int)(stop[i][1] + f * (stop[i + 1][1] - stop[i][1]));
    *b = (int)(stop[i][2] + f * (stop[i + 1][2] - stop[i][2]));
}

int plot_heatmap_svg(FILE *f, const double *z, int64_t nrows, int64_t ncols,
                     const int64_t *row_steps, const char *title, uerr *e)
{
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < nrows * ncols; i++)
        if (z[i] > 0 && isfinite(z[i])) {
            lo = fmin(lo, log10(z[i]));
            hi = fmax(hi, log10(z[i]));
        }
    if (!(hi >= lo))
        return uerr_set(e, UERR_USER, "plot: no positive values to draw");
    plot_decades(&lo, &hi);
    const double W = 860, H = 500, left = 70, right = 130, top = 40, bottom = 50;
    double cw = (W - left - right) / (double)ncols, ch = (H - top - bottom) / (double)nrows;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" "
            "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%g\" y=\"22\" font-size=\"15\">", left);
    for (const char *p = title; p && *p; p++)
        fputs(*p == '<' ? "&lt;" : *p == '>' ? "&gt;" : *p == '&' ? "&amp;" : (char[2]){*p, 0}, f);
    fprintf(f, "</text>\n");
    for (int64_t r = 0; r < nrows; r++)
        for (int64_t c = 0; c < ncols; c++) {
            double v = z[r * ncols + c];
            int R = 235, G = 235, B = 235;
            if (v > 0 && isfinite(v))
                plot_ramp((log10(v) - lo) / (hi - lo), &R, &G, &B);
            fprintf(f,
                    "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                    "fill=\"rgb(%d,%d,%d)\"/>\n",
                    left + (double)c * cw, top + (double)r * ch, cw + 0.3, ch + 0.3, R, G, B);
        }
    /* axes: time steps along x, training steps down y */
    int64_t xstep = ncols > 10 ? (ncols + 9) / 10 : 1, ystep = nrows > 10 ? (nrows + 9) / 10 : 1;
    for (int64_t c = 0; c < ncols; c += xstep)
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%lld</text>\n",
                left + ((double)c + 0.5) * cw, H - bottom + 16, (long long)c);
    for (int64_t r = 0; r < nrows; r += ystep)
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%lld</text>\n", left - 6,
                top + ((double)r + 0.5) * ch + 4, (long long)row_steps[r]);
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">time step t in the chunk</text>\n",
            left + (W - left - right) / 2, H - 12);
    fprintf(f,
            "<text x=\"16\" y=\"%g\" transform=\"rotate(-90 16 %g)\" "
            "text-anchor=\"middle\">training step</text>\n",
            top + (H - top - bottom) / 2, top + (H - top - bottom) / 2);
    plot_colour_bar(f, W - right + 30, top, H - top - bottom, lo, hi);
    fprintf(f, "</svg>\n");
    if (ferror(f))
        return uerr_set(e, UERR_USER, "plot: write failed");
    return 0;
}

void plot_decades(double *lo, double *hi)
{
    *lo = floor(*lo);
    *hi = ceil(*hi);
    if (*hi - *lo < 1)
        *hi = *lo + 1;
}

void plot_decade_label(int k, char *buf, size_t n)
{
    if (k == 0)
        snprintf(buf, n, "1");
    else
        snprintf(buf, n, "1e%d", k);
}

void plot_colour_bar(FILE *f, double x, double top, double h, double lo, double hi)
{
    for (int k = 0; k < 50; k++) {
        int R, G, B;
        plot_ramp(1 - k / 49.0, &R, &G, &B);
        fprintf(f,
                "<rect x=\"%g\" y=\"%.2f\" width=\"16\" height=\"%.2f\""
                " fill=\"rgb(%d,%d,%d)\"/>\n",
                x, top + k * h / 50, h / 50 + 0.3, R, G, B);
    }
    int a = (int)lo, b = (int)hi, every = (b - a + 9) / 10;
    for (int d = b; d >= a; d -= every) {
        char lab[32];
        plot_decade_label(d, lab, sizeof lab);
        double y = top + (hi - d) / (hi - lo) * h;
        fprintf(f,
                "<line x1=\"%g\" y1=\"%.2f\" x2=\"%g\" y2=\"%.2f\" stroke=\"black\"/>\n"
                "<text x=\"%g\" y=\"%.2f\">%s</text>\n",
                x + 16, y, x + 20, y, x + 23, y + 4, lab);
    }
}
