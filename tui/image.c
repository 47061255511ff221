/* image.c — RGB image to sixel bytes (libsixel) or to coloured half-block rows.
 *
 * Samples are 512 to 1024 px; a terminal box is a few dozen cells. Both paths scale to the
 * box first, keeping the aspect ratio, so the bytes sent per redraw stay small (over SSH). */
#include "tui/image.h"

#include <sixel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bytes_append(image_bytes *b, const void *data, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *p = realloc(b->data, cap);
        if (!p)
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

static int sixel_write_cb(char *data, int size, void *priv)
{
    return bytes_append(priv, data, (size_t)size) == 0 ? size : -1;
}

void image_bytes_free(image_bytes *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Fits w x h into bw x bh keeping the aspect; at least 1x1. */
static void fit(int w, int h, int bw, int bh, int *ow, int *oh)
{
    double s = (double)bw / w;
    if ((double)bh / h < s)
        s = (double)bh / h;
    *ow = (int)(w * s + 0.5);
    *oh = (int)(h * s + 0.5);
    if (*ow < 1)
        *ow = 1;
    if (*oh < 1)
        *oh = 1;
    if (*ow > bw)
        *ow = bw;
    if (*oh > bh)
        *oh = bh;
}

int image_to_sixel(const unsigned char *rgb, int w, int h, int box_cols, int box_rows,
                   int cell_w, int cell_h, image_bytes *out, error_info *err)
{
    memset(out, 0, sizeof *out);
    if (!rgb || w <= 0 || h <= 0 || box_cols <= 0 || box_rows <= 0)
        return error_set(err, "", 0, 0, "", "image: empty image or box");
    if (cell_w <= 0 || cell_h <= 0)
        cell_w = 10, cell_h = 20;
    int dw, dh;
    fit(w, h, box_cols * cell_w, box_rows * cell_h, &dw, &dh);

    unsigned char *px = (unsigned char *)rgb, *scaled = NULL;
    if (dw != w || dh != h) {
        scaled = malloc((size_t)dw * dh * 3);
        if (!scaled)
            return error_set(err, "", 0, 0, "", "image: out of memory");
        /* libsixel 1.10 dereferences the allocator: a NULL one aborts */
        sixel_allocator_t *allocator = NULL;
        SIXELSTATUS scaled_st = sixel_allocator_new(&allocator, NULL, NULL, NULL, NULL);
        if (!SIXEL_FAILED(scaled_st))
            scaled_st = sixel_helper_scale_image(scaled, rgb, w, h, SIXEL_PIXELFORMAT_RGB888,
                                                 dw, dh, SIXEL_RES_BILINEAR, allocator);
        if (allocator)
            sixel_allocator_unref(allocator);
        if (SIXEL_FAILED(scaled_st)) {
            free(scaled);
            return error_set(err, "", 0, 0, "", "image: scaling to %dx%d failed", dw, dh);
        }
        px = scaled;
    }

    sixel_output_t *output = NULL;
    sixel_dither_t *dither = NULL;
    int rc = -1;
    SIXELSTATUS st = sixel_output_new(&output, sixel_write_cb, out, NULL);
    if (SIXEL_FAILED(st))
        goto fail;
    st = sixel_dither_new(&dither, 256, NULL);
    if (SIXEL_FAILED(st))
        goto fail;
    st = sixel_dither_initialize(dither, px, dw, dh, SIXEL_PIXELFORMAT_RGB888, SIXEL_LARGE_AUTO,
                                 SIXEL_REP_AUTO, SIXEL_QUALITY_AUTO);
    if (SIXEL_FAILED(st))
        goto fail;
    st = sixel_encode(px, dw, dh, 3, dither, output);
    if (SIXEL_FAILED(st))
        goto fail;
    out->width = dw;
    out->height = dh;
    rc = 0;
fail:
    if (rc < 0) {
        error_set(err, "", 0, 0, "", "image: sixel encoding failed: %s",
                  sixel_helper_format_error(st));
        image_bytes_free(out);
    }
    if (dither)
        sixel_dither_unref(dither);
    if (output)
        sixel_output_unref(output);
    free(scaled);
    return rc;
}

int image_xterm256(int r, int g, int b)
{
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    int idx[3], c[3] = {r, g, b};
    int cube_err = 0;
    for (int i = 0; i < 3; i++) {
        int best = 0;
        for (int k = 1; k < 6; k++)
            if (abs(level[k] - c[i]) < abs(level[best] - c[i]))
                best = k;
        idx[i] = best;
        cube_err += (level[best] - c[i]) * (level[best] - c[i]);
    }
    int grey = (r + g + b) / 3;
    int gi = grey < 8 ? 0 : grey > 238 ? 23 : (grey - 8) / 10;
    int gv = 8 + gi * 10;
    int grey_err = (gv - r) * (gv - r) + (gv - g) * (gv - g) + (gv - b) * (gv - b);
    if (grey_err < cube_err)
        return 232 + gi;
    return 16 + 36 * idx[0] + 6 * idx[1] + idx[2];
}

void image_rows_free(image_rows *r)
{
    if (r->lines)
        for (int i = 0; i < r->rows; i++)
            free(r->lines[i]);
    free(r->lines);
    memset(r, 0, sizeof *r);
}

/* Average colour of the source rectangle that lands on target pixel (tx, ty). */
static void sample(const unsigned char *rgb, int w, int h, int tw, int th, int tx, int ty,
                   int out[3])
{
    int x0 = tx * w / tw, x1 = (tx + 1) * w / tw, y0 = ty * h / th, y1 = (ty + 1) * h / th;
    if (x1 <= x0)
        x1 = x0 + 1;
    if (y1 <= y0)
        y1 = y0 + 1;
    long sum[3] = {0, 0, 0}, n = 0;
    for (int y = y0; y < y1 && y < h; y++)
        for (int x = x0; x < x1 && x < w; x++, n++)
            for (int c = 0; c < 3; c++)
                sum[c] += rgb[((size_t)y * w + x) * 3 + c];
    for (int c = 0; c < 3; c++)
        out[c] = n ? (int)(sum[c] / n) : 0;
}

static int colour_sgr(char *buf, size_t size, bool fg, const int c[3], bool truecolor)
{
    if (truecolor)
        return snprintf(buf, size, "\x1b[%d;2;%d;%d;%dm", fg ? 38 : 48, c[0], c[1], c[2]);
    return snprintf(buf, size, "\x1b[%d;5;%dm", fg ? 38 : 48, image_xterm256(c[0], c[1], c[2]));
}

int image_to_halfblocks(const unsigned char *rgb, int w, int h, int box_cols, int box_rows,
                        bool truecolor, image_rows *out, error_info *err)
{
    memset(out, 0, sizeof *out);
    if (!rgb || w <= 0 || h <= 0 || box_cols <= 0 || box_rows <= 0)
        return error_set(err, "", 0, 0, "", "image: empty image or box");
    int tw, th;
    fit(w, h, box_cols, box_rows * 2, &tw, &th);
    int rows = (th + 1) / 2;
    out->lines = calloc((size_t)rows, sizeof *out->lines);
    if (!out->lines)
        return error_set(err, "", 0, 0, "", "image: out of memory");
    out->rows = rows;
    out->cols = tw;
    /* worst case per cell: two SGRs of 19 bytes and the 3-byte glyph */
    size_t cap = (size_t)tw * 44 + 8;
    for (int r = 0; r < rows; r++) {
        char *line = malloc(cap), *p = line;
        if (!line) {
            image_rows_free(out);
            return error_set(err, "", 0, 0, "", "image: out of memory");
        }
        for (int x = 0; x < tw; x++) {
            int top[3], bottom[3];
            sample(rgb, w, h, tw, th, x, 2 * r, top);
            if (2 * r + 1 < th)
                sample(rgb, w, h, tw, th, x, 2 * r + 1, bottom);
            p += colour_sgr(p, 24, true, top, truecolor);
            if (2 * r + 1 < th)
                p += colour_sgr(p, 24, false, bottom, truecolor);
            else
                p += snprintf(p, 8, "\x1b[49m");   /* odd height: terminal background */
            memcpy(p, "\xe2\x96\x80", 3);
            p += 3;
        }
        memcpy(p, "\x1b[0m", 5);
        out->lines[r] = line;
    }
    return 0;
}
