/* test_checkpoint.c — checks engine/models/checkpoint: (1) on the full-size SD1.5, SD2.1-768-v
 * and SDXL base manifests (tests/fixtures/manifests/, names and shapes written by
 * tests/golden/make_manifests.py and checked there with diffusers' own converters), every LDM
 * key maps or is ignored with a reason, and the result is exactly the diffusers name set with
 * the right shapes (and the CLIP manifests of engine/models/clip.h); (2) tiny real LDM files
 * made from the model fixtures load into stores whose tensors equal the fixtures' (fp16 ones
 * within fp16 rounding), also with a separate prefix-less VAE file, and a diffusers folder with
 * an fp16 variant and a transformers-5 text encoder loads the same; (3) detection names and
 * refuses each kind it should (LoRA, SD3, Flux, inpainting, pix2pix, refiner, VAE, embedding,
 * pickles). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/models/checkpoint.h"
#include "engine/models/clip.h"

static char tmpdir[64];

static const char *srcdir(void)
{
    const char *s = getenv("top_srcdir");
    return s ? s : ".";
}

/* ---- (1) manifests ---- */

typedef struct entry {
    char comp[8];
    char name[200];
    int ndim;
    int64_t shape[4];
} entry;

static void copy(char *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    n = n < size - 1 ? n : size - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static int parse_shape(char *text, int64_t *shape)
{
    int n = 0;
    for (char *tok = strtok(text, ","); tok && n < 4; tok = strtok(NULL, ","))
        shape[n++] = atoll(tok);
    return n;
}

/* Reads a manifest: "comp\tname\tshape" (diffusers) or "name\tshape" (LDM). */
static entry *read_manifest(const char *file, bool with_comp, size_t *count)
{
    char path[512], line[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/manifests/%s", srcdir(), file);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t cap = 4096, n = 0;
    entry *e = calloc(cap, sizeof *e);
    while (fgets(line, sizeof line, fp)) {
        if (line[0] == '#')
            continue;
        line[strcspn(line, "\n")] = '\0';
        if (n == cap)
            e = realloc(e, (cap *= 2) * sizeof *e);
        memset(&e[n], 0, sizeof e[n]);
        char *f1 = line, *f2 = strchr(f1, '\t');
        assert_non_null(f2);
        *f2++ = '\0';
        if (with_comp) {
            char *f3 = strchr(f2, '\t');
            assert_non_null(f3);
            *f3++ = '\0';
            copy(e[n].comp, sizeof e[n].comp, f1);
            copy(e[n].name, sizeof e[n].name, f2);
            e[n].ndim = parse_shape(f3, e[n].shape);
        } else {
            copy(e[n].name, sizeof e[n].name, f1);
            e[n].ndim = parse_shape(f2, e[n].shape);
        }
        n++;
    }
    fclose(fp);
    *count = n;
    return e;
}

static const char *comp_name(ckpt_component c)
{
    static const char *const names[] = {"unet", "vae", "te1", "te2"};
    return names[c];
}

static bool same_shape(const entry *a, const entry *b)
{
    if (a->ndim != b->ndim)
        return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    return true;
}

static void check_manifest(const char *model, int layers_per_block, int vae_levels, int oc0, int oc1)
{
    char file[64];
    size_t nldm, ndiff;
    snprintf(file, sizeof file, "%s-ldm.tsv", model);
    entry *ldm = read_manifest(file, false, &nldm);
    snprintf(file, sizeof file, "%s-diffusers.tsv", model);
    entry *diff = read_manifest(file, true, &ndiff);

    const char **names = malloc(nldm * sizeof *names);
    for (size_t i = 0; i < nldm; i++)
        names[i] = ldm[i].name;
    ldm_layout layout;
    ldm_layout_infer(&layout, names, nldm);
    free(names);
    assert_int_equal(layout.unet_layers_per_block, layers_per_block);
    assert_int_equal(layout.vae_levels, vae_levels);
    assert_int_equal(layout.openclip_layers[0], oc0);
    assert_int_equal(layout.openclip_layers[1], oc1);

    entry *made = calloc(nldm * 3, sizeof *made);
    size_t nmade = 0, ignored = 0;
    for (size_t i = 0; i < nldm; i++) {
        ldm_mapping m;
        ldm_op op = ldm_map_key(&layout, ldm[i].name, &m);
        if (op == LDM_UNKNOWN)
            fail_msg("%s: %s is neither mapped nor ignored", model, ldm[i].name);
        if (op == LDM_IGNORE) {
            assert_non_null(m.reason);
            ignored++;
            continue;
        }
        int outs = op == LDM_SPLIT_QKV ? 3 : 1;
        for (int k = 0; k < outs; k++) {
            entry *e = &made[nmade++];
            *e = ldm[i];
            copy(e->comp, sizeof e->comp, comp_name(m.component));
            copy(e->name, sizeof e->name, m.name[k]);
            if (op == LDM_SPLIT_QKV)
                e->shape[0] /= 3;
            if (op == LDM_SQUEEZE && e->ndim == 4)
                e->ndim = 2;
            if (op == LDM_TRANSPOSE) {
                int64_t t = e->shape[0];
                e->shape[0] = e->shape[1];
                e->shape[1] = t;
            }
        }
    }
    /* Exactly the diffusers set: same count, and each diffusers name made once with its shape. */
    if (nmade != ndiff)
        fail_msg("%s: the mapping makes %zu tensors, diffusers has %zu", model, nmade, ndiff);
    for (size_t i = 0; i < ndiff; i++) {
        int hits = 0;
        for (size_t j = 0; j < nmade; j++) {
            if (strcmp(made[j].name, diff[i].name) != 0 || strcmp(made[j].comp, diff[i].comp) != 0)
                continue;
            hits++;
            if (!same_shape(&made[j], &diff[i]))
                fail_msg("%s: %s %s has the wrong shape", model, diff[i].comp, diff[i].name);
        }
        if (hits != 1)
            fail_msg("%s: %s %s made %d times", model, diff[i].comp, diff[i].name, hits);
    }
    printf("# %s: %zu LDM keys → %zu diffusers tensors, %zu ignored\n", model, nldm, nmade, ignored);
    free(made);
    free(ldm);
    free(diff);
}

/* The text encoders' own manifests (engine/models/clip.h) are all in the diffusers list. */
static void check_clip_manifest(const char *model, const char *comp, clip_config c)
{
    char file[64];
    size_t ndiff;
    snprintf(file, sizeof file, "%s-diffusers.tsv", model);
    entry *diff = read_manifest(file, true, &ndiff);
    int n = clip_param_count(&c);
    for (int i = 0; i < n; i++) {
        clip_param_info p;
        clip_param_at(&c, i, &p);
        entry want = {.ndim = p.ndim};
        for (int d = 0; d < p.ndim; d++)
            want.shape[d] = p.shape[d];
        bool found = false;
        for (size_t j = 0; j < ndiff && !found; j++)
            found = strcmp(diff[j].comp, comp) == 0 && strcmp(diff[j].name, p.name) == 0 &&
                    same_shape(&diff[j], &want);
        if (!found)
            fail_msg("%s: the CLIP model needs %s, which the manifest lacks", model, p.name);
    }
    free(diff);
}

static void test_manifests(void **state)
{
    (void)state;
    check_manifest("sd15", 2, 4, 0, 0);
    check_manifest("sd21-768v", 2, 4, 24, 0);
    check_manifest("sdxl-base", 2, 4, 0, 32);
    check_clip_manifest("sd15", "te1", clip_config_sd15_vit_l());
    check_clip_manifest("sd21-768v", "te1", clip_config_sd21_vit_h());
    check_clip_manifest("sdxl-base", "te1", clip_config_sd15_vit_l());
    check_clip_manifest("sdxl-base", "te2", clip_config_sdxl_bigg());
}

/* ---- (2) loading tiny real files ---- */

static double max_err;

/* Every tensor of a fixture's weights.safetensors is in `ws` with the same values (within fp16
 * rounding when `fp16`), and `ws` holds nothing else. */
static void compare_store(weight_store *ws, const char *fixture, bool fp16)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/%s/weights.safetensors", srcdir(), fixture);
    weight_store *ref = weights_new();
    error_info err = {0};
    assert_int_equal(weights_add_file(ref, path, NULL, NULL, &err), 0);
    if (weights_count(ws) != weights_count(ref))
        fail_msg("%s: %zu tensors loaded, the fixture has %zu", fixture, weights_count(ws), weights_count(ref));
    for (size_t i = 0; i < weights_count(ref); i++) {
        const char *name = weights_name_at(ref, i);
        int64_t shape[8];
        int ndim = weights_shape(ref, name, shape);
        size_t n = 1;
        for (int d = 0; d < ndim; d++)
            n *= (size_t)shape[d];
        float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
        assert_int_equal(weights_load_f32(ref, name, a, ndim, shape, &err), 0);
        if (weights_load_f32(ws, name, b, ndim, shape, &err) < 0)
            fail_msg("%s: %s: %s", fixture, name, err.message);
        double worst = 0, scale = 0;
        for (size_t k = 0; k < n; k++) {
            double e = fabs((double)a[k] - b[k]);
            double tol = fp16 ? 1e-3 * fabs(a[k]) + 1e-7 : 0;
            if (e > tol)
                fail_msg("%s: %s[%zu] = %g, expected %g", fixture, name, k, b[k], a[k]);
            worst = e > worst ? e : worst;
            scale = fabs(a[k]) > scale ? fabs(a[k]) : scale;
        }
        if (scale > 0 && worst / scale > max_err)
            max_err = worst / scale;
        free(a);
        free(b);
    }
    weights_free(ref);
}

/* A copy of the first_stage_model.* tensors without the prefix: a standalone LDM VAE file. */
static void write_bare_vae(const char *model, const char *out)
{
    safetensors_file *f;
    error_info err = {0};
    assert_int_equal(safetensors_open(model, &f, &err), 0);
    safetensors_writer *w = safetensors_writer_new();
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        if (strncmp(t->name, "first_stage_model.", 18) == 0)
            assert_int_equal(safetensors_writer_add(w, t->name + 18, t->dtype, t->ndim, t->shape, t->data, &err), 0);
    }
    assert_int_equal(safetensors_write(out, w, &err), 0);
    safetensors_writer_free(w);
    safetensors_close(f);
}

static void test_load_ldm(void **state)
{
    (void)state;
    char sd1[512], sdxl[512], vae[128];
    snprintf(sd1, sizeof sd1, "%s/tests/fixtures/checkpoint-sd1/model.safetensors", srcdir());
    snprintf(sdxl, sizeof sdxl, "%s/tests/fixtures/checkpoint-sdxl/model.safetensors", srcdir());
    snprintf(vae, sizeof vae, "%s/vae.safetensors", tmpdir);
    checkpoint *ck;
    error_info err = {0};
    if (checkpoint_open(sd1, NULL, &ck, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(ck->family, CKPT_SD1);
    assert_int_equal(ck->unexplained, 0);
    assert_null(ck->store[CKPT_TE2]);
    assert_int_equal(ck->tokenizer[0], CKPT_TOKENIZER_CLIP);
    compare_store(ck->store[CKPT_UNET], "unet-sd1", true);
    compare_store(ck->store[CKPT_VAE], "vae-sd", true);
    compare_store(ck->store[CKPT_TE1], "clip-sd1", false);
    checkpoint_close(ck);

    write_bare_vae(sd1, vae);
    if (checkpoint_open(sdxl, vae, &ck, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(ck->family, CKPT_SDXL);
    assert_int_equal(ck->unexplained, 0);
    assert_int_equal(ck->tokenizer[1], CKPT_TOKENIZER_OPENCLIP);
    compare_store(ck->store[CKPT_UNET], "unet-sdxl", true);
    compare_store(ck->store[CKPT_VAE], "vae-sd", true);
    compare_store(ck->store[CKPT_TE1], "clip-sd1", true);
    compare_store(ck->store[CKPT_TE2], "clip-sdxl-te2", false);   /* q/k/v rows, transposed projection */
    checkpoint_close(ck);

    /* Without a VAE the SDXL file is refused, saying so. */
    assert_int_equal(checkpoint_open(sdxl, NULL, &ck, &err), -1);
    assert_non_null(strstr(err.message, "no VAE"));
    unlink(vae);
    printf("# LDM load: max error vs fixtures %.3g of the tensor's max |value| (fp16 rounding)\n", max_err);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* The CLIP fixture as transformers 5 writes CLIPTextModel: without "text_model.". */
static void write_bare_clip(const char *out)
{
    char path[512];
    snprintf(path, sizeof path, "%s/tests/fixtures/clip-sd1/weights.safetensors", srcdir());
    safetensors_file *f;
    error_info err = {0};
    assert_int_equal(safetensors_open(path, &f, &err), 0);
    safetensors_writer *w = safetensors_writer_new();
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        const char *name = strncmp(t->name, "text_model.", 11) == 0 ? t->name + 11 : t->name;
        assert_int_equal(safetensors_writer_add(w, name, t->dtype, t->ndim, t->shape, t->data, &err), 0);
    }
    assert_int_equal(safetensors_write(out, w, &err), 0);
    safetensors_writer_free(w);
    safetensors_close(f);
}

static void test_load_folder(void **state)
{
    (void)state;
    char root[128], p[512], src[512];
    snprintf(root, sizeof root, "%s/sd1-diffusers", tmpdir);
    mkdir(root, 0700);
    static const char *const dirs[] = {"unet", "vae", "text_encoder", "scheduler", "tokenizer"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        mkdir(p, 0700);
    }
    snprintf(p, sizeof p, "%s/model_index.json", root);
    write_file(p, "{\"_class_name\": \"StableDiffusionPipeline\"}");
    snprintf(p, sizeof p, "%s/unet/config.json", root);
    write_file(p, "{\"in_channels\": 4, \"cross_attention_dim\": 768}");
    snprintf(p, sizeof p, "%s/scheduler/scheduler_config.json", root);
    write_file(p, "{\"prediction_type\": \"epsilon\"}");
    snprintf(src, sizeof src, "%s/tests/fixtures/unet-sd1/weights.safetensors", srcdir());
    snprintf(p, sizeof p, "%s/unet/diffusion_pytorch_model.safetensors", root);
    assert_int_equal(symlink(src, p), 0);
    snprintf(src, sizeof src, "%s/tests/fixtures/vae-sd/weights.safetensors", srcdir());
    snprintf(p, sizeof p, "%s/vae/diffusion_pytorch_model.fp16.safetensors", root);
    assert_int_equal(symlink(src, p), 0);
    snprintf(p, sizeof p, "%s/text_encoder/model.safetensors", root);
    write_bare_clip(p);

    checkpoint *ck;
    error_info err = {0};
    if (checkpoint_open(root, NULL, &ck, &err) < 0)
        fail_msg("%s", err.message);
    assert_int_equal(ck->family, CKPT_SD1);
    assert_false(ck->v_prediction_hint);
    assert_non_null(strstr(ck->tokenizer_dir[0], "/tokenizer"));
    assert_string_equal(ck->tokenizer_dir[1], "");
    compare_store(ck->store[CKPT_UNET], "unet-sd1", false);
    compare_store(ck->store[CKPT_VAE], "vae-sd", false);
    compare_store(ck->store[CKPT_TE1], "clip-sd1", false);
    checkpoint_close(ck);

    char buf[400];
    assert_int_equal(checkpoint_describe(root, buf, sizeof buf), 0);
    assert_non_null(strstr(buf, "SD 1.x"));
    /* An inpainting folder is refused by its unet config. */
    snprintf(p, sizeof p, "%s/unet/config.json", root);
    write_file(p, "{\"in_channels\": 9, \"cross_attention_dim\": 768}");
    assert_int_equal(checkpoint_open(root, NULL, &ck, &err), -1);
    assert_non_null(strstr(err.message, "inpainting"));
}

/* ---- (3) detection of each kind ---- */

typedef struct fake {
    const char *name;
    int ndim;
    int64_t shape[4];
} fake;

static const float zeros[16 * 2816];

static void write_fake(const char *path, const fake *t, size_t n, const char *meta_key, const char *meta_value)
{
    safetensors_writer *w = safetensors_writer_new();
    error_info err = {0};
    for (size_t i = 0; i < n; i++)
        assert_int_equal(safetensors_writer_add(w, t[i].name, DTYPE_F32, t[i].ndim, t[i].shape, zeros, &err), 0);
    if (meta_key)
        assert_int_equal(safetensors_writer_set_metadata(w, meta_key, meta_value, &err), 0);
    assert_int_equal(safetensors_write(path, w, &err), 0);
    safetensors_writer_free(w);
}

/* Writes the fake file, checks what checkpoint_describe says, and that checkpoint_open agrees. */
static void expect(const char *file, const fake *t, size_t n, int rc, const char *says, ckpt_family family)
{
    char path[256], buf[400];
    snprintf(path, sizeof path, "%s/%s", tmpdir, file);
    write_fake(path, t, n, NULL, NULL);
    assert_int_equal(checkpoint_describe(path, buf, sizeof buf), rc);
    if (!strstr(buf, says))
        fail_msg("%s: \"%s\" does not say \"%s\"", file, buf, says);
    safetensors_file *f;
    error_info err = {0};
    assert_int_equal(safetensors_open(path, &f, &err), 0);
    ckpt_detection d;
    ckpt_detect_file(f, path, &d);
    assert_int_equal(d.family, family);
    safetensors_close(f);
    if (rc < 0) {
        checkpoint *ck;
        assert_int_equal(checkpoint_open(path, NULL, &ck, &err), -1);
        assert_non_null(strstr(err.message, says));
    }
    unlink(path);
}

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define CONV_IN(c) {"model.diffusion_model.input_blocks.0.0.weight", 4, {2, c, 1, 1}}
#define TO_K(ctx) {"model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight", 2, {2, ctx}}
#define VAE_KEY {"first_stage_model.encoder.conv_in.weight", 1, {2}}

static void test_detect(void **state)
{
    (void)state;
    const fake sd1[] = {CONV_IN(4), TO_K(768), VAE_KEY, {"cond_stage_model.transformer.text_model.final_layer_norm.weight", 1, {2}}};
    expect("sd1.safetensors", sd1, N(sd1), 0, "SD 1.x", CKPT_SD1);
    const fake sd2[] = {CONV_IN(4), TO_K(1024), VAE_KEY, {"cond_stage_model.model.ln_final.weight", 1, {2}}};
    expect("sd2.safetensors", sd2, N(sd2), 0, "set v_parameterization for 768-v", CKPT_SD2);
    expect("v2-1_768-v-ema.safetensors", sd2, N(sd2), 0, "the file says v-prediction", CKPT_SD2);
    const fake xl[] = {CONV_IN(4), TO_K(2048), VAE_KEY, {"model.diffusion_model.label_emb.0.0.weight", 2, {2, 2816}},
                       {"conditioner.embedders.0.transformer.text_model.final_layer_norm.weight", 1, {2}},
                       {"conditioner.embedders.1.model.ln_final.weight", 1, {2}}};
    expect("xl.safetensors", xl, N(xl), 0, "SDXL base", CKPT_SDXL);
    const fake xl_novae[] = {CONV_IN(4), TO_K(2048), {"conditioner.embedders.0.transformer.x", 1, {2}},
                             {"conditioner.embedders.1.model.ln_final.weight", 1, {2}}};
    expect("xl-novae.safetensors", xl_novae, N(xl_novae), 0, "no VAE inside", CKPT_SDXL);

    const fake refiner[] = {CONV_IN(4), TO_K(1280), VAE_KEY, {"model.diffusion_model.label_emb.0.0.weight", 2, {2, 2560}},
                            {"conditioner.embedders.0.model.ln_final.weight", 1, {2}}};
    expect("refiner.safetensors", refiner, N(refiner), -1, "refiner", CKPT_SDXL_REFINER);
    const fake inpaint[] = {CONV_IN(9), TO_K(768), VAE_KEY, {"cond_stage_model.transformer.x", 1, {2}}};
    expect("inpaint.safetensors", inpaint, N(inpaint), -1, "inpainting", CKPT_INPAINT);
    const fake p2p[] = {CONV_IN(8), TO_K(768), VAE_KEY, {"cond_stage_model.transformer.x", 1, {2}}};
    expect("p2p.safetensors", p2p, N(p2p), -1, "instruct-pix2pix", CKPT_PIX2PIX);
    const fake sd3[] = {{"model.diffusion_model.joint_blocks.0.context_block.adaLN_modulation.1.bias", 1, {2}}};
    expect("sd3.safetensors", sd3, N(sd3), -1, "Stable Diffusion 3", CKPT_SD3);
    const fake flux[] = {{"double_blocks.0.img_attn.norm.key_norm.scale", 1, {2}}};
    expect("flux.safetensors", flux, N(flux), -1, "Flux", CKPT_FLUX);
    const fake lora[] = {{"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", 2, {4, 8}},
                         {"lora_unet_down_blocks_0_attentions_0_proj_in.alpha", 0, {0}}};
    expect("lora.safetensors", lora, N(lora), -1, "a LoRA", CKPT_LORA);
    const fake vae[] = {{"encoder.down.0.block.0.conv1.weight", 4, {2, 2, 1, 1}}};
    expect("vae.safetensors", vae, N(vae), -1, "a VAE on its own", CKPT_VAE_ONLY);
    const fake emb[] = {{"emb_params", 2, {2, 768}}};
    expect("emb.safetensors", emb, N(emb), -1, "embedding", CKPT_EMBEDDING);
    const fake unet_only[] = {CONV_IN(4), TO_K(768)};
    expect("unet.safetensors", unet_only, N(unet_only), -1, "without its text encoder", CKPT_UNET_ONLY);
    const fake other[] = {{"foo.weight", 1, {2}}};
    expect("other.safetensors", other, N(other), -1, "not a Stable Diffusion checkpoint", CKPT_UNKNOWN);

    /* Pickles are refused with the way to convert them. */
    char path[256], buf[600];
    snprintf(path, sizeof path, "%s/model.ckpt", tmpdir);
    write_file(path, "PK\3\4 not really a zip");
    assert_int_equal(checkpoint_describe(path, buf, sizeof buf), -1);
    assert_non_null(strstr(buf, "safetensors"));
    checkpoint *ck;
    error_info err = {0};
    assert_int_equal(checkpoint_open(path, NULL, &ck, &err), -1);
    assert_non_null(strstr(err.message, "Convert model"));
    unlink(path);
}

static int rm_tree(const char *dir)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

int main(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_checkpoint.XXXXXX");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifests),
        cmocka_unit_test(test_load_ldm),
        cmocka_unit_test(test_load_folder),
        cmocka_unit_test(test_detect),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    (void)rm_tree(tmpdir);
    return rc;
}
