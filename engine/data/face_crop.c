/* face_crop.c — sd-scripts' crop around the face named in the file name; see face_crop.h. */
#include "engine/data/face_crop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Python's int() of a field: optional sign, digits (no other text) */
static bool parse_int(const char *s, size_t n, int *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    const char *d = buf + (buf[0] == '+' || buf[0] == '-');
    if (!*d)
        return false;
    for (const char *c = d; *c; c++)
        if (*c < '0' || *c > '9')
            return false;
    errno = 0;
    long v = strtol(buf, NULL, 10);
    if (errno || v > 1000000000 || v < -1000000000)
        return false;
    *out = (int)v;
    return true;
}

int face_crop_parse_name(const char *path, face_box *out)
{
    *out = (face_box){0};
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    /* the positions of the last four '_' and how many fields there are */
    const char *us[4] = {0};
    int fields = 1;
    for (size_t i = 0; i < len; i++)
        if (base[i] == '_') {
            fields++;
            us[0] = us[1], us[1] = us[2], us[2] = us[3], us[3] = base + i;
        }
    if (fields < 5)
        return 0;
    int v[4];
    for (int k = 0; k < 4; k++) {
        const char *start = us[k] + 1, *end = k < 3 ? us[k + 1] : base + len;
        if (!parse_int(start, (size_t)(end - start), &v[k]))
            return -1;
    }
    *out = (face_box){v[0], v[1], v[2], v[3]};
    return 1;
}

/* random.randint(a, b), inclusive */
static int randint(data_rng *r, int a, int b)
{
    return a + (int)data_rng_below(r, (size_t)(b - a) + 1);
}

/* Python's a // b for ints */
static int floordiv(int a, int b)
{
    int q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

int face_crop_place(int iw, int ih, bucket_reso target, face_box f, double lo, double hi,
                    bool random_crop, data_rng *r, image_placement *out)
{
    int W = target.width, H = target.height;
    out->bucket = target;
    if (iw == W && ih == H) {
        out->resized = target;
        out->crop_x = out->crop_y = 0;
        return 0;
    }
    int face = f.w > f.h ? f.w : f.h;
    int size = H < W ? H : W;
    double min_scale = (double)H / ih > (double)W / iw ? (double)H / ih : (double)W / iw;
    double by_hi = size / (face * hi), by_lo = size / (face * lo);
    min_scale = by_hi > min_scale ? by_hi : min_scale;
    min_scale = min_scale < 1.0 ? min_scale : 1.0;
    double max_scale = by_lo > min_scale ? by_lo : min_scale;
    max_scale = max_scale < 1.0 ? max_scale : 1.0;
    double scale = min_scale >= max_scale ? min_scale
                                          : min_scale + (max_scale - min_scale) * data_rng_uniform(r);
    int nh = (int)(ih * scale + 0.5), nw = (int)(iw * scale + 0.5);
    if (nh < H || nw < W)
        return -1;
    out->resized = (bucket_reso){nw, nh};
    int centre[2] = {(int)(f.cy * scale + 0.5), (int)(f.cx * scale + 0.5)};
    int length[2] = {nh, nw}, tsize[2] = {H, W}, p[2];
    for (int axis = 0; axis < 2; axis++) {
        int p1 = centre[axis] - tsize[axis] / 2;
        if (random_crop) {
            int range = length[axis] - centre[axis] > centre[axis] ? length[axis] - centre[axis]
                                                                   : centre[axis];
            int a = randint(r, 0, range), b = randint(r, 0, range);
            p1 += a + b - range;
        } else if (lo != hi && face > size / 10 && face >= 40) {
            p1 += randint(r, floordiv(-face, 20), face / 20);
        }
        int most = length[axis] - tsize[axis];
        p[axis] = p1 < 0 ? 0 : p1 > most ? most : p1;
    }
    out->crop_y = p[0];
    out->crop_x = p[1];
    return 0;
}
