/* masked_loss_images.c — writes the PNGs tests/run_masked_loss.sh trains on (no Python in
 * `make check`):
 *   alpha SRC DST PATTERN    SRC's pixels as RGBA with an alpha channel: PATTERN "opaque"
 *                            (255 everywhere), "left" (255 on the left half, 0 on the right)
 *                            or "center" (255 in the middle half of the columns, 0 on both
 *                            sides); hidden pixels are made black, so that compositing on
 *                            white would change them
 *   mask SRC DST PATTERN     a mask image of SRC's size: "white" (all 255), "left" (white
 *                            left half, black right half), "center" (white middle half of
 *                            the columns, black sides) or "grey" (R 127, G and B 255: only R
 *                            counts)
 *   tile SRC DST             SRC twice side by side (a 2:1 image for the bucket tests) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stb_image.h>
#include <stb_image_write.h>

static int usage(void)
{
    fprintf(stderr, "usage: masked_loss_images alpha|mask SRC DST PATTERN | tile SRC DST\n");
    return 2;
}

/* Whether column x of w is hidden (alpha 0, mask black) under the pattern. */
static int hidden(const char *pattern, int x, int w)
{
    if (!strcmp(pattern, "left"))
        return x >= w / 2;
    if (!strcmp(pattern, "center"))
        return x < w / 4 || x >= w - w / 4;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "tile") && argc < 5))
        return usage();
    int w, h, comp;
    unsigned char *src = stbi_load(argv[2], &w, &h, &comp, 3);
    if (!src) {
        fprintf(stderr, "%s: %s\n", argv[2], stbi_failure_reason());
        return 1;
    }
    const char *pattern = argc > 4 ? argv[4] : "";
    int ok;
    if (!strcmp(argv[1], "tile")) {
        unsigned char *px = malloc((size_t)w * h * 6);
        for (int y = 0; y < h; y++)
            for (int k = 0; k < 2; k++)
                memcpy(px + ((size_t)y * 2 * w + (size_t)k * w) * 3, src + (size_t)y * w * 3,
                       (size_t)w * 3);
        ok = stbi_write_png(argv[3], 2 * w, h, 3, px, 2 * w * 3);
        free(px);
    } else if (!strcmp(argv[1], "alpha")) {
        unsigned char *px = malloc((size_t)w * h * 4);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                unsigned char *o = px + ((size_t)y * w + x) * 4, *s = src + ((size_t)y * w + x) * 3;
                int off = hidden(pattern, x, w);
                for (int c = 0; c < 3; c++)
                    o[c] = off ? 0 : s[c];
                o[3] = off ? 0 : 255;
            }
        ok = stbi_write_png(argv[3], w, h, 4, px, w * 4);
        free(px);
    } else if (!strcmp(argv[1], "mask")) {
        unsigned char *px = malloc((size_t)w * h * 3);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                unsigned char *o = px + ((size_t)y * w + x) * 3;
                int black = hidden(pattern, x, w);
                o[0] = black ? 0 : !strcmp(pattern, "grey") ? 127 : 255;
                o[1] = o[2] = black ? 0 : 255;
            }
        ok = stbi_write_png(argv[3], w, h, 3, px, w * 3);
        free(px);
    } else {
        stbi_image_free(src);
        return usage();
    }
    stbi_image_free(src);
    if (!ok) {
        fprintf(stderr, "%s: cannot write\n", argv[3]);
        return 1;
    }
    return 0;
}
