/* demo_score.c — how close the demo's sample images are to its data set (the "zqx ring": a
 * ring striped red and white on a plain background, share/demo/make_images.py). Used by
 * tests/demo_learns.sh to measure that the demo LoRA moved the samples toward the concept.
 *
 *   demo_score IMAGE...                  per image: the fractions of stripe-red pixels
 *                                        (R ≥ 150, G and B ≤ 110) and of white ones (all ≥ 190)
 *   demo_score --background REF... -- IMAGE...
 *                                        per image: the RGB distance between its background
 *                                        colour and the REF images' (a background colour is
 *                                        the per-channel median of the outer FRAME pixels,
 *                                        where the rings never reach)
 * Output lines: "<path> red <f> white <f>" or "<path> background <distance>". */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/data/image_load.h"

#define FRAME 4

static int load(const char *path, image_rgb8 *img)
{
    error_info err = {0};
    if (image_load(path, NULL, img, &err) != 0) {
        fprintf(stderr, "demo_score: %s: %s\n", path, err.message);
        return -1;
    }
    if (img->width <= 2 * FRAME || img->height <= 2 * FRAME) {
        fprintf(stderr, "demo_score: %s: smaller than its frame\n", path);
        image_free(img);
        return -1;
    }
    return 0;
}

static int stripes(const char *path, double *red, double *white)
{
    image_rgb8 img = {0};
    if (load(path, &img) != 0)
        return -1;
    size_t n = (size_t)img.width * img.height, r = 0, w = 0;
    for (size_t p = 0; p < n; p++) {
        const unsigned char *c = img.data + 3 * p;
        if (c[0] >= 150 && c[1] <= 110 && c[2] <= 110)
            r++;
        else if (c[0] >= 190 && c[1] >= 190 && c[2] >= 190)
            w++;
    }
    *red = (double)r / (double)n;
    *white = (double)w / (double)n;
    image_free(&img);
    return 0;
}

static int cmp_byte(const void *a, const void *b)
{
    return *(const unsigned char *)a - *(const unsigned char *)b;
}

/* The per-channel median of the pixels within FRAME of the edge. */
static int background(const char *path, double rgb[3])
{
    image_rgb8 img = {0};
    if (load(path, &img) != 0)
        return -1;
    int W = img.width, H = img.height;
    unsigned char *ch = malloc((size_t)W * H);
    if (!ch) {
        image_free(&img);
        return -1;
    }
    for (int c = 0; c < 3; c++) {
        size_t n = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                if (x < FRAME || y < FRAME || x >= W - FRAME || y >= H - FRAME)
                    ch[n++] = img.data[3 * ((size_t)y * W + x) + c];
        qsort(ch, n, 1, cmp_byte);
        rgb[c] = ch[n / 2];
    }
    free(ch);
    image_free(&img);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: demo_score IMAGE... | demo_score --background REF... -- IMAGE...\n");
        return 2;
    }
    double ref[3] = {0}, rgb[3];
    int first = 1, nref = 0, rc = 0;
    if (!strcmp(argv[1], "--background")) {
        int i = 2;
        for (; i < argc && strcmp(argv[i], "--"); i++, nref++) {
            if (background(argv[i], rgb) != 0)
                return 1;
            for (int c = 0; c < 3; c++)
                ref[c] += rgb[c];
        }
        if (i >= argc || !nref) {
            fprintf(stderr, "demo_score: --background needs REF images, then --, then images\n");
            return 2;
        }
        for (int c = 0; c < 3; c++)
            ref[c] /= nref;
        first = i + 1;
    }
    for (int i = first; i < argc; i++) {
        if (nref) {
            if (background(argv[i], rgb) != 0) {
                rc = 1;
                continue;
            }
            double d = 0.0;
            for (int c = 0; c < 3; c++)
                d += (rgb[c] - ref[c]) * (rgb[c] - ref[c]);
            printf("%s background %.1f\n", argv[i], sqrt(d));
        } else {
            double red, white;
            if (stripes(argv[i], &red, &white) != 0) {
                rc = 1;
                continue;
            }
            printf("%s red %.4f white %.4f\n", argv[i], red, white);
        }
    }
    return rc;
}
