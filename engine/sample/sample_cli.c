/* sample_cli.c — the --sample command line (see sample_cli.h and loratty(1)). */
#include "engine/sample/sample_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/safetensors.h"
#include "engine/sample/lora_apply.h"
#include "engine/sample/png_write.h"
#include "engine/sample/sample.h"
#include "engine/sample/sample_prompt.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2, MAX_LORAS = 16 };

typedef struct sample_args {
    const char *model, *vae, *config_dir, *output, *latents_file;
    const char *lora[MAX_LORAS];
    float lora_weight[MAX_LORAS];
    int n_lora, v_pred, have_seed, have_size;
    sample_params p;
} sample_args;

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "loratty: --sample: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, sample_args *a)
{
    enum { O_SAMPLE = 256, O_MODEL, O_PROMPT, O_NEG, O_STEPS, O_CFG, O_SEED, O_W, O_H, O_SAMPLER, O_LORA,
           O_SKIP, O_VAE, O_CONFIG, O_LATENTS, O_VPRED, O_MAXTOK };
    static const struct option options[] = {
        {"sample", no_argument, NULL, O_SAMPLE},
        {"model", required_argument, NULL, O_MODEL},
        {"prompt", required_argument, NULL, O_PROMPT},
        {"negative", required_argument, NULL, O_NEG},
        {"steps", required_argument, NULL, O_STEPS},
        {"cfg", required_argument, NULL, O_CFG},
        {"seed", required_argument, NULL, O_SEED},
        {"width", required_argument, NULL, O_W},
        {"height", required_argument, NULL, O_H},
        {"sampler", required_argument, NULL, O_SAMPLER},
        {"lora", required_argument, NULL, O_LORA},
        {"clip-skip", required_argument, NULL, O_SKIP},
        {"max-token-length", required_argument, NULL, O_MAXTOK},
        {"vae", required_argument, NULL, O_VAE},
        {"model-config", required_argument, NULL, O_CONFIG},
        {"v-parameterization", no_argument, NULL, O_VPRED},
        {"initial-latents", required_argument, NULL, O_LATENTS},   /* tests: noise from a file */
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    a->p.steps = 30;
    a->p.cfg = 7.5f;
    a->p.sampler = SAMPLER_EULER_A;
    long v;
    char *end;
    int opt;
    error_info err = {0};
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        switch (opt) {
        case O_SAMPLE: break;
        case O_MODEL: a->model = optarg; break;
        case O_PROMPT: a->p.prompt = optarg; break;
        case O_NEG: a->p.negative = optarg; break;
        case O_VAE: a->vae = optarg; break;
        case O_CONFIG: a->config_dir = optarg; break;
        case O_LATENTS: a->latents_file = optarg; break;
        case O_VPRED: a->v_pred = 1; break;
        case 'o': a->output = optarg; break;
        case O_STEPS:
            if (parse_long(optarg, 1, 1000, &v) < 0)
                return usage_error("--steps \"%s\": give 1 to 1000", optarg);
            a->p.steps = (int)v;
            break;
        case O_CFG:
            a->p.cfg = strtof(optarg, &end);
            if (end == optarg || *end || !(a->p.cfg >= 0.0f && a->p.cfg <= 100.0f))
                return usage_error("--cfg \"%s\": give a number from 0 to 100", optarg);
            break;
        case O_SEED:
            if (parse_long(optarg, 0, 0x7fffffffL, &v) < 0)
                return usage_error("--seed \"%s\": give 0 to 2147483647", optarg);
            a->p.seed = (uint64_t)v;
            a->have_seed = 1;
            break;
        case O_W:
        case O_H:
            if (parse_long(optarg, 8, 8192, &v) < 0 || v % 8)
                return usage_error("--width/--height \"%s\": give a multiple of 8 from 8 to 8192", optarg);
            *(opt == O_W ? &a->p.width : &a->p.height) = (int)v;
            a->have_size |= opt == O_W ? 1 : 2;
            break;
        case O_SAMPLER:
            if (sampler_parse(optarg, &a->p.sampler, &err) < 0)
                return usage_error("%s", err.message);
            break;
        case O_SKIP:
            if (parse_long(optarg, 1, 12, &v) < 0)
                return usage_error("--clip-skip \"%s\": give 1 to 12", optarg);
            a->p.clip_skip = (int)v;
            break;
        case O_MAXTOK:
            if (parse_long(optarg, 75, 225, &v) < 0 || v % 75)
                return usage_error("--max-token-length \"%s\": give 75, 150 or 225", optarg);
            a->p.max_token_length = (int)v;
            break;
        case O_LORA: {
            if (a->n_lora == MAX_LORAS)
                return usage_error("at most %s LoRA files", "16");
            char *colon = strrchr(optarg, ':');
            float w = 1.0f;
            if (colon && colon[1]) {
                w = strtof(colon + 1, &end);
                if (*end)
                    colon = NULL, w = 1.0f;   /* a ':' inside the path */
                else
                    *colon = '\0';
            }
            a->lora[a->n_lora] = optarg;
            a->lora_weight[a->n_lora++] = w;
            break;
        }
        default:
            fprintf(stderr, "Try 'loratty --help' for more information.\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!a->model)
        return usage_error("%s", "give the model with --model PATH");
    if (!a->p.prompt)
        return usage_error("%s", "give the prompt with --prompt TEXT");
    if (!a->output)
        return usage_error("%s", "give the output file with -o OUT.png");
    return 0;
}

static float *read_latents(const char *path, size_t n, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return NULL;
    const safetensors_tensor *t = safetensors_find(f, "latents");
    float *out = NULL;
    if (!t || t->dtype != DTYPE_F32 || t->nelements != n)
        error_set(err, path, 0, 0, "latents", "need an f32 tensor \"latents\" of %zu values", n);
    else if ((out = malloc(n * sizeof(float))))
        memcpy(out, t->data, n * sizeof(float));
    safetensors_close(f);
    return out;
}

static void progress(void *ctx, int step, int steps)
{
    (void)ctx;
    fprintf(stderr, "\rsampling: step %d/%d", step, steps);
    if (step == steps)
        fprintf(stderr, "\n");
}

/* "name: hash, name: hash" for A1111's Lora hashes */
static int lora_hashes(const sample_args *a, char *buf, size_t size, error_info *err)
{
    buf[0] = '\0';
    for (int i = 0; i < a->n_lora; i++) {
        char hash[13], name[256];
        if (lora_apply_hash(a->lora[i], hash, err) < 0)
            return -1;
        const char *base = strrchr(a->lora[i], '/');
        snprintf(name, sizeof name, "%s", base ? base + 1 : a->lora[i]);
        char *dot = strrchr(name, '.');
        if (dot && dot != name)
            *dot = '\0';
        size_t len = strlen(buf);
        snprintf(buf + len, size - len, "%s%s: %s", i ? ", " : "", name, hash);
    }
    return 0;
}

static int run(sample_args *a, sd_model *m, lora_apply *la, error_info *err)
{
    for (int i = 0; i < a->n_lora; i++) {
        size_t before = la->unmatched;
        int n = lora_apply_add(la, m, a->lora[i], a->lora_weight[i], err);
        if (n < 0)
            return -1;
        fprintf(stderr, "loratty: %s: %d modules applied (weight %g)\n", a->lora[i], n, (double)a->lora_weight[i]);
        if (la->unmatched > before)
            fprintf(stderr, "loratty: warning: %s: %zu modules match no layer of this model (%s%s)\n",
                    a->lora[i], la->unmatched - before, la->unmatched_names, la->unmatched > 4 ? ", ..." : "");
    }
    sample_params *p = &a->p;
    int ds = sd_model_vae_downscale(m), h = p->height / ds, w = p->width / ds;
    int f = sd_model_size_multiple(m);
    if (p->width % f || p->height % f)
        return error_set(err, NULL, 0, 0, "size", "%dx%d: this model needs multiples of %d", p->width, p->height, f);
    int T = 0;
    if (sample_prompt_rows(m, p, &T, err) < 0 || lora_apply_plan(la, m, p->cfg > 1.0f ? 2 : 1, h, w, T, err) < 0)
        return -1;
    size_t n = (size_t)m->unet.config.in_channels * h * w, npix = (size_t)3 * p->width * p->height;
    float *latents = NULL, *image = malloc(npix * sizeof(float));
    uint8_t *rgb = malloc(npix);
    int rc = image && rgb ? 0 : error_set(err, NULL, 0, 0, NULL, "out of memory");
    if (rc == 0 && a->latents_file && !(latents = read_latents(a->latents_file, n, err)))
        rc = -1;
    p->initial_latents = latents;
    p->progress = progress;
    if (rc == 0)
        rc = sample_txt2img(m, p, image, err);
    char hashes[1024], text[8192];
    if (rc == 0)
        rc = lora_hashes(a, hashes, sizeof hashes, err);
    if (rc == 0) {
        sample_parameters_text(m, p, hashes, text, sizeof text);
        png_from_planar(rgb, image, p->width, p->height);
        const char *key = "parameters", *value = text;
        rc = png_write_rgb8(a->output, rgb, p->width, p->height, &key, &value, 1, err);
    }
    free(latents);
    free(image);
    free(rgb);
    return rc;
}

int sample_cli_main(int argc, char **argv)
{
    sample_args a = {0};
    int status = parse_args(argc, argv, &a);
    if (status)
        return status;
    if (!a.have_seed)
        a.p.seed = (uint64_t)time(NULL) & 0x7fffffff;
    error_info err = {0};
    sd_model *m;
    char msg[2048];
    char beside[4096];
    if (!a.config_dir)   /* a tiny model's configs beside its file, as --run finds them */
        a.config_dir = sd_model_config_dir_beside(a.model, beside, sizeof beside);
    if (sd_model_load(a.model, a.vae, a.config_dir, &m, &err) < 0) {
        error_format(&err, msg, sizeof msg);
        fprintf(stderr, "loratty: %s\n", msg);
        return EXIT_FAILED;
    }
    if (a.v_pred)
        m->prediction = SD_PRED_V;
    int side = m->family == CKPT_SDXL ? 1024 : 512;
    if (!(a.have_size & 1))
        a.p.width = side;
    if (!(a.have_size & 2))
        a.p.height = side;
    lora_apply la = {0};
    status = run(&a, m, &la, &err) < 0 ? EXIT_FAILED : 0;
    if (status) {
        error_format(&err, msg, sizeof msg);
        fprintf(stderr, "loratty: %s\n", msg);
    } else {
        fprintf(stderr, "loratty: wrote %s (seed %llu)\n", a.output, (unsigned long long)a.p.seed);
    }
    lora_apply_free(&la, m);
    sd_model_free(m);
    return status;
}
