/* test_params.c — checks the parameter table: unique names and kohya_ss keys, defaults
 * that parse for their type and lie in range, choice defaults among the choices, the
 * loratty-only / sd-scripts split, applies_when expressions, the look-ups, and that every
 * key of three real kohya_ss configs is either in the table or deliberately left out. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "params.h"

/* GUI keys of the kohya_ss JSON fixtures that the table leaves out, and why. */
static const char *const left_out[] = {
    /* Flux.1 / SD3 / DiT models only (not SD1.x/2.x/SDXL) */
    "ae", "apply_t5_attn_mask", "blocks_to_swap", "clip_g", "clip_l",
    "cpu_offload_checkpointing", "discrete_flow_shift", "double_blocks_to_swap",
    "flux1_cache_text_encoder_outputs", "flux1_cache_text_encoder_outputs_to_disk",
    "flux1_checkbox", "flux1_clip_l", "flux1_t5xxl", "flux_fused_backward_pass", "fp8_base_unet",
    "guidance_scale", "logit_mean", "logit_std", "mem_eff_save", "mode_scale",
    "model_prediction_type", "save_clip", "save_t5xxl", "sd3_cache_text_encoder_outputs",
    "sd3_cache_text_encoder_outputs_to_disk", "sd3_checkbox", "sd3_fused_backward_pass",
    "sd3_text_encoder_batch_size", "single_blocks_to_swap", "split_mode", "t5xxl",
    "t5xxl_device", "t5xxl_dtype", "t5xxl_max_token_length", "t5xxl_lr", "timestep_sampling",
    "train_blocks", "weighting_scheme",
    /* Dreambooth / fine-tuning tabs only */
    "blockwise_fused_optimizers", "fused_backward_pass", "fused_optimizer_groups",
    "learning_rate_te", "learning_rate_te1", "learning_rate_te2", "no_token_padding",
    /* Hugging Face upload */
    "async_upload", "huggingface_path_in_repo", "huggingface_repo_id", "huggingface_repo_type",
    "huggingface_repo_visibility", "huggingface_token", "resume_from_huggingface",
    "save_state_to_huggingface",
    /* GUI state, not a training setting (model_list mirrors the model drop-down) */
    "model_list", "save_as_bool",
    /* legacy keys the importer migrates (to network_weights and log_with) */
    "lora_network_weights", "use_wandb",
    NULL,
};

static bool is_left_out(const char *key)
{
    for (const char *const *k = left_out; *k; k++)
        if (strcmp(*k, key) == 0)
            return true;
    return false;
}

static bool is_number_type(param_type t)
{
    return t == PARAM_INT || t == PARAM_FLOAT;
}

static void test_names_unique(void **state)
{
    (void)state;
    assert_true(params_count > 150);
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        assert_non_null(p->name);
        assert_non_null(p->help);
        assert_true(p->help[0] != '\0');
        assert_null(strchr(p->help, '\n'));
        for (const char *c = p->name; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
                fail_msg("%s: names are lower-case argparse-style", p->name);
        for (size_t j = i + 1; j < params_count; j++) {
            const param *q = &params_table[j];
            if (strcmp(p->name, q->name) == 0)
                fail_msg("name %s twice", p->name);
            if (p->kohya_key && q->kohya_key && strcmp(p->kohya_key, q->kohya_key) == 0)
                fail_msg("kohya key %s twice (%s, %s)", p->kohya_key, p->name, q->name);
        }
        assert_ptr_equal(params_find(p->name), p);
        if (p->kohya_key)
            assert_ptr_equal(params_find_kohya(p->kohya_key), p);
    }
    assert_null(params_find("no_such_parameter"));
    assert_null(params_find_kohya("no_such_key"));
}

static void test_defaults(void **state)
{
    (void)state;
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        const char *d = p->default_value;
        if (!d)
            fail_msg("%s: no default", p->name);
        if (!is_number_type(p->type) && !(isnan(p->min) && isnan(p->max)))
            fail_msg("%s: only numbers have a range", p->name);
        if (!isnan(p->min) && !isnan(p->max) && p->min > p->max)
            fail_msg("%s: min above max", p->name);
        switch (p->type) {
        case PARAM_BOOL:
            if (strcmp(d, "true") != 0 && strcmp(d, "false") != 0)
                fail_msg("%s: bool default \"%s\"", p->name, d);
            break;
        case PARAM_INT:
        case PARAM_FLOAT: {
            if (!d[0]) {
                if (!(p->flags & PARAM_OPTIONAL))
                    fail_msg("%s: empty number default needs PARAM_OPTIONAL", p->name);
                break;
            }
            char *end;
            double x = strtod(d, &end);
            if (end == d || *end)
                fail_msg("%s: default \"%s\" is not a number", p->name, d);
            if (p->type == PARAM_INT && x != floor(x))
                fail_msg("%s: int default \"%s\"", p->name, d);
            if ((!isnan(p->min) && x < p->min) || (!isnan(p->max) && x > p->max))
                fail_msg("%s: default %s out of [%g, %g]", p->name, d, p->min, p->max);
            break;
        }
        case PARAM_CHOICE: {
            if (!p->choices || !p->choices[0])
                fail_msg("%s: a choice without choices", p->name);
            bool found = false;
            for (const char *const *c = p->choices; *c; c++)
                found |= strcmp(*c, d) == 0;
            if (!found && !(p->flags & PARAM_CHOICE_OPEN))
                fail_msg("%s: default \"%s\" is not a choice", p->name, d);
            break;
        }
        default:
            if (p->choices)
                fail_msg("%s: choices on a %s", p->name, params_type_name(p->type));
            break;
        }
        if ((p->flags & PARAM_CHOICE_OPEN) && p->type != PARAM_CHOICE)
            fail_msg("%s: CHOICE_OPEN on a %s", p->name, params_type_name(p->type));
    }
}

/* loratty-only parameters live in [loratty]; the others are sd-scripts or accelerate
 * arguments in their GUI section's table; network_args come only from loratty-only ones. */
static void test_split(void **state)
{
    (void)state;
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        const char *table = params_table_name(p);
        unsigned ds = p->flags & (PARAM_DATASET_GENERAL | PARAM_DATASET_DATASET | PARAM_DATASET_SUBSET);
        if (p->flags & PARAM_LORATTY_ONLY) {
            assert_string_equal(table, "loratty");
            if (ds)
                fail_msg("%s: loratty-only but a dataset key", p->name);
            if (p->section == SECTION_DATASET)
                fail_msg("%s: loratty-only in the dataset section", p->name);
        } else {
            assert_string_equal(table, params_section_table(p->section));
        }
        if (p->network_arg && !(p->flags & PARAM_LORATTY_ONLY))
            fail_msg("%s: a network argument must be loratty-only", p->name);
        if (p->section == SECTION_DATASET && !ds)
            fail_msg("%s: dataset key without a level", p->name);
        if (p->section == SECTION_DATASET && p->kohya_key)
            fail_msg("%s: dataset-only keys have no GUI field", p->name);
        if ((p->flags & PARAM_SDXL_ONLY) && (!p->applies_when || !strstr(p->applies_when, "sdxl")))
            fail_msg("%s: SDXL-only but applies_when does not say so", p->name);
    }
    /* the names kohya_ss turns into something else */
    assert_string_equal(params_find_kohya("optimizer")->name, "optimizer_type");
    assert_string_equal(params_find_kohya("max_resolution")->name, "resolution");
    assert_string_equal(params_find_kohya("LoRA_type")->name, "lora_type");
    assert_string_equal(params_find_kohya("sdxl_no_half_vae")->name, "no_half_vae");
    assert_string_equal(params_find("lycoris_preset")->network_arg, "preset");
    assert_string_equal(params_find("constrain")->network_arg, "constraint");
    assert_true(params_find("lr_warmup")->flags & PARAM_LORATTY_ONLY);
    assert_false(params_find("lr_warmup_steps")->flags & PARAM_LORATTY_ONLY);
    assert_true(params_find("shuffle_caption")->flags & PARAM_DATASET_SUBSET);
    assert_true(params_find("resolution")->flags & PARAM_DATASET_DATASET);
    assert_false(params_find("resolution")->flags & PARAM_DATASET_SUBSET);
    assert_true(params_find("image_dir")->flags & PARAM_DATASET_SUBSET);
    assert_false(params_find("image_dir")->flags & PARAM_DATASET_GENERAL);
}

static void test_sections(void **state)
{
    (void)state;
    assert_string_equal(params_section_title(SECTION_BASIC), "Parameters > Basic");
    assert_string_equal(params_section_table(SECTION_DATASET), "datasets");
    assert_string_equal(params_section_table(SECTION_ACCELERATE), "accelerate");
    assert_string_equal(params_type_name(PARAM_STRING_LIST), "list");
    for (int s = 0; s < SECTION_COUNT; s++) {
        bool any = false;
        for (size_t i = 0; i < params_count; i++)
            any |= params_table[i].section == (param_section)s;
        if (!any)
            fail_msg("section %s is empty", params_section_title((param_section)s));
    }
}

static void test_nearest(void **state)
{
    (void)state;
    assert_string_equal(params_nearest("learnig_rate"), "learning_rate");
    assert_string_equal(params_nearest("network_dimm"), "network_dim");
    assert_string_equal(params_nearest("LyCORIS_presett"), "lycoris_preset");
    assert_string_equal(params_nearest("optimizer"), "optimizer_type");
    assert_null(params_nearest("zzzzzzzzzzzzzzzzzzzzzzzz"));
}

/* A lookup over a fixed list of name=value pairs. */
static const char *lookup_pairs(const char *name, void *ctx)
{
    const char *const *pairs = ctx;
    for (; *pairs; pairs += 2)
        if (strcmp(pairs[0], name) == 0)
            return pairs[1];
    return NULL;
}

static void test_applies(void **state)
{
    (void)state;
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        const char *bad = NULL;
        if (!params_applies_parse(p->applies_when, &bad))
            fail_msg("%s: applies_when \"%s\" %s%s", p->name, p->applies_when,
                     bad ? "names an unknown key " : "does not parse", bad ? bad : "");
    }
    const char *bad = NULL;
    assert_false(params_applies_parse("nonsense_key", &bad));
    assert_string_equal(bad, "nonsense_key");
    assert_false(params_applies_parse("sdxl&", NULL));
    assert_false(params_applies_parse("lora_type=", NULL));
    assert_false(params_applies_parse("", NULL));
    assert_true(params_applies_parse("sdxl&!lora_type^LyCORIS/", NULL));

    const param *conv = params_find("conv_dim");
    const char *locon[] = {"lora_type", "Kohya LoCon", NULL};
    const char *standard[] = {"lora_type", "Standard", NULL};
    const char *lycoris[] = {"lora_type", "LyCORIS/LoKr", "sdxl", "true", NULL};
    const char *none[] = {NULL};
    assert_true(params_applies(conv, lookup_pairs, (void *)locon));
    assert_false(params_applies(conv, lookup_pairs, (void *)standard));
    assert_false(params_applies(conv, lookup_pairs, (void *)none)); /* default: Standard */
    const param *preset = params_find("lycoris_preset");
    assert_true(params_applies(preset, lookup_pairs, (void *)lycoris));
    assert_false(params_applies(preset, lookup_pairs, (void *)locon));
    const param *te = params_find("cache_text_encoder_outputs");
    assert_true(params_applies(te, lookup_pairs, (void *)lycoris));
    assert_false(params_applies(te, lookup_pairs, (void *)none));
    const param *clip = params_find("clip_skip"); /* "!sdxl" */
    assert_false(params_applies(clip, lookup_pairs, (void *)lycoris));
    assert_true(params_applies(clip, lookup_pairs, (void *)none));
    const char *multires[] = {"noise_offset_type", "Multires", NULL};
    assert_true(params_applies(params_find("multires_noise_discount"), lookup_pairs, (void *)multires));
    assert_false(params_applies(params_find("noise_offset"), lookup_pairs, (void *)multires));
    const char *zero[] = {"ip_noise_gamma", "0.0", NULL};
    assert_false(params_applies(params_find("ip_noise_gamma_random_strength"), lookup_pairs, (void *)zero));
    assert_true(params_applies(params_find("learning_rate"), NULL, NULL));
}

static void check_fixture(const char *dir, const char *file)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/fixtures/kohya_ss/%s", dir, file);
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s: %s", path, jerr.text);
    const char *key;
    json_t *value;
    int missing = 0;
    json_object_foreach(root, key, value) {
        bool in_table = params_find_kohya(key) != NULL;
        if (in_table && is_left_out(key))
            fail_msg("%s: %s is in the table and in the left-out list", file, key);
        if (!in_table && !is_left_out(key)) {
            print_error("%s: GUI key %s is neither in the table nor left out\n", file, key);
            missing++;
        }
    }
    json_decref(root);
    assert_int_equal(missing, 0);
}

static void test_fixture_keys(void **state)
{
    (void)state;
    const char *dir = getenv("SHARED_DIR");
    char probe[1024];
    if (!dir) {
        skip();
        return;
    }
    snprintf(probe, sizeof probe, "%s/fixtures/kohya_ss/Standard-AdamW.json", dir);
    FILE *f = fopen(probe, "r");
    if (!f) {
        skip();
        return;
    }
    fclose(f);
    check_fixture(dir, "Standard-AdamW.json");
    check_fixture(dir, "SDXL-Standard-AdamW.json");
    check_fixture(dir, "locon-AdamW8bit.json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_unique),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_nearest),
        cmocka_unit_test(test_applies),
        cmocka_unit_test(test_fixture_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
