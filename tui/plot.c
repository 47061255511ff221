/* plot.c — line plots into a character grid (braille, half blocks or ASCII), with axes.
 *
 * The series are first drawn as lines into a dot raster whose resolution depends on the glyph
 * set (2x4 dots per cell for braille, 1x2 for half blocks, 1x1 for ASCII), then every cell's
 * dots become one glyph. Braille: U+2800 + bits, left column dots 1,2,3,7 = 0x01,0x02,0x04,0x40,
 * right column dots 4,5,6,8 = 0x08,0x10,0x20,0x80. */
#include "tui/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LABEL_W 7              /* y tick labels */
#define MIN_W 16
#define MIN_H 4

typedef struct rowbuf {
    char *data;
    size_t len, cap;
} rowbuf;

static int rb_put(rowbuf *rb, const char *s)
{
    size_t n = strlen(s);
    if (rb->len + n + 1 > rb->cap) {
        size_t cap = rb->cap ? rb->cap * 2 : 128;
        while (cap < rb->len + n + 1)
            cap *= 2;
        char *p = realloc(rb->data, cap);
        if (!p)
            return -1;
        rb->data = p;
        rb->cap = cap;
    }
    memcpy(rb->data + rb->len, s, n + 1);
    rb->len += n;
    return 0;
}

void plot_format_tick(double value, char *buf, size_t size)
{
    char tmp[32];
    double a = fabs(value);
    if (value == 0)
        snprintf(tmp, sizeof tmp, "0");
    else if (a >= 0.01 && a < 99999.5)
        snprintf(tmp, sizeof tmp, "%.3g", value);
    else if (value < 0)
        snprintf(tmp, sizeof tmp, "%.0e", value);
    else
        snprintf(tmp, sizeof tmp, "%.1e", value);
    /* "1.0e-04" reads better as "1e-04" */
    char *dot = strstr(tmp, ".0e");
    if (dot)
        memmove(dot, dot + 2, strlen(dot + 2) + 1);
    snprintf(buf, size, "%s", tmp);
}

static double series_x(const plot_series *s, size_t i)
{
    return s->x ? s->x[i] : (double)i;
}

static bool usable(double y, bool log_y)
{
    return isfinite(y) && (!log_y || y > 0);
}

/* Draws a line between two dots (Bresenham), storing `mark` in each. */
static void raster_line(unsigned char *dots, int dw, int dh, int x0, int y0, int x1, int y1,
                        unsigned char mark)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int e = dx + dy;
    for (;;) {
        if (x0 >= 0 && x0 < dw && y0 >= 0 && y0 < dh)
            dots[(size_t)y0 * dw + x0] = mark;
        if (x0 == x1 && y0 == y1)
            break;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

/* Encodes a code point below U+10000 as UTF-8. */
static void utf8_put(unsigned cp, char out[4])
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        out[1] = 0;
    } else if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        out[2] = 0;
    } else {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        out[3] = 0;
    }
}

static void cell_glyph(const unsigned char *dots, int dw, int cx, int cy, plot_glyphs g,
                       const plot_series *series, char out[4])
{
    static const unsigned char braille_bit[4][2] = {
        {0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    if (g == PLOT_BRAILLE) {
        unsigned bits = 0;
        for (int y = 0; y < 4; y++)
            for (int x = 0; x < 2; x++)
                if (dots[(size_t)(cy * 4 + y) * dw + cx * 2 + x])
                    bits |= braille_bit[y][x];
        if (bits)
            utf8_put(0x2800 + bits, out);
        else
            utf8_put(' ', out);
    } else if (g == PLOT_BLOCK) {
        bool top = dots[(size_t)(cy * 2) * dw + cx] != 0;
        bool bottom = dots[(size_t)(cy * 2 + 1) * dw + cx] != 0;
        utf8_put(top && bottom ? 0x2588 : top ? 0x2580 : bottom ? 0x2584 : ' ', out);
    } else {
        unsigned char m = dots[(size_t)cy * dw + cx];
        char c = m ? series[m - 1].mark : ' ';
        utf8_put((unsigned char)(c ? c : '*'), out);
    }
}

void plot_grid_free(plot_grid *grid)
{
    if (!grid)
        return;
    if (grid->lines)
        for (int i = 0; i < grid->rows; i++)
            free(grid->lines[i]);
    free(grid->lines);
    grid->lines = NULL;
    grid->rows = grid->cols = 0;
}

int plot_render(const plot_series *series, size_t nseries, int width, int height,
                plot_glyphs glyphs, const plot_options *opts, plot_grid *out)
{
    plot_options none = {0};
    if (!opts)
        opts = &none;
    memset(out, 0, sizeof *out);
    if (width < MIN_W || height < MIN_H || nseries > 254)
        return -1;

    int pw = width - LABEL_W - 1, ph = height - 2;
    int cw = glyphs == PLOT_BRAILLE ? 2 : 1, ch = glyphs == PLOT_BRAILLE ? 4 : glyphs == PLOT_BLOCK ? 2 : 1;
    int dw = pw * cw, dh = ph * ch;

    /* data range */
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (size_t s = 0; s < nseries; s++)
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series_x(&series[s], i), y = series[s].y[i];
            if (!isfinite(x) || !usable(y, opts->log_y))
                continue;
            xmin = fmin(xmin, x), xmax = fmax(xmax, x);
            ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    if (xmin > xmax)
        xmin = 0, xmax = 1;
    if (opts->fixed_y && opts->y_max > opts->y_min)
        ymin = opts->y_min, ymax = opts->y_max;
    if (ymin > ymax)
        ymin = opts->log_y ? 0.1 : 0, ymax = 1;
    if (xmax == xmin)
        xmax = xmin + 1;
    if (ymax == ymin) {
        /* a flat line sits in the middle */
        double d = opts->log_y ? ymin * 0.5 : (ymin != 0 ? fabs(ymin) * 0.1 : 1);
        ymin -= d, ymax += d;
    }
    double ly0 = opts->log_y ? log10(ymin) : ymin, ly1 = opts->log_y ? log10(ymax) : ymax;

    unsigned char *dots = calloc((size_t)dw * dh, 1);
    if (!dots)
        return -1;
    for (size_t s = 0; s < nseries; s++) {
        bool have_prev = false;
        int px = 0, py = 0;
        for (size_t i = 0; i < series[s].n; i++) {
            double x = series_x(&series[s], i), y = series[s].y[i];
            if (!isfinite(x) || !usable(y, opts->log_y)) {
                have_prev = false;
                continue;
            }
            double v = opts->log_y ? log10(y) : y;
            int dx = (int)lround((x - xmin) / (xmax - xmin) * (dw - 1));
            int dy = (int)lround((ly1 - v) / (ly1 - ly0) * (dh - 1));
            if (have_prev)
                raster_line(dots, dw, dh, px, py, dx, dy, (unsigned char)(s + 1));
            else
                raster_line(dots, dw, dh, dx, dy, dx, dy, (unsigned char)(s + 1));
            px = dx, py = dy, have_prev = true;
        }
    }

    bool ascii = glyphs == PLOT_ASCII;
    const char *v_axis = ascii ? "|" : "\xe2\x94\x82", *v_tick = ascii ? "+" : "\xe2\x94\xa4";
    const char *corner = ascii ? "+" : "\xe2\x94\x94", *h_axis = ascii ? "-" : "\xe2\x94\x80";
    const char *h_tick = ascii ? "+" : "\xe2\x94\xac";

    out->lines = calloc((size_t)height, sizeof *out->lines);
    if (!out->lines) {
        free(dots);
        return -1;
    }
    out->rows = height;
    out->cols = width;
    int ticks_every = ph >= 9 ? (ph - 1) / 4 : ph >= 5 ? (ph - 1) / 2 : ph - 1;
    if (ticks_every < 1)
        ticks_every = 1;
    int fail = 0;
    for (int r = 0; r < ph && !fail; r++) {
        rowbuf rb = {0};
        char label[16] = "";
        bool tick = r == 0 || r == ph - 1 || (r % ticks_every == 0 && ph - 1 - r >= 2);
        if (tick) {
            double v = ly1 - (ly1 - ly0) * r / (ph - 1);
            plot_format_tick(opts->log_y ? pow(10, v) : v, label, sizeof label);
        }
        char pad[32];
        snprintf(pad, sizeof pad, "%*.*s", LABEL_W, LABEL_W, label);
        fail |= rb_put(&rb, pad);
        fail |= rb_put(&rb, tick ? v_tick : v_axis);
        for (int c = 0; c < pw; c++) {
            char g[4];
            cell_glyph(dots, dw, c, r, glyphs, series, g);
            fail |= rb_put(&rb, g);
        }
        out->lines[r] = rb.data;
        fail |= !rb.data;
    }
    free(dots);

    /* x axis with ticks at the ends and the middle, then their labels */
    rowbuf axis = {0}, labels = {0};
    char pad[LABEL_W + 1];
    snprintf(pad, sizeof pad, "%*s", LABEL_W, "");
    fail |= rb_put(&axis, pad);
    fail |= rb_put(&axis, corner);
    for (int c = 0; c < pw; c++)
        fail |= rb_put(&axis, (c == pw / 2 || c == pw - 1) ? h_tick : h_axis);

    char *lab = malloc((size_t)width + 1);
    if (!lab)
        fail = 1;
    else {
        memset(lab, ' ', (size_t)width);
        lab[width] = 0;
        char t[16];
        double xs[3] = {xmin, xmin + (xmax - xmin) / 2, xmax};
        int at[3] = {LABEL_W, LABEL_W + 1 + pw / 2, width};
        int prev_end = 0;
        for (int i = 0; i < 3; i++) {
            plot_format_tick(xs[i], t, sizeof t);
            int len = (int)strlen(t);
            int start = i == 0 ? at[0] : i == 1 ? at[1] - len / 2 : at[2] - len;
            if (start < prev_end + 1 && i > 0)
                continue;   /* would overlap the previous label */
            if (start < 0)
                start = 0;
            if (start + len > width)
                continue;
            memcpy(lab + start, t, (size_t)len);
            prev_end = start + len;
        }
        fail |= rb_put(&labels, lab);
        free(lab);
    }
    out->lines[ph] = axis.data;
    out->lines[ph + 1] = labels.data;
    if (fail || !axis.data || !labels.data) {
        plot_grid_free(out);
        return -1;
    }
    return 0;
}
