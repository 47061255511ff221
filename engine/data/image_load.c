/* image_load.c — training images to 8-bit RGB as sd-scripts loads them; see image_load.h. */
#include "engine/data/image_load.h"

#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <webp/decode.h>

#include "fileio.h"

/* sd-scripts never sees images this large in practice; the limit keeps a corrupt header
 * from asking for gigabytes. */
#define IMAGE_MAX_SIDE 32768

void image_free(image_rgb8 *img)
{
    if (img) {
        free(img->data);
        free(img->alpha);
        *img = (image_rgb8){0};
    }
}

/* keep_alpha: the alpha plane of interleaved RGBA */
static uint8_t *alpha_plane(const uint8_t *rgba, size_t n)
{
    uint8_t *a = malloc(n ? n : 1);
    for (size_t i = 0; a && i < n; i++)
        a[i] = rgba[4 * i + 3];
    return a;
}

static uint32_t rd16(const uint8_t *p, int le)
{
    return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | p[1];
}

static uint32_t rd32(const uint8_t *p, int le)
{
    return le ? rd16(p, 1) | rd16(p + 2, 1) << 16 : rd16(p, 0) << 16 | rd16(p + 2, 0);
}

/* Orientation from a TIFF block (the body of an Exif APP1 after "Exif\0\0"). */
static int tiff_orientation(const uint8_t *t, size_t n)
{
    if (n < 8)
        return 1;
    int le;
    if (t[0] == 'I' && t[1] == 'I')
        le = 1;
    else if (t[0] == 'M' && t[1] == 'M')
        le = 0;
    else
        return 1;
    if (rd16(t + 2, le) != 42)
        return 1;
    uint32_t ifd = rd32(t + 4, le);
    if (ifd > n || n - ifd < 2)
        return 1;
    uint32_t count = rd16(t + ifd, le);
    for (uint32_t i = 0; i < count; i++) {
        size_t e = (size_t)ifd + 2 + (size_t)i * 12;
        if (e + 12 > n)
            return 1;
        if (rd16(t + e, le) != 0x0112)
            continue;
        uint32_t type = rd16(t + e + 2, le), cnt = rd32(t + e + 4, le);
        if (type != 3 || cnt < 1)   /* SHORT, stored inline in the value field */
            return 1;
        uint32_t v = rd16(t + e + 8, le);
        return v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

int image_exif_orientation(const uint8_t *buf, size_t len)
{
    if (len < 4 || buf[0] != 0xFF || buf[1] != 0xD8)
        return 1;
    size_t p = 2;
    /* walk the marker segments before the first scan */
    while (p + 4 <= len) {
        if (buf[p] != 0xFF)
            return 1;
        uint8_t m = buf[p + 1];
        if (m == 0xFF) {            /* fill byte */
            p++;
            continue;
        }
        if (m == 0xDA || m == 0xD9) /* start of scan, end of image: no EXIF before it */
            return 1;
        size_t seglen = rd16(buf + p + 2, 0);
        if (seglen < 2 || seglen > len - p - 2)
            return 1;
        const uint8_t *body = buf + p + 4;
        size_t body_len = seglen - 2;
        if (m == 0xE1 && body_len >= 6 && memcmp(body, "Exif\0\0", 6) == 0)
            return tiff_orientation(body + 6, body_len - 6);
        p += 2 + seglen;
    }
    return 1;
}

int image_apply_orientation(image_rgb8 *img, int orientation, error_info *err)
{
    if (orientation < 2 || orientation > 8)
        return 0;
    int W = img->width, H = img->height;
    int swap = orientation >= 5;   /* 5..8 exchange width and height */
    int ow = swap ? H : W, oh = swap ? W : H;
    uint8_t *out = malloc((size_t)W * H * 3);
    if (!out)
        return error_set(err, NULL, 0, 0, NULL, "out of memory rotating a %dx%d image", W, H);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx, sy;   /* the source pixel of output (x, y) */
            switch (orientation) {
            case 2: sx = W - 1 - x; sy = y; break;
            case 3: sx = W - 1 - x; sy = H - 1 - y; break;
            case 4: sx = x; sy = H - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = H - 1 - x; break;
            case 7: sx = W - 1 - y; sy = H - 1 - x; break;
            default: sx = W - 1 - y; sy = x; break;   /* 8 */
            }
            memcpy(out + ((size_t)y * ow + x) * 3, img->data + ((size_t)sy * W + sx) * 3, 3);
        }
    free(img->data);
    img->data = out;
    img->width = ow;
    img->height = oh;
    return 0;
}

/* A JPEG is complete when an EOI marker follows the first scan: entropy-coded data cannot
 * hold FF D9 (a data FF is stuffed as FF 00), so finding it means the decoder reaches the
 * end. Trailing bytes after EOI are allowed, as in PIL. */
static int jpeg_complete(const uint8_t *buf, size_t len)
{
    size_t sos = 0;
    for (size_t i = 2; i + 1 < len; i++)
        if (buf[i] == 0xFF && buf[i + 1] == 0xDA) {
            sos = i;
            break;
        }
    if (!sos)
        return 0;
    for (size_t i = len - 1; i > sos + 1; i--)
        if (buf[i] == 0xD9 && buf[i - 1] == 0xFF)
            return 1;
    return 0;
}

/* Alpha composited on white (c·a + 255·(255 − a)) / 255, rounded; or dropped (keep). */
static void rgba_to_rgb(uint8_t *rgb, const uint8_t *rgba, size_t n, bool keep)
{
    for (size_t i = 0; i < n; i++) {
        unsigned a = rgba[4 * i + 3];
        for (int c = 0; c < 3; c++) {
            unsigned v = rgba[4 * i + c];
            rgb[3 * i + c] = keep ? (uint8_t)v : (uint8_t)((v * a + 255u * (255u - a) + 127u) / 255u);
        }
    }
}

static int decode_webp(const uint8_t *buf, size_t len, const char *label, image_rgb8 *out,
                       bool keep, bool keep_alpha, error_info *err)
{
    int w = 0, h = 0;
    if (!WebPGetInfo(buf, len, &w, &h) || w <= 0 || h <= 0)
        return error_set(err, label, 0, 0, NULL, "not a readable WebP image");
    uint8_t *rgba = WebPDecodeRGBA(buf, len, &w, &h);
    if (!rgba)
        return error_set(err, label, 0, 0, NULL, "WebP image is truncated or corrupt");
    out->data = malloc((size_t)w * h * 3);
    if (out->data)
        rgba_to_rgb(out->data, rgba, (size_t)w * h, keep || keep_alpha);
    if (out->data && keep_alpha && !(out->alpha = alpha_plane(rgba, (size_t)w * h))) {
        free(out->data);
        out->data = NULL;
    }
    WebPFree(rgba);
    if (!out->data)
        return error_set(err, label, 0, 0, NULL, "out of memory for a %dx%d image", w, h);
    out->width = w;
    out->height = h;
    return 0;
}

int image_decode(const uint8_t *buf, size_t len, const char *label,
                 const image_load_options *opts, image_rgb8 *out, error_info *err)
{
    *out = (image_rgb8){0};
    if (len == 0)
        return error_set(err, label, 0, 0, NULL, "empty file, not an image");
    if (len > 0x7fffffff)
        return error_set(err, label, 0, 0, NULL, "file too large for an image");
    if (len >= 12 && memcmp(buf, "RIFF", 4) == 0 && memcmp(buf + 8, "WEBP", 4) == 0)
        return decode_webp(buf, len, label, out, opts && opts->keep_stored_colour,
                           opts && opts->keep_alpha, err);

    int is_png = len >= 8 && memcmp(buf, "\x89PNG\r\n\x1a\n", 8) == 0;
    int is_jpeg = len >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF;
    int is_bmp = len >= 2 && buf[0] == 'B' && buf[1] == 'M';
    if (!is_png && !is_jpeg && !is_bmp)
        return error_set(err, label, 0, 0, NULL, "not a PNG, JPEG, WebP or BMP image");
    if (is_jpeg && !jpeg_complete(buf, len))
        return error_set(err, label, 0, 0, NULL, "JPEG image is truncated (no end-of-image marker)");
    int w, h, comp;
    if (!stbi_info_from_memory(buf, (int)len, &w, &h, &comp))
        return error_set(err, label, 0, 0, NULL, "not a readable image: %s", stbi_failure_reason());
    if (w <= 0 || h <= 0 || w > IMAGE_MAX_SIDE || h > IMAGE_MAX_SIDE)
        return error_set(err, label, 0, 0, NULL, "image size %dx%d is out of range", w, h);
    /* with an alpha channel (RGBA, grey+alpha, palette with transparency): 4 channels */
    int alpha = comp == 2 || comp == 4;
    uint8_t *px = stbi_load_from_memory(buf, (int)len, &w, &h, &comp, alpha ? 4 : 3);
    if (!px)
        return error_set(err, label, 0, 0, NULL, "image is truncated or corrupt: %s",
                         stbi_failure_reason());
    if (alpha) {
        if (opts && opts->keep_alpha && !(out->alpha = alpha_plane(px, (size_t)w * h))) {
            stbi_image_free(px);
            return error_set(err, label, 0, 0, NULL, "out of memory for a %dx%d image", w, h);
        }
        /* in place: 3 ≤ 4 */
        rgba_to_rgb(px, px, (size_t)w * h, opts && (opts->keep_stored_colour || opts->keep_alpha));
        uint8_t *shrunk = realloc(px, (size_t)w * h * 3);
        if (shrunk)
            px = shrunk;
    }
    out->data = px;   /* stbi's allocator is malloc */
    out->width = w;
    out->height = h;
    if (is_jpeg && opts && opts->exif_transpose
        && image_apply_orientation(out, image_exif_orientation(buf, len), err) != 0) {
        image_free(out);
        return -1;
    }
    return 0;
}

int image_load(const char *path, const image_load_options *opts, image_rgb8 *out,
               error_info *err)
{
    *out = (image_rgb8){0};
    size_t len = 0;
    char *buf = fileio_read_all(path, &len, err);
    if (!buf)
        return -1;
    int rc = image_decode((const uint8_t *)buf, len, path, opts, out, err);
    free(buf);
    return rc;
}
