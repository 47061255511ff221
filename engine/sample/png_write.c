/* png_write.c — libpng encoding into memory, then one atomic write. */
#include "engine/sample/png_write.h"

#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

typedef struct membuf {
    uint8_t *data;
    size_t len, cap;
    int oom;
} membuf;

static void mem_write(png_structp png, png_bytep data, png_size_t len)
{
    membuf *b = png_get_io_ptr(png);
    if (b->oom)
        return;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + len)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->oom = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
}

static void mem_flush(png_structp png)
{
    (void)png;
}

/* libpng reports errors by longjmp; everything it needs is set up before setjmp. */
static int encode(membuf *b, const uint8_t *rgb, int width, int height, const char *const *keys,
                  const char *const *values, int n_text, png_bytep *rows, png_textp text)
{
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png)
        return -1;
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        return -1;
    }
    png_set_write_fn(png, b, mem_write, mem_flush);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    for (int i = 0; i < n_text; i++) {
        text[i].compression = PNG_TEXT_COMPRESSION_NONE;
        text[i].key = (png_charp)keys[i];
        text[i].text = (png_charp)values[i];
        text[i].text_length = strlen(values[i]);
    }
    if (n_text > 0)
        png_set_text(png, info, text, n_text);
    for (int y = 0; y < height; y++)
        rows[y] = (png_bytep)(rgb + (size_t)y * width * 3);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

int png_encode_rgb8(const uint8_t *rgb, int width, int height, const char *const *keys,
                    const char *const *values, int n_text, const char *label, uint8_t **out,
                    size_t *len, error_info *err)
{
    *out = NULL;
    *len = 0;
    if (width < 1 || height < 1)
        return error_set(err, label, 0, 0, NULL, "no image to write (%dx%d)", width, height);
    membuf b = {0};
    png_bytep *rows = malloc((size_t)height * sizeof *rows);
    png_textp text = calloc((size_t)(n_text > 0 ? n_text : 1), sizeof *text);
    int rc = rows && text ? encode(&b, rgb, width, height, keys, values, n_text, rows, text) : -1;
    free(rows);
    free(text);
    if (rc < 0 || b.oom) {
        free(b.data);
        return error_set(err, label, 0, 0, NULL, "could not encode the PNG image");
    }
    *out = b.data;
    *len = b.len;
    return 0;
}

int png_write_rgb8(const char *path, const uint8_t *rgb, int width, int height,
                   const char *const *keys, const char *const *values, int n_text, error_info *err)
{
    uint8_t *data;
    size_t len;
    if (png_encode_rgb8(rgb, width, height, keys, values, n_text, path, &data, &len, err) != 0)
        return -1;
    int rc = fileio_write_atomic(path, data, len, err);
    free(data);
    return rc;
}

void png_from_planar(uint8_t *rgb, const float *image, int width, int height)
{
    size_t hw = (size_t)width * height;
    for (size_t p = 0; p < hw; p++)
        for (int c = 0; c < 3; c++) {
            float v = image[c * hw + p];
            v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
            rgb[p * 3 + c] = (uint8_t)nearbyintf(v * 255.0f);
        }
}
