/* resume.c — writing and reading the state folder of save_state / resume (see resume.h). */
#include "engine/train/resume.h"

#include "engine/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void remove_tree(const char *dir)
{
    const char *files[] = {"lora.safetensors", "weights.safetensors", "optimizer.bin", "state.json"};
    char path[4200];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

static int write_file(const char *path, const void *data, size_t n, error_info *err)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return error_set(err, path, 0, 0, NULL, "cannot write: %s", strerror(errno));
    int ok = fwrite(data, 1, n, f) == n;
    ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok &= fclose(f) == 0;
    return ok ? 0 : error_set(err, path, 0, 0, NULL, "write failed: %s", strerror(errno));
}

/* A LoRA run's state keeps its network as a LoRA file; a whole-model run's, the tensors its
 * optimizer updates, in f32, by their index (the model itself comes from the checkpoint the
 * run starts from). */
static int has_network(const lora_network *net)
{
    return net && net->n_mods > 0;
}

static int save_model_tensors(const char *path, const optim *opt, error_info *err)
{
    safetensors_writer *w = safetensors_writer_new();
    if (!w)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    int rc = 0;
    for (int i = 0; i < optim_param_count(opt) && rc == 0; i++) {
        const optim_param *q = optim_param_at(opt, i);
        char name[32];
        snprintf(name, sizeof name, "param.%05d", i);
        rc = safetensors_writer_add(w, name, DTYPE_F32, q->ndim, q->shape, q->data, err);
    }
    if (rc == 0)
        rc = safetensors_write(path, w, err);
    safetensors_writer_free(w);
    return rc;
}

static int load_model_tensors(const char *path, optim *opt, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) != 0)
        return -1;
    int rc = 0, n = optim_param_count(opt);
    if (safetensors_count(f) != (size_t)n)
        rc = error_set(err, path, 0, 0, "resume", "the state holds %zu tensors, this run trains "
                       "%d (a different model, training_mode or train_text_encoder than the run "
                       "that saved it)", safetensors_count(f), n);
    for (int i = 0; i < n && rc == 0; i++) {
        const optim_param *q = optim_param_at(opt, i);
        char name[32];
        snprintf(name, sizeof name, "param.%05d", i);
        const safetensors_tensor *t = safetensors_find(f, name);
        int same = t && t->ndim == q->ndim;
        for (int k = 0; same && k < q->ndim; k++)
            same = t->shape[k] == q->shape[k];
        if (!same)
            rc = error_set(err, path, 0, 0, "resume", "tensor %s is missing or has another shape "
                           "than this run's (a different model than the run that saved it)", name);
        else
            rc = safetensors_read_f32(t, q->data, err);
    }
    safetensors_close(f);
    return rc;
}

int train_state_save(const char *dir, const lora_network *net, const optim *opt,
                     const train_progress *p, error_info *err)
{
    char tmp[4200], old[4200], path[4300];
    snprintf(tmp, sizeof tmp, "%s.tmp", dir);
    snprintf(old, sizeof old, "%s.old", dir);
    remove_tree(tmp);
    if (mkdir(tmp, 0755) != 0)
        return error_set(err, tmp, 0, 0, NULL, "cannot create the state folder: %s", strerror(errno));
    int rc;
    if (has_network(net)) {
        lora_metadata md = {0};
        /* the state keeps no network options: LoHa / LoKr adapters are named as LyCORIS' (only
         * network_load_weights reads this file back, by its keys) */
        const char *module = "networks.lora";
        for (size_t i = 0; i < net->n_mods; i++)
            if (net->mods[i].adapter.kind != LORA_KIND_LORA)
                module = "lycoris.kohya";
        lora_metadata_set(&md, "ss_network_module", "%s", module);
        snprintf(path, sizeof path, "%s/lora.safetensors", tmp);
        rc = network_save_state(net, path, &md, err);
        lora_metadata_free(&md);
    } else {
        snprintf(path, sizeof path, "%s/weights.safetensors", tmp);
        rc = save_model_tensors(path, opt, err);
    }
    if (rc == 0) {
        size_t n = optim_state_size(opt);
        void *buf = malloc(n ? n : 1);
        if (!buf)
            rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
        else {
            optim_state_save(opt, buf);
            snprintf(path, sizeof path, "%s/optimizer.bin", tmp);
            rc = write_file(path, buf, n, err);
            free(buf);
        }
    }
    if (rc == 0) {
        json_t *j = json_pack("{s:I,s:I,s:I,s:s,s:s,s:s}", "step", (json_int_t)p->step, "epoch",
                              (json_int_t)p->epoch, "data_position", (json_int_t)p->data_position,
                              "seed", "", "rng_offset", "", "weights",
                              has_network(net) ? "lora" : "model");
        char num[32];
        snprintf(num, sizeof num, "%llu", (unsigned long long)p->seed);   /* u64: as text */
        json_object_set_new(j, "seed", json_string(num));
        snprintf(num, sizeof num, "%llu", (unsigned long long)p->rng_offset);
        json_object_set_new(j, "rng_offset", json_string(num));
        char *text = json_dumps(j, JSON_INDENT(2));
        json_decref(j);
        snprintf(path, sizeof path, "%s/state.json", tmp);
        rc = text ? write_file(path, text, strlen(text), err) : error_set(err, NULL, 0, 0, NULL, "out of memory");
        free(text);
    }
    if (rc != 0) {
        remove_tree(tmp);
        return -1;
    }
    remove_tree(old);
    if (rename(dir, old) != 0 && errno != ENOENT) {
        remove_tree(tmp);
        return error_set(err, dir, 0, 0, NULL, "cannot replace the state folder: %s", strerror(errno));
    }
    if (rename(tmp, dir) != 0) {
        rc = error_set(err, dir, 0, 0, NULL, "cannot rename the state folder: %s", strerror(errno));
        rename(old, dir);
        return rc;
    }
    remove_tree(old);
    return 0;
}

int train_state_load(const char *dir, lora_network *net, optim *opt, train_progress *p,
                     error_info *err)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/state.json", dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        return error_set(err, path, je.line, je.column, "resume", "%s", je.text);
    json_int_t step = 0, epoch = 0, pos = 0;
    const char *seed = NULL, *off = NULL, *weights = "lora";   /* older states: LoRA only */
    int bad = json_unpack(j, "{s:I,s:I,s:I,s:s,s:s,s?s}", "step", &step, "epoch", &epoch,
                          "data_position", &pos, "seed", &seed, "rng_offset", &off,
                          "weights", &weights);
    int lora_state = !bad && strcmp(weights, "lora") == 0;
    if (!bad) {
        p->step = step, p->epoch = epoch, p->data_position = pos;
        p->seed = strtoull(seed, NULL, 10);
        p->rng_offset = strtoull(off, NULL, 10);
    }
    json_decref(j);
    if (bad)
        return error_set(err, path, 0, 0, "resume", "not a loratty state file");
    if (lora_state != has_network(net))
        return error_set(err, dir, 0, 0, "resume", "this state was saved by a run that trained %s; "
                         "this run trains %s (training_mode must be the same)",
                         lora_state ? "a LoRA" : "the whole model",
                         has_network(net) ? "a LoRA" : "the whole model");
    snprintf(path, sizeof path, "%s/%s", dir, lora_state ? "lora.safetensors" : "weights.safetensors");
    if (lora_state ? network_load_weights(net, path, err) != 0 : load_model_tensors(path, opt, err) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/optimizer.bin", dir);
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, path, 0, 0, "resume", "cannot read: %s", strerror(errno));
    size_t n = optim_state_size(opt);
    void *buf = malloc(n ? n : 1);
    int rc = 0;
    if (!buf)
        rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
    else if (fread(buf, 1, n, f) != n || fgetc(f) != EOF)
        rc = error_set(err, path, 0, 0, "resume", "optimizer state of another size (a different "
                       "network or optimizer than the run that saved it)");
    else
        rc = optim_state_load(opt, buf, n, err);
    free(buf);
    fclose(f);
    return rc;
}
