/* dataset_prep.c — builds kohya_ss's Dreambooth/LoRA folder layout from a folder of images.
 * See dataset_prep.h. kohya_ss copies the whole source tree with shutil.copytree after
 * deleting an existing concept folder; loratty places only images and their caption files
 * (sd-scripts reads nothing else), never deletes, and asks before writing into a folder
 * that already holds files. */
#include "dataset_prep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/dataset.h"

/* Caption files sd-scripts and kohya_ss use (caption_extension's choices). */
static const char *const caption_exts[] = {".txt", ".caption", ".cap"};

/* Copies a prompt without leading and trailing blanks; checks it can be part of a name. */
static int clean_prompt(const char *in, const char *what, bool required, char *out, size_t size,
                        error_info *err)
{
    while (in && (*in == ' ' || *in == '\t'))
        in++;
    size_t n = in ? strlen(in) : 0;
    while (n && (in[n - 1] == ' ' || in[n - 1] == '\t'))
        n--;
    if (!n) {
        out[0] = 0;
        return required ? error_set(err, NULL, 0, 0, what, "is empty: it names the folder") : 0;
    }
    if (n >= size)
        return error_set(err, NULL, 0, 0, what, "is too long");
    memcpy(out, in, n);
    out[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (out[i] == '/' || (unsigned char)out[i] < 0x20)
            return error_set(err, NULL, 0, 0, what, "\"%s\" cannot be part of a folder name "
                             "(no '/' or control characters)", out);
    if (out[0] == '.')
        return error_set(err, NULL, 0, 0, what, "\"%s\" would make a hidden folder", out);
    return 0;
}

static int set_path(char *out, size_t size, error_info *err, const char *fmt, const char *a,
                    const char *b)
{
    int n = snprintf(out, size, fmt, a, b);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, a, 0, 0, NULL, "the path is too long");
    return 0;
}

int dataset_prep_plan(const dataset_prep_request *req, dataset_prep_result *res, error_info *err)
{
    memset(res, 0, sizeof *res);
    char inst[256], cls[256], name[600];
    if (clean_prompt(req->instance_prompt, "instance prompt", true, inst, sizeof inst, err) != 0)
        return -1;
    bool reg = req->reg_images && *req->reg_images;
    if (clean_prompt(req->class_prompt, "class prompt", reg, cls, sizeof cls, err) != 0) {
        if (reg && !cls[0])
            snprintf(err->message, sizeof err->message,
                     "is empty: the regularisation folder is named after it");
        return -1;
    }
    if (req->repeats < 1)
        return error_set(err, NULL, 0, 0, "repeats", "%d: must be 1 or more", req->repeats);
    if (reg && req->reg_repeats < 1)
        return error_set(err, NULL, 0, 0, "reg repeats", "%d: must be 1 or more", req->reg_repeats);
    if (!req->train_images || !*req->train_images)
        return error_set(err, NULL, 0, 0, "training images", "no folder given");
    if (!req->dest || !*req->dest)
        return error_set(err, NULL, 0, 0, "destination", "no folder given");
    char dest[4096];
    snprintf(dest, sizeof dest, "%s", req->dest);
    for (size_t n = strlen(dest); n > 1 && dest[n - 1] == '/';)
        dest[--n] = 0;
    snprintf(name, sizeof name, "%d_%s%s%s", req->repeats, inst, cls[0] ? " " : "", cls);
    if (set_path(res->train_data_dir, sizeof res->train_data_dir, err, "%s/%s", dest, "img")
        || set_path(res->img_dir, sizeof res->img_dir, err, "%s/%s", res->train_data_dir, name)
        || set_path(res->output_dir, sizeof res->output_dir, err, "%s/%s", dest, "model")
        || set_path(res->logging_dir, sizeof res->logging_dir, err, "%s/%s", dest, "log"))
        return -1;
    if (reg) {
        snprintf(name, sizeof name, "%d_%s", req->reg_repeats, cls);
        if (set_path(res->reg_data_dir, sizeof res->reg_data_dir, err, "%s/%s", dest, "reg")
            || set_path(res->reg_dir, sizeof res->reg_dir, err, "%s/%s", res->reg_data_dir, name))
            return -1;
    }
    return 0;
}

/* The entries of a source folder: images, and caption files whose stem is an image's. */
typedef struct src_list {
    char **images, **captions;
    size_t nimages, ncaptions, skipped;
} src_list;

static void src_free(src_list *l)
{
    for (size_t i = 0; i < l->nimages; i++)
        free(l->images[i]);
    for (size_t i = 0; i < l->ncaptions; i++)
        free(l->captions[i]);
    free(l->images);
    free(l->captions);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t stem_len(const char *name)
{
    const char *dot = strrchr(name, '.');
    return dot && dot != name ? (size_t)(dot - name) : strlen(name);
}

static bool is_caption_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof caption_exts / sizeof *caption_exts; i++)
        if (strcmp(dot, caption_exts[i]) == 0)
            return true;
    return false;
}

/* Is there an image named <stem>.<something>? images is sorted. */
static bool has_image_stem(const src_list *l, const char *caption)
{
    size_t n = stem_len(caption);
    size_t lo = 0, hi = l->nimages;
    while (lo < hi) {   /* first image >= the stem */
        size_t mid = (lo + hi) / 2;
        if (strncmp(l->images[mid], caption, n) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < l->nimages && strncmp(l->images[i], caption, n) == 0; i++)
        if (stem_len(l->images[i]) == n)
            return true;
    return false;
}

static int push(char ***v, size_t *n, const char *s)
{
    char **p = realloc(*v, (*n + 1) * sizeof *p);
    if (!p)
        return -1;
    *v = p;
    if (!(p[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static int src_scan(const char *dir, const char *what, src_list *l, error_info *err)
{
    memset(l, 0, sizeof *l);
    DIR *d = opendir(dir);
    if (!d)
        return error_set(err, dir, 0, 0, what, "cannot read the folder: %s", strerror(errno));
    char **others = NULL;
    size_t nothers = 0;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
            l->skipped++;   /* sd-scripts does not look into subfolders either */
            continue;
        }
        if (dataset_is_image_name(e->d_name))
            rc = push(&l->images, &l->nimages, e->d_name);
        else if (is_caption_name(e->d_name))
            rc = push(&others, &nothers, e->d_name);
        else
            l->skipped++;
    }
    closedir(d);
    if (rc == 0 && l->nimages)
        qsort(l->images, l->nimages, sizeof *l->images, cmp_str);
    for (size_t i = 0; i < nothers; i++) {
        if (rc == 0 && has_image_stem(l, others[i]))
            rc = push(&l->captions, &l->ncaptions, others[i]);
        else
            l->skipped++;
        free(others[i]);
    }
    free(others);
    if (rc != 0) {
        src_free(l);
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    }
    if (!l->nimages) {
        src_free(l);
        return error_set(err, dir, 0, 0, what, "no images here (png, jpg, jpeg, webp or bmp)");
    }
    return 0;
}

static int mkdirs(const char *path, error_info *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(tmp, 0777) < 0 && errno != EEXIST)
            return error_set(err, tmp, 0, 0, NULL, "cannot create: %s", strerror(errno));
        struct stat st;
        if (stat(tmp, &st) < 0 || !S_ISDIR(st.st_mode))
            return error_set(err, tmp, 0, 0, NULL, "is not a folder");
        if (!c)
            return 0;
        *p = c;
    }
}

static int copy_file(const char *from, const char *to, error_info *err)
{
    char part[4500];
    snprintf(part, sizeof part, "%s.part", to);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return error_set(err, from, 0, 0, NULL, "cannot read: %s", strerror(errno));
    int out = open(part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return error_set(err, part, 0, 0, NULL, "cannot create: %s", strerror(errno));
    }
    char buf[65536];
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = error_set(err, from, 0, 0, NULL, "cannot read: %s", strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n && rc == 0;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                rc = error_set(err, to, 0, 0, NULL, "cannot write: %s", strerror(errno));
            else
                off += w;
        }
    }
    close(in);
    if (close(out) < 0 && rc == 0)
        rc = error_set(err, to, 0, 0, NULL, "cannot write: %s", strerror(errno));
    /* a half-copied image must never look like a whole one */
    if (rc == 0 && rename(part, to) < 0)
        rc = error_set(err, to, 0, 0, NULL, "cannot write: %s", strerror(errno));
    if (rc != 0)
        unlink(part);
    return rc;
}

/* Links or copies every listed file from src into dst. */
static int place(const dataset_prep_request *req, const char *src, const char *dst,
                 char **names, size_t n, dataset_prep_result *res, error_info *err)
{
    for (size_t i = 0; i < n; i++) {
        char from[4400], to[4400];
        snprintf(from, sizeof from, "%s/%s", src, names[i]);
        snprintf(to, sizeof to, "%s/%s", dst, names[i]);
        if (unlink(to) < 0 && errno != ENOENT)   /* merge: the new file replaces the old */
            return error_set(err, to, 0, 0, NULL, "cannot replace: %s", strerror(errno));
        if (!req->copy_only && link(from, to) == 0) {
            res->linked++;
            continue;
        }
        /* another file system (EXDEV) or one without hard links: copy */
        if (copy_file(from, to, err) != 0)
            return -1;
        res->copied++;
    }
    return 0;
}

static int dir_state(const char *path, bool *exists, bool *empty, error_info *err)
{
    *exists = false;
    *empty = true;
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            return 0;
        return error_set(err, path, 0, 0, "destination", "%s", errno == ENOTDIR
                         ? "is a file, not a folder" : strerror(errno));
    }
    *exists = true;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            *empty = false;
            break;
        }
    closedir(d);
    return 0;
}

int dataset_prep_build(const dataset_prep_request *req, dataset_prep_result *res, error_info *err)
{
    if (dataset_prep_plan(req, res, err) != 0)
        return -1;
    bool reg = res->reg_dir[0] != 0;
    src_list train = {0}, regs = {0};
    if (src_scan(req->train_images, "training images", &train, err) != 0)
        return -1;
    if (reg && src_scan(req->reg_images, "regularisation images", &regs, err) != 0) {
        src_free(&train);
        return -1;
    }
    bool exists, empty;
    int rc = dir_state(req->dest, &exists, &empty, err);
    if (rc == 0 && exists && !empty && !req->merge) {
        error_set(err, req->dest, 0, 0, "destination", "is not empty: files with the same "
                  "names would be replaced");
        rc = DATASET_PREP_NOT_EMPTY;
    }
    if (rc == 0)
        rc = mkdirs(res->img_dir, err);
    if (rc == 0 && reg)
        rc = mkdirs(res->reg_dir, err);
    if (rc == 0)
        rc = mkdirs(res->logging_dir, err);
    if (rc == 0)
        rc = mkdirs(res->output_dir, err);
    if (rc == 0)
        rc = place(req, req->train_images, res->img_dir, train.images, train.nimages, res, err);
    if (rc == 0)
        rc = place(req, req->train_images, res->img_dir, train.captions, train.ncaptions, res, err);
    if (rc == 0 && reg)
        rc = place(req, req->reg_images, res->reg_dir, regs.images, regs.nimages, res, err);
    if (rc == 0 && reg)
        rc = place(req, req->reg_images, res->reg_dir, regs.captions, regs.ncaptions, res, err);
    if (rc == 0) {
        res->images = train.nimages;
        res->captions = train.ncaptions;
        res->reg_images = regs.nimages;
        res->reg_captions = regs.ncaptions;
        res->skipped = train.skipped + regs.skipped;
    }
    src_free(&train);
    src_free(&regs);
    return rc;
}

int dataset_prep_apply(const dataset_prep_result *res, config *cfg, char *skipped, size_t size,
                       error_info *err)
{
    if (skipped && size)
        skipped[0] = 0;
    static const char *const names[] = {"train_data_dir", "reg_data_dir", "output_dir",
                                        "logging_dir"};
    const char *values[] = {res->train_data_dir, res->reg_data_dir, res->output_dir,
                            res->logging_dir};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        const param *p = params_find(names[i]);
        if (!p)
            return error_set(err, NULL, 0, 0, names[i], "not in the parameter table");
        if (p->support == SUPPORT_NOT_YET) {
            if (skipped && size) {
                size_t n = strlen(skipped);
                snprintf(skipped + n, size - n, "%s%s", n ? ", " : "", names[i]);
            }
            continue;
        }
        if (!values[i][0]) {
            config_reset(cfg, p);
            continue;
        }
        if (config_set_value_text(cfg, p, values[i], "dataset preparation", err) != 0)
            return -1;
    }
    cfg->dirty = true;
    return 0;
}
