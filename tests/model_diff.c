/* model_diff.c — which parts of a single-file checkpoint a training run changed: for two LDM
 * checkpoints with the same keys, prints per part (unet = model.diffusion_model.*, vae =
 * first_stage_model.*, te = cond_stage_model.*, and SDXL's te1 / te2 =
 * conditioner.embedders.0 / 1.*) the number of float tensors that differ and the largest
 * absolute difference, one line each: "<part> <changed>/<total> <max>" (unet, vae and te
 * always; te1 and te2 when the files have them). Exits 1 when the key sets differ. Used by
 * tests/run_training_modes.sh and tests/run_headless_sdxl.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/safetensors.h"

enum { N_PARTS = 5, ALWAYS = 3 };
static const char *const parts[N_PARTS][2] = {{"unet", "model.diffusion_model."},
                                              {"vae", "first_stage_model."},
                                              {"te", "cond_stage_model."},
                                              {"te1", "conditioner.embedders.0."},
                                              {"te2", "conditioner.embedders.1."}};

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: model_diff A.safetensors B.safetensors\n");
        return 2;
    }
    safetensors_file *a = NULL, *b = NULL;
    error_info err = {0};
    if (safetensors_open(argv[1], &a, &err) != 0 || safetensors_open(argv[2], &b, &err) != 0) {
        fprintf(stderr, "model_diff: %s\n", err.message);
        return 2;
    }
    int rc = safetensors_count(a) == safetensors_count(b) ? 0 : 1;
    size_t changed[N_PARTS] = {0}, total[N_PARTS] = {0};
    double maxd[N_PARTS] = {0};
    for (size_t i = 0; i < safetensors_count(a); i++) {
        const safetensors_tensor *ta = safetensors_tensor_at(a, i);
        const safetensors_tensor *tb = safetensors_find(b, ta->name);
        if (!tb || tb->nelements != ta->nelements) {
            fprintf(stderr, "model_diff: %s: not in both files alike\n", ta->name);
            rc = 1;
            continue;
        }
        int p = -1;
        for (int k = 0; k < N_PARTS; k++)
            if (!strncmp(ta->name, parts[k][1], strlen(parts[k][1])))
                p = k;
        if (p < 0 || !dtype_is_float_convertible(ta->dtype) || !dtype_is_float_convertible(tb->dtype))
            continue;
        float *x = malloc((ta->nelements + 1) * sizeof *x), *y = malloc((tb->nelements + 1) * sizeof *y);
        if (!x || !y || safetensors_read_f32(ta, x, &err) || safetensors_read_f32(tb, y, &err)) {
            fprintf(stderr, "model_diff: %s\n", err.message[0] ? err.message : "out of memory");
            return 2;
        }
        double d = 0.0;
        for (uint64_t k = 0; k < ta->nelements; k++)
            d = fmax(d, fabs((double)x[k] - y[k]));
        total[p]++;
        changed[p] += d > 0.0;
        maxd[p] = fmax(maxd[p], d);
        free(x);
        free(y);
    }
    for (int k = 0; k < N_PARTS; k++)
        if (k < ALWAYS || total[k])
            printf("%s %zu/%zu %g\n", parts[k][0], changed[k], total[k], maxd[k]);
    safetensors_close(a);
    safetensors_close(b);
    return rc;
}
