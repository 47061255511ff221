/* demo_score.c — how close the demo's sample images are to its data set (the "zqx ring": a
 * ring striped red and white on a plain background, share/demo/make_images.py). Used by
 * tests/demo_learns.sh to measure that the demo LoRA moved the samples toward the concept.
 *
 *   demo_score IMAGE...                  per image: the fractions of stripe-red pixels
 *                                        (R ≥ 150, G and B ≤ 110) and of white ones (all ≥ 190)
 *   demo_score --similar REF... -- IMAGE...
 *                                        per image: the histogram intersection (0..1) of its
 *                                        colours with the pooled colours of the REF images,
 *                                        over 4 levels per channel (64 bins): 1 when the
 *                                        colours are spread alike, low for other colours.
 * Output lines: "<path> red <f> white <f>" or "<path> similarity <f>". */
#include <stdio.h>
#include <string.h>

#include "engine/data/image_load.h"

#define BINS 64

static int histogram(const char *path, double h[BINS], double *red, double *white)
{
    image_rgb8 img = {0};
    error_info err = {0};
    if (image_load(path, NULL, &img, &err) != 0) {
        fprintf(stderr, "demo_score: %s: %s\n", path, err.message);
        return -1;
    }
    size_t n = (size_t)img.width * img.height, r = 0, w = 0;
    memset(h, 0, BINS * sizeof *h);
    for (size_t p = 0; p < n; p++) {
        const unsigned char *c = img.data + 3 * p;
        h[(c[0] >> 6) * 16 + (c[1] >> 6) * 4 + (c[2] >> 6)] += 1.0 / (double)n;
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: demo_score IMAGE... | demo_score --similar REF... -- IMAGE...\n");
        return 2;
    }
    double ref[BINS] = {0}, h[BINS], red, white;
    int first = 1, nref = 0, rc = 0;
    if (!strcmp(argv[1], "--similar")) {
        int i = 2;
        for (; i < argc && strcmp(argv[i], "--"); i++, nref++) {
            if (histogram(argv[i], h, &red, &white) != 0)
                return 1;
            for (int b = 0; b < BINS; b++)
                ref[b] += h[b];
        }
        if (i >= argc || !nref) {
            fprintf(stderr, "demo_score: --similar needs REF images, then --, then images\n");
            return 2;
        }
        for (int b = 0; b < BINS; b++)
            ref[b] /= nref;
        first = i + 1;
    }
    for (int i = first; i < argc; i++) {
        if (histogram(argv[i], h, &red, &white) != 0) {
            rc = 1;
            continue;
        }
        if (nref) {
            double s = 0.0;
            for (int b = 0; b < BINS; b++)
                s += h[b] < ref[b] ? h[b] : ref[b];
            printf("%s similarity %.4f\n", argv[i], s);
        } else
            printf("%s red %.4f white %.4f\n", argv[i], red, white);
    }
    return rc;
}
