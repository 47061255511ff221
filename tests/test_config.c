/* test_config.c — config values, --set, cross-field rules, preset save/load round trip,
 * sd-scripts export, and the --check plan's arithmetic on a generated image folder
 * (counts worked out by hand from sd-scripts' rules). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb_image_write.h>

#include "config.h"
#include "plan.h"

static char tmpdir[256];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void write_png(const char *path, int w, int h)
{
    unsigned char *px = calloc((size_t)w * h * 3, 1);
    assert_int_not_equal(stbi_write_png(path, w, h, 3, px, w * 3), 0);
    free(px);
}

static void test_set_and_read(void **state)
{
    (void)state;
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    assert_int_equal(config_set(&cfg, "learning_rate=5e-5", &err), 0);
    assert_true(config_float(&cfg, "learning_rate") == 5e-5);
    assert_int_equal(config_set(&cfg, "basic.network_dim=32", &err), 0);
    assert_int_equal(config_int(&cfg, "network_dim"), 32);
    /* wrong table names the right one */
    assert_int_equal(config_set(&cfg, "model.network_dim=32", &err), -1);
    assert_non_null(strstr(err.message, "basic.network_dim"));
    /* type and range errors keep the old value */
    assert_int_equal(config_set(&cfg, "network_dim=abc", &err), -1);
    assert_string_equal(err.key, "basic.network_dim");
    assert_int_equal(config_int(&cfg, "network_dim"), 32);
    assert_int_equal(config_set(&cfg, "network_dim=0", &err), -1);
    assert_non_null(strstr(err.message, "out of range"));
    /* choices */
    assert_int_equal(config_set(&cfg, "lr_scheduler=sometimes", &err), -1);
    assert_non_null(strstr(err.message, "\"cosine\""));
    /* booleans and TOML literals */
    assert_int_equal(config_set(&cfg, "sdxl=true", &err), 0);
    assert_true(config_bool(&cfg, "sdxl"));
    assert_int_equal(config_set(&cfg, "output_name=\"my lora\"", &err), 0);
    assert_string_equal(config_string(&cfg, "output_name"), "my lora");
    assert_true(cfg.dirty);
    config_free(&cfg);
}

static void test_cross_field_rules(void **state)
{
    (void)state;
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    assert_int_equal(config_validate(&cfg, &err), 0);
    config_set(&cfg, "bucket_reso_steps=32", &err);
    assert_int_equal(config_validate(&cfg, &err), -1);   /* SD1 needs 64 */
    assert_non_null(strstr(err.message, "multiple of 64"));
    config_set(&cfg, "enable_bucket=false", &err);       /* sd-scripts checks bucketed sets only */
    config_set(&cfg, "bucket_reso_steps=1", &err);
    assert_int_equal(config_validate(&cfg, &err), 0);
    config_set(&cfg, "enable_bucket=true", &err);
    config_set(&cfg, "bucket_reso_steps=32", &err);
    config_set(&cfg, "sdxl=true", &err);
    config_set(&cfg, "resolution=1024,1024", &err);
    assert_int_equal(config_validate(&cfg, &err), 0);    /* SDXL allows 32 */
    config_set(&cfg, "resolution=1024,1024", &err);
    config_set(&cfg, "lr_scheduler=constant", &err);
    assert_int_equal(config_validate(&cfg, &err), -1);   /* GUI default warmup 10 % */
    assert_non_null(strstr(err.message, "has no warmup"));
    config_set(&cfg, "lr_warmup=0", &err);
    assert_int_equal(config_validate(&cfg, &err), 0);
    config_set(&cfg, "resolution=1024x1024", &err);
    assert_int_equal(config_validate(&cfg, &err), -1);
    assert_non_null(strstr(err.message, "W,H"));
    config_free(&cfg);
}

static void test_preset_round_trip(void **state)
{
    (void)state;
    config a, b;
    config_init(&a);
    config_init(&b);
    error_info err = {0};
    const char *sets[] = {"learning_rate=0.0003", "network_dim=16", "sdxl=true", "resolution=1024,1024",
                          "output_name=round trip", "optimizer_args=[\"weight_decay=0.1\", \"betas=0.9,0.99\"]",
                          "max_train_epochs=7", "lr_scheduler=cosine_with_restarts", NULL};
    for (const char **s = sets; *s; s++)
        assert_int_equal(config_set(&a, *s, &err), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/round.toml", tmpdir);
    assert_int_equal(config_save(&a, path, &err), 0);
    assert_false(a.dirty);
    assert_int_equal(config_load(&b, path, NULL, &err), 0);
    for (size_t i = 0; i < params_count; i++) {
        char *x = config_value_text(&a, &params_table[i]);
        char *y = config_value_text(&b, &params_table[i]);
        if (strcmp(x, y) != 0)
            fail_msg("%s: saved %s, loaded %s", params_table[i].name, x, y);
        free(x);
        free(y);
    }
    /* the saved file carries comments and only the changed values */
    FILE *f = fopen(path, "r");
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    assert_non_null(strstr(text, "[basic]"));
    assert_non_null(strstr(text, "learning_rate = 0.0003"));
    assert_non_null(strstr(text, "\n# "));
    assert_null(strstr(text, "caption_extension"));
    config_free(&a);
    config_free(&b);
}

/* Every key of the exported run TOML must be an sd-scripts argument: a table entry stored
 * outside [loratty], or one of the keys kohya_ss derives from [loratty] entries. */
static void assert_sd_scripts_keys(const char *toml)
{
    static const char *const derived[] = {"network_module", "network_args", "lr_warmup_steps",
                                          "xformers", "sdpa", "sample_prompts", "dataset_config",
                                          "learning_rate_te", "learning_rate_te1",
                                          "learning_rate_te2", "stop_text_encoder_training", NULL};
    error_info err = {0};
    toml_value *root = toml_parse(toml, strlen(toml), "export", &err);
    assert_non_null(root);
    for (size_t i = 0; i < root->as.table.count; i++) {
        const char *key = root->as.table.keys[i];
        bool ok = false;
        for (const char *const *d = derived; *d; d++)
            ok |= strcmp(*d, key) == 0;
        const param *p = params_find(key);
        ok |= p && !(p->flags & PARAM_LORATTY_ONLY) && p->section != SECTION_DATASET;
        if (!ok)
            fail_msg("exported key %s is not an sd-scripts argument", key);
        assert_true(root->as.table.values[i]->type != TOML_TABLE);
    }
    toml_free(root);
}

static void test_export_uses_sd_scripts_names(void **state)
{
    (void)state;
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    config_set(&cfg, "optimizer_type=Lion", &err);
    /* loratty-only options and the ones that only apply to other types */
    assert_int_equal(config_set(&cfg, "lora_type=LyCORIS/LoKr", &err), 0);
    assert_int_equal(config_set(&cfg, "conv_dim=4", &err), 0);
    assert_int_equal(config_set(&cfg, "lr_warmup=5", &err), 0);
    assert_int_equal(config_set(&cfg, "sample_prompts=a cat --n dog", &err), 0);
    assert_int_equal(config_set(&cfg, "noise_offset_type=Multires", &err), 0);
    assert_int_equal(config_set(&cfg, "noise_offset=0.1", &err), 0);
    char *lokr = config_export_sdscripts_toml(&cfg);
    assert_sd_scripts_keys(lokr);
    assert_non_null(strstr(lokr, "network_module = \"lycoris.kohya\""));
    assert_non_null(strstr(lokr, "\"algo=lokr\""));
    assert_non_null(strstr(lokr, "\"conv_dim=4\""));
    assert_non_null(strstr(lokr, "lr_warmup_steps = 0.05"));
    assert_null(strstr(lokr, "noise_offset = ")); /* Multires: the offset options do not apply */
    free(lokr);
    config_free(&cfg);
    /* kohya_ss passes DyLoRA's unit whenever it is set (its default 1 included) */
    config_init(&cfg);
    assert_int_equal(config_set(&cfg, "lora_type=Kohya DyLoRA", &err), 0);
    char *dylora = config_export_sdscripts_toml(&cfg);
    assert_non_null(strstr(dylora, "network_module = \"networks.dylora\""));
    assert_non_null(strstr(dylora, "\"unit=1\""));
    free(dylora);
    config_free(&cfg);
    config_init(&cfg);
    config_set(&cfg, "optimizer_type=Lion", &err);
    char *toml = config_export_sdscripts_toml(&cfg);
    assert_sd_scripts_keys(toml);
    assert_non_null(strstr(toml, "optimizer_type = \"Lion\""));
    assert_non_null(strstr(toml, "network_module = \"networks.lora\""));
    assert_null(strstr(toml, "[")); /* flat */
    char *cmd = config_accelerate_command(&cfg, "/tmp/run config.toml");
    assert_non_null(strstr(cmd, "accelerate launch"));
    assert_non_null(strstr(cmd, "--config_file '/tmp/run config.toml'"));
    free(toml);
    free(cmd);
    config_free(&cfg);
}

/* training_mode finetune exports for train_db.py / sdxl_train.py: no network keys, the text
 * encoder's rate and switch under those scripts' names; importing the export gives the
 * preset back. */
static char *export_finetune_case(const char *const *settings, const char *script, config *back)
{
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    for (const char *const *s = settings; *s; s++)
        assert_int_equal(config_set(&cfg, *s, &err), 0);
    char *toml = config_export_sdscripts_toml(&cfg);
    assert_sd_scripts_keys(toml);
    for (const char *k = "network_"; k; k = NULL)
        if (strstr(toml, k))
            fail_msg("a finetune export has network keys:\n%s", toml);
    assert_null(strstr(toml, "unet_lr"));
    assert_null(strstr(toml, "text_encoder_lr"));
    assert_null(strstr(toml, "conv_dim"));
    char *cmd = config_accelerate_command(&cfg, "run.toml");
    assert_non_null(strstr(cmd, script));
    free(cmd);
    char path[512];
    snprintf(path, sizeof path, "%s/finetune-export.toml", tmpdir);
    write_file(path, toml);
    config_init(back);
    config_warnings w = {0};
    assert_int_equal(config_load(back, path, &w, &err), 0);
    config_warnings_free(&w);
    config_free(&cfg);
    return toml;
}

static void test_export_finetune(void **state)
{
    (void)state;
    config back;
    const char *sd1[] = {"training_mode=finetune", "train_text_encoder=true", "text_encoder_lr=0.00002",
                         "max_train_steps=400", "stop_text_encoder_training=25", "conv_dim=4", NULL};
    char *toml = export_finetune_case(sd1, "sd-scripts/train_db.py", &back);
    assert_non_null(strstr(toml, "learning_rate_te = 2e-05"));
    assert_non_null(strstr(toml, "stop_text_encoder_training = 100"));   /* 25 % of 400 */
    assert_null(strstr(toml, "train_text_encoder"));   /* train_db.py has no such option */
    assert_string_equal(config_string(&back, "training_mode"), "finetune");
    assert_true(config_bool(&back, "train_text_encoder"));
    assert_true(fabs(config_float(&back, "text_encoder_lr") - 2e-5) < 1e-12);
    assert_int_equal(config_int(&back, "stop_text_encoder_training"), 25);
    free(toml);
    config_free(&back);

    const char *frozen[] = {"training_mode=finetune", NULL};
    toml = export_finetune_case(frozen, "sd-scripts/train_db.py", &back);
    assert_non_null(strstr(toml, "stop_text_encoder_training = -1"));
    assert_null(strstr(toml, "learning_rate_te"));
    assert_string_equal(config_string(&back, "training_mode"), "finetune");
    assert_false(config_bool(&back, "train_text_encoder"));
    free(toml);
    config_free(&back);

    const char *sdxl[] = {"training_mode=finetune", "sdxl=true", "train_text_encoder=true",
                          "text_encoder_lr=0.00003", NULL};
    toml = export_finetune_case(sdxl, "sd-scripts/sdxl_train.py", &back);
    assert_non_null(strstr(toml, "learning_rate_te1 = 3e-05"));
    assert_non_null(strstr(toml, "learning_rate_te2 = 3e-05"));
    assert_non_null(strstr(toml, "train_text_encoder = true"));
    assert_null(strstr(toml, "stop_text_encoder_training"));
    assert_string_equal(config_string(&back, "training_mode"), "finetune");
    assert_true(config_bool(&back, "train_text_encoder"));
    assert_true(fabs(config_float(&back, "text_encoder_lr") - 3e-5) < 1e-12);
    free(toml);
    config_free(&back);
}

/* sd-scripts' --text_encoder_lr is a list (nargs="*"); networks.lora uses its first value */
static void test_text_encoder_lr_list(void **state)
{
    (void)state;
    static const struct { const char *toml; double lr; int ok; } cases[] = {
        {"learning_rate = 0.001\ntext_encoder_lr = [0.0002, 0.0001]\n", 0.0002, 1},
        {"learning_rate = 0.001\ntext_encoder_lr = [3]\n", 3.0, 1},
        {"learning_rate = 0.001\ntext_encoder_lr = []\n", 0.0, 1},
        {"learning_rate = 0.001\ntext_encoder_lr = 0.0005\n", 0.0005, 1},
        {"learning_rate = 0.001\ntext_encoder_lr = [\"fast\"]\n", 0.0, 0},
    };
    char path[512];
    snprintf(path, sizeof path, "%s/te-lr-list.toml", tmpdir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        write_file(path, cases[i].toml);
        config cfg;
        config_init(&cfg);
        config_warnings w = {0};
        error_info err = {0};
        int rc = config_load(&cfg, path, &w, &err);
        if (cases[i].ok) {
            assert_int_equal(rc, 0);
            assert_true(fabs(config_float(&cfg, "text_encoder_lr") - cases[i].lr) < 1e-12);
        } else {
            assert_int_not_equal(rc, 0);
            assert_non_null(strstr(err.message, "list of numbers"));
            assert_int_equal(err.line, 2);
        }
        config_warnings_free(&w);
        config_free(&cfg);
    }
}

/* kohya_ss's update_my_data(): the legacy keys of old saved configs are migrated on import. */
static void test_kohya_legacy_keys(void **state)
{
    (void)state;
    char path[512];
    snprintf(path, sizeof path, "%s/legacy.json", tmpdir);
    write_file(path, "{\n"
                     "  \"use_8bit_adam\": true,\n"
                     "  \"LoCon\": true,\n"
                     "  \"xformers\": false,\n"
                     "  \"use_wandb\": true,\n"
                     "  \"lora_network_weights\": \"old.safetensors\",\n"
                     "  \"clip_skip\": \"2\",\n"
                     "  \"learning_rate\": \"0.0002\",\n"
                     "  \"max_train_epochs\": \"\",\n"
                     "  \"optimizer_args\": \"weight_decay=0.1 betas=0.9,0.99\",\n"
                     "  \"some_future_key\": 1\n"
                     "}\n");
    config cfg;
    config_init(&cfg);
    config_warnings w = {0};
    error_info err = {0};
    if (config_load(&cfg, path, &w, &err) != 0)
        fail_msg("import: %s", err.message);
    assert_string_equal(config_string(&cfg, "optimizer_type"), "AdamW8bit");
    assert_string_equal(config_string(&cfg, "lora_type"), "LyCORIS/LoCon");
    assert_string_equal(config_string(&cfg, "xformers"), "none");
    assert_string_equal(config_string(&cfg, "log_with"), "wandb");
    assert_string_equal(config_string(&cfg, "network_weights"), "old.safetensors");
    assert_int_equal(config_int(&cfg, "clip_skip"), 2);
    assert_true(config_float(&cfg, "learning_rate") == 0.0002);
    assert_true(config_is_default(&cfg, params_find("max_train_epochs")));
    const toml_value *args = config_get(&cfg, params_find("optimizer_args"));
    assert_non_null(args);
    assert_int_equal(args->as.array.count, 2);
    /* the unknown key and the missing network weights are warnings, not errors */
    bool unknown = false, missing = false;
    for (size_t i = 0; i < w.count; i++) {
        unknown |= strstr(w.lines[i], "some_future_key") != NULL;
        missing |= strstr(w.lines[i], "old.safetensors") != NULL;
    }
    assert_true(unknown);
    assert_true(missing);
    config_warnings_free(&w);
    config_free(&cfg);
}

/* 3 images in 10_a (2 of 512x512, 1 of 768x512), 2 in 5_b (512x512), 4 reg images in 1_r.
 * Train samples: 3*10 + 2*5 = 40. Reg balanced to 40 samples. Batch 2.
 * Buckets with the GUI default bucket_no_upscale: 512x512 stays; 768x512 (area above 512²)
 * shrinks: w = sqrt(512² x 1.5) = 627 → 576 by steps, h = 576 / 1.5 = 384 → bucket 576x384.
 * train: 512x512 gets 2*10 + 2*5 = 30, 576x384 gets 10; reg 512x512 gets 40 → 70 and 10.
 * batches: ceil(70/2) + ceil(10/2) = 35 + 5 = 40 per epoch; accumulation 1. */
static void test_plan_arithmetic(void **state)
{
    (void)state;
    char img[512], reg[512], path[700];
    snprintf(img, sizeof img, "%s/img", tmpdir);
    snprintf(reg, sizeof reg, "%s/reg", tmpdir);
    mkdir(img, 0755);
    mkdir(reg, 0755);
    snprintf(path, sizeof path, "%s/10_a", img); mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/5_b", img); mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/1_r", reg); mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/not_a_count", img); mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/10_a/1.png", img); write_png(path, 512, 512);
    snprintf(path, sizeof path, "%s/10_a/1.txt", img); write_file(path, "a photo\n");
    snprintf(path, sizeof path, "%s/10_a/2.png", img); write_png(path, 512, 512);
    snprintf(path, sizeof path, "%s/10_a/3.png", img); write_png(path, 768, 512);
    snprintf(path, sizeof path, "%s/10_a/broken.png", img); write_file(path, "not a png");
    snprintf(path, sizeof path, "%s/5_b/1.png", img); write_png(path, 512, 512);
    snprintf(path, sizeof path, "%s/5_b/2.png", img); write_png(path, 512, 512);
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/1_r/%d.png", reg, i);
        write_png(path, 512, 512);
    }
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    char set[800];
    snprintf(set, sizeof set, "train_data_dir=%s", img);
    assert_int_equal(config_set(&cfg, set, &err), 0);
    snprintf(set, sizeof set, "reg_data_dir=%s", reg);
    assert_int_equal(config_set(&cfg, set, &err), 0);
    config_set(&cfg, "train_batch_size=2", &err);
    config_set(&cfg, "max_train_epochs=3", &err);
    config_set(&cfg, "lr_warmup=10", &err);
    plan p;
    int rc = plan_compute(&cfg, "test", &p, &err);
    if (rc)
        fail_msg("plan: %s", err.message);
    assert_int_equal(p.train_images, 5);
    assert_int_equal(p.train_samples, 40);
    assert_int_equal(p.reg_images, 4);
    assert_int_equal(p.reg_samples, 40);
    assert_int_equal(p.bucket_count, 2);
    assert_int_equal(p.buckets[0].width, 512);
    assert_int_equal(p.buckets[0].count, 70);
    assert_int_equal(p.buckets[1].width, 576);
    assert_int_equal(p.buckets[1].height, 384);
    assert_int_equal(p.buckets[1].count, 10);
    assert_int_equal(p.batches_per_epoch, 40);
    assert_int_equal(p.steps_per_epoch, 40);
    assert_int_equal(p.total_steps, 120);
    assert_int_equal(p.warmup_steps, 12);
    /* the broken image and the badly named folder are reported */
    bool broken = false, badname = false;
    for (size_t i = 0; i < p.data.note_count; i++) {
        broken |= strstr(p.data.notes[i], "broken.png") != NULL;
        badname |= strstr(p.data.notes[i], "not_a_count") != NULL;
    }
    assert_true(broken);
    assert_true(badname);
    plan_free(&p);
    /* gradient accumulation 3: ceil(40/3) = 14 steps per epoch */
    config_set(&cfg, "gradient_accumulation_steps=3", &err);
    assert_int_equal(plan_compute(&cfg, "test", &p, &err), 0);
    assert_int_equal(p.steps_per_epoch, 14);
    assert_int_equal(p.total_steps, 42);
    plan_free(&p);
    config_free(&cfg);
}

/* sd-scripts' folder names: split on "_", int() of the first part (Python's int: spaces and a
 * sign allowed) must be >= 1, the rest re-joined is the class tokens; "10" alone has none. */
static void test_folder_names(void **state)
{
    (void)state;
    static const struct { const char *name; int repeats; const char *tokens; } kept[] = {
        {"3", 3, ""}, {" 2_x y", 2, "x y"}, {"+4_z", 4, "z"}, {"7_a_b", 7, "a_b"}, {"12_", 12, ""},
    };
    static const char *const skipped[] = {"0_zero", "-1_neg", "x_5", "_9", "5x_y", "1 2_q"};
    char img[600], path[800];
    snprintf(img, sizeof img, "%s/names", tmpdir);
    mkdir(img, 0755);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", img, kept[i].name); mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/%s/1.png", img, kept[i].name); write_png(path, 64, 64);
    }
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", img, skipped[i]); mkdir(path, 0755);
        snprintf(path, sizeof path, "%s/%s/1.png", img, skipped[i]); write_png(path, 64, 64);
    }
    config cfg;
    config_init(&cfg);
    error_info err = {0};
    char set[800];
    snprintf(set, sizeof set, "train_data_dir=%s", img);
    assert_int_equal(config_set(&cfg, set, &err), 0);
    plan p;
    if (plan_compute(&cfg, "test", &p, &err))
        fail_msg("plan: %s", err.message);
    assert_int_equal(p.data.group_count, 1);
    const dataset_group *g = &p.data.groups[0];
    assert_int_equal(g->subset_count, sizeof kept / sizeof kept[0]);
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        const dataset_subset *sub = NULL;
        for (size_t k = 0; k < g->subset_count; k++) {
            const char *base = strrchr(g->subsets[k].image_dir, '/');
            if (base && strcmp(base + 1, kept[i].name) == 0)
                sub = &g->subsets[k];
        }
        if (!sub)
            fail_msg("folder \"%s\" was not used", kept[i].name);
        assert_int_equal(sub->num_repeats, kept[i].repeats);
        assert_string_equal(sub->class_tokens, kept[i].tokens);
    }
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++) {
        bool noted = false;
        for (size_t k = 0; k < p.data.note_count; k++)
            noted |= strstr(p.data.notes[k], skipped[i]) != NULL;
        if (!noted)
            fail_msg("folder \"%s\" was skipped without a note", skipped[i]);
    }
    plan_free(&p);
    config_free(&cfg);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/loratty-test-config-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_read),
        cmocka_unit_test(test_cross_field_rules),
        cmocka_unit_test(test_preset_round_trip),
        cmocka_unit_test(test_export_uses_sd_scripts_names),
        cmocka_unit_test(test_export_finetune),
        cmocka_unit_test(test_text_encoder_lr_list),
        cmocka_unit_test(test_kohya_legacy_keys),
        cmocka_unit_test(test_plan_arithmetic),
        cmocka_unit_test(test_folder_names),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        return 1;
    return rc;
}
