/* test_torch_save.c — engine/lora/torch_save.c writes a state dict torch.load reads: a fixed
 * set of tensors (f32 with a 0-dim scalar, f16 4-D, bf16, one with more than 255 elements)
 * is written and must equal, byte for byte, tests/fixtures/torch-save/tensors.pt, the file
 * tests/golden/check_torch_save.py loaded with torch.load (weights_only, and mmap) and found
 * to hold exactly these values; its verdict, result.json, must say so. loratty's readers
 * (engine/torch_load.c behind safetensors_open) read that file and torch.save's own
 * torch_written.pt back to the same names, dtypes, shapes and values, and refuse a whole
 * checkpoint and a pickle calling os.system by name. Usage:
 * test_torch_save [write PATH] (the golden script makes the fixture with it). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/lora/torch_save.h"
#include "engine/safetensors.h"
#include "fileio.h"
#include "tests/check.h"

static const int64_t shape_a[2] = {2, 3}, shape_b[4] = {2, 2, 3, 3}, shape_c[1] = {5}, shape_d[2] = {16, 20};

/* value i of tensor k: small exact binary fractions, so every dtype holds them exactly */
static float value(int k, size_t i)
{
    return (float)((int)(i % 17) - 8) * 0.25f + (float)k;
}

static int write_fixture(const char *path, error_info *err)
{
    float a[6], b[36], c[5], d[320], alpha = 4.0f;
    uint16_t b16[36], c16[5], d16[320];
    for (size_t i = 0; i < 6; i++)
        a[i] = value(0, i);
    for (size_t i = 0; i < 36; i++)
        b[i] = value(1, i);
    for (size_t i = 0; i < 5; i++)
        c[i] = value(2, i);
    for (size_t i = 0; i < 320; i++)
        d[i] = value(3, i);
    if (dtype_from_f32(DTYPE_F16, b, b16, 36) < 0 || dtype_from_f32(DTYPE_BF16, c, c16, 5) < 0 ||
        dtype_from_f32(DTYPE_F16, d, d16, 320) < 0)
        return error_set(err, NULL, 0, 0, NULL, "dtype conversion failed");
    const torch_tensor t[] = {
        {"lora_unet_a.lora_down.weight", DTYPE_F32, 2, shape_a, a},
        {"lora_unet_a.alpha", DTYPE_F32, 0, NULL, &alpha},
        {"lora_unet_b.lora_up.weight", DTYPE_F16, 4, shape_b, b16},
        {"lora_te_c.weight", DTYPE_BF16, 1, shape_c, c16},
        {"lora_te_d.weight", DTYPE_F16, 2, shape_d, d16},
    };
    return torch_save(path, t, sizeof t / sizeof t[0], err);
}

/* the file's tensors: names, dtypes, shapes and every value as written */
static void read_back(const char *path)
{
    static const struct {
        const char *name;
        dtype_t dt;
        int ndim, k;
        size_t n;
    } want[] = {{"lora_te_c.weight", DTYPE_BF16, 1, 2, 5}, {"lora_te_d.weight", DTYPE_F16, 2, 3, 320},
                {"lora_unet_a.alpha", DTYPE_F32, 0, -1, 1}, {"lora_unet_a.lora_down.weight", DTYPE_F32, 2, 0, 6},
                {"lora_unet_b.lora_up.weight", DTYPE_F16, 4, 1, 36}};
    error_info err = {0};
    safetensors_file *f;
    if (safetensors_open(path, &f, &err) != 0) {
        CHECK(0, "%s: %s", path, err.message);
        return;
    }
    CHECK(safetensors_count(f) == 5, "%s: %zu tensors", path, safetensors_count(f));
    size_t bad = 0;
    for (size_t i = 0; i < 5; i++) {
        const safetensors_tensor *t = safetensors_find(f, want[i].name);
        float v[320];
        if (!t || t->dtype != want[i].dt || t->ndim != want[i].ndim || t->nelements != want[i].n ||
            safetensors_read_f32(t, v, &err) != 0) {
            CHECK(0, "%s: %s missing or of another dtype / shape", path, want[i].name);
            continue;
        }
        for (size_t j = 0; j < want[i].n; j++)
            bad += v[j] != (want[i].k < 0 ? 4.0f : value(want[i].k, j));
    }
    CHECK(bad == 0, "%s: %zu values differ", path, bad);
    safetensors_close(f);
}

int main(int argc, char **argv)
{
    error_info err = {0};
    if (argc == 3 && !strcmp(argv[1], "write")) {
        if (write_fixture(argv[2], &err) != 0) {
            fprintf(stderr, "FAIL %s\n", err.message);
            return 1;
        }
        return 0;
    }
    const char *top = getenv("top_srcdir");
    char fixture[4096], result[4096], tmp[] = "/tmp/loratty-torch-save-XXXXXX";
    snprintf(fixture, sizeof fixture, "%s/tests/fixtures/torch-save/tensors.pt", top ? top : ".");
    snprintf(result, sizeof result, "%s/tests/fixtures/torch-save/result.json", top ? top : ".");
    int fd = mkstemp(tmp);
    if (fd < 0)
        return 1;
    close(fd);
    CHECK(write_fixture(tmp, &err) == 0, "torch_save: %s", err.message);
    size_t n1 = 0, n2 = 0;
    char *got = fileio_read_all(tmp, &n1, &err), *want = fileio_read_all(fixture, &n2, &err);
    CHECK(got && want && n1 == n2 && !memcmp(got, want, n1),
          "the written file (%zu bytes) is not the fixture torch.load read (%zu bytes)", n1, n2);
    free(got), free(want);
    unlink(tmp);
    /* loratty's readers take a .pt as a safetensors file: ours, and torch.save's own */
    char path[4096];
    const char *files[] = {"tensors.pt", "torch_written.pt"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/torch-save/%s", top ? top : ".", files[i]);
        read_back(path);
    }
    static const struct {
        const char *file, *needle;
    } refused[] = {{"whole.ckpt", "holds state_dict, not a tensor"},
                   {"evil.pt", "posix.system, which a state dict of tensors does not call"}};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/tests/fixtures/torch-save/%s", top ? top : ".", refused[i].file);
        safetensors_file *f = NULL;
        err.message[0] = '\0';
        CHECK(safetensors_open(path, &f, &err) != 0 && strstr(err.message, refused[i].needle),
              "%s: %s", refused[i].file, err.message);
        if (f)
            safetensors_close(f);
    }
    json_error_t jerr;
    json_t *r = json_load_file(result, 0, &jerr);
    CHECK(r && json_is_true(json_object_get(r, "weights_only_ok")) && json_is_true(json_object_get(r, "mmap_ok")) &&
              json_integer_value(json_object_get(r, "tensors")) == 5 &&
              json_real_value(json_object_get(r, "max_abs_diff")) == 0.0,
          "torch.load's verdict in %s is not all good", result);
    json_decref(r);
    if (!failures)
        printf("torch_save: %zu bytes, identical to the file torch.load read exactly\n", n1);
    return failures != 0;
}
