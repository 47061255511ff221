/* shapes.h — a procedural, captioned image data set of plain shapes, to pretrain the tiny
 * demo base model (64x64, trained from scratch on the CPU) on the words its LoRA prompts use:
 * shapes, colours, sizes, places and backgrounds.
 *
 * Captions follow the grammar of the demo LoRA's captions (share/demo/img/10_zqx/):
 *     a [small|large] COLOUR SHAPE PLACE[ and a [small|large] COLOUR SHAPE PLACE], COLOUR background
 * e.g. "a small red circle on the left, blue background" ("an" before a vowel: "an orange
 * star"). Places sit where the zqx generator puts its rings (centre ± 12 in a 64 image), the
 * colours the two generators share have the same RGB values, and "ring" is a plain one-colour
 * annulus: the demo concept, the red and white striped "zqx ring", is never drawn nor named.
 *
 * Everything is deterministic: image `index` of `seed` is the same whatever the count. Drawing
 * and captions do no I/O; shapes_write_folder (shapes_write.c) makes the kohya folder. */
#ifndef LORATTY_SHAPES_H
#define LORATTY_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

typedef enum shapes_kind {
    SHAPES_CIRCLE, SHAPES_SQUARE, SHAPES_TRIANGLE, SHAPES_DIAMOND, SHAPES_CROSS, SHAPES_STAR,
    SHAPES_RING, SHAPES_N_KINDS
} shapes_kind;

/* The size word; NONE is the middle size, which the caption leaves unsaid. */
typedef enum shapes_size { SHAPES_SIZE_NONE, SHAPES_SIZE_SMALL, SHAPES_SIZE_LARGE, SHAPES_N_SIZES } shapes_size;

enum { SHAPES_N_COLOURS = 12, SHAPES_N_PLACES = 9, SHAPES_MAX_OBJECTS = SHAPES_N_PLACES,
       SHAPES_DEFAULT_OBJECTS = 2,
       SHAPES_MIN_IMAGE = 64, SHAPES_MAX_IMAGE = 1024, SHAPES_MAX_COUNT = 99999 };

/* The geometry, relative to an object's radius r (the size of its circle, the outer radius
 * of its ring, the circumradius of its triangle and star, the half-diagonal of its diamond,
 * the arm half-length of its cross). Triangles and stars point up. */
#define SHAPES_SQUARE_HALF 0.8f         /* half the side of a square */
#define SHAPES_CROSS_HALF_WIDTH 0.3f    /* half the width of a cross's arms */
#define SHAPES_STAR_INNER 0.45f         /* inner radius of the five-pointed star */
#define SHAPES_RING_INNER 0.55f         /* inner radius of the ring */

typedef struct shapes_colour {
    const char *name;
    uint8_t rgb[3];
} shapes_colour;

extern const shapes_colour shapes_colours[SHAPES_N_COLOURS];
extern const char *const shapes_kind_names[SHAPES_N_KINDS];
extern const char *const shapes_size_names[SHAPES_N_SIZES];     /* "" for SHAPES_SIZE_NONE */
extern const char *const shapes_place_names[SHAPES_N_PLACES];   /* "in the center", ... */

typedef struct shapes_object {
    shapes_kind kind;
    shapes_size size;
    int colour, place;        /* indices into shapes_colours, shapes_place_names */
    float cx, cy, radius;     /* pixels; pixel (x, y) covers [x, x+1) × [y, y+1) */
} shapes_object;

typedef struct shapes_scene {
    int image_size, background, n_objects;
    shapes_object objects[SHAPES_MAX_OBJECTS];
} shapes_scene;

/* 0 when `size` is a square image side the generator makes (a multiple of 8, 64..1024). */
int shapes_check_image_size(int size, error_info *err);

/* Where place `place` puts a shape's centre, before jitter, in a size × size image. */
void shapes_place_point(int place, int image_size, float *x, float *y);

/* The radius of the circle around the centre that holds the whole object. */
float shapes_bound_radius(const shapes_object *o);

/* Picks image `index` of `seed`; image_size must pass shapes_check_image_size. Up to
 * max_objects shapes (1..SHAPES_MAX_OBJECTS), each at its own place and apart from the others:
 * with 2 (SHAPES_DEFAULT_OBJECTS, the captioned data set) a fifth of the images get a second
 * shape; with more, the count is uniform in 1..max_objects, less where no room is found (a
 * crowded set, to train a VAE on more edges and colours per image). */
void shapes_scene_make(shapes_scene *s, uint64_t seed, uint32_t index, int image_size,
                       int max_objects);

/* Draws the scene into rgb [size, size, 3], anti-aliased by 4 × 4 supersampling. */
void shapes_draw(const shapes_scene *s, uint8_t *rgb);

/* Writes the caption (no newline) as snprintf does; returns its length. Shapes are joined
 * by ", " and the last by " and ". */
size_t shapes_caption(const shapes_scene *s, char *buf, size_t size);

typedef struct shapes_options {
    int count;          /* images, 1..SHAPES_MAX_COUNT */
    uint64_t seed;
    int image_size;
    int repeats;        /* the kohya folder's repeat count, >= 1 */
    int max_objects;    /* shapes per image, 1..SHAPES_MAX_OBJECTS (shapes_scene_make); 0: 2 */
} shapes_options;

/* Per-kind counts and the images with more than one shape of what shapes_write_folder
 * wrote, for its report. */
typedef struct shapes_stats {
    int kinds[SHAPES_N_KINDS];
    int two_objects;
} shapes_stats;

/* Writes dir/<repeats>_shapes/shape_00001.png and shape_00001.txt ... (creating dir when
 * needed) and puts that folder's path in folder. The files are made in a hidden folder
 * beside it and renamed into place at the end, so the folder appears complete or not at all.
 * Returns 0, -1 on an error, or SHAPES_ERR_EXISTS, without writing anything, when
 * dir/<repeats>_shapes already holds files. stats may be NULL. */
enum { SHAPES_ERR_EXISTS = -2 };
int shapes_write_folder(const char *dir, const shapes_options *opt, char *folder,
                        size_t folder_size, shapes_stats *stats, error_info *err);

/* `loratty --make-shapes DIR [--count N] [--seed S] [--size PX] [--repeats R] [--objects K]`: takes the whole
 * command line; returns the exit status (0, 1 could not write, 2 usage or refused). */
int shapes_cli_main(int argc, char **argv);

#endif
