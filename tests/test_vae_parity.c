/* test_vae_parity.c — the VAE against diffusers' AutoencoderKL: for a fixture directory
 * written by tests/golden/make_clip_vae_fixtures.py, builds the model from config.json and
 * compares the encoder's latent mean / logvar / sample (with the fixture's noise), the decoded
 * image (planned for backward, and again with the overlaid forward-only plan), the gradient of
 * L = Σ decoded·proj w.r.t. the latents, and diffusers' tiled_decode with the fixture's tile
 * sizes. Also states how far tiled is from untiled decoding on this image.
 * Usage: test_vae_parity [DIR]; without DIR it runs every tests/fixtures/vae-* directory.
 * Tolerances: forward 1e-4, gradients 1e-3, relative to the reference's max |value|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fixture_dirs.h"

#include "engine/models/vae.h"
#include "engine/safetensors.h"

#define FWD_TOL 1e-4
#define GRAD_TOL 1e-3
/* Tiled vs untiled: GroupNorm statistics and attention differ per tile, so the two differ by
 * design (diffusers' own tiled decode does the same); on the fixture's tiny model with 16 px
 * tiles on a 32x32 image (measured 0.106) the mean |difference| must stay below this fraction
 * of the image's max |value|, and a single tile covering the image must equal the untiled
 * decode within FWD_TOL. */
#define TILED_MEAN_TOL 0.15

static int failures;

/* A malloc'd aligned copy of an f32 tensor with `numel` elements (0: any), or NULL. */
static float *tensor_copy(safetensors_file *f, const char *name, size_t numel)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (!t || t->dtype != DTYPE_F32 || (numel && t->nelements != numel)) {
        printf("FAIL  %s: missing, not f32 or not %zu elements\n", name, numel);
        failures++;
        return NULL;
    }
    float *p = malloc(t->nbytes ? t->nbytes : 1);
    memcpy(p, t->data, t->nbytes);
    return p;
}

static void compare(const char *what, const float *got, const float *ref, size_t n, double tol)
{
    if (!got || !ref)
        return;
    double maxref = 0, maxerr = 0;
    for (size_t i = 0; i < n; i++) {
        maxref = fmax(maxref, fabs(ref[i]));
        maxerr = fmax(maxerr, fabs((double)got[i] - ref[i]));
    }
    double rel = maxref > 0 ? maxerr / maxref : maxerr;
    int ok = rel <= tol && !isnan(maxerr);
    if (!ok)
        failures++;
    printf("%s  %-34s max err %.3g (rel %.3g, ref max %.3g)\n", ok ? "ok  " : "FAIL", what, maxerr, rel, maxref);
}

static int scalar_i32(safetensors_file *f, const char *name)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    int32_t v = 0;
    if (t && t->dtype == DTYPE_I32 && t->nelements == 1)
        memcpy(&v, t->data, sizeof v);
    return v;
}

static int run_fixture(const char *dir)
{
    char path[1024];
    error_info err = {0};
    vae_config cfg;
    printf("== %s\n", dir);
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (vae_config_from_json(&cfg, path, &err)) {
        printf("FAIL  config: %s %s\n", err.key, err.message);
        failures++;
        return -1;
    }
    weight_store *ws = weights_new();
    safetensors_file *in = NULL, *out = NULL, *gr = NULL;
    vae_model m;
    float *image = NULL, *noise = NULL, *proj = NULL, *dec = NULL, *dz = NULL, *tiled = NULL;
    float *ref[5] = {0}, *ref_dz = NULL;
    int rc = -1, created = 0;
    if (vae_create(&m, &cfg, &err))
        goto done;
    created = 1;
    snprintf(path, sizeof path, "%s/weights.safetensors", dir);
    if (weights_add_file(ws, path, NULL, NULL, &err) || vae_load(&m, ws, &err))
        goto done;
    for (size_t i = 0; i < weights_count(ws); i++)
        if (!weights_used_at(ws, i)) {
            printf("FAIL  weight %s not used\n", weights_name_at(ws, i));
            failures++;
        }
    const char *files[3] = {"inputs", "outputs", "grads"};
    safetensors_file **fs[3] = {&in, &out, &gr};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s.safetensors", dir, files[i]);
        if (safetensors_open(path, fs[i], &err))
            goto done;
    }
    const safetensors_tensor *it = safetensors_find(in, "image");
    if (!it || it->ndim != 4) {
        printf("FAIL  image missing\n");
        goto done;
    }
    int N = (int)it->shape[0], H = (int)it->shape[2], W = (int)it->shape[3], f = vae_downscale(&cfg);
    int h = H / f, w = W / f, L = cfg.latent_channels, OC = cfg.out_channels;
    size_t nl = (size_t)N * L * h * w, ni = (size_t)N * OC * H * W;
    printf("VAE blocks %d, layers %d, latent %d, groups %d, image %d x %dx%d -> latent %dx%d\n", cfg.n_blocks,
           cfg.layers_per_block, L, cfg.norm_num_groups, N, W, H, w, h);
    image = tensor_copy(in, "image", (size_t)N * cfg.in_channels * H * W);
    noise = tensor_copy(in, "noise", nl);
    proj = tensor_copy(in, "proj", ni);
    const char *names[5] = {"latent_mean", "latent_logvar", "latent_sample", "decoded", "decoded_tiled"};
    for (int i = 0; i < 5; i++)
        ref[i] = tensor_copy(out, names[i], i < 3 ? nl : ni);
    ref_dz = tensor_copy(gr, "latents", nl);
    if (!image || !noise || !proj || !ref[2] || !ref[3] || !ref_dz)
        goto done;

    if (vae_plan_encoder(&m, N, H, W, &err) || vae_encode(&m, image, noise, N, H, W, &err))
        goto done;
    compare("latent_mean", m.mean, ref[0], nl, FWD_TOL);
    compare("latent_logvar", m.logvar, ref[1], nl, FWD_TOL);
    compare("latent_sample", m.sample, ref[2], nl, FWD_TOL);

    dec = malloc(ni * sizeof(float));
    dz = calloc(nl, sizeof(float));
    tiled = malloc(ni * sizeof(float));
    if (vae_plan_decoder(&m, N, h, w, 1, &err) || vae_decode(&m, dec, ref[2], N, h, w, &err))
        goto done;
    compare("decoded", dec, ref[3], ni, FWD_TOL);
    if (vae_decode_backward(&m, dz, proj, &err))
        goto done;
    compare("grad latents", dz, ref_dz, nl, GRAD_TOL);
    if (vae_plan_decoder(&m, N, h, w, 0, &err) || vae_decode(&m, dec, ref[2], N, h, w, &err))
        goto done;
    compare("decoded (forward-only plan)", dec, ref[3], ni, FWD_TOL);

    int tl = scalar_i32(in, "tile_latent_min_size"), ts = scalar_i32(in, "tile_sample_min_size");
    if (tl > 0 && ref[4]) {
        if (vae_plan_decoder(&m, N, tl, tl, 0, &err) ||
            vae_decode_tiled(&m, tiled, ref[2], N, h, w, tl, ts, 0.25f, &err))
            goto done;
        compare("decoded_tiled (diffusers)", tiled, ref[4], ni, FWD_TOL);
        double sum = 0, mx = 0, maxref = 0;
        for (size_t i = 0; i < ni; i++) {
            double d = fabs((double)tiled[i] - ref[3][i]);
            sum += d, mx = fmax(mx, d), maxref = fmax(maxref, fabs(ref[3][i]));
        }
        double mean_rel = sum / (double)ni / maxref;
        int ok = mean_rel <= TILED_MEAN_TOL;
        failures += !ok;
        printf("%s  tiled vs untiled (%d px tiles)     mean |diff| %.3g (%.3g of max, tol %.2g), max %.3g\n",
               ok ? "ok  " : "FAIL", ts, sum / (double)ni, mean_rel, TILED_MEAN_TOL, mx);
        /* tiles so large that the first one's stride (3/4 of it) covers the latents: one tile */
        int big = (h > w ? h : w) * 4 / 3 + 2;
        if (vae_plan_decoder(&m, N, big, big, 0, &err) ||
            vae_decode_tiled(&m, tiled, ref[2], N, h, w, big, big * f, 0.25f, &err))
            goto done;
        compare("tiled, one tile = untiled", tiled, ref[3], ni, FWD_TOL);
    }
    rc = 0;
done:
    if (rc && err.message[0])
        printf("FAIL  %s %s\n", err.file, err.message);
    if (rc)
        failures++;
    if (created)
        vae_free(&m);
    free(image);
    free(noise);
    free(proj);
    free(dec);
    free(dz);
    free(tiled);
    for (int i = 0; i < 5; i++)
        free(ref[i]);
    free(ref_dz);
    safetensors_close(in);
    safetensors_close(out);
    safetensors_close(gr);
    weights_free(ws);
    return rc;
}

/* The real VAEs' manifests against diffusers' AutoencoderKL built from the same config
 * (83,653,863 parameters in 248 tensors). */
static void check_real_configs(void)
{
    vae_config real[2] = {vae_config_sd(), vae_config_sdxl()};
    for (int i = 0; i < 2; i++) {
        vae_param_info *list = NULL;
        int count = 0;
        error_info err = {0};
        if (vae_manifest(&real[i], &list, &count, &err)) {
            printf("FAIL  manifest: %s\n", err.message);
            failures++;
            continue;
        }
        size_t n = count ? list[count - 1].offset + list[count - 1].numel : 0;
        int ok = n == 83653863 && count == 248 && vae_downscale(&real[i]) == 8;
        failures += !ok;
        printf("%s  manifest %-5s %zu params in %d tensors, scaling %g (first %s, last %s)\n", ok ? "ok  " : "FAIL",
               i ? "SDXL" : "SD", n, count, (double)real[i].scaling_factor, list[0].name, list[count - 1].name);
        free(list);
    }
}

int main(int argc, char **argv)
{
    check_real_configs();
    failures += fixture_dirs_run(argc, argv, "vae-", run_fixture);
    printf("%s\n", failures ? "FAILED" : "all ok");
    return failures ? 1 : 0;
}
