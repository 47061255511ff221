/* prep.c — the Dataset Preparation section of the forms, the plan shown before F5 starts a
 * run, and F9's run queue entry. See prep.h. The folder work itself is src/dataset_prep.c;
 * this file only asks for the values and says what happened. */
#include "tui/prep.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/dataset_prep.h"
#include "src/queue.h"

typedef struct prep_row_info {
    const char *label;
    const char *help;
    const char *detail;
} prep_row_info;

static const prep_row_info rows[PREP_ITEMS] = {
    [PREP_INSTANCE] = {"Instance prompt", "The token the LoRA learns, e.g. zqx: part of the folder "
                       "name <repeats>_<instance> <class>.", "text, required"},
    [PREP_CLASS] = {"Class prompt", "What the subject is, e.g. woman, dog: names the folder of "
                    "the regularisation images too.", "text; required with regularisation images"},
    [PREP_TRAIN_DIR] = {"Training images", "The folder of training images and their caption "
                        "files (.txt, .caption, .cap). Tab in the editor browses.", "folder"},
    [PREP_REPEATS] = {"Repeats", "How many times each training image is seen per epoch.",
                      "integer, default 40 (kohya_ss)"},
    [PREP_REG_DIR] = {"Regularisation images", "Optional: a folder of class images (prior "
                      "preservation). Empty: none.", "folder, optional"},
    [PREP_REG_REPEATS] = {"Reg repeats", "How many times each regularisation image is seen per "
                          "epoch.", "integer, default 1"},
    [PREP_DEST] = {"Destination folder", "Where img/, reg/, log/ and model/ are made; if it holds "
                   "files already, Prepare asks before merging.", "folder"},
    [PREP_ACT_PREPARE] = {"[ Prepare ]", "Builds the folders: images and captions are hard-linked "
                          "(copied from another file system); the source is never changed.",
                          "Refused when the source has no images."},
    [PREP_ACT_COPY] = {"[ Copy info to fields ]", "Sets train_data_dir, reg_data_dir, output_dir "
                       "and logging_dir to the destination's img/, reg/, model/ and log/.",
                       "Then F2 saves them in the preset."},
};

void prep_init(prep_state *s)
{
    memset(s, 0, sizeof *s);
    s->repeats = 40;    /* kohya_ss's defaults */
    s->reg_repeats = 1;
}

static const char *text_of(const prep_state *s, int item, char *num, size_t size)
{
    switch (item) {
    case PREP_INSTANCE: return s->instance;
    case PREP_CLASS: return s->cls;
    case PREP_TRAIN_DIR: return s->train_dir;
    case PREP_REG_DIR: return s->reg_dir;
    case PREP_DEST: return s->dest;
    case PREP_REPEATS: snprintf(num, size, "%d", s->repeats); return num;
    case PREP_REG_REPEATS: snprintf(num, size, "%d", s->reg_repeats); return num;
    }
    return NULL;
}

void prep_row_text(const form *f, int item, char *buf, size_t size, int namew)
{
    if (item >= PREP_ACT_PREPARE) {
        snprintf(buf, size, "  %s", rows[item].label);
        return;
    }
    char num[32], val[1024];
    const char *v = text_of(f->prep, item, num, sizeof num);
    form_ascii(v && *v ? v : "-", val, sizeof val);
    snprintf(buf, size, "%-*.*s    %s", namew, namew, rows[item].label, val);
}

void prep_describe(const form *f, int item, char *help, size_t hsize, char *detail, size_t dsize)
{
    (void)f;
    snprintf(help, hsize, "%s", rows[item].help);
    snprintf(detail, dsize, "%s%s", rows[item].detail,
             item < PREP_ACT_PREPARE ? "  (not saved in the preset)" : "");
}

static void edit_item(form *f, int item)
{
    prep_state *s = f->prep;
    char num[32], out[4096], title[96];
    const char *v = text_of(s, item, num, sizeof num);
    bool path = item == PREP_TRAIN_DIR || item == PREP_REG_DIR || item == PREP_DEST;
    snprintf(title, sizeof title, "Dataset Preparation: %s", rows[item].label);
    if (!form_ask_text(f, title, "Value: ", v, path, out, sizeof out))
        return;
    if (item == PREP_REPEATS || item == PREP_REG_REPEATS) {
        char *end;
        long n = strtol(out, &end, 10);
        if (end == out || *end || n < 1 || n > 100000) {
            form_status(f, true, "%s: \"%s\" is not a whole number from 1 to 100000",
                        rows[item].label, out);
            return;
        }
        *(item == PREP_REPEATS ? &s->repeats : &s->reg_repeats) = (int)n;
        return;
    }
    char *dst = item == PREP_INSTANCE ? s->instance : item == PREP_CLASS ? s->cls
                : item == PREP_TRAIN_DIR ? s->train_dir : item == PREP_REG_DIR ? s->reg_dir : s->dest;
    size_t cap = item <= PREP_CLASS ? sizeof s->instance : sizeof s->dest;
    snprintf(dst, cap, "%s", out);
}

static dataset_prep_request request_of(const prep_state *s)
{
    return (dataset_prep_request){.instance_prompt = s->instance, .class_prompt = s->cls,
                                  .train_images = s->train_dir, .repeats = s->repeats,
                                  .reg_images = s->reg_dir, .reg_repeats = s->reg_repeats,
                                  .dest = s->dest};
}

static void report(form *f, const char *what, const error_info *err)
{
    char msg[1600];
    error_format(err, msg, sizeof msg);
    form_status(f, true, "%s: %s", what, msg);
}

static void do_prepare(form *f)
{
    dataset_prep_request req = request_of(f->prep);
    dataset_prep_result res;
    error_info err = {0};
    int rc = dataset_prep_build(&req, &res, &err);
    if (rc == DATASET_PREP_NOT_EMPTY) {
        char line[600], dest[400];
        form_ascii(req.dest, dest, sizeof dest);
        snprintf(line, sizeof line, "%s holds files already.", dest);
        const char *lines[] = {line, "Merge into it? Same-named files are replaced,",
                               "nothing else is touched."};
        static const char *const buttons[] = {" Merge ", " Cancel "};
        if (form_ask_buttons(f, lines, 3, buttons, 2) != 0) {
            form_status(f, false, "Not prepared: %s holds files", dest);
            return;
        }
        req.merge = true;
        memset(&err, 0, sizeof err);
        rc = dataset_prep_build(&req, &res, &err);
    }
    if (rc != 0) {
        report(f, "Not prepared", &err);
        return;
    }
    const char *folder = strrchr(res.img_dir, '/');
    char regs[64] = "";
    if (res.reg_dir[0])
        snprintf(regs, sizeof regs, ", %zu reg images", res.reg_images);
    form_status(f, false, "Prepared %s: %zu images, %zu captions%s (%zu linked, %zu copied). "
                "Next: Copy info to fields", folder ? folder + 1 : res.img_dir, res.images,
                res.captions, regs, res.linked, res.copied);
}

static void do_copy_info(form *f)
{
    dataset_prep_request req = request_of(f->prep);
    dataset_prep_result res;
    error_info err = {0};
    char skipped[128];
    if (dataset_prep_plan(&req, &res, &err) != 0
        || dataset_prep_apply(&res, f->cfg, skipped, sizeof skipped, &err) != 0) {
        report(f, "Not copied", &err);
        return;
    }
    form_rebuild(f);
    char also[200] = "";
    if (skipped[0])
        snprintf(also, sizeof also, "; %s left alone (not supported by the engine yet)", skipped);
    form_status(f, false, "Set train_data_dir, %soutput_dir from %s%s",
                res.reg_data_dir[0] ? "reg_data_dir, " : "reg_data_dir (cleared), ", req.dest,
                also);
}

void prep_activate(form *f, int item)
{
    if (item == PREP_ACT_PREPARE)
        do_prepare(f);
    else if (item == PREP_ACT_COPY)
        do_copy_info(f);
    else
        edit_item(f, item);
}

void prep_reset(form *f, int item)
{
    prep_state fresh;
    prep_init(&fresh);
    prep_state *s = f->prep;
    switch (item) {
    case PREP_INSTANCE: s->instance[0] = 0; break;
    case PREP_CLASS: s->cls[0] = 0; break;
    case PREP_TRAIN_DIR: s->train_dir[0] = 0; break;
    case PREP_REG_DIR: s->reg_dir[0] = 0; break;
    case PREP_DEST: s->dest[0] = 0; break;
    case PREP_REPEATS: s->repeats = fresh.repeats; break;
    case PREP_REG_REPEATS: s->reg_repeats = fresh.reg_repeats; break;
    default: return;
    }
    form_status(f, false, "%s back to its default", rows[item].label);
}

/* Appends a malloc'd line to lines; lines holds room for max. */
static void add_line(char **lines, int *n, int max, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add_line(char **lines, int *n, int max, const char *fmt, ...)
{
    if (*n >= max)
        return;
    char raw[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    lines[*n] = malloc(strlen(raw) + 1);
    if (lines[*n])
        form_ascii(raw, lines[(*n)++], strlen(raw) + 1);
}

bool prep_confirm_plan(form *f, const plan *p)
{
    if (p->train_images == 0) {
        form_status(f, true, "Not started: no training images (Dataset Preparation builds the folders)");
        return false;
    }
    enum { MAX_LINES = 16, MAX_FOLDERS = 8 };
    char *lines[MAX_LINES];
    int n = 0, folders = 0, more = 0;
    add_line(lines, &n, MAX_LINES, "Start training with this plan?");
    add_line(lines, &n, MAX_LINES, " ");
    for (size_t g = 0; g < p->data.group_count; g++)
        for (size_t i = 0; i < p->data.groups[g].subset_count; i++) {
            const dataset_subset *s = &p->data.groups[g].subsets[i];
            if (folders++ >= MAX_FOLDERS) {
                more++;
                continue;
            }
            const char *base = s->image_dir ? strrchr(s->image_dir, '/') : NULL;
            add_line(lines, &n, MAX_LINES, "%s %-34.34s %5zu images x %d repeats",
                     s->is_reg ? "reg  " : "train", base ? base + 1 : s->image_dir ? s->image_dir : "?",
                     s->image_count, s->num_repeats);
        }
    if (more)
        add_line(lines, &n, MAX_LINES, "      ... and %d more folders (F4 / loratty --check)", more);
    add_line(lines, &n, MAX_LINES, " ");
    add_line(lines, &n, MAX_LINES, "Training images %lld (%lld with repeats), reg images %lld",
             p->train_images, p->train_samples, p->reg_images);
    add_line(lines, &n, MAX_LINES, "Steps per epoch %lld, epochs %lld, total steps %lld",
             p->steps_per_epoch, p->epochs, p->total_steps);
    if (p->warning_count)
        add_line(lines, &n, MAX_LINES, "%zu warning%s: loratty --check shows them", p->warning_count,
                 p->warning_count == 1 ? "" : "s");
    static const char *const buttons[] = {" Start ", " Cancel "};
    int b = form_ask_buttons(f, (const char *const *)lines, n, buttons, 2);
    for (int i = 0; i < n; i++)
        free(lines[i]);
    if (b != 0)
        form_status(f, false, "Not started");
    return b == 0;
}

void prep_queue_preset(form *f)
{
    char path[4096];
    error_info err = {0};
    size_t pos = 0;
    const char *one[] = {f->path};
    if (queue_default_path(path, sizeof path, &err) != 0
        || queue_add(path, one, 1, &pos, &err) != 0) {
        report(f, "Not queued", &err);
        return;
    }
    queue_runner st;
    queue_runner_status(path, &st);
    if (st.active) {
        form_status(f, false, "Queued as entry %zu; the queue runner (pid %ld) starts it in turn",
                    pos, (long)st.pid);
        return;
    }
    pid_t pid = 0;
    if (queue_start(path, NULL, &pid, &err) != 0) {
        report(f, "Queued, but the queue did not start", &err);
        return;
    }
    form_status(f, false, "Queued as entry %zu and the queue started (loratty --queue list "
                "shows it; runs appear under F8 as they start)", pos);
}
