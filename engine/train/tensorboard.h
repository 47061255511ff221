/* tensorboard.h — training logs as TensorFlow event files that `tensorboard --logdir` reads,
 * laid out and tagged the way sd-scripts (through accelerate's TensorBoard tracker and torch's
 * SummaryWriter) writes them, so a loratty run sits next to sd-scripts runs in one TensorBoard.
 *
 * Our own encoder, no protobuf library: a file is a sequence of TFRecords (uint64 length,
 * masked CRC32C of the length, the bytes, masked CRC32C of the bytes) each holding one
 * serialized tensorboard.Event; the first says file_version "brain.Event:2", the others hold
 * one scalar each: Event{wall_time, step, summary{value{tag, simple_value}}}. */
#ifndef LORATTY_TENSORBOARD_H
#define LORATTY_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "src/error.h"

typedef struct tb_writer tb_writer;

/* Creates dir (and its parents) and a new event file in it named as tensorboard's
 * EventFileWriter names it: events.out.tfevents.<%010d unix time>.<hostname>.<pid>.<n>, n
 * counting the files this process opened from 0. Writes and flushes the file_version event.
 * NULL (err filled) when the folder or file can't be made. */
tb_writer *tb_open(const char *dir, error_info *err);
/* Same with a given wall time (seconds since the epoch) for the name and the first event:
 * what tests use to get reproducible bytes. */
tb_writer *tb_open_at(const char *dir, double wall_time, error_info *err);
/* The path of the event file (valid until tb_close). */
const char *tb_path(const tb_writer *tb);

/* One scalar event; value is stored as float (simple_value), as add_scalar does. wall_time
 * <= 0 means now. Returns 0, or -1 with err filled (a write failure is also remembered and
 * reported again by tb_flush / tb_close). */
int tb_scalar(tb_writer *tb, const char *tag, int64_t step, double value, double wall_time,
              error_info *err);
/* Pushes buffered events to the file; accelerate flushes after every log() call. */
int tb_flush(tb_writer *tb, error_info *err);
/* Flushes, closes and frees (tb may be NULL). Returns -1 if anything failed since tb_open. */
int tb_close(tb_writer *tb, error_info *err);

/* sd-scripts' run folder: <logging_dir>/<log_prefix><%Y%m%d%H%M%S local time of t>/<tracker>
 * (prepare_accelerator makes the first part, accelerate's tracker adds the run name, which is
 * log_tracker_name or "network_train" for train_network.py). log_prefix and tracker may be
 * NULL for "" and "network_train". */
int tb_run_dir(char *buf, size_t size, const char *logging_dir, const char *log_prefix,
               const char *tracker, time_t t, error_info *err);

/* The values of one training step, for the tags of sd-scripts' generate_step_logs. */
typedef struct tb_step_log {
    double loss_current, loss_average;
    /* max_norm/keys_scaled, max_norm/max_key_norm, norm/avg_key_norm: only when
     * scale_weight_norms is set (has_max_norm). */
    int has_max_norm;
    double keys_scaled, max_key_norm, avg_key_norm;
    int n_groups;             /* optimizer param groups, in order */
    const char *const *desc;  /* lr_descriptions ("textencoder", "unet", "unet plus",
                               * "unet_block3", ...) or NULL when the network gives none */
    const double *lr;         /* each group's current lr */
    const double *d;          /* each group's d for D-Adaptation / Prodigy, else NULL */
    int unet_only;            /* network_train_unet_only */
} tb_step_log;

/* Writes one step's scalars with sd-scripts' tags and in its order (loss/current,
 * loss/average, [max_norm/..., norm/...], lr/<desc>, [lr/d*lr/<desc>], then the extra
 * lr/textencoder and lr/group<i> tags its for/else adds), then flushes. */
int tb_log_step(tb_writer *tb, int64_t step, double wall_time, const tb_step_log *s,
                error_info *err);
/* Whether sd-scripts adds lr/d*lr/... tags for this optimizer_type (DAdapt*, Prodigy; case
 * insensitive): pass tb_step_log.d then. */
int tb_logs_d_lr(const char *optimizer_type);
/* End of an epoch: loss/epoch_average at step = epoch (1-based), as epoch_logging does. */
int tb_log_epoch(tb_writer *tb, int epoch, double loss_epoch_average, double wall_time,
                 error_info *err);

/* CRC32C (Castagnoli, reflected 0x82F63B78) of n bytes, and TFRecord's masked form
 * ((crc >> 15 | crc << 17) + 0xa282ead8). */
uint32_t tb_crc32c(const void *data, size_t n);
uint32_t tb_masked_crc32c(const void *data, size_t n);

#endif
