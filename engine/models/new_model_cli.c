/* new_model_cli.c — the --new-model command line (see new_model_cli.h and loratty(1)). */
#include "build_config.h"

#include "engine/models/new_model_cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/models/sd_model.h"

enum { EXIT_FAILED = 1, EXIT_USAGE = 2 };

typedef struct new_model_args {
    const char *config_dir, *output;
    uint64_t seed;
    dtype_t dtype;
} new_model_args;

static int usage_error(const char *fmt, const char *what)
{
    fprintf(stderr, "loratty: --new-model: ");
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\n");
    return EXIT_USAGE;
}

/* sd-scripts' --save_precision names */
static int parse_precision(const char *s, dtype_t *out)
{
    static const struct { const char *name; dtype_t t; } names[] = {
        {"float", DTYPE_F32}, {"fp32", DTYPE_F32}, {"fp16", DTYPE_F16}, {"bf16", DTYPE_BF16},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0) {
            *out = names[i].t;
            return 0;
        }
    return -1;
}

static int parse_args(int argc, char **argv, new_model_args *a)
{
    enum { O_NEW = 256, O_SEED, O_PREC };
    static const struct option options[] = {
        {"new-model", required_argument, NULL, O_NEW},
        {"seed", required_argument, NULL, O_SEED},
        {"save-precision", required_argument, NULL, O_PREC},
        {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0},
    };
    a->dtype = DTYPE_F32;
    int opt;
    char *end;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", options, NULL)) != -1) {
        switch (opt) {
        case O_NEW: a->config_dir = optarg; break;
        case 'o': a->output = optarg; break;
        case O_SEED:
            errno = 0;
            a->seed = strtoull(optarg, &end, 10);
            if (errno || end == optarg || *end || optarg[0] == '-')
                return usage_error("--seed \"%s\": give a whole number from 0 to 18446744073709551615", optarg);
            break;
        case O_PREC:
            if (parse_precision(optarg, &a->dtype) < 0)
                return usage_error("--save-precision \"%s\": give float, fp16 or bf16", optarg);
            break;
        default:
            fprintf(stderr, "Try 'loratty --help' for more information.\n");
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    if (!a->config_dir)
        return usage_error("%s", "give the config folder: --new-model CONFIG_DIR");
    if (!a->output)
        return usage_error("%s", "give the output file with -o OUT.safetensors");
    return 0;
}

static const char *precision_name(dtype_t t)
{
    return t == DTYPE_F16 ? "fp16" : t == DTYPE_BF16 ? "bf16" : "float";
}

int new_model_cli_main(int argc, char **argv)
{
    new_model_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc;
    error_info err = {0};
    sd_model *m = NULL;
    if (sd_model_new(a.config_dir, &m, &err) < 0 || sd_model_init_random(m, a.seed, &err) < 0) {
        char msg[2048];
        error_format(&err, msg, sizeof msg);
        fprintf(stderr, "loratty: --new-model: %s\n", msg);
        sd_model_free(m);
        return EXIT_FAILED;
    }
    char title[256], description[128], version[64];
    const char *base = strrchr(a.output, '/');
    snprintf(title, sizeof title, "%s", base ? base + 1 : a.output);
    char *dot = strrchr(title, '.');
    if (dot && dot != title)
        *dot = '\0';
    snprintf(description, sizeof description, "randomly initialised by loratty --new-model, seed %llu",
             (unsigned long long)a.seed);
    snprintf(version, sizeof version, "loratty/%s", PACKAGE_VERSION);
    bool sdxl = m->family == CKPT_SDXL;
    const char *keys[] = {"modelspec.sai_model_spec", "modelspec.implementation",
                          "modelspec.implementation_version", "modelspec.title", "modelspec.description"};
    const char *values[] = {"1.0.1", sdxl ? "https://github.com/Stability-AI/generative-models" : "diffusers",
                            version, title, description};
    sd_save_options opt = {.dtype = a.dtype, .keys = keys, .values = values, .n_metadata = 5};
    if (sd_model_save_ldm(m, a.output, &opt, &err) < 0) {
        char msg[2048];
        error_format(&err, msg, sizeof msg);
        fprintf(stderr, "loratty: --new-model: %s\n", msg);
        sd_model_free(m);
        return EXIT_FAILED;
    }
    size_t unet, te, vae;
    sd_model_param_counts(m, &unet, &te, &vae);
    struct stat st;
    long long bytes = stat(a.output, &st) == 0 ? (long long)st.st_size : -1;
    printf("%s: new %s model (seed %llu, %s): U-Net %zu, text encoder%s %zu, VAE %zu parameters; "
           "%lld bytes\n", a.output, checkpoint_family_name(m->family), (unsigned long long)a.seed,
           precision_name(a.dtype), unet, m->n_te > 1 ? "s" : "", te, vae, bytes);
    sd_model_free(m);
    return 0;
}
