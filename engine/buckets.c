/* buckets.c — sd-scripts' bucket list and bucket choice; see buckets.h. */
#include "buckets.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

static int cmp_reso(const void *a, const void *b)
{
    const bucket_reso *x = a, *y = b;
    if (x->width != y->width)
        return x->width < y->width ? -1 : 1;
    return (x->height > y->height) - (x->height < y->height);
}

static size_t add_unique(bucket_reso *out, size_t n, size_t capacity, int w, int h)
{
    for (size_t i = 0; i < n && i < capacity; i++)
        if (out[i].width == w && out[i].height == h)
            return n;
    if (n < capacity)
        out[n] = (bucket_reso){w, h};
    return n + 1;
}

size_t buckets_make_resolutions(const bucket_settings *s, bucket_reso *out, size_t capacity)
{
    if (!s->enabled) {
        if (capacity)
            out[0] = (bucket_reso){s->width, s->height};
        return 1;
    }
    long area = (long)s->width * s->height;
    int step = s->steps;
    size_t n = 0;
    int side = (int)(sqrt((double)area) / step) * step;
    n = add_unique(out, n, capacity, side, side);
    for (int w = s->min_reso; w <= s->max_reso; w += step) {
        int h = (int)((area / w) / step) * step;
        if (h > s->max_reso)
            h = s->max_reso;
        if (h >= s->min_reso) {
            n = add_unique(out, n, capacity, w, h);
            n = add_unique(out, n, capacity, h, w);
        }
    }
    qsort(out, n < capacity ? n : capacity, sizeof *out, cmp_reso);
    return n;
}

/* Python's round-half-up that sd-scripts writes as int(x + 0.5). */
static int round_half_up(double x)
{
    return (int)(x + 0.5);
}

static int round_to_steps(double x, int steps)
{
    int r = round_half_up(x);
    return r - r % steps;
}

bucket_reso buckets_select(const bucket_settings *s, const bucket_reso *list, size_t count,
                           int w, int h, bucket_reso *resized)
{
    double ar = (double)w / h;
    if (s->enabled && s->no_upscale) {
        long max_area = (long)s->width * s->height;
        int rw = w, rh = h;
        if ((long)w * h > max_area) {
            /* shrink to max_area at the same aspect ratio; keep whichever side, rounded to
             * the step, gives the smaller aspect-ratio error */
            double sw = sqrt((double)max_area * ar);
            double sh = (double)max_area / sw;
            int w_rounded = round_to_steps(sw, s->steps);
            int h_in_w = round_to_steps(w_rounded / ar, s->steps);
            int h_rounded = round_to_steps(sh, s->steps);
            int w_in_h = round_to_steps(h_rounded * ar, s->steps);
            double err_w = h_in_w ? fabs((double)w_rounded / h_in_w - ar) : INFINITY;
            double err_h = h_rounded ? fabs((double)w_in_h / h_rounded - ar) : INFINITY;
            if (err_w < err_h) {
                rw = w_rounded;
                rh = round_half_up(w_rounded / ar);
            } else {
                rw = round_half_up(h_rounded * ar);
                rh = h_rounded;
            }
        }
        if (resized)
            *resized = (bucket_reso){rw, rh};
        return (bucket_reso){rw - rw % s->steps, rh - rh % s->steps};
    }
    bucket_reso best = list[0];
    bool exact = false;
    for (size_t i = 0; i < count && !exact; i++)
        if (list[i].width == w && list[i].height == h) {
            best = list[i];
            exact = true;
        }
    double best_err = INFINITY;
    for (size_t i = 0; i < count && !exact; i++) {
        double err = fabs((double)list[i].width / list[i].height - ar);
        if (err < best_err) {
            best_err = err;
            best = list[i];
        }
    }
    if (resized) {
        double bucket_ar = (double)best.width / best.height;
        double scale = ar > bucket_ar ? (double)best.height / h : (double)best.width / w;
        *resized = (bucket_reso){round_half_up(w * scale), round_half_up(h * scale)};
    }
    return best;
}
