/* shapes_write.c — the shapes data set as a kohya folder (DIR/<repeats>_shapes/ with
 * shape_00001.png + shape_00001.txt ...) and the `loratty --make-shapes` command line. */
#include "shapes.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/sample/png_write.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2, MAX_REPEATS = 10000 };

static int make_dirs(const char *dir, error_info *err)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return error_set(err, dir, 0, 0, NULL, "path too long");
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0')
            continue;
        char c = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return error_set(err, path, 0, 0, NULL, "cannot create the folder: %s", strerror(errno));
        *p = c;
        if (c == '\0')
            break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return error_set(err, dir, 0, 0, NULL, "not a folder");
    return 0;
}

/* 1 when the folder exists and holds anything, 0 when it is empty or absent, -1 when it is not
 * a folder or cannot be read. */
static int folder_has_files(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));)
        found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return found;
}

/* Removes the hidden folder of a write that failed: what we wrote, then the folder. */
static void remove_partial(const char *tmp, int written)
{
    char path[PATH_MAX + 32];
    for (int i = 1; i <= written; i++)
        for (int ext = 0; ext < 2; ext++) {
            snprintf(path, sizeof path, "%s/shape_%05d.%s", tmp, i, ext ? "txt" : "png");
            unlink(path);
        }
    rmdir(tmp);
}

/* A new file in the hidden folder; the folder is synced once, before it is renamed. */
static int write_file(const char *path, const void *data, size_t len, error_info *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0)
        return error_set(err, path, 0, 0, NULL, "cannot create: %s", strerror(errno));
    for (const char *p = data; len > 0;) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            close(fd);
            return error_set(err, path, 0, 0, NULL, "cannot write: %s", strerror(e));
        }
        p += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0)
        return error_set(err, path, 0, 0, NULL, "cannot write: %s", strerror(errno));
    return 0;
}

static int write_pair(const char *tmp, int number, const shapes_scene *s, uint8_t *rgb, error_info *err)
{
    char path[PATH_MAX + 32], caption[1024];   /* room for tmp + "/shape_NNNNN.png"; 9 shapes */
    shapes_draw(s, rgb);
    size_t len = shapes_caption(s, caption, sizeof caption - 1);
    if (len > sizeof caption - 2)
        len = sizeof caption - 2;
    caption[len++] = '\n';
    snprintf(path, sizeof path, "%s/shape_%05d.png", tmp, number);
    uint8_t *png;
    size_t png_len;
    if (png_encode_rgb8(rgb, s->image_size, s->image_size, NULL, NULL, 0, path, &png, &png_len, err) != 0)
        return -1;
    int rc = write_file(path, png, png_len, err);
    free(png);
    snprintf(path, sizeof path, "%s/shape_%05d.txt", tmp, number);
    return rc != 0 ? rc : write_file(path, caption, len, err);
}

/* fsync of a folder (or, with syncfs, of the file system it is on: one call for all files) */
static int sync_folder(const char *path, int whole_fs, error_info *err)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, path, 0, 0, NULL, "cannot open: %s", strerror(errno));
    int rc = whole_fs ? syncfs(fd) : fsync(fd);
    int e = errno;
    close(fd);
    return rc == 0 ? 0 : error_set(err, path, 0, 0, NULL, "cannot sync: %s", strerror(e));
}

int shapes_write_folder(const char *dir, const shapes_options *opt, char *folder,
                        size_t folder_size, shapes_stats *stats, error_info *err)
{
    if (opt->count < 1 || opt->count > SHAPES_MAX_COUNT)
        return error_set(err, NULL, 0, 0, NULL, "count %d is not from 1 to %d", opt->count, SHAPES_MAX_COUNT);
    if (opt->repeats < 1 || opt->repeats > MAX_REPEATS)
        return error_set(err, NULL, 0, 0, NULL, "repeats %d is not from 1 to %d", opt->repeats, MAX_REPEATS);
    if (opt->max_objects < 0 || opt->max_objects > SHAPES_MAX_OBJECTS)
        return error_set(err, NULL, 0, 0, NULL, "max_objects %d is not from 1 to %d",
                         opt->max_objects, SHAPES_MAX_OBJECTS);
    if (shapes_check_image_size(opt->image_size, err) != 0)
        return -1;
    size_t dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    char tmp[PATH_MAX];
    if (dl + 32 >= sizeof tmp || (size_t)snprintf(folder, folder_size, "%.*s/%d_shapes", (int)dl, dir,
                                                  opt->repeats) >= folder_size)
        return error_set(err, dir, 0, 0, NULL, "path too long");
    if (make_dirs(dir, err) != 0)
        return -1;
    int has = folder_has_files(folder);
    if (has < 0)
        return error_set(err, folder, 0, 0, NULL, "cannot read this folder: %s", strerror(errno));
    if (has > 0) {
        error_set(err, folder, 0, 0, NULL, "already holds files; remove them or choose another "
                  "folder or --repeats (nothing was written)");
        return SHAPES_ERR_EXISTS;
    }
    snprintf(tmp, sizeof tmp, "%.*s/.%d_shapes.XXXXXX", (int)dl, dir, opt->repeats);
    if (!mkdtemp(tmp))
        return error_set(err, tmp, 0, 0, NULL, "cannot create a folder: %s", strerror(errno));
    uint8_t *rgb = malloc((size_t)opt->image_size * opt->image_size * 3);
    if (!rgb) {
        rmdir(tmp);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    if (stats)
        memset(stats, 0, sizeof *stats);
    int written = 0, rc = 0;
    for (; written < opt->count; written++) {
        shapes_scene s;
        shapes_scene_make(&s, opt->seed, (uint32_t)written, opt->image_size,
                          opt->max_objects ? opt->max_objects : SHAPES_DEFAULT_OBJECTS);
        if ((rc = write_pair(tmp, written + 1, &s, rgb, err)) != 0) {
            written++;   /* a half-written pair is cleaned up with the rest */
            break;
        }
        for (int k = 0; stats && k < s.n_objects; k++)
            stats->kinds[s.objects[k].kind]++;
        if (stats)
            stats->two_objects += s.n_objects > 1;
    }
    free(rgb);
    if (rc == 0)
        rc = sync_folder(tmp, 1, err);
    /* rename replaces an empty folder and fails on one that got files in the meantime */
    if (rc == 0 && rename(tmp, folder) != 0)
        rc = error_set(err, folder, 0, 0, NULL, "cannot move the images into place: %s", strerror(errno));
    if (rc != 0) {
        remove_partial(tmp, written);
        return rc;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)dl, dir);
    return sync_folder(parent, 0, err);
}

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "loratty: --make-shapes: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

static int parse_int(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int shapes_cli_main(int argc, char **argv)
{
    enum { O_MAKE = 256, O_COUNT, O_SEED, O_SIZE, O_REPEATS, O_OBJECTS };
    static const struct option options[] = {
        {"make-shapes", required_argument, NULL, O_MAKE},
        {"count", required_argument, NULL, O_COUNT},
        {"seed", required_argument, NULL, O_SEED},
        {"size", required_argument, NULL, O_SIZE},
        {"repeats", required_argument, NULL, O_REPEATS},
        {"objects", required_argument, NULL, O_OBJECTS},
        {NULL, 0, NULL, 0},
    };
    shapes_options opt = {.count = 2000, .seed = 1, .image_size = 64, .repeats = 1,
                          .max_objects = SHAPES_DEFAULT_OBJECTS};
    const char *dir = NULL;
    long long v;
    int o;
    optind = 1;
    opterr = 0;
    while ((o = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (o) {
        case O_MAKE: dir = optarg; break;
        case O_COUNT:
            if (parse_int(optarg, 1, SHAPES_MAX_COUNT, &v) != 0)
                return usage_error("--count must be a whole number from 1 to 99999, not \"%s\"", optarg);
            opt.count = (int)v;
            break;
        case O_SEED:
            if (parse_int(optarg, 0, LLONG_MAX, &v) != 0)
                return usage_error("--seed must be a whole number, 0 or more, not \"%s\"", optarg);
            opt.seed = (uint64_t)v;
            break;
        case O_SIZE:
            if (parse_int(optarg, SHAPES_MIN_IMAGE, SHAPES_MAX_IMAGE, &v) != 0 || v % 8)
                return usage_error("--size must be a multiple of 8 from 64 to 1024, not \"%s\"", optarg);
            opt.image_size = (int)v;
            break;
        case O_REPEATS:
            if (parse_int(optarg, 1, MAX_REPEATS, &v) != 0)
                return usage_error("--repeats must be a whole number from 1 to 10000, not \"%s\"", optarg);
            opt.repeats = (int)v;
            break;
        case O_OBJECTS:
            if (parse_int(optarg, 1, SHAPES_MAX_OBJECTS, &v) != 0)
                return usage_error("--objects must be a whole number from 1 to 9, not \"%s\"", optarg);
            opt.max_objects = (int)v;
            break;
        default:
            return usage_error("unknown option or missing value: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!dir || !dir[0])
        return usage_error("%sgive the folder to write into: --make-shapes DIR", "");
    char folder[PATH_MAX];
    shapes_stats st;
    error_info err = {0};
    int rc = shapes_write_folder(dir, &opt, folder, sizeof folder, &st, &err);
    if (rc != 0) {
        char msg[2048];
        error_format(&err, msg, sizeof msg);
        fprintf(stderr, "loratty: --make-shapes: %s\n", msg);
        return rc == SHAPES_ERR_EXISTS ? EXIT_USAGE : EXIT_FAILED;
    }
    printf("wrote %d images with captions to %s (seed %llu, %dx%d, %d repeat%s)\n", opt.count,
           folder, (unsigned long long)opt.seed, opt.image_size, opt.image_size, opt.repeats,
           opt.repeats == 1 ? "" : "s");
    printf("shapes:");
    for (int k = 0; k < SHAPES_N_KINDS; k++)
        printf(" %s %d%s", shapes_kind_names[k], st.kinds[k], k + 1 < SHAPES_N_KINDS ? "," : "");
    printf("; %d images with more than one shape\n", st.two_objects);
    return 0;
}
