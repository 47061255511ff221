/* lora_diff.c — which tensors of a LoRA file a training run changed: for two LoRA files with
 * the same keys, prints per kind (the key after the module name without a trailing ".weight":
 * lora_down, lora_up, alpha, hada_w1_a, a1, oft_blocks, diff_b ...) the number of tensors that
 * differ, the largest absolute difference and the largest |value| in B, one line each in
 * order of first appearance: "<kind> <changed>/<total> <max diff> <max |B|>". Exits 1 when
 * the key sets differ. Used by tests/run_headless_variants.sh (LoRA-FA: the down matrices
 * never change) and tests/run_lycoris_algos.sh.
 * lora_diff --values FILE SUFFIX prints "<module> <value>" for every 0-d tensor whose key ends
 * in .SUFFIX (iA3's on_input, alpha). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dtype.h"
#include "engine/safetensors.h"

enum { MAX_KINDS = 16 };
static char kinds[MAX_KINDS][32];
static int n_kinds;

/* The kind of a key: what follows the module name, without a trailing ".weight" (iA3's
 * "<module>.weight" is kind "weight"); −1 when the table is full. */
static int kind_of(const char *key)
{
    const char *dot = strchr(key, '.');
    char kind[32];
    snprintf(kind, sizeof kind, "%s", dot ? dot + 1 : key);
    size_t n = strlen(kind);
    if (n > 7 && !strcmp(kind + n - 7, ".weight"))
        kind[n - 7] = '\0';
    for (int k = 0; k < n_kinds; k++)
        if (!strcmp(kinds[k], kind))
            return k;
    if (n_kinds == MAX_KINDS)
        return -1;
    snprintf(kinds[n_kinds], sizeof kinds[0], "%s", kind);
    return n_kinds++;
}

static int print_values(const char *path, const char *suffix)
{
    safetensors_file *f = NULL;
    error_info err = {0};
    if (safetensors_open(path, &f, &err) != 0) {
        fprintf(stderr, "lora_diff: %s\n", err.message);
        return 2;
    }
    size_t sl = strlen(suffix);
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        size_t n = strlen(t->name);
        float v;
        if (t->nelements != 1 || n <= sl + 1 || t->name[n - sl - 1] != '.' ||
            strcmp(t->name + n - sl, suffix) || safetensors_read_f32(t, &v, &err) != 0)
            continue;
        printf("%.*s %g\n", (int)(n - sl - 1), t->name, v);
    }
    safetensors_close(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--values"))
        return print_values(argv[2], argv[3]);
    if (argc != 3) {
        fprintf(stderr, "usage: lora_diff A.safetensors B.safetensors | --values FILE SUFFIX\n");
        return 2;
    }
    safetensors_file *a = NULL, *b = NULL;
    error_info err = {0};
    if (safetensors_open(argv[1], &a, &err) != 0 || safetensors_open(argv[2], &b, &err) != 0) {
        fprintf(stderr, "lora_diff: %s\n", err.message);
        return 2;
    }
    int rc = safetensors_count(a) == safetensors_count(b) ? 0 : 1;
    size_t changed[MAX_KINDS] = {0}, total[MAX_KINDS] = {0};
    double maxd[MAX_KINDS] = {0}, maxb[MAX_KINDS] = {0};
    for (size_t i = 0; i < safetensors_count(a); i++) {
        const safetensors_tensor *ta = safetensors_tensor_at(a, i);
        const safetensors_tensor *tb = safetensors_find(b, ta->name);
        if (!tb || tb->nelements != ta->nelements) {
            fprintf(stderr, "lora_diff: %s: not in both files alike\n", ta->name);
            rc = 1;
            continue;
        }
        int k = kind_of(ta->name);
        if (k < 0 || !dtype_is_float_convertible(ta->dtype) || !dtype_is_float_convertible(tb->dtype))
            continue;
        float *x = malloc((ta->nelements + 1) * sizeof *x), *y = malloc((tb->nelements + 1) * sizeof *y);
        if (!x || !y || safetensors_read_f32(ta, x, &err) || safetensors_read_f32(tb, y, &err)) {
            fprintf(stderr, "lora_diff: %s\n", err.message[0] ? err.message : "out of memory");
            return 2;
        }
        double d = 0.0;
        for (uint64_t e = 0; e < ta->nelements; e++) {
            d = fmax(d, fabs((double)x[e] - y[e]));
            maxb[k] = fmax(maxb[k], fabs((double)y[e]));
        }
        total[k]++;
        changed[k] += d > 0.0;
        maxd[k] = fmax(maxd[k], d);
        free(x);
        free(y);
    }
    for (int k = 0; k < n_kinds; k++)
        printf("%s %zu/%zu %g %g\n", kinds[k], changed[k], total[k], maxd[k], maxb[k]);
    safetensors_close(a);
    safetensors_close(b);
    return rc;
}
