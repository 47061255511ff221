/* test_shapes.c — the shapes data set (src/shapes.c): for a few hundred scenes, the caption
 * parses back (with this file's own reading of the grammar) into what was drawn, and the
 * pixels agree with it: the named colour at the shape's centre, the background at the far
 * corner, every pixel a 4x4 anti-aliased blend of the background and one shape colour (no
 * stripes), the place word nearest the shape's centroid, the area of the shape the one its
 * size word and geometry give. Shape kinds, colours and places are roughly uniform, and
 * "zqx" never appears. The same seed gives the same bytes, another seed other images, and
 * the kohya folder writer's PNGs load back (engine/data/image_load) as drawn; it refuses a
 * folder that holds files. The zqx demo captions parse with the same grammar and their
 * background words have the same RGB values.
 *
 * `test_shapes --verify DIR COUNT SEED SIZE` checks a folder written by `loratty --make-shapes`
 * (tests/make_shapes_cli.sh). */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "fileio.h"
#include "shapes.h"
#include "engine/data/image_load.h"

/* The grammar's words, written out here as the task states them */
static const char *const COLOURS[] = {"red", "green", "blue", "yellow", "orange", "purple",
                                      "white", "black", "gray", "pink", "cyan", "brown"};
static const char *const KINDS[] = {"circle", "square", "triangle", "diamond", "cross", "star", "ring"};
static const char *const PLACES[] = {"in the center", "on the left", "on the right", "at the top",
                                     "at the bottom", "top left", "top right", "bottom left",
                                     "bottom right"};
/* place offsets from the centre in units of 12 pixels of a 64 image (the zqx generator's) */
static const int PLACE_XY[9][2] = {{0, 0}, {-1, 0}, {1, 0}, {0, -1}, {0, 1},
                                   {-1, -1}, {1, -1}, {-1, 1}, {1, 1}};
/* radius ranges in a 64 image: unsaid, small, large */
static const float RADIUS[3][2] = {{9, 12}, {5, 7}, {13, 15}};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct parsed_object { int size, colour, kind, place; } parsed_object;
typedef struct parsed { int n, background; parsed_object o[SHAPES_MAX_OBJECTS]; } parsed;

static int eat(const char **p, const char *w)
{
    size_t n = strlen(w);
    if (strncmp(*p, w, n) != 0)
        return 0;
    *p += n;
    return 1;
}

/* Index of the word of `list` at *p (followed by a space, a comma or the end), or -1. */
static int eat_one_of(const char **p, const char *const *list, int n)
{
    for (int i = 0; i < n; i++) {
        size_t len = strlen(list[i]);
        if (strncmp(*p, list[i], len) != 0)
            continue;
        char next = (*p)[len];
        if (next == ' ' || next == ',' || next == '\0') {
            *p += len;
            return i;
        }
    }
    return -1;
}

static int parse_object(const char **p, parsed_object *o)
{
    int an = eat(p, "an ");
    if (!an && !eat(p, "a "))
        return -1;
    if (strchr("aeiou", **p) == NULL || **p == '\0' ? an : !an)
        return -1;   /* "an" exactly before a vowel */
    o->size = eat(p, "small ") ? 1 : eat(p, "large ") ? 2 : 0;
    if ((o->colour = eat_one_of(p, COLOURS, NELEM(COLOURS))) < 0 || !eat(p, " "))
        return -1;
    if ((o->kind = eat_one_of(p, KINDS, NELEM(KINDS))) < 0 || !eat(p, " "))
        return -1;
    return (o->place = eat_one_of(p, PLACES, NELEM(PLACES))) < 0 ? -1 : 0;
}

/* "A, B and C, COLOUR background": shapes joined by ", ", the last by " and " */
static int parse_caption(const char *s, parsed *out)
{
    const char *p = s;
    memset(out, 0, sizeof *out);
    int joined_by_and = 0;
    for (;;) {
        if (out->n == SHAPES_MAX_OBJECTS || parse_object(&p, &out->o[out->n]) != 0)
            return -1;
        out->n++;
        if (joined_by_and)
            break;
        if (eat(&p, " and "))
            joined_by_and = 1;
        else if (!(strncmp(p, ", a ", 4) == 0 || strncmp(p, ", an ", 5) == 0) || !eat(&p, ", "))
            break;
    }
    if (out->n > 1 && !joined_by_and)
        return -1;   /* "A, B, COLOUR background" */
    if (!eat(&p, ", ") || (out->background = eat_one_of(&p, COLOURS, NELEM(COLOURS))) < 0)
        return -1;
    return eat(&p, " background") && *p == '\0' ? 0 : -1;
}

static void test_parser(void)
{
    parsed c;
    CHECK(parse_caption("a small red circle on the left, blue background", &c) == 0 && c.n == 1 &&
          c.o[0].size == 1 && c.o[0].colour == 0 && c.o[0].kind == 0 && c.o[0].place == 1 &&
          c.background == 2, "the task's example caption");
    CHECK(parse_caption("an orange star top right and a large gray ring at the bottom, pink background", &c) == 0 &&
          c.n == 2 && c.o[0].size == 0 && c.o[0].colour == 4 && c.o[0].kind == 5 && c.o[0].place == 6 &&
          c.o[1].size == 2 && c.o[1].colour == 8 && c.o[1].kind == 6 && c.o[1].place == 4 &&
          c.background == 9, "two shapes");
    CHECK(parse_caption("a red star top right, a small blue ring on the left and a gray cross at the top, "
                        "pink background", &c) == 0 && c.n == 3 && c.o[1].size == 1 && c.o[1].kind == 6 &&
          c.o[2].colour == 8 && c.o[2].place == 3, "three shapes");
    const char *bad[] = {"a orange star top right, pink background", "an red star top right, pink background",
                         "a red star top right", "a red star, pink background", "a red blob on the left, pink background",
                         "a red star top right, pink background.", "a zqx ring at the top, blue background",
                         "a red star top right, a blue ring on the left, pink background",
                         "a red star top right and a blue ring on the left and a gray cross at the top, pink background"};
    for (int i = 0; i < NELEM(bad); i++)
        CHECK(parse_caption(bad[i], &c) != 0, "\"%s\" parsed", bad[i]);
}

static void test_tables(void)
{
    CHECK(SHAPES_N_COLOURS == NELEM(COLOURS) && SHAPES_N_KINDS == NELEM(KINDS) &&
          SHAPES_N_PLACES == NELEM(PLACES), "table sizes");
    for (int i = 0; i < SHAPES_N_COLOURS; i++)
        CHECK(strcmp(shapes_colours[i].name, COLOURS[i]) == 0, "colour %d", i);
    for (int i = 0; i < SHAPES_N_KINDS; i++)
        CHECK(strcmp(shapes_kind_names[i], KINDS[i]) == 0, "kind %d", i);
    for (int i = 0; i < SHAPES_N_PLACES; i++) {
        float x, y;
        shapes_place_point(i, 64, &x, &y);
        CHECK(strcmp(shapes_place_names[i], PLACES[i]) == 0 && x == 32 + 12 * PLACE_XY[i][0] &&
              y == 32 + 12 * PLACE_XY[i][1], "place %d at %g,%g", i, x, y);
    }
    CHECK(strcmp(shapes_size_names[SHAPES_SIZE_SMALL], "small") == 0 &&
          strcmp(shapes_size_names[SHAPES_SIZE_LARGE], "large") == 0 &&
          strcmp(shapes_size_names[SHAPES_SIZE_NONE], "") == 0, "size words");
    error_info err = {0};
    CHECK(shapes_check_image_size(64, &err) == 0 && shapes_check_image_size(1024, &err) == 0 &&
          shapes_check_image_size(72, &err) == 0 &&
          shapes_check_image_size(60, &err) != 0 && shapes_check_image_size(56, &err) != 0 &&
          shapes_check_image_size(1032, &err) != 0, "image sizes");
}

/* The area of a shape of radius 1, from its geometry */
static double unit_area(int kind)
{
    const double pi = 3.14159265358979;
    double w = SHAPES_CROSS_HALF_WIDTH, h = SHAPES_SQUARE_HALF, ri = SHAPES_RING_INNER;
    switch (kind) {
    case SHAPES_CIRCLE: return pi;
    case SHAPES_SQUARE: return 4 * h * h;
    case SHAPES_TRIANGLE: return 3 * sqrt(3.0) / 4;
    case SHAPES_DIAMOND: return 2;
    case SHAPES_CROSS: return 2 * (2 * 2 * w) - 4 * w * w;
    case SHAPES_STAR: return 10 * 0.5 * SHAPES_STAR_INNER * sin(pi / 5);
    default: return pi * (1 - ri * ri);
    }
}

static const uint8_t *pixel(const uint8_t *rgb, int n, int x, int y)
{
    return rgb + 3 * ((size_t)y * n + x);
}

static int same_rgb(const uint8_t *a, const uint8_t *b)
{
    return a[0] == b[0] && a[1] == b[1] && a[2] == b[2];
}

/* The coverage k (0..16) for which px is the 4x4 blend of colour c over bg, or -1. */
static int blend_of(const uint8_t *px, const uint8_t *c, const uint8_t *bg)
{
    for (int k = 0; k <= 16; k++) {
        int ok = 1;
        for (int ch = 0; ch < 3 && ok; ch++)
            ok = px[ch] == (c[ch] * k + bg[ch] * (16 - k) + 8) / 16;
        if (ok)
            return k;
    }
    return -1;
}

static int nearest_place(double x, double y, int n)
{
    int best = 0;
    double bd = 1e30, step = 12.0 * n / 64;
    for (int p = 0; p < 9; p++) {
        double dx = x - (n / 2.0 + step * PLACE_XY[p][0]), dy = y - (n / 2.0 + step * PLACE_XY[p][1]);
        if (dx * dx + dy * dy < bd)
            bd = dx * dx + dy * dy, best = p;
    }
    return best;
}

typedef struct tally {
    int kinds[SHAPES_N_KINDS], colours[SHAPES_N_COLOURS], backgrounds[SHAPES_N_COLOURS];
    int places[SHAPES_N_PLACES], sizes[3], two, scenes, slanted, antialiased;
    int counts[SHAPES_MAX_OBJECTS + 1], objects;
} tally;

/* Checks one object's pixels: centre colour, area → radius within its size range, place. */
static void check_object(const shapes_scene *s, int k, const uint8_t *rgb, const int *cover,
                         const char *label)
{
    const shapes_object *o = &s->objects[k];
    int n = s->image_size;
    double scale = n / 64.0;
    const uint8_t *c = shapes_colours[o->colour].rgb;
    if (o->kind != SHAPES_RING) {
        CHECK(same_rgb(pixel(rgb, n, (int)floorf(o->cx), (int)floorf(o->cy)), c),
              "%s: the centre is not %s", label, shapes_colours[o->colour].name);
    } else {   /* a pixel of the right of the ring with all four corners in the annulus */
        int found = 0, y = (int)floorf(o->cy);
        for (int x = (int)floorf(o->cx); x < n - 1 && !found; x++) {
            int in = 1;
            for (int corner = 0; corner < 4; corner++) {
                double dx = x + corner % 2 - o->cx, dy = y + corner / 2 - o->cy, d = hypot(dx, dy);
                in &= d >= o->radius * SHAPES_RING_INNER && d <= o->radius;
            }
            if (in) {
                found = 1;
                CHECK(same_rgb(pixel(rgb, n, x, y), c), "%s: the ring is not %s", label,
                      shapes_colours[o->colour].name);
                CHECK(!same_rgb(pixel(rgb, n, (int)floorf(o->cx), (int)floorf(o->cy)), c),
                      "%s: the ring's hole is filled", label);
            }
        }
        CHECK(found, "%s: no pixel inside the ring", label);
    }
    /* area and centroid from the coverage of the pixels this object owns */
    double area = 0, mx = 0, my = 0, r0 = shapes_bound_radius(o) + 1.0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++)
            if (cover[y * n + x] > 0 && hypot(x + 0.5 - o->cx, y + 0.5 - o->cy) <= r0) {
                double w = cover[y * n + x] / 16.0;
                area += w, mx += w * (x + 0.5), my += w * (y + 0.5);
            }
    double r = sqrt(area / unit_area(o->kind));
    CHECK(fabs(r - o->radius) < 0.03 * o->radius + 0.1, "%s: radius from the area %.2f, drawn %.2f",
          label, r, o->radius);
    CHECK(r >= RADIUS[o->size][0] * scale - 0.2 && r <= RADIUS[o->size][1] * scale + 0.2,
          "%s: radius %.2f is not %s", label, r, o->size == 1 ? "small" : o->size == 2 ? "large" : "medium");
    mx /= area, my /= area;
    CHECK(nearest_place(mx, my, n) == o->place, "%s: centroid %.1f,%.1f is not %s", label, mx, my,
          PLACES[o->place]);
    double px = n / 2.0 + 12.0 * scale * PLACE_XY[o->place][0], py = n / 2.0 + 12.0 * scale * PLACE_XY[o->place][1];
    CHECK(fabs(mx - px) <= 2 * scale + 0.3 && fabs(my - py) <= 2 * scale + 0.3,
          "%s: centroid %.1f,%.1f is more than 2 px (jitter) from %.0f,%.0f", label, mx, my, px, py);
}

static void check_scene(const shapes_scene *s, const char *caption, const uint8_t *rgb, tally *t)
{
    int n = s->image_size;
    char label[400];
    snprintf(label, sizeof label, "\"%s\"", caption);
    CHECK(!strstr(caption, "zqx") && !strstr(caption, "stripe"), "%s names the demo concept", label);
    parsed p;
    if (parse_caption(caption, &p) != 0) {
        CHECK(0, "%s does not parse", label);
        return;
    }
    CHECK(p.n == s->n_objects && p.background == s->background, "%s: objects or background", label);
    for (int k = 0; k < p.n && k < s->n_objects; k++) {
        const shapes_object *o = &s->objects[k];
        CHECK(p.o[k].size == (int)o->size && p.o[k].colour == o->colour && p.o[k].kind == (int)o->kind &&
              p.o[k].place == o->place, "%s: object %d reads back differently", label, k);
        CHECK(o->colour != s->background, "%s: shape and background are one colour", label);
        t->kinds[o->kind]++, t->colours[o->colour]++, t->places[o->place]++, t->sizes[o->size]++;
    }
    for (int a = 0; a < s->n_objects; a++)
        for (int b = a + 1; b < s->n_objects; b++) {
            const shapes_object *oa = &s->objects[a], *ob = &s->objects[b];
            CHECK(oa->place != ob->place, "%s: two shapes at one place", label);
            /* apart: at least 2 pixels (of a 64 image) between their bounding circles */
            CHECK(hypotf(oa->cx - ob->cx, oa->cy - ob->cy) >= shapes_bound_radius(oa) +
                  shapes_bound_radius(ob) + 2.0f * (float)n / 64.0f - 1e-4f, "%s: shapes %d and %d touch",
                  label, a, b);
        }
    t->backgrounds[s->background]++, t->two += s->n_objects > 1, t->scenes++;
    t->counts[s->n_objects]++, t->objects += s->n_objects;

    /* every pixel is the background or a blend of it and one shape's colour */
    const uint8_t *bg = shapes_colours[s->background].rgb;
    int *cover = calloc((size_t)n * n, sizeof *cover);
    int bad = 0, partial = 0;
    for (int y = 0; y < n; y++)
        for (int x = 0; x < n; x++) {
            int k = -1;
            for (int j = 0; j < s->n_objects && k < 0; j++)
                k = blend_of(pixel(rgb, n, x, y), shapes_colours[s->objects[j].colour].rgb, bg);
            bad += k < 0;
            partial += k > 0 && k < 16;
            cover[y * n + x] = k < 0 ? 0 : k;
        }
    CHECK(bad == 0, "%s: %d pixels are no blend of the background and a shape", label, bad);
    /* square and cross edges may fall between the subsamples: only slanted edges must blend */
    int slanted = 0;
    for (int j = 0; j < s->n_objects; j++)
        slanted |= s->objects[j].kind != SHAPES_SQUARE && s->objects[j].kind != SHAPES_CROSS;
    t->slanted += slanted;
    t->antialiased += slanted && partial > 0;
    /* the corner farthest from the shapes is background */
    int best = 0;
    double bd = -1;
    for (int c = 0; c < 4; c++) {
        double cx = c % 2 ? n - 0.5 : 0.5, cy = c / 2 ? n - 0.5 : 0.5, d = 1e30;
        for (int j = 0; j < s->n_objects; j++)
            d = fmin(d, hypot(cx - s->objects[j].cx, cy - s->objects[j].cy));
        if (d > bd)
            bd = d, best = c;
    }
    CHECK(same_rgb(pixel(rgb, n, best % 2 ? n - 1 : 0, best / 2 ? n - 1 : 0), bg),
          "%s: the far corner is not %s", label, COLOURS[s->background]);
    for (int k = 0; k < s->n_objects; k++)
        check_object(s, k, rgb, cover, label);
    free(cover);
}

static void test_scenes(int image_size, int count, uint64_t seed, int max_objects, int check_uniform)
{
    tally t = {0};
    uint8_t *rgb = malloc((size_t)image_size * image_size * 3);
    char caption[1024];
    for (int i = 0; i < count; i++) {
        shapes_scene s;
        shapes_scene_make(&s, seed, (uint32_t)i, image_size, max_objects);
        CHECK(s.image_size == image_size && s.n_objects >= 1 && s.n_objects <= max_objects, "image size, count");
        shapes_draw(&s, rgb);
        size_t len = shapes_caption(&s, caption, sizeof caption);
        CHECK(len == strlen(caption) && len < sizeof caption, "caption length");
        check_scene(&s, caption, rgb, &t);
    }
    free(rgb);
    CHECK(t.antialiased == t.slanted, "%d of %d images with slanted edges have partly covered pixels",
          t.antialiased, t.slanted);
    if (max_objects > SHAPES_DEFAULT_OBJECTS && check_uniform) {   /* crowded: the counts spread out */
        for (int k = 1; k <= 3; k++)
            CHECK(t.counts[k] * 10 > t.scenes, "%d of %d scenes hold %d shapes", t.counts[k], t.scenes, k);
        CHECK(t.counts[4] > 0 && t.objects * 10 > 22 * t.scenes, "%d shapes in %d scenes (%d with four)",
              t.objects, t.scenes, t.counts[4]);
        printf("%d crowded scenes of %dx%d (up to %d shapes): %d shapes, counts 1-5:", t.scenes,
               image_size, image_size, max_objects, t.objects);
        for (int k = 1; k <= 5; k++)
            printf(" %d", t.counts[k]);
        printf("\n");
    }
    if (max_objects == 1)
        CHECK(t.two == 0, "--objects 1 gave %d scenes with more", t.two);
    if (!check_uniform)
        return;
    int objects = t.objects;
    for (int k = 0; k < SHAPES_N_KINDS; k++)
        CHECK(abs(t.kinds[k] * SHAPES_N_KINDS - objects) < 0.25 * objects, "%s: %d of %d shapes",
              KINDS[k], t.kinds[k], objects);
    /* crowded scenes leave the centre to the first shape and big ones less room: places and
     * sizes are even in the captioned set only */
    for (int p = 0; p < SHAPES_N_PLACES && max_objects <= SHAPES_DEFAULT_OBJECTS; p++)
        CHECK(abs(t.places[p] * SHAPES_N_PLACES - objects) < 0.3 * objects, "%s: %d of %d shapes",
              PLACES[p], t.places[p], objects);
    for (int c = 0; c < SHAPES_N_COLOURS; c++) {
        CHECK(t.colours[c] * SHAPES_N_COLOURS > objects / 2, "colour %s: %d of %d shapes", COLOURS[c],
              t.colours[c], objects);
        CHECK(t.backgrounds[c] * SHAPES_N_COLOURS > t.scenes / 2, "background %s: %d of %d",
              COLOURS[c], t.backgrounds[c], t.scenes);
    }
    for (int z = 0; z < 3 && max_objects <= SHAPES_DEFAULT_OBJECTS; z++)
        CHECK(t.sizes[z] * 5 > objects, "size %d: %d of %d", z, t.sizes[z], objects);
    if (max_objects == SHAPES_DEFAULT_OBJECTS)
        CHECK(t.two * 100 > 12 * t.scenes && t.two * 100 < 28 * t.scenes, "%d of %d scenes have two shapes",
              t.two, t.scenes);
    printf("%d scenes of %dx%d: %d with more than one shape; shapes", t.scenes, image_size, image_size, t.two);
    for (int k = 0; k < SHAPES_N_KINDS; k++)
        printf(" %s %d", KINDS[k], t.kinds[k]);
    printf("\n");
}

static void test_determinism(void)
{
    enum { N = 64, M = 50 };
    uint8_t a[N * N * 3], b[N * N * 3];
    char ca[320], cb[320];
    int differ = 0;
    for (int i = 0; i < M; i++) {
        shapes_scene s, u;
        shapes_scene_make(&s, 3, (uint32_t)i, N, SHAPES_DEFAULT_OBJECTS);
        shapes_scene_make(&u, 3, (uint32_t)i, N, SHAPES_DEFAULT_OBJECTS);
        shapes_draw(&s, a);
        shapes_draw(&u, b);
        shapes_caption(&s, ca, sizeof ca);
        shapes_caption(&u, cb, sizeof cb);
        CHECK(memcmp(a, b, sizeof a) == 0 && strcmp(ca, cb) == 0, "seed 3 image %d differs on a redraw", i);
        shapes_scene_make(&u, 4, (uint32_t)i, N, SHAPES_DEFAULT_OBJECTS);
        shapes_draw(&u, b);
        shapes_caption(&u, cb, sizeof cb);
        differ += memcmp(a, b, sizeof a) != 0;
    }
    CHECK(differ >= M - 2, "seeds 3 and 4 make %d different images of %d", differ, M);
    shapes_scene s;
    shapes_scene_make(&s, 1, 0, N, SHAPES_DEFAULT_OBJECTS);
    shapes_caption(&s, ca, sizeof ca);
    printf("seed 1, image 1: %s\n", ca);
}

/* Checks the folder `folder` holds exactly shape_00001.png/.txt .. COUNT as drawn. */
static void verify_folder(const char *folder, int count, uint64_t seed, int image_size)
{
    int entries = 0;
    DIR *d = opendir(folder);
    CHECK(d != NULL, "cannot open %s", folder);
    for (struct dirent *e; d && (e = readdir(d));)
        entries += e->d_name[0] != '.';
    if (d)
        closedir(d);
    CHECK(entries == 2 * count, "%s holds %d files, not %d", folder, entries, 2 * count);
    uint8_t *rgb = malloc((size_t)image_size * image_size * 3);
    for (int i = 0; i < count; i++) {
        char path[4096], caption[320];
        shapes_scene s;
        shapes_scene_make(&s, seed, (uint32_t)i, image_size, SHAPES_DEFAULT_OBJECTS);
        shapes_draw(&s, rgb);
        size_t len = shapes_caption(&s, caption, sizeof caption);
        snprintf(path, sizeof path, "%s/shape_%05d.png", folder, i + 1);
        image_rgb8 img = {0};
        error_info err = {0};
        int rc = image_load(path, NULL, &img, &err);
        CHECK(rc == 0 && img.width == image_size && img.height == image_size &&
              memcmp(img.data, rgb, (size_t)image_size * image_size * 3) == 0,
              "%s does not load as drawn: %s", path, err.message);
        image_free(&img);
        snprintf(path, sizeof path, "%s/shape_%05d.txt", folder, i + 1);
        size_t flen = 0;
        char *text = fileio_read_all(path, &flen, &err);
        CHECK(text && flen == len + 1 && memcmp(text, caption, len) == 0 && text[len] == '\n',
              "%s is not \"%s\"", path, caption);
        free(text);
    }
    free(rgb);
}

static int count_entries(const char *dir)
{
    int n = 0;
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    if (d)
        closedir(d);
    return n;
}

static void remove_tree(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "cannot remove %s", dir);
}

static void test_writer(void)
{
    char base[] = "/tmp/test_shapes.XXXXXX", dir[4096], folder[4096], again[4096];
    CHECK(mkdtemp(base) != NULL, "mkdtemp");
    snprintf(dir, sizeof dir, "%s/new/data/", base);   /* made with its parents */
    shapes_options opt = {.count = 12, .seed = 5, .image_size = 64, .repeats = 3};
    shapes_stats st;
    error_info err = {0};
    int rc = shapes_write_folder(dir, &opt, folder, sizeof folder, &st, &err);
    CHECK(rc == 0, "write: %s", err.message);
    char want[4096];
    snprintf(want, sizeof want, "%s/new/data/3_shapes", base);
    CHECK(strcmp(folder, want) == 0, "folder %s", folder);
    verify_folder(folder, 12, 5, 64);
    int kinds = 0;
    for (int k = 0; k < SHAPES_N_KINDS; k++)
        kinds += st.kinds[k];
    CHECK(kinds == 12 + st.two_objects, "stats count %d shapes", kinds);
    snprintf(want, sizeof want, "%s/new/data", base);
    CHECK(count_entries(want) == 1, "something besides 3_shapes was left in %s", want);

    /* the same seed elsewhere: byte-identical files */
    snprintf(dir, sizeof dir, "%s/other", base);
    CHECK(shapes_write_folder(dir, &opt, again, sizeof again, NULL, &err) == 0, "second write: %s", err.message);
    for (int i = 1; i <= 12; i++)
        for (int ext = 0; ext < 2; ext++) {
            char p1[4200], p2[4200];
            snprintf(p1, sizeof p1, "%s/shape_%05d.%s", folder, i, ext ? "txt" : "png");
            snprintf(p2, sizeof p2, "%s/shape_%05d.%s", again, i, ext ? "txt" : "png");
            size_t l1 = 0, l2 = 0;
            char *a = fileio_read_all(p1, &l1, &err), *b = fileio_read_all(p2, &l2, &err);
            CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0, "%s and %s differ", p1, p2);
            free(a);
            free(b);
        }

    /* a folder with files is refused and left alone; an empty one is filled */
    snprintf(dir, sizeof dir, "%s/new/data", base);
    opt.seed = 6;
    rc = shapes_write_folder(dir, &opt, again, sizeof again, NULL, &err);
    CHECK(rc == SHAPES_ERR_EXISTS && strstr(err.message, "already holds files"), "overwrite: %d %s", rc,
          err.message);
    verify_folder(folder, 12, 5, 64);
    CHECK(count_entries(dir) == 1, "a refused write left something in %s", dir);
    snprintf(want, sizeof want, "%s/empty/1_shapes", base);
    snprintf(dir, sizeof dir, "%s/empty", base);
    CHECK(mkdir(dir, 0777) == 0 && mkdir(want, 0777) == 0, "mkdir");
    opt.repeats = 1, opt.count = 3;
    CHECK(shapes_write_folder(dir, &opt, again, sizeof again, NULL, &err) == 0, "into an empty folder: %s",
          err.message);
    verify_folder(want, 3, 6, 64);

    /* bad options write nothing */
    shapes_options bad[] = {{.count = 0, .seed = 1, .image_size = 64, .repeats = 1},
                            {.count = 1, .seed = 1, .image_size = 60, .repeats = 1},
                            {.count = 1, .seed = 1, .image_size = 64, .repeats = 0}};
    snprintf(dir, sizeof dir, "%s/bad", base);
    for (int i = 0; i < NELEM(bad); i++)
        CHECK(shapes_write_folder(dir, &bad[i], again, sizeof again, NULL, &err) == -1, "bad options %d", i);
    CHECK(access(dir, F_OK) != 0, "bad options made %s", dir);
    remove_tree(base);
}

/* The demo LoRA's captions read with this grammar (less the trigger word), and their
 * background words and ring places mean what they mean here. */
static void test_zqx_captions(void)
{
    for (int i = 1; i <= 12; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/share/demo/img/10_zqx/zqx_%02d.txt", LORATTY_SRCDIR, i);
        error_info err = {0};
        size_t len = 0;
        char *text = fileio_read_all(path, &len, &err);
        CHECK(text != NULL, "%s: %s", path, err.message);
        if (!text)
            continue;
        text[strcspn(text, "\n")] = '\0';
        char plain[320];
        parsed p;
        int ok = strncmp(text, "a zqx ", 6) == 0;
        snprintf(plain, sizeof plain, "a white %s", text + (ok ? 6 : 0));   /* a colour in its place */
        ok = ok && parse_caption(plain, &p) == 0;
        CHECK(ok && p.o[0].kind == SHAPES_RING, "\"%s\" does not read as a ring", text);
        free(text);
        if (!ok)
            continue;
        snprintf(path, sizeof path, "%s/share/demo/img/10_zqx/zqx_%02d.png", LORATTY_SRCDIR, i);
        image_rgb8 img = {0};
        CHECK(image_load(path, NULL, &img, &err) == 0, "%s: %s", path, err.message);
        if (!img.data)
            continue;
        const uint8_t *bg = img.data;
        CHECK(same_rgb(bg, shapes_colours[p.background].rgb), "zqx_%02d: its %s background is %d,%d,%d",
              i, COLOURS[p.background], bg[0], bg[1], bg[2]);
        double mx = 0, my = 0, m = 0;
        for (int y = 0; y < img.height; y++)
            for (int x = 0; x < img.width; x++)
                if (!same_rgb(pixel(img.data, img.width, x, y), bg))
                    mx += x + 0.5, my += y + 0.5, m++;
        float px, py;
        shapes_place_point(p.o[0].place, 64, &px, &py);
        CHECK(m > 0 && fabs(mx / m - px) < 1 && fabs(my / m - py) < 1,
              "zqx_%02d: ring at %.1f,%.1f, %s is %g,%g here", i, mx / m, my / m, PLACES[p.o[0].place], px, py);
        image_free(&img);
    }
}

int main(int argc, char **argv)
{
    if (argc == 6 && strcmp(argv[1], "--verify") == 0) {
        verify_folder(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10), atoi(argv[5]));
        return failures != 0;
    }
    test_parser();
    test_tables();
    test_scenes(64, 700, 7, SHAPES_DEFAULT_OBJECTS, 1);
    test_scenes(128, 60, 8, SHAPES_DEFAULT_OBJECTS, 0);
    test_scenes(72, 60, 9, SHAPES_DEFAULT_OBJECTS, 0);   /* centres between pixels */
    test_scenes(64, 400, 10, 8, 1);
    test_scenes(96, 40, 11, 9, 0);
    test_scenes(64, 40, 12, 1, 0);
    test_determinism();
    test_writer();
    test_zqx_captions();
    if (failures)
        fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
