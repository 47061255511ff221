/* shapes.c — picking, drawing and captioning the shapes data set (see shapes.h). */
#include "shapes.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* red, white, blue, green, gray, yellow, black and purple are the zqx generator's values
 * (share/demo/make_images.py), so a word means the same colour in both data sets. */
const shapes_colour shapes_colours[SHAPES_N_COLOURS] = {
    {"red", {220, 30, 30}},     {"green", {40, 140, 70}},    {"blue", {40, 70, 170}},
    {"yellow", {220, 200, 60}}, {"orange", {240, 130, 30}},  {"purple", {110, 50, 140}},
    {"white", {245, 245, 245}}, {"black", {20, 20, 20}},     {"gray", {128, 128, 128}},
    {"pink", {240, 150, 190}},  {"cyan", {40, 200, 210}},    {"brown", {120, 75, 35}},
};

const char *const shapes_kind_names[SHAPES_N_KINDS] = {
    "circle", "square", "triangle", "diamond", "cross", "star", "ring",
};

const char *const shapes_size_names[SHAPES_N_SIZES] = {"", "small", "large"};

const char *const shapes_place_names[SHAPES_N_PLACES] = {
    "in the center", "on the left", "on the right", "at the top", "at the bottom",
    "top left", "top right", "bottom left", "bottom right",
};

/* Offsets of the places from the centre, in units of 12/64 of the image (the zqx places). */
static const int place_step[SHAPES_N_PLACES][2] = {
    {0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1}, {-1, -1}, {1, -1}, {-1, 1}, {1, 1},
};

/* Radius ranges in a 64-pixel image, by shapes_size. The largest square at a corner, jittered
 * outwards, still ends a pixel inside the image. */
static const float radius_range[SHAPES_N_SIZES][2] = {{9, 12}, {5, 7}, {13, 15}};

enum { JITTER = 2, SUPERSAMPLE = 4, SECOND_TRIES = 16 };
#define SECOND_SHAPE_CHANCE 0.2f
/* A shape and its background at least this far apart in RGB (blue on purple is not) */
#define MIN_CONTRAST 90.0f

int shapes_check_image_size(int size, error_info *err)
{
    if (size < SHAPES_MIN_IMAGE || size > SHAPES_MAX_IMAGE || size % 8 != 0)
        return error_set(err, NULL, 0, 0, NULL, "image size %d is not a multiple of 8 from %d to %d",
                         size, SHAPES_MIN_IMAGE, SHAPES_MAX_IMAGE);
    return 0;
}

void shapes_place_point(int place, int image_size, float *x, float *y)
{
    float step = 12.0f * (float)image_size / 64.0f;
    *x = 0.5f * (float)image_size + step * (float)place_step[place][0];
    *y = 0.5f * (float)image_size + step * (float)place_step[place][1];
}

float shapes_bound_radius(const shapes_object *o)
{
    switch (o->kind) {
    case SHAPES_SQUARE: return o->radius * SHAPES_SQUARE_HALF * sqrtf(2.0f);
    case SHAPES_CROSS:
        return o->radius * sqrtf(1.0f + SHAPES_CROSS_HALF_WIDTH * SHAPES_CROSS_HALF_WIDTH);
    default: return o->radius;
    }
}

/* splitmix64: small, fast, and the same numbers on every platform */
static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int rng_pick(uint64_t *state, int n)
{
    return (int)(((rng_next(state) >> 32) * (uint64_t)n) >> 32);
}

static float rng_uniform(uint64_t *state, float lo, float hi)
{
    return lo + (hi - lo) * (float)(rng_next(state) >> 40) * (1.0f / 16777216.0f);
}

static float colour_distance(int a, int b)
{
    float d = 0;
    for (int c = 0; c < 3; c++) {
        float x = (float)shapes_colours[a].rgb[c] - (float)shapes_colours[b].rgb[c];
        d += x * x;
    }
    return sqrtf(d);
}

static void make_object(uint64_t *r, shapes_object *o, int background, int image_size, int place)
{
    float scale = (float)image_size / 64.0f;
    o->kind = (shapes_kind)rng_pick(r, SHAPES_N_KINDS);
    do
        o->colour = rng_pick(r, SHAPES_N_COLOURS);
    while (colour_distance(o->colour, background) < MIN_CONTRAST);
    int s = rng_pick(r, 10);   /* 30 % small, 40 % unsaid, 30 % large */
    o->size = s < 3 ? SHAPES_SIZE_SMALL : s < 7 ? SHAPES_SIZE_NONE : SHAPES_SIZE_LARGE;
    o->radius = scale * rng_uniform(r, radius_range[o->size][0], radius_range[o->size][1]);
    o->place = place;
    shapes_place_point(place, image_size, &o->cx, &o->cy);
    o->cx += scale * (float)(rng_pick(r, 2 * JITTER + 1) - JITTER);
    o->cy += scale * (float)(rng_pick(r, 2 * JITTER + 1) - JITTER);
}

void shapes_scene_make(shapes_scene *s, uint64_t seed, uint32_t index, int image_size,
                       int max_objects)
{
    uint64_t r = seed;
    r = rng_next(&r) ^ ((uint64_t)index * 0xD1B54A32D192ED03ull);
    memset(s, 0, sizeof *s);
    s->image_size = image_size;
    s->background = rng_pick(&r, SHAPES_N_COLOURS);
    int used[SHAPES_N_PLACES] = {0}, first = rng_pick(&r, SHAPES_N_PLACES);
    make_object(&r, &s->objects[0], s->background, image_size, first);
    used[first] = 1;
    s->n_objects = 1;
    int want = max_objects <= SHAPES_DEFAULT_OBJECTS
                   ? (max_objects > 1 && rng_uniform(&r, 0, 1) < SECOND_SHAPE_CHANCE ? 2 : 1)
                   : 1 + rng_pick(&r, max_objects < SHAPES_MAX_OBJECTS ? max_objects : SHAPES_MAX_OBJECTS);
    /* each further shape at a free place, apart from the others so that all read clearly */
    float gap = 2.0f * (float)image_size / 64.0f;   /* >= 2 px: the AA edges never touch */
    while (s->n_objects < want) {
        int placed = 0;
        for (int t = 0; t < SECOND_TRIES && !placed; t++) {
            int k = rng_pick(&r, SHAPES_N_PLACES - s->n_objects), place = 0;
            for (int p = 0; p < SHAPES_N_PLACES; p++)   /* the k-th free place */
                if (!used[p] && k-- == 0) {
                    place = p;
                    break;
                }
            shapes_object b;
            make_object(&r, &b, s->background, image_size, place);
            int apart = 1;
            for (int i = 0; i < s->n_objects && apart; i++) {
                const shapes_object *a = &s->objects[i];
                apart = hypotf(b.cx - a->cx, b.cy - a->cy) >=
                        shapes_bound_radius(a) + shapes_bound_radius(&b) + gap;
            }
            if (apart) {
                s->objects[s->n_objects++] = b;
                used[place] = placed = 1;
            }
        }
        if (!placed)
            break;
    }
}

/* An object ready to test points against, relative to its centre */
typedef struct drawn {
    const shapes_object *o;
    float px[10], py[10];   /* polygon of a triangle (3) or star (10) */
    int n;
} drawn;

static void drawn_init(drawn *d, const shapes_object *o)
{
    const float pi = 3.14159265358979f;
    d->o = o;
    d->n = 0;
    if (o->kind == SHAPES_TRIANGLE) {
        d->n = 3;
        for (int k = 0; k < 3; k++) {
            float a = -0.5f * pi + (float)k * 2.0f * pi / 3.0f;
            d->px[k] = o->radius * cosf(a);
            d->py[k] = o->radius * sinf(a);
        }
    } else if (o->kind == SHAPES_STAR) {
        d->n = 10;
        for (int k = 0; k < 10; k++) {
            float a = -0.5f * pi + (float)k * pi / 5.0f;
            float rad = k % 2 ? o->radius * SHAPES_STAR_INNER : o->radius;
            d->px[k] = rad * cosf(a);
            d->py[k] = rad * sinf(a);
        }
    }
}

static int in_polygon(const drawn *d, float x, float y)
{
    int in = 0;
    for (int i = 0, j = d->n - 1; i < d->n; j = i++)
        if ((d->py[i] > y) != (d->py[j] > y) &&
            x < d->px[j] + (d->px[i] - d->px[j]) * (y - d->py[j]) / (d->py[i] - d->py[j]))
            in = !in;
    return in;
}

static int inside(const drawn *d, float x, float y)
{
    float r = d->o->radius, ax = fabsf(x), ay = fabsf(y), d2 = x * x + y * y;
    switch (d->o->kind) {
    case SHAPES_CIRCLE: return d2 <= r * r;
    case SHAPES_RING: {
        float ri = r * SHAPES_RING_INNER;
        return d2 <= r * r && d2 >= ri * ri;
    }
    case SHAPES_SQUARE: return ax <= r * SHAPES_SQUARE_HALF && ay <= r * SHAPES_SQUARE_HALF;
    case SHAPES_DIAMOND: return ax + ay <= r;
    case SHAPES_CROSS: {
        float w = r * SHAPES_CROSS_HALF_WIDTH;
        return (ax <= w && ay <= r) || (ay <= w && ax <= r);
    }
    case SHAPES_TRIANGLE:
    case SHAPES_STAR: return in_polygon(d, x, y);
    default: return 0;
    }
}

static int clampi(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void shapes_draw(const shapes_scene *s, uint8_t *rgb)
{
    int n = s->image_size;
    const uint8_t *bg = shapes_colours[s->background].rgb;
    for (size_t p = 0; p < (size_t)n * n; p++)
        memcpy(rgb + 3 * p, bg, 3);
    const int full = SUPERSAMPLE * SUPERSAMPLE;
    for (int k = 0; k < s->n_objects; k++) {
        const shapes_object *o = &s->objects[k];
        const uint8_t *c = shapes_colours[o->colour].rgb;
        drawn d;
        drawn_init(&d, o);
        float b = shapes_bound_radius(o) + 1.0f;
        int x0 = clampi((int)floorf(o->cx - b), 0, n - 1), x1 = clampi((int)ceilf(o->cx + b), 0, n - 1);
        int y0 = clampi((int)floorf(o->cy - b), 0, n - 1), y1 = clampi((int)ceilf(o->cy + b), 0, n - 1);
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                int cover = 0;
                for (int j = 0; j < SUPERSAMPLE; j++)
                    for (int i = 0; i < SUPERSAMPLE; i++)
                        cover += inside(&d, (float)x + ((float)i + 0.5f) / SUPERSAMPLE - o->cx,
                                        (float)y + ((float)j + 0.5f) / SUPERSAMPLE - o->cy);
                if (!cover)
                    continue;
                uint8_t *px = rgb + 3 * ((size_t)y * n + x);
                for (int ch = 0; ch < 3; ch++)   /* integer blend: the same bytes everywhere */
                    px[ch] = (uint8_t)((c[ch] * cover + px[ch] * (full - cover) + full / 2) / full);
            }
    }
}

static size_t object_words(const shapes_object *o, char *buf, size_t size)
{
    const char *sz = shapes_size_names[o->size], *colour = shapes_colours[o->colour].name;
    const char *first = sz[0] ? sz : colour;
    const char *article = strchr("aeiou", first[0]) ? "an" : "a";
    int n = snprintf(buf, size, "%s %s%s%s %s %s", article, sz, sz[0] ? " " : "", colour,
                     shapes_kind_names[o->kind], shapes_place_names[o->place]);
    return n < 0 ? 0 : (size_t)n;
}

/* snprintf at offset n of buf (size bytes), as if the output went on past the end */
static size_t append(char *buf, size_t size, size_t n, const char *a, const char *b)
{
    char none[1];
    int w = n < size ? snprintf(buf + n, size - n, "%s%s", a, b) : snprintf(none, 0, "%s%s", a, b);
    return n + (w < 0 ? 0 : (size_t)w);
}

size_t shapes_caption(const shapes_scene *s, char *buf, size_t size)
{
    size_t n = 0;
    char part[128];
    for (int k = 0; k < s->n_objects; k++) {
        object_words(&s->objects[k], part, sizeof part);
        n = append(buf, size, n, k == 0 ? "" : k == s->n_objects - 1 ? " and " : ", ", part);
    }
    snprintf(part, sizeof part, ", %s background", shapes_colours[s->background].name);
    return append(buf, size, n, "", part);
}
