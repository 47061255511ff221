/* test_train_run_files.c — checks on the files `loratty --run` writes, for tests/run_headless.sh:
 *   same A B        the two LoRA files hold the same tensors, byte for byte (names, dtypes,
 *                   shapes, data); metadata is not compared (it holds times and a session id)
 *   meta FILE K=V…  FILE has every key K with value V ("K=*" only requires the key, "K=#N"
 *                   a value of N characters, "!K" requires its absence), its JSON keys parse
 *                   (the dirs, tags and bucket info of folder mode, or ss_datasets and the
 *                   merged dirs and tags of a dataset config), every tensor is a key of a
 *                   kohya lora_unet_ / lora_te module (a LoRA file: 3 tensors per module). */
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/safetensors.h"

static int same(const char *a, const char *b)
{
    error_info err = {0};
    safetensors_file *fa, *fb;
    if (safetensors_open(a, &fa, &err) != 0 || safetensors_open(b, &fb, &err) != 0) {
        printf("FAIL  open: %s %s\n", err.file, err.message);
        return 1;
    }
    int bad = 0;
    size_t n = safetensors_count(fa);
    if (n != safetensors_count(fb)) {
        printf("FAIL  %zu tensors vs %zu\n", n, safetensors_count(fb));
        bad = 1;
    }
    for (size_t i = 0; i < n && !bad; i++) {
        const safetensors_tensor *ta = safetensors_tensor_at(fa, i);
        const safetensors_tensor *tb = safetensors_find(fb, ta->name);
        if (!tb || ta->dtype != tb->dtype || ta->ndim != tb->ndim || ta->nbytes != tb->nbytes ||
            memcmp(ta->shape, tb->shape, sizeof ta->shape[0] * (size_t)ta->ndim) != 0 ||
            memcmp(ta->data, tb->data, ta->nbytes) != 0) {
            printf("FAIL  tensor %s differs\n", ta->name);
            bad = 1;
        }
    }
    if (!bad)
        printf("ok    %zu tensors equal\n", n);
    safetensors_close(fa);
    safetensors_close(fb);
    return bad;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* 1 (with a FAIL line) unless key's value is JSON of that type (or null when allowed). */
static int json_shape(const safetensors_file *f, const char *key, json_type type, bool null_ok)
{
    const char *v = safetensors_metadata_get(f, key);
    json_t *j = v ? json_loads(v, JSON_DECODE_ANY, NULL) : NULL;
    bool ok = j && (json_typeof(j) == type || (null_ok && json_is_null(j)));
    json_decref(j);
    if (!ok)
        printf("FAIL  %s is not a JSON %s\n", key, type == JSON_ARRAY ? "list" : "object");
    return !ok;
}

static int meta(const char *path, char **kv, int nkv)
{
    error_info err = {0};
    safetensors_file *f;
    if (safetensors_open(path, &f, &err) != 0) {
        printf("FAIL  open: %s %s\n", err.file, err.message);
        return 1;
    }
    int bad = 0;
    for (int i = 0; i < nkv; i++) {
        if (kv[i][0] == '!') {
            if (safetensors_metadata_get(f, kv[i] + 1)) {
                printf("FAIL  %s is written\n", kv[i] + 1);
                bad = 1;
            }
            continue;
        }
        char key[256];
        const char *eq = strchr(kv[i], '=');
        snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - kv[i]) : (int)strlen(kv[i]), kv[i]);
        const char *want = eq ? eq + 1 : "*";
        const char *got = safetensors_metadata_get(f, key);
        int ok = got && (!strcmp(want, "*") || (want[0] == '#' ? strlen(got) == (size_t)atoi(want + 1)
                                                                : !strcmp(got, want)));
        if (!ok) {
            printf("FAIL  %s = %s (want %s)\n", key, got ? got : "(missing)", want);
            bad = 1;
        }
    }
    /* sd-scripts writes ss_datasets only with a dataset config, ss_bucket_info (None without
     * buckets) only without one; no_metadata's files (no ss_session_id) have none of them */
    bool user_config = safetensors_metadata_get(f, "ss_datasets") != NULL;
    if (safetensors_metadata_get(f, "ss_session_id")) {
        bad |= json_shape(f, "ss_dataset_dirs", JSON_OBJECT, false);
        bad |= json_shape(f, "ss_tag_frequency", JSON_OBJECT, false);
        bad |= user_config ? json_shape(f, "ss_datasets", JSON_ARRAY, false)
                           : json_shape(f, "ss_bucket_info", JSON_OBJECT, true);
    }
    /* kohya module names; LoRA's three tensors per module, or LyCORIS' keys (hada_*, lokr_*,
     * oft_blocks ...) */
    size_t n = safetensors_count(f), unet = 0, lora = 0;
    for (size_t i = 0; i < n; i++) {
        const char *name = safetensors_tensor_at(f, i)->name;
        int kohya = (!strncmp(name, "lora_unet_", 10) || !strncmp(name, "lora_te", 7)) && strchr(name, '.');
        if (!kohya) {
            printf("FAIL  tensor name %s\n", name);
            bad = 1;
        }
        lora += ends_with(name, ".lora_down.weight") || ends_with(name, ".lora_up.weight") ||
                ends_with(name, ".alpha");
        unet += !strncmp(name, "lora_unet_", 10);
    }
    if (!unet || (lora == n && n % 3)) {
        printf("FAIL  %zu tensors, %zu lora_unet_\n", n, unet);
        bad = 1;
    }
    if (!bad)
        printf("ok    %d metadata values, %zu tensors of kohya modules in %s\n", nkv, n, path);
    safetensors_close(f);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "same"))
        return same(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "meta"))
        return meta(argv[2], argv + 3, argc - 3);
    fprintf(stderr, "usage: test_train_run_files same A B | meta FILE KEY=VALUE...\n");
    return 2;
}
