/* test_train_resume.c — save_state / resume is bit-exact: on the tiny SD1 U-Net with a fresh
 * sd-scripts-initialised conv LoRA, drawn noise and timesteps (the seeded project RNG), AdamW
 * and gradient clipping, 2 steps + save the state folder + a new process-like rebuild that
 * loads it + 2 steps gives the same LoRA weights, bit for bit, as 4 steps uninterrupted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/lora/network.h"
#include "engine/models/unet.h"
#include "engine/safetensors.h"
#include "engine/train/optimizer.h"
#include "engine/train/resume.h"
#include "engine/train/train.h"

static void die(const error_info *err)
{
    char buf[2048];
    error_format(err, buf, sizeof buf);
    fprintf(stderr, "FAIL: %s\n", buf);
    exit(1);
}

typedef struct trainer {
    unet_model m;
    lora_network net;
    train_step st;
    optim *opt;
    optim_param op;
} trainer;

static void trainer_init(trainer *t, const char *top, const unet_config *cfg)
{
    error_info err = {0};
    char path[4096];
    if (unet_build(&t->m, cfg, &err) != 0)
        die(&err);
    weight_store *ws = weights_new();
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/weights.safetensors", top);
    if (weights_add_file(ws, path, NULL, NULL, &err) != 0 || unet_load(&t->m, ws, &err) != 0)
        die(&err);
    weights_free(ws);
    network_options no;
    network_options_init(&no);
    no.dim = 4, no.alpha = 0.0f, no.conv_dim = 2, no.train_te = 0, no.seed = 7;
    if (network_create(&t->net, &no, &t->m, NULL, 0, &err) != 0)
        die(&err);
    network_attach(&t->net);
    train_step_options so;
    train_step_options_init(&so);
    so.seed = 42;
    so.noise_offset = 0.05f;
    if (train_step_init(&t->st, &so, &t->m, &t->net, 0, &err) != 0)
        die(&err);
    t->op = (optim_param){t->net.params, t->net.grads, 1, {(int64_t)t->net.n_params}};
    optim_group g = {&t->op, 1, -1.0, -1.0};
    optim_config oc;
    optim_config_init(&oc, OPTIM_ADAMW, 1e-3);
    if (optim_create(&oc, &g, 1, &t->opt, &err) != 0)
        die(&err);
}

static void trainer_steps(trainer *t, const float *latents, const float *ctx, int n)
{
    error_info err = {0};
    for (int s = 0; s < n; s++) {
        double loss;
        network_zero_grad(&t->net);
        if (train_step_run(&t->st, latents, ctx, 2, 16, 16, 7, NULL, NULL, NULL, &loss, &err) != 0)
            die(&err);
        train_clip_grad_norm(&t->net, 1.0f);
        if (optim_step(t->opt, &err) != 0)
            die(&err);
    }
}

static void trainer_free(trainer *t)
{
    optim_free(t->opt);
    train_step_free(&t->st);
    network_free(&t->net);
    unet_free(&t->m);
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    top = top ? top : ".";
    char path[4096];
    error_info err = {0};
    unet_config cfg;
    snprintf(path, sizeof path, "%s/tests/fixtures/unet-sd1/config.json", top);
    if (unet_config_load(&cfg, path, &err) != 0)
        die(&err);
    snprintf(path, sizeof path, "%s/tests/fixtures/train-sd1/inputs.safetensors", top);
    safetensors_file *in;
    if (safetensors_open(path, &in, &err) != 0)
        die(&err);
    float latents[2 * 4 * 16 * 16], ctx[2 * 7 * 32];
    if (safetensors_read_f32(safetensors_find(in, "latents"), latents, &err) != 0 ||
        safetensors_read_f32(safetensors_find(in, "context"), ctx, &err) != 0)
        die(&err);
    safetensors_close(in);

    trainer a;
    trainer_init(&a, top, &cfg);
    trainer_steps(&a, latents, ctx, 4);

    char dir[] = "/tmp/loratty-resume-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char state[4200];
    snprintf(state, sizeof state, "%s/test-state", dir);
    trainer b;
    trainer_init(&b, top, &cfg);
    trainer_steps(&b, latents, ctx, 2);
    train_progress p = {2, 0, 2, b.st.o.seed, b.st.rng_offset};
    if (train_state_save(state, &b.net, b.opt, &p, &err) != 0)
        die(&err);
    trainer_free(&b);

    trainer c;
    trainer_init(&c, top, &cfg);
    train_progress q = {0};
    if (train_state_load(state, &c.net, c.opt, &q, &err) != 0)
        die(&err);
    c.st.rng_offset = q.rng_offset;
    int failures = 0;
    if (q.step != 2 || q.data_position != 2 || q.seed != 42 || q.rng_offset != p.rng_offset) {
        fprintf(stderr, "FAIL: state.json read back as step %lld, position %lld\n", q.step,
                q.data_position);
        failures++;
    }
    trainer_steps(&c, latents, ctx, 2);
    if (memcmp(a.net.params, c.net.params, a.net.n_params * sizeof(float)) != 0) {
        fprintf(stderr, "FAIL: 2 + resume + 2 steps differ from 4 steps\n");
        failures++;
    }
    trainer_free(&a);
    trainer_free(&c);
    const char *files[] = {"lora.safetensors", "optimizer.bin", "state.json"};
    for (int i = 0; i < 3; i++) {
        char f[4400];
        snprintf(f, sizeof f, "%s/%s", state, files[i]);
        unlink(f);
    }
    rmdir(state);
    rmdir(dir);
    if (failures)
        return 1;
    printf("resume: 2 + 2 steps bit-identical to 4 steps\n");
    return 0;
}
