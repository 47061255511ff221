/* config.h — one training configuration: load, merge, validate, save, import, export.
 *
 * A config holds, for every entry of the parameter table, either nothing (the kohya_ss
 * default applies) or a TOML value of the parameter's type that remembers the file and line
 * it came from, plus the inline sd-scripts dataset tables ([general], [[datasets]]). */
#ifndef LORATTY_CONFIG_H
#define LORATTY_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "error.h"
#include "params.h"
#include "toml.h"

typedef struct config_warnings {
    char **lines;
    size_t count, capacity;
} config_warnings;

typedef struct config {
    toml_value **values;       /* params_count entries; NULL = default */
    const char **origins;      /* params_count entries: file a value came from (interned) */
    toml_value *general;       /* inline dataset [general] table, or NULL */
    toml_value *datasets;      /* inline [[datasets]] array of tables, or NULL */
    char **interned;           /* owned origin strings */
    size_t interned_count;
    bool dirty;                /* changed since load/save (the TUI asks before quitting) */
} config;

void config_init(config *cfg);
void config_free(config *cfg);

/* Reads a file into cfg, on top of what is there. Recognises a loratty preset (sections),
 * an sd-scripts run TOML (flat keys, config_lora-*.toml), a kohya_ss GUI JSON (with its
 * legacy-key migration) and an sd-scripts dataset TOML (becomes the inline datasets).
 * Unknown keys, unsupported-here keys and missing paths become warnings. Files that are
 * not training configs (fine-tune metadata, LECO prompts, the GUI's config.toml defaults)
 * are refused with a message saying what they are. */
int config_load(config *cfg, const char *path, config_warnings *warnings, error_info *err);
/* Applies additional_parameters ("--key value ..." appended to sd-scripts' command line by
 * kohya_ss) over the loaded settings, as sd-scripts' argparse would; keys loratty does not
 * know are warnings, text that is not an --option an error. */
int config_apply_additional_parameters(config *cfg, config_warnings *w, error_info *err);

/* --set KEY=VALUE: KEY is a parameter name, optionally "table.name"; VALUE is parsed for the
 * parameter's type (TOML literal syntax also accepted). */
int config_set(config *cfg, const char *assignment, error_info *err);
/* Sets from text for the TUI; same parsing and range checks as --set. */
int config_set_value_text(config *cfg, const param *p, const char *text, const char *origin,
                          error_info *err);
/* The same for a value read from line `line` of the file `origin` (imports that rewrite a key). */
int config_set_value_text_at(config *cfg, const param *p, const char *text, const char *origin,
                             int line, error_info *err);
/* Back to the default. */
void config_reset(config *cfg, const param *p);
/* Whether p's applies_when holds for cfg's values (what kohya_ss would pass). */
bool config_applies(const config *cfg, const param *p);

/* Types, ranges, choices and cross-field rules. First problem → err, returns -1. */
int config_validate(const config *cfg, error_info *err);
/* For --run: refuses a parameter the engine does not support yet when set to a non-default value. */
int config_check_supported(const config *cfg, error_info *err);

/* Typed reads of the effective value (set value or default). */
const toml_value *config_get(const config *cfg, const param *p);   /* NULL when default */
bool config_is_default(const config *cfg, const param *p);
bool config_bool(const config *cfg, const char *name);
long long config_int(const config *cfg, const char *name);
double config_float(const config *cfg, const char *name);
const char *config_string(const config *cfg, const char *name);  /* "" when empty */
/* Value as display text ("true", "0.0001", "a=b c=d" for lists); malloc'd. */
char *config_value_text(const config *cfg, const param *p);

/* loratty preset TOML: one table per section in the table's order, keys in table order,
 * each with its help as a comment; only non-default values unless `all`. Malloc'd. */
char *config_to_preset_toml(const config *cfg, bool all);
/* Atomic save (temp file, fsync, rename). */
int config_save(config *cfg, const char *path, error_info *err);

/* Exports as kohya_ss would run it. Malloc'd strings. */
char *config_export_sdscripts_toml(const config *cfg);   /* flat run TOML (config_lora-*.toml) */
char *config_export_dataset_toml(const config *cfg);     /* NULL when no inline datasets */
char *config_accelerate_command(const config *cfg, const char *run_toml_path);

void config_warnings_add(config_warnings *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void config_warnings_free(config_warnings *w);

#endif
