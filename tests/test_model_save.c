/* test_model_save.c — checks new models and whole-model single-file saves (sd_model_new,
 * sd_model_init_random, sd_model_save_ldm, ldm_unmap_key):
 *   - on the full-size SD1.5, SD2.1-768-v and SDXL base manifests (tests/fixtures/manifests/,
 *     written with diffusers' own converters), every diffusers name maps to an LDM name of the
 *     real file with the right shape, and together they are exactly the file's keys the loader
 *     uses (plus CLIP-L's position_ids): the inverse of the loading map at full size;
 *   - the tiny SD1 checkpoint (tests/fixtures/checkpoint-sd1) loaded and saved as float with
 *     its extras has exactly the original's keys, each tensor equal to the original's (bit for
 *     bit after fp16 → f32, which is exact); saved as fp16 the fp16 tensors are the original
 *     bytes; without extras the keys are the model keys; the saved file loads back into the
 *     same parameters; the same for the tiny SDXL checkpoint (both text encoders, OpenCLIP's
 *     fused in_proj and transposed projection) with the tiny VAE;
 *   - sd_model_init_random: the same seed gives the same parameters, another seed others; the
 *     U-Net and VAE weights and biases lie within ±1/√fan_in with the spread of a uniform
 *     (variance bound²/3), norms are 1 and 0; the text encoder follows transformers' formulas
 *     (embeddings std 0.02, q/k/v/fc2 (C·2L)^-½, out_proj C^-½, fc1 (2C)^-½, biases 0, LN 1/0);
 *   - a tiny SD2 model (OpenCLIP layout, v-prediction) saves with sd-scripts' stand-in last
 *     block and projection, loads back equal, and says v-prediction in its modelspec. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "engine/models/ldm_unmap.h"
#include "engine/models/sd_model.h"
#include "engine/safetensors.h"
#include "fileio.h"

static char tmpdir[64];
static char fx[1024];   /* tests/fixtures */

static void path_in(char *buf, size_t size, const char *dir, const char *rel)
{
    snprintf(buf, size, "%s/%s", dir, rel);
}

/* ---- (1) full-size manifests ---- */

typedef struct entry {
    char comp[8];
    char name[200];
    int ndim;
    int64_t shape[4];
} entry;

static entry *read_manifest(const char *file, int with_comp, size_t *count)
{
    char path[1200], line[512];
    snprintf(path, sizeof path, "%s/manifests/%s", fx, file);
    FILE *fp = fopen(path, "r");
    CHECK(fp != NULL, "cannot open %s", path);
    size_t cap = 4096, n = 0;
    entry *e = calloc(cap, sizeof *e);
    while (fp && fgets(line, sizeof line, fp)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (n == cap)
            e = realloc(e, (cap *= 2) * sizeof *e);
        memset(&e[n], 0, sizeof e[n]);
        char *f[3] = {line, NULL, NULL};
        for (int k = 1; k < 3; k++)
            if (f[k - 1] && (f[k] = strchr(f[k - 1], '\t')))
                *f[k]++ = '\0';
        char *shape = with_comp ? f[2] : f[1];
        if (with_comp)
            snprintf(e[n].comp, sizeof e[n].comp, "%.7s", f[0]);
        snprintf(e[n].name, sizeof e[n].name, "%.199s", with_comp ? f[1] : f[0] ? f[0] : "");
        for (char *tok = shape ? strtok(shape, ",") : NULL; tok && e[n].ndim < 4; tok = strtok(NULL, ","))
            e[n].shape[e[n].ndim++] = atoll(tok);
        n++;
    }
    if (fp)
        fclose(fp);
    *count = n;
    return e;
}

static const entry *find_entry(const entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(e[i].name, name) == 0)
            return &e[i];
    return NULL;
}

static int same_shape(int nd_a, const int64_t *a, int nd_b, const int64_t *b)
{
    if (nd_a != nd_b)
        return 0;
    for (int d = 0; d < nd_a; d++)
        if (a[d] != b[d])
            return 0;
    return 1;
}

static void check_manifest(const char *model, ckpt_family family, const unet_config *uc)
{
    char file[64];
    size_t nldm, ndiff;
    snprintf(file, sizeof file, "%s-ldm.tsv", model);
    entry *ldm = read_manifest(file, 0, &nldm);
    snprintf(file, sizeof file, "%s-diffusers.tsv", model);
    entry *diff = read_manifest(file, 1, &ndiff);
    const char **names = malloc(nldm * sizeof *names);
    for (size_t i = 0; i < nldm; i++)
        names[i] = ldm[i].name;
    ldm_layout layout;
    ldm_layout_infer(&layout, names, nldm);
    free(names);

    ldm_unmap_layout ul = {.family = family, .unet_layers_per_block = uc->layers_per_block[0], .vae_levels = 4};
    for (int i = 0; i < uc->levels; i++)
        ul.unet_up_attn[i] = uc->up_attn[i];
    char *made = calloc(nldm, 1);   /* which LDM entries the diffusers names produced */
    size_t produced = 0;
    for (size_t i = 0; i < ndiff; i++) {
        static const char *const comps[] = {"unet", "vae", "te1", "te2"};
        ckpt_component c = CKPT_UNET;
        for (int k = 0; k < 4; k++)
            if (strcmp(diff[i].comp, comps[k]) == 0)
                c = (ckpt_component)k;
        char out[256];
        ldm_op op = ldm_unmap_key(&ul, c, diff[i].name, out, sizeof out);
        CHECK(op != LDM_UNKNOWN, "%s: %s %s has no LDM name", model, diff[i].comp, diff[i].name);
        if (op == LDM_UNKNOWN || op == LDM_IGNORE)
            continue;
        int64_t shape[4];
        int nd = diff[i].ndim;
        memcpy(shape, diff[i].shape, sizeof shape);
        if (op == LDM_SQUEEZE)
            nd = 4, shape[2] = shape[3] = 1;
        if (op == LDM_TRANSPOSE)
            shape[0] = diff[i].shape[1], shape[1] = diff[i].shape[0];
        if (op == LDM_SPLIT_QKV)
            shape[0] *= 3;
        const entry *e = find_entry(ldm, nldm, out);
        CHECK(e != NULL, "%s: %s → %s, not a key of the real file", model, diff[i].name, out);
        if (!e)
            continue;
        CHECK(same_shape(nd, shape, e->ndim, e->shape), "%s: %s → %s with another shape", model,
              diff[i].name, out);
        CHECK(!made[e - ldm], "%s: %s produced twice", model, out);
        made[e - ldm] = 1;
        produced++;
    }
    /* every key the loader uses was produced; position_ids are written as they are */
    size_t used = 0;
    for (size_t i = 0; i < nldm; i++) {
        ldm_mapping m;
        int pos = strstr(ldm[i].name, "position_ids") != NULL;
        if (ldm_map_key(&layout, ldm[i].name, &m) == LDM_IGNORE && !pos)
            continue;
        if (pos)
            continue;   /* added by the writer, not by the name map */
        used++;
        CHECK(made[i], "%s: %s is not produced by any diffusers name", model, ldm[i].name);
    }
    CHECK(produced == used, "%s: %zu names produced, %zu used by the loader", model, produced, used);
    printf("ok    %s: %zu diffusers names → %zu LDM keys, the loader's own set\n", model, ndiff, produced);
    free(made);
    free(ldm);
    free(diff);
}

/* ---- helpers ---- */

static void write_text(const char *path, const char *text)
{
    error_info err = {0};
    CHECK(fileio_write_atomic(path, text, strlen(text), &err) == 0, "write %s: %s", path, err.message);
}

static void copy_file(const char *src, const char *dst)
{
    error_info err = {0};
    size_t len;
    char *data = fileio_read_all(src, &len, &err);
    CHECK(data != NULL, "read %s: %s", src, err.message);
    if (data && fileio_write_atomic(dst, data, len, &err) != 0)
        CHECK(0, "write %s: %s", dst, err.message);
    free(data);
}

/* The text of src with one substring replaced (must occur). */
static void copy_edited(const char *src, const char *dst, const char *from, const char *to)
{
    error_info err = {0};
    size_t len;
    char *data = fileio_read_all(src, &len, &err);
    char *at = data ? strstr(data, from) : NULL;
    CHECK(at != NULL, "%s: no \"%s\"", src, from);
    if (!at) {
        free(data);
        return;
    }
    size_t n = len - strlen(from) + strlen(to) + 1;
    char *out = malloc(n);
    snprintf(out, n, "%.*s%s%s", (int)(at - data), data, to, at + strlen(from));
    write_text(dst, out);
    free(out);
    free(data);
}

static int params_equal(const sd_model *a, const sd_model *b)
{
    int ok = a->unet.n_params == b->unet.n_params && a->vae.n_params == b->vae.n_params && a->n_te == b->n_te &&
             memcmp(a->unet.params, b->unet.params, a->unet.n_params * sizeof(float)) == 0 &&
             memcmp(a->vae.params, b->vae.params, a->vae.n_params * sizeof(float)) == 0;
    for (int i = 0; ok && i < a->n_te; i++)
        ok = clip_param_floats(&a->te[i].cfg) == clip_param_floats(&b->te[i].cfg) &&
             memcmp(a->te[i].params, b->te[i].params, clip_param_floats(&a->te[i].cfg) * sizeof(float)) == 0;
    return ok;
}

static int save(const sd_model *m, const char *path, dtype_t dt, const char *extras)
{
    error_info err = {0};
    sd_save_options opt = {.dtype = dt, .extras_from = extras};
    int rc = sd_model_save_ldm(m, path, &opt, &err);
    CHECK(rc == 0, "save %s: %s", path, err.message);
    return rc;
}

static sd_model *load(const char *path, const char *vae, const char *config_dir)
{
    error_info err = {0};
    sd_model *m = NULL;
    CHECK(sd_model_load(path, vae, config_dir, &m, &err) == 0, "load %s: %s", path, err.message);
    return m;
}

/* Tensor t of the saved file equals o of the original: the same bytes, or (saved F32, original
 * F16/BF16) the same floats, or (saved F16, original F32) the original rounded to fp16. */
static int tensor_matches(const safetensors_tensor *t, const safetensors_tensor *o)
{
    if (!same_shape(t->ndim, t->shape, o->ndim, o->shape))
        return 0;
    if (t->dtype == o->dtype)
        return t->nbytes == o->nbytes && memcmp(t->data, o->data, t->nbytes) == 0;
    if (!dtype_is_float_convertible(t->dtype) || !dtype_is_float_convertible(o->dtype))
        return 0;
    size_t n = (size_t)o->nelements;
    float *f = malloc((n ? n : 1) * sizeof(float));
    unsigned char *conv = malloc((n ? n : 1) * dtype_size(t->dtype));
    dtype_to_f32(o->dtype, o->data, f, n);
    dtype_from_f32(t->dtype, f, conv, n);
    int ok = memcmp(conv, t->data, t->nbytes) == 0;
    free(f);
    free(conv);
    return ok;
}

/* Compares the saved file with the original: keys of the saved file absent from the original
 * (*extra), of the original absent from the saved file (*missing), tensors that differ. */
static void compare_files(const char *saved, const char *orig, int verbose, size_t *extra, size_t *missing,
                          size_t *differ)
{
    error_info err = {0};
    safetensors_file *s = NULL, *o = NULL;
    CHECK(safetensors_open(saved, &s, &err) == 0, "open %s: %s", saved, err.message);
    CHECK(safetensors_open(orig, &o, &err) == 0, "open %s: %s", orig, err.message);
    *extra = *missing = *differ = 0;
    for (size_t i = 0; s && o && i < safetensors_count(s); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(s, i);
        const safetensors_tensor *u = safetensors_find(o, t->name);
        if (!u) {
            (*extra)++;
            continue;
        }
        if (!tensor_matches(t, u)) {
            if ((*differ)++ < 5)
                printf("      differs: %s (%s, original %s)\n", t->name, dtype_name(t->dtype), dtype_name(u->dtype));
        }
    }
    for (size_t i = 0; s && o && i < safetensors_count(o); i++) {
        const char *name = safetensors_tensor_at(o, i)->name;
        if (!safetensors_find(s, name) && (*missing)++ < 5 && verbose)
            printf("      missing: %s\n", name);
    }
    safetensors_close(s);
    safetensors_close(o);
}

/* The keys of `path` that the loader would ignore (schedule buffers, model_ema, ...). */
static size_t count_ignored(const char *path, int count_position_ids)
{
    error_info err = {0};
    safetensors_file *f;
    if (safetensors_open(path, &f, &err) < 0)
        return 0;
    size_t n = safetensors_count(f), ignored = 0;
    const char **names = malloc(n * sizeof *names);
    for (size_t i = 0; i < n; i++)
        names[i] = safetensors_tensor_at(f, i)->name;
    ldm_layout layout;
    ldm_layout_infer(&layout, names, n);
    for (size_t i = 0; i < n; i++) {
        ldm_mapping m;
        if (ldm_map_key(&layout, names[i], &m) == LDM_IGNORE &&
            (count_position_ids || !strstr(names[i], "position_ids")))
            ignored++;
    }
    free(names);
    safetensors_close(f);
    return ignored;
}

static size_t count_keys(const char *path)
{
    error_info err = {0};
    safetensors_file *f;
    if (safetensors_open(path, &f, &err) < 0)
        return 0;
    size_t n = safetensors_count(f);
    safetensors_close(f);
    return n;
}

/* ---- (2) round trips of the tiny checkpoints ---- */

static void check_sd1_round_trip(void)
{
    char orig[1200], cfg[1200], a[128], b[128], c[128];
    snprintf(orig, sizeof orig, "%s/checkpoint-sd1/model.safetensors", fx);
    snprintf(cfg, sizeof cfg, "%s/pipeline-sd1", fx);
    path_in(a, sizeof a, tmpdir, "sd1-float.safetensors");
    path_in(b, sizeof b, tmpdir, "sd1-fp16.safetensors");
    path_in(c, sizeof c, tmpdir, "sd1-bare.safetensors");
    sd_model *m = load(orig, NULL, cfg);
    if (!m)
        return;
    size_t extra, missing, differ;
    if (save(m, a, DTYPE_F32, orig) == 0) {
        compare_files(a, orig, 1, &extra, &missing, &differ);
        CHECK(extra == 0 && missing == 0 && differ == 0, "SD1 float: %zu extra, %zu missing, %zu different "
              "tensors", extra, missing, differ);
        CHECK(count_keys(a) == count_keys(orig), "SD1 float: %zu keys, the original %zu", count_keys(a),
              count_keys(orig));
        sd_model *back = load(a, NULL, cfg);
        CHECK(back && params_equal(m, back), "SD1: the saved file loads back into other parameters");
        sd_model_free(back);
        printf("ok    SD1 float: the original's %zu keys, every tensor equal, loads back equal\n", count_keys(a));
    }
    if (save(m, b, DTYPE_F16, orig) == 0) {
        compare_files(b, orig, 1, &extra, &missing, &differ);
        CHECK(extra == 0 && missing == 0 && differ == 0, "SD1 fp16: %zu extra, %zu missing, %zu different "
              "tensors", extra, missing, differ);
        printf("ok    SD1 fp16: the fp16 tensors are the original bytes, the f32 ones rounded\n");
    }
    if (save(m, c, DTYPE_F32, NULL) == 0) {
        compare_files(c, orig, 0, &extra, &missing, &differ);
        size_t ignored = count_ignored(orig, 0);
        CHECK(extra == 0 && differ == 0 && missing == ignored, "SD1 without extras: %zu extra, %zu missing "
              "(the loader ignores %zu), %zu different", extra, missing, ignored, differ);
        CHECK(count_keys(c) + ignored == count_keys(orig), "SD1 without extras: %zu keys", count_keys(c));
        printf("ok    SD1 without extras: the model's %zu keys\n", count_keys(c));
    }
    error_info err = {0};
    sd_save_options bad = {.dtype = DTYPE_I8};
    CHECK(sd_model_save_ldm(m, c, &bad, &err) < 0 && strstr(err.message, "fp16"), "an I8 save is refused");
    sd_model_free(m);
}

static void make_sdxl_dir(char *dir, size_t size)
{
    path_in(dir, size, tmpdir, "sdxl");
    static const char *const sub[] = {"", "/unet", "/text_encoder", "/text_encoder_2", "/vae", "/tokenizer"};
    char p[1400], q[1400];
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(p, sizeof p, "%s%s", dir, sub[i]);
        mkdir(p, 0755);
    }
    static const char *const cfgs[][2] = {{"unet-sdxl/config.json", "unet/config.json"},
                                          {"clip-sd1/config.json", "text_encoder/config.json"},
                                          {"clip-sdxl-te2/config.json", "text_encoder_2/config.json"},
                                          {"vae-sd/config.json", "vae/config.json"},
                                          {"pipeline-sd1/tokenizer/vocab.json", "tokenizer/vocab.json"},
                                          {"pipeline-sd1/tokenizer/merges.txt", "tokenizer/merges.txt"}};
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", fx, cfgs[i][0]);
        snprintf(q, sizeof q, "%s/%s", dir, cfgs[i][1]);
        copy_file(p, q);
    }
}

static void check_sdxl_round_trip(void)
{
    char dir[128], orig[1200], vae[1200], a[128];
    make_sdxl_dir(dir, sizeof dir);
    snprintf(orig, sizeof orig, "%s/checkpoint-sdxl/model.safetensors", fx);
    snprintf(vae, sizeof vae, "%s/vae-sd/weights.safetensors", fx);
    path_in(a, sizeof a, tmpdir, "sdxl-float.safetensors");
    sd_model *m = load(orig, vae, dir);
    if (!m)
        return;
    CHECK(m->family == CKPT_SDXL, "the SDXL fixture loads as %s", checkpoint_family_name(m->family));
    if (save(m, a, DTYPE_F32, orig) == 0) {
        size_t extra, missing, differ;
        compare_files(a, orig, 1, &extra, &missing, &differ);
        /* the file has no VAE (given apart) and no position_ids; the save has both */
        size_t vae_keys = 0;
        error_info err = {0};
        safetensors_file *f;
        if (safetensors_open(a, &f, &err) == 0) {
            for (size_t i = 0; i < safetensors_count(f); i++)
                vae_keys += strncmp(safetensors_tensor_at(f, i)->name, "first_stage_model.", 18) == 0;
            CHECK(safetensors_find(f, "conditioner.embedders.0.transformer.text_model.embeddings.position_ids") != NULL,
                  "SDXL: no TE1 position_ids");
            CHECK(safetensors_find(f, "conditioner.embedders.1.model.logit_scale") != NULL,
                  "SDXL: logit_scale not copied from the source");
            safetensors_close(f);
        }
        CHECK(missing == 0 && differ == 0 && extra == vae_keys + 1 && vae_keys > 0, "SDXL float: %zu extra "
              "(%zu VAE), %zu missing, %zu different", extra, vae_keys, missing, differ);
        sd_model *back = load(a, NULL, dir);
        CHECK(back && params_equal(m, back), "SDXL: the saved file loads back into other parameters");
        sd_model_free(back);
        printf("ok    SDXL float: the original's keys + VAE + position_ids, equal, loads back equal\n");
    }
    sd_model_free(m);
}

/* ---- (3) random initialisation ---- */

typedef struct stats {
    double mean, var, maxabs;
    size_t n;
} stats;

static stats stats_of(const float *x, size_t n)
{
    stats s = {0};
    s.n = n;
    for (size_t i = 0; i < n; i++) {
        s.mean += x[i];
        if (fabs(x[i]) > s.maxabs)
            s.maxabs = fabs(x[i]);
    }
    s.mean /= (double)n;
    for (size_t i = 0; i < n; i++)
        s.var += (x[i] - s.mean) * (x[i] - s.mean);
    s.var /= (double)n;
    return s;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A diffusers weight or bias drawn from U(±bound): inside the bound, variance bound²/3 within
 * what its sample size allows (the variance of the sample variance of a uniform is 4b⁴/(45n)). */
static void check_uniform(const char *what, const float *x, size_t n, double bound)
{
    stats s = stats_of(x, n);
    double var = bound * bound / 3.0, tol = 5.0 * sqrt(4.0 * pow(bound, 4) / (45.0 * (double)n)) + 1e-12;
    CHECK(s.maxabs <= bound, "%s: max |w| %g > bound %g", what, s.maxabs, bound);
    CHECK(n < 64 || s.maxabs > 0.8 * bound, "%s: max |w| %g of bound %g", what, s.maxabs, bound);
    CHECK(fabs(s.var - var) <= tol, "%s: variance %g, expected %g ± %g", what, s.var, var, tol);
}

static void check_diffusers_init(const char *part, const char *name, int ndim, const int64_t *shape,
                                 const float *x, size_t n, const float *weight_of_bias, int64_t fan_in_of_bias)
{
    char what[256];
    snprintf(what, sizeof what, "%s %s", part, name);
    if (ends_with(name, ".weight") && ndim >= 2) {
        int64_t fan_in = 1;
        for (int d = 1; d < ndim; d++)
            fan_in *= shape[d];
        check_uniform(what, x, n, 1.0 / sqrt((double)fan_in));
    } else if (ends_with(name, ".weight")) {
        for (size_t i = 0; i < n; i++)
            if (x[i] != 1.0f) {
                CHECK(0, "%s: norm weight %g, not 1", what, x[i]);
                break;
            }
    } else if (weight_of_bias) {
        check_uniform(what, x, n, 1.0 / sqrt((double)fan_in_of_bias));
    } else {
        for (size_t i = 0; i < n; i++)
            if (x[i] != 0.0f) {
                CHECK(0, "%s: norm bias %g, not 0", what, x[i]);
                break;
            }
    }
}

static void check_unet_init(const unet_model *u)
{
    for (size_t i = 0; i < u->n_manifest; i++) {
        const unet_param_info *p = &u->manifest[i];
        size_t n = 1;
        for (int d = 0; d < p->ndim; d++)
            n *= (size_t)p->shape[d];
        const float *w = NULL;
        int64_t fan = 0;
        if (ends_with(p->name, ".bias")) {
            char wn[160];
            snprintf(wn, sizeof wn, "%.*sweight", (int)strlen(p->name) - 4, p->name);
            for (size_t k = 0; k < u->n_manifest; k++)
                if (strcmp(u->manifest[k].name, wn) == 0 && u->manifest[k].ndim >= 2) {
                    w = u->params + u->manifest[k].offset;
                    fan = 1;
                    for (int d = 1; d < u->manifest[k].ndim; d++)
                        fan *= u->manifest[k].shape[d];
                }
        }
        check_diffusers_init("U-Net", p->name, p->ndim, p->shape, u->params + p->offset, n, w, fan);
    }
}

static void check_vae_init(const vae_model *v)
{
    vae_param_info *man;
    int count;
    error_info err = {0};
    if (vae_manifest(&v->cfg, &man, &count, &err) < 0)
        return;
    for (int i = 0; i < count; i++) {
        const float *w = NULL;
        int64_t fan = 0;
        if (ends_with(man[i].name, ".bias")) {
            char wn[160];
            snprintf(wn, sizeof wn, "%.*sweight", (int)strlen(man[i].name) - 4, man[i].name);
            for (int k = 0; k < count; k++)
                if (strcmp(man[k].name, wn) == 0 && man[k].ndim >= 2) {
                    w = v->params + man[k].offset;
                    fan = (int64_t)(man[k].numel / (size_t)man[k].shape[0]);
                }
        }
        const char *post = v->cfg.use_quant_conv ? "quant_conv.bias" : "encoder.conv_out.bias";
        if (strcmp(man[i].name, post) == 0) {   /* the mean half as torch, the logvar half fixed */
            const float *b = v->params + man[i].offset;
            size_t half = man[i].numel / 2;
            for (size_t k = 0; k < half; k++)
                CHECK(b[half + k] == VAE_INIT_LOGVAR, "%s[%zu] = %g, not the initial logvar %g",
                      man[i].name, half + k, b[half + k], VAE_INIT_LOGVAR);
            int64_t shape1[1] = {(int64_t)half};
            check_diffusers_init("VAE", man[i].name, 1, shape1, b, half, w, fan);
            continue;
        }
        check_diffusers_init("VAE", man[i].name, man[i].ndim, man[i].shape, v->params + man[i].offset,
                             man[i].numel, w, fan);
    }
    free(man);
}

/* transformers' CLIP init: the std of each kind, pooled over the layers */
static void check_clip_init(const clip_model *m)
{
    const clip_config *c = &m->cfg;
    double C = c->hidden_size, L = c->num_layers;
    static const struct { const char *suffix; int kind; } kinds[] = {
        {"token_embedding.weight", 0}, {"position_embedding.weight", 0}, {"q_proj.weight", 1},
        {"k_proj.weight", 1}, {"v_proj.weight", 1}, {"fc2.weight", 1}, {"out_proj.weight", 2},
        {"fc1.weight", 3},
    };
    const double std[4] = {0.02, 1.0 / sqrt(C * 2.0 * L), 1.0 / sqrt(C), 1.0 / sqrt(2.0 * C)};
    double sum[4] = {0}, sq[4] = {0};
    size_t n[4] = {0};
    int count = clip_param_count(c);
    for (int i = 0; i < count; i++) {
        clip_param_info p;
        clip_param_at(c, i, &p);
        const float *x = m->params + p.offset;
        int kind = -1;
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++)
            if (ends_with(p.name, kinds[k].suffix))
                kind = kinds[k].kind;
        if (kind >= 0) {
            for (size_t j = 0; j < p.numel; j++)
                sum[kind] += x[j], sq[kind] += (double)x[j] * x[j];
            n[kind] += p.numel;
            continue;
        }
        float want = strstr(p.name, "layer_norm") && ends_with(p.name, ".weight") ? 1.0f : 0.0f;
        for (size_t j = 0; j < p.numel; j++)
            if (x[j] != want) {
                CHECK(0, "text encoder %s: %g, not %g", p.name, x[j], want);
                break;
            }
    }
    for (int k = 0; k < 4; k++) {
        double mean = sum[k] / (double)n[k], sd = sqrt(sq[k] / (double)n[k] - mean * mean);
        /* the sample std of n normals is within 5·σ/√(2n) */
        double tol = 5.0 * std[k] / sqrt(2.0 * (double)n[k]);
        CHECK(fabs(sd - std[k]) <= tol, "text encoder kind %d: std %g, expected %g ± %g (n %zu)", k, sd, std[k],
              tol, n[k]);
        CHECK(fabs(mean) <= 5.0 * std[k] / sqrt((double)n[k]), "text encoder kind %d: mean %g", k, mean);
    }
}

static sd_model *new_model(const char *dir, uint64_t seed)
{
    error_info err = {0};
    sd_model *m = NULL;
    CHECK(sd_model_new(dir, &m, &err) == 0, "sd_model_new %s: %s", dir, err.message);
    if (m)
        CHECK(sd_model_init_random(m, seed, &err) == 0, "init: %s", err.message);
    return m;
}

static void check_init(void)
{
    char cfg[1200], a[128];
    snprintf(cfg, sizeof cfg, "%s/pipeline-sd1", fx);
    sd_model *m1 = new_model(cfg, 42), *m2 = new_model(cfg, 42), *m3 = new_model(cfg, 43);
    if (!m1 || !m2 || !m3)
        goto done;
    CHECK(m1->family == CKPT_SD1, "pipeline-sd1 makes a %s model", checkpoint_family_name(m1->family));
    CHECK(params_equal(m1, m2), "seed 42 twice gives different models");
    size_t same = 0;
    for (size_t i = 0; i < m1->unet.n_params; i++)
        same += m1->unet.params[i] == m3->unet.params[i];
    /* what the seeds share: the norms' ones and zeros only */
    CHECK(!params_equal(m1, m3) && same < m1->unet.n_params / 20, "seeds 42 and 43: %zu of %zu U-Net values equal",
          same, m1->unet.n_params);
    check_unet_init(&m1->unet);
    check_vae_init(&m1->vae);
    check_clip_init(&m1->te[0]);
    printf("ok    init: seeded, U-Net and VAE as torch's defaults, CLIP as transformers'\n");
    path_in(a, sizeof a, tmpdir, "new.safetensors");
    if (save(m1, a, DTYPE_F32, NULL) == 0) {
        sd_model *back = load(a, NULL, cfg);
        CHECK(back && params_equal(m1, back), "a new model loads back into other parameters");
        sd_model_free(back);
        printf("ok    a new SD1 model saves and loads back equal\n");
    }
done:
    sd_model_free(m1);
    sd_model_free(m2);
    sd_model_free(m3);
}

/* ---- (4) SD2 (OpenCLIP layout, v-prediction) ---- */

static void check_sd2(void)
{
    char dir[128], p[1400], q[1400], a[128];
    path_in(dir, sizeof dir, tmpdir, "sd2");
    static const char *const sub[] = {"", "/unet", "/text_encoder", "/vae", "/scheduler"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        snprintf(p, sizeof p, "%s%s", dir, sub[i]);
        mkdir(p, 0755);
    }
    snprintf(p, sizeof p, "%s/pipeline-sd1/unet/config.json", fx);
    snprintf(q, sizeof q, "%s/unet/config.json", dir);
    copy_edited(p, q, "\"use_linear_projection\": false", "\"use_linear_projection\": true");
    snprintf(p, sizeof p, "%s/pipeline-sd1/text_encoder/config.json", fx);
    snprintf(q, sizeof q, "%s/text_encoder/config.json", dir);
    copy_edited(p, q, "\"quick_gelu\"", "\"gelu\"");
    snprintf(p, sizeof p, "%s/pipeline-sd1/vae/config.json", fx);
    snprintf(q, sizeof q, "%s/vae/config.json", dir);
    copy_file(p, q);
    snprintf(q, sizeof q, "%s/scheduler/scheduler_config.json", dir);
    write_text(q, "{\"_class_name\": \"DDIMScheduler\", \"prediction_type\": \"v_prediction\"}\n");

    sd_model *m = new_model(dir, 7);
    if (!m)
        return;
    CHECK(m->family == CKPT_SD2 && m->prediction == SD_PRED_V, "the SD2 configs make %s (prediction %d)",
          checkpoint_family_name(m->family), (int)m->prediction);
    path_in(a, sizeof a, tmpdir, "sd2.safetensors");
    if (save(m, a, DTYPE_F32, NULL) == 0) {
        error_info err = {0};
        safetensors_file *f;
        int L = m->te[0].cfg.num_layers, C = m->te[0].cfg.hidden_size;
        if (safetensors_open(a, &f, &err) == 0) {
            char last[128], extra[128];
            static const char *const parts[] = {"attn.in_proj_weight", "attn.out_proj.bias", "ln_1.weight", "mlp.c_fc.weight"};
            for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
                snprintf(last, sizeof last, "cond_stage_model.model.transformer.resblocks.%d.%s", L - 1, parts[i]);
                snprintf(extra, sizeof extra, "cond_stage_model.model.transformer.resblocks.%d.%s", L, parts[i]);
                const safetensors_tensor *x = safetensors_find(f, last), *y = safetensors_find(f, extra);
                CHECK(x && y && x->nbytes == y->nbytes && memcmp(x->data, y->data, x->nbytes) == 0,
                      "SD2: %s is not a copy of block %d", extra, L - 1);
            }
            const safetensors_tensor *t = safetensors_find(f, "cond_stage_model.model.text_projection");
            int ones = t && t->ndim == 2 && t->shape[0] == C && t->shape[1] == C && t->dtype == DTYPE_F32;
            for (size_t i = 0; ones && i < (size_t)C * C; i++) {
                float v;
                memcpy(&v, (const char *)t->data + i * 4, 4);
                ones = v == 1.0f;
            }
            CHECK(ones, "SD2: text_projection is not ones [%d, %d]", C, C);
            const char *pred = safetensors_metadata_get(f, "modelspec.prediction_type");
            const char *arch = safetensors_metadata_get(f, "modelspec.architecture");
            CHECK(pred && strcmp(pred, "v") == 0, "SD2: modelspec.prediction_type %s", pred ? pred : "(none)");
            CHECK(arch && strcmp(arch, "stable-diffusion-v2-768-v") == 0, "SD2: architecture %s", arch ? arch : "(none)");
            safetensors_close(f);
        }
        sd_model *back = load(a, NULL, dir);
        CHECK(back && back->family == CKPT_SD2 && params_equal(m, back), "SD2: does not load back equal");
        sd_model_free(back);
        printf("ok    SD2: stand-in block %d and projection, v-prediction modelspec, loads back equal\n", L);
    }
    sd_model_free(m);
}

static void check_refusals(void)
{
    error_info err = {0};
    sd_model *m = NULL;
    CHECK(sd_model_new(tmpdir, &m, &err) < 0 && strstr(err.message, "unet/config.json"),
          "a folder without configs: %s", err.message);
}

static void remove_tree(const char *dir)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    snprintf(fx, sizeof fx, "%s/tests/fixtures", top ? top : ".");
    snprintf(tmpdir, sizeof tmpdir, "/tmp/loratty-model-save.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    unet_config sd15, sd21, sdxl;
    unet_config_sd15(&sd15);
    unet_config_sd21_768(&sd21);
    unet_config_sdxl_base(&sdxl);
    check_manifest("sd15", CKPT_SD1, &sd15);
    check_manifest("sd21-768v", CKPT_SD2, &sd21);
    check_manifest("sdxl-base", CKPT_SDXL, &sdxl);
    check_sd1_round_trip();
    check_sdxl_round_trip();
    check_init();
    check_sd2();
    check_refusals();
    remove_tree(tmpdir);
    printf("%s\n", failures ? "FAILED" : "all passed");
    return failures != 0;
}
