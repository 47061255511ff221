/* prep.h — the forms' Dataset Preparation section (kohya_ss's Dreambooth/LoRA folder
 * preparation, src/dataset_prep.h), the plan confirmation shown before F5 starts a run, and
 * F9's "add to the run queue" (src/queue.h). The section's fields are TUI state, not
 * parameters: they are not training settings and are not saved in the preset. Internal to tui/. */
#ifndef LORATTY_TUI_PREP_H
#define LORATTY_TUI_PREP_H

#include <stdbool.h>
#include <stddef.h>

#include "src/plan.h"
#include "tui/form.h"

typedef enum prep_item {
    PREP_INSTANCE,
    PREP_CLASS,
    PREP_TRAIN_DIR,
    PREP_REPEATS,
    PREP_REG_DIR,
    PREP_REG_REPEATS,
    PREP_DEST,
    PREP_ACT_PREPARE,
    PREP_ACT_COPY,
    PREP_ITEMS
} prep_item;

typedef struct prep_state {
    char instance[256], cls[256];
    char train_dir[4096], reg_dir[4096], dest[4096];
    int repeats, reg_repeats;
} prep_state;

void prep_init(prep_state *s);

/* A row of the section: its label and value, as the list shows it (ASCII). */
void prep_row_text(const form *f, int item, char *buf, size_t size, int namew);
/* The help and detail lines at the bottom for a focused row. */
void prep_describe(const form *f, int item, char *help, size_t hsize, char *detail, size_t dsize);
/* Enter on a row: edit the field, or Prepare / Copy info to fields. */
void prep_activate(form *f, int item);
/* d on a row: the field back to its default. */
void prep_reset(form *f, int item);

/* Before F5 starts a run: shows the plan (images per folder, steps per epoch, total steps)
 * and asks. Returns true to start; a plan without training images is refused. */
bool prep_confirm_plan(form *f, const plan *p);

/* F9: adds f->path (already saved) to the run queue and starts the queue runner when none is
 * running; the status line says where it went. */
void prep_queue_preset(form *f);

#endif
