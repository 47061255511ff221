/* train_run_save.c — where a run writes: the output folder check before training (writable,
 * room for the planned saves), LoRA saves with sd-scripts' names and the save_last_n_*
 * pruning of train_util.get_remove_epoch_no / get_remove_step_no, and state folders. */
#include "engine/train/train_run_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static int mkdirs(const char *path)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return -1;
    for (char *p = buf + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0777) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(buf, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static const char *out_dir(const train_run_settings *s)
{
    return s->output_dir && s->output_dir[0] ? s->output_dir : ".";
}

int trun_check_output(const train_run_settings *s, size_t file_bytes, long long saves,
                      error_info *err)
{
    const char *dir = out_dir(s);
    if (mkdirs(dir) != 0)
        return error_set(err, dir, 0, 0, "output_dir", "cannot create the output folder: %s",
                         strerror(errno));
    char probe[4200];
    snprintf(probe, sizeof probe, "%s/.loratty-write-test-%ld", dir, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return error_set(err, dir, 0, 0, "output_dir", "the output folder is not writable: %s",
                         strerror(errno));
    close(fd);
    unlink(probe);
    struct statvfs v;
    if (statvfs(dir, &v) == 0) {
        unsigned long long avail = (unsigned long long)v.f_bavail * v.f_frsize;
        unsigned long long need = (unsigned long long)file_bytes * (unsigned long long)saves;
        if (avail < need)
            return error_set(err, dir, 0, 0, "output_dir", "not enough free space: %llu MB free, "
                             "the run's %lld saves of about %llu MB need %llu MB", avail >> 20,
                             saves, (unsigned long long)file_bytes >> 20, need >> 20);
    }
    return 0;
}

static void stem_path(const trun_save *sv, int kind, long long n, const char *suffix, char *buf,
                      size_t size)
{
    char stem[512];
    network_file_stem(stem, sizeof stem, sv->s->output_name, kind, n);
    snprintf(buf, size, "%s/%s%s", out_dir(sv->s), stem, suffix);
}

/* train_util.get_remove_epoch_no / get_remove_step_no: which older save goes; -1 none. */
static long long remove_no(int kind, long long n, int every, int last_n)
{
    if (last_n <= 0 || every <= 0)
        return -1;
    long long r;
    if (kind == 1)
        r = n - (long long)every * last_n;
    else {
        r = n - last_n - 1;
        r -= r % every;
    }
    return r > 0 ? r : -1;
}

void trun_optim_eval(optim *opt, lora_network *net)
{
    network_dylora_to_optimizer(net);
    optim_eval(opt);
    network_dylora_from_optimizer(net);
}

void trun_optim_train(optim *opt, lora_network *net)
{
    network_dylora_to_optimizer(net);
    optim_train(opt);
    network_dylora_from_optimizer(net);
}

int trun_save_lora(trun_save *sv, int kind, long long n, long long step, long long epoch,
                   error_info *err)
{
    char path[4300], ext[32];
    /* sd-scripts: "." + save_model_as; not .safetensors means torch.save (lora_file_save) */
    snprintf(ext, sizeof ext, ".%s", sv->s->save_model_as && sv->s->save_model_as[0] ? sv->s->save_model_as
                                                                                     : "safetensors");
    stem_path(sv, kind, n, ext, path, sizeof path);
    train_metadata_update(sv->md, step, epoch);
    trun_optim_eval(sv->opt, sv->net);   /* schedule-free: save x, not y */
    int rc = sv->full ? trun_full_save(sv->full, path, sv->s->save_dtype, sv->md, err)
                      : network_save(sv->net, path, sv->s->save_dtype, sv->md, err);
    trun_optim_train(sv->opt, sv->net);
    if (rc != 0)
        return -1;
    if (sv->h->saved)
        sv->h->saved(sv->h->ctx, path, sv->full ? "model" : "lora", step);
    int every = kind == 1 ? sv->s->save_every_n_epochs : sv->s->save_every_n_steps;
    long long r = kind ? remove_no(kind, n, every, kind == 1 ? sv->s->save_last_n_epochs
                                                            : sv->s->save_last_n_steps) : -1;
    if (r > 0) {
        stem_path(sv, kind, r, ext, path, sizeof path);
        if (unlink(path) == 0 && sv->h->log) {
            char msg[4400];
            snprintf(msg, sizeof msg, "removed the older save %s", path);
            sv->h->log(sv->h->ctx, "info", msg);
        }
    }
    return 0;
}

static void remove_tree(const char *dir)
{
    static const char *const files[] = {"lora.safetensors", "optimizer.bin", "state.json"};
    char p[4400];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

int trun_save_state(trun_save *sv, int kind, long long n, const train_progress *p,
                    error_info *err)
{
    char path[4300];
    stem_path(sv, kind, n, "-state", path, sizeof path);
    if (train_state_save(path, sv->net, sv->opt, p, err) != 0)
        return -1;
    if (sv->h->saved)
        sv->h->saved(sv->h->ctx, path, "state", p->step);
    int last = kind == 1 ? (sv->s->save_last_n_epochs_state ? sv->s->save_last_n_epochs_state
                                                            : sv->s->save_last_n_epochs)
                         : (sv->s->save_last_n_steps_state ? sv->s->save_last_n_steps_state
                                                           : sv->s->save_last_n_steps);
    int every = kind == 1 ? sv->s->save_every_n_epochs : sv->s->save_every_n_steps;
    long long r = kind ? remove_no(kind, n, every, last) : -1;
    if (r > 0) {
        stem_path(sv, kind, r, "-state", path, sizeof path);
        remove_tree(path);
    }
    return 0;
}
