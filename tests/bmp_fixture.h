/* bmp_fixture.h — a plain 24-bit BMP of w x h, every byte `value`: images for the data set
 * tests, where only the size matters (stbi_info) or a flat colour does. */
#ifndef LORATTY_TESTS_BMP_FIXTURE_H
#define LORATTY_TESTS_BMP_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void bmp_fixture_write(const char *path, int w, int h, unsigned char value)
{
    int row = (w * 3 + 3) & ~3;
    unsigned size = 54u + (unsigned)(row * h);
    unsigned char hd[54] = {'B', 'M'};
    unsigned v[] = {size, 0, 54, 40, (unsigned)w, (unsigned)h};
    for (int i = 0; i < 6; i++)
        for (int k = 0; k < 4; k++)
            hd[2 + 4 * i + k] = (unsigned char)(v[i] >> (8 * k));
    hd[26] = 1;
    hd[28] = 24;
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(hd, 1, 54, f);
    unsigned char *px = malloc((size_t)row);
    if (px) {
        memset(px, value, (size_t)row);
        for (int y = 0; y < h; y++)
            fwrite(px, 1, (size_t)row, f);
    }
    free(px);
    fclose(f);
}

#endif
