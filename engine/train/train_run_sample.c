/* train_run_sample.c — sample images during training, as sd-scripts' sample_images does: the
 * prompts of sample_prompts (one per line; empty lines and lines starting with '#' skipped;
 * options split on " --", case-insensitive: --n negative, --w / --h size (default 512),
 * --d seed, --l CFG (7.5), --s steps (30, clamped to 1..1000), --ss sampler), drawn with the
 * network being trained attached, written as
 * <output_dir>/sample/<output_name>_<e{epoch:06d}|{step:06d}>_<i:02d>_<YYYYmmddHHMMSS>[_<seed>].png
 * with AUTOMATIC1111's parameters text.
 *
 * Sizes are floored to a multiple of the model's size multiple (sd-scripts floors to 8; our
 * U-Net needs whole latent levels), at least one multiple. Without --d the run's seed is used,
 * so samples are reproducible. The U-Net adapters' hidden buffers are re-planned for the
 * sample and back for training afterwards. */
#include "engine/train/train_run_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "engine/sample/png_write.h"
#include "engine/sample/sample.h"
#include "engine/sample/sample_prompt.h"

typedef struct prompt_line {
    char prompt[4096], negative[4096];
    int w, h, steps, has_seed;
    float cfg;
    uint64_t seed;
    sampler_kind sampler;
} prompt_line;

static void trim(char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    size_t k = 0;
    while (s[k] && isspace((unsigned char)s[k]))
        k++;
    memmove(s, s + k, n - k + 1);
}

/* One line → prompt and options; returns 0, or -1 with err for a bad option value. */
static int parse_line(const char *line, sampler_kind deflt, int mult, prompt_line *pl, error_info *err)
{
    memset(pl, 0, sizeof *pl);
    pl->w = pl->h = 512;
    pl->steps = 30;
    pl->cfg = 7.5f;
    pl->sampler = deflt;
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", line);
    char *parts[64];
    int np = 0;
    parts[np++] = buf;
    for (char *p = buf; (p = strstr(p, " --")) && np < 64;) {
        *p = '\0';
        p += 3;
        parts[np++] = p;
    }
    snprintf(pl->prompt, sizeof pl->prompt, "%s", parts[0]);
    trim(pl->prompt);
    for (int i = 1; i < np; i++) {
        char *opt = parts[i], *val = opt;
        while (*val && !isspace((unsigned char)*val))
            val++;
        if (*val)
            *val++ = '\0';
        trim(val);
        if (!strcasecmp(opt, "n"))
            snprintf(pl->negative, sizeof pl->negative, "%s", val);
        else if (!strcasecmp(opt, "w"))
            pl->w = atoi(val);
        else if (!strcasecmp(opt, "h"))
            pl->h = atoi(val);
        else if (!strcasecmp(opt, "d")) {
            pl->seed = strtoull(val, NULL, 10);
            pl->has_seed = 1;
        } else if (!strcasecmp(opt, "l"))
            pl->cfg = (float)atof(val);
        else if (!strcasecmp(opt, "s"))
            pl->steps = atoi(val);
        else if (!strcasecmp(opt, "ss")) {
            if (sampler_parse(val, &pl->sampler, err) < 0)
                return -1;
        }
    }
    pl->steps = pl->steps < 1 ? 1 : pl->steps > 1000 ? 1000 : pl->steps;
    pl->w = pl->w / mult * mult;
    pl->h = pl->h / mult * mult;
    pl->w = pl->w < mult ? mult : pl->w;
    pl->h = pl->h < mult ? mult : pl->h;
    return 0;
}

int trun_sample(trun_sample_ctx *c, long long step, long long epoch, int by_epoch, error_info *err)
{
    const train_run_settings *s = c->s;
    if (!s->sample_prompts || !s->sample_prompts[0] || s->mode == TRAIN_MODE_VAE)
        return 0;   /* VAE training: the U-Net is not what is being trained */
    sampler_kind deflt = SAMPLER_EULER_A;
    if (s->sample_sampler && s->sample_sampler[0] && sampler_parse(s->sample_sampler, &deflt, err) < 0) {
        snprintf(err->key, sizeof err->key, "sample_sampler");
        return -1;
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/sample", s->output_dir && s->output_dir[0] ? s->output_dir : ".");
    mkdir(dir, 0777);
    trun_optim_eval(c->opt, c->net);
    network_begin_step(c->net, 0, s->seed, (uint64_t)step, 1);   /* dropouts off */
    int mult = sd_model_size_multiple(c->m), T = 0;
    const char *text = s->sample_prompts;
    int rc = 0, index = 0;
    while (*text && rc == 0) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        char line[4096];
        snprintf(line, sizeof line, "%.*s", (int)(len < sizeof line ? len : sizeof line - 1), text);
        text += len + (nl ? 1 : 0);
        trim(line);
        if (!line[0] || line[0] == '#')
            continue;
        prompt_line pl;
        if ((rc = parse_line(line, deflt, mult, &pl, err)) != 0)
            break;
        sample_params p = {.prompt = pl.prompt, .negative = pl.negative, .steps = pl.steps,
                           .cfg = pl.cfg, .seed = pl.has_seed ? pl.seed : s->seed,
                           .width = pl.w, .height = pl.h, .sampler = pl.sampler,
                           .clip_skip = s->clip_skip, .max_token_length = s->max_token_length};
        size_t npix = (size_t)3 * pl.w * pl.h;
        float *image = malloc(npix * sizeof(float));
        uint8_t *rgb = malloc(npix);
        if (!image || !rgb)
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory for a sample image");
        if (rc == 0)
            rc = sample_prompt_rows(c->m, &p, &T, err);
        if (rc == 0)
            rc = network_plan_unet(c->net, &c->m->unet, pl.cfg > 1.0f ? 2 : 1, pl.h / sd_model_vae_downscale(c->m),
                                   pl.w / sd_model_vae_downscale(c->m), T, err);
        if (rc == 0)
            rc = sample_txt2img(c->m, &p, image, err);
        if (rc == 0) {
            char stamp[32], path[5200], params[8192], seed[32] = "";
            time_t now = time(NULL);
            struct tm tm;
            localtime_r(&now, &tm);
            strftime(stamp, sizeof stamp, "%Y%m%d%H%M%S", &tm);
            if (pl.has_seed)
                snprintf(seed, sizeof seed, "_%llu", (unsigned long long)pl.seed);
            char stem[512];
            snprintf(stem, sizeof stem, "%s", s->output_name && s->output_name[0] ? s->output_name : "");
            if (by_epoch)
                snprintf(path, sizeof path, "%s/%s_e%06lld_%02d_%s%s.png", dir, stem, epoch, index, stamp, seed);
            else
                snprintf(path, sizeof path, "%s/%s_%06lld_%02d_%s%s.png", dir, stem, step, index, stamp, seed);
            sample_parameters_text(c->m, &p, NULL, params, sizeof params);
            png_from_planar(rgb, image, pl.w, pl.h);
            const char *key = "parameters", *value = params;
            rc = png_write_rgb8(path, rgb, pl.w, pl.h, &key, &value, 1, err);
            if (rc == 0 && c->h->sampled)
                c->h->sampled(c->h->ctx, path, pl.prompt, step);
        }
        free(image);
        free(rgb);
        index++;
    }
    trun_optim_train(c->opt, c->net);
    /* back to the training plan of the adapters' hidden buffers */
    if (rc == 0 && c->st->planned)
        rc = network_plan_unet(c->net, &c->m->unet, c->st->B, c->st->H, c->st->W, c->st->T, err);
    return rc;
}
