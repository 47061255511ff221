/* params.h — the one parameter table.
 *
 * Every training parameter exists once, here: its sd-scripts argument name, its kohya_ss GUI
 * key, the GUI section it belongs to, type, default (the kohya_ss GUI default), range or
 * choices, one-line help, and whether loratty's engine supports it yet. Parsing, validation,
 * the TUI forms, TOML output, the kohya_ss importer and the man page are all driven by it. */
#ifndef LORATTY_PARAMS_H
#define LORATTY_PARAMS_H

#include <stdbool.h>
#include <stddef.h>

typedef enum param_type {
    PARAM_BOOL,
    PARAM_INT,
    PARAM_FLOAT,
    PARAM_STRING,       /* one line of text */
    PARAM_TEXT,         /* multi-line text (sample prompts) */
    PARAM_FILE,         /* path to a file */
    PARAM_DIR,          /* path to a directory */
    PARAM_CHOICE,       /* one of `choices` (unless PARAM_CHOICE_OPEN) */
    PARAM_STRING_LIST,  /* TOML array of strings (network_args, optimizer_args, ...) */
} param_type;

/* GUI sections, in kohya_ss's accordion order. */
typedef enum param_section {
    SECTION_ACCELERATE,
    SECTION_MODEL,
    SECTION_FOLDERS,
    SECTION_METADATA,
    SECTION_BASIC,
    SECTION_ADVANCED,
    SECTION_SAMPLES,
    SECTION_DATASET,    /* sd-scripts dataset config only: [general], [[datasets]], [[datasets.subsets]] */
    SECTION_COUNT
} param_section;

typedef enum param_support {
    SUPPORT_NOT_YET,    /* accepted in files; --run refuses a non-default value */
    SUPPORT_YES,        /* the engine implements it */
    SUPPORT_NO_EFFECT,  /* accepted for compatibility, changes nothing in loratty (e.g. dynamo) */
} param_support;

/* flags */
enum {
    PARAM_LORATTY_ONLY   = 1u << 0, /* not an sd-scripts argument: stored in the [loratty] table */
    PARAM_CHOICE_OPEN    = 1u << 1, /* choice list is a suggestion; other values allowed */
    PARAM_DATASET_GENERAL = 1u << 2, /* also allowed in dataset TOML [general] */
    PARAM_DATASET_DATASET = 1u << 3, /* also allowed in [[datasets]] */
    PARAM_DATASET_SUBSET  = 1u << 4, /* also allowed in [[datasets.subsets]] */
    PARAM_OPTIONAL       = 1u << 5, /* empty / unset is valid (paths, optional numbers) */
    PARAM_SDXL_ONLY      = 1u << 6,
};

typedef struct param {
    const char *name;          /* sd-scripts argument name (loratty's own name if LORATTY_ONLY) */
    const char *kohya_key;     /* key in the kohya_ss GUI's saved JSON, NULL if none */
    param_section section;
    param_type type;
    /* The kohya_ss GUI default as TOML-free text: "true"/"false", "0.0001", "cosine",
     * "512,512". "" is an empty string, an empty list, or for a number "unset" (only with
     * PARAM_OPTIONAL). A PARAM_STRING_LIST default is its items separated by spaces,
     * "a=b c=d", as kohya_ss stores them. */
    const char *default_value;
    double min, max;           /* inclusive range for numbers; NAN when unbounded */
    const char *const *choices;/* NULL-terminated, for PARAM_CHOICE */
    const char *help;          /* one line */
    param_support support;
    unsigned flags;
    /* When the parameter applies (TUI shows it; network_args are only built from the ones
     * that apply): NULL = always, else conditions joined by '&' that must all hold:
     * "key" (true / non-empty / non-zero), "key=a|b" (equals one of), "key^p|q" (starts
     * with one of), "!..." negates one condition. A key's unset value is its default. */
    const char *applies_when;
    /* For LORATTY_ONLY options kohya_ss passes as --network_args: the argument's key
     * (e.g. "conv_dim", "preset" for lycoris_preset); NULL otherwise. The exporter writes
     * "key=value" when the parameter applies and is not at its default. */
    const char *network_arg;
} param;

extern const param params_table[];
extern const size_t params_count;

const param *params_find(const char *name);
const param *params_find_kohya(const char *kohya_key);
/* The known name closest to `name` (edit distance), for "did you mean" messages. */
const char *params_nearest(const char *name);

const char *params_section_title(param_section section);  /* "Parameters > Basic" */
const char *params_section_table(param_section section);  /* "basic"; "datasets" for DATASET */
/* The TOML table a preset stores this parameter in: "loratty" for LORATTY_ONLY ones. */
const char *params_table_name(const param *p);
const char *params_type_name(param_type type);

/* Evaluates p->applies_when; `lookup` returns the current value of a key as text
 * ("true"/"false" for booleans), or NULL when unset (the default is then used). */
typedef const char *(*params_lookup_fn)(const char *name, void *ctx);
bool params_applies(const param *p, params_lookup_fn lookup, void *ctx);
/* Checks the syntax of an applies_when expression and that every key it names is in the
 * table; on an unknown key, *bad_key points at its name (static storage). */
bool params_applies_parse(const char *expr, const char **bad_key);

#endif
