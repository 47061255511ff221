/* params.c — the parameter table and its look-ups.
 *
 * The table itself is declarative and long, so its rows live in one fragment per group of
 * GUI sections (params_model.inc, params_basic.inc, params_advanced.inc, params_dataset.inc),
 * included into the single array below: the rest of loratty indexes parameters by their
 * position in params_table, so it has to stay one contiguous array. This file adds the
 * look-ups (by name, by kohya_ss key, nearest name) and the applies_when evaluator. */
#include "params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Row helpers: every numeric row says its range; text rows say UNBOUNDED. */
#define RANGE(lo, hi) (lo), (hi)
#define UNBOUNDED NAN, NAN
#define CHOICES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Levels of sd-scripts' dataset config a key may appear at. */
#define DS_ALL (PARAM_DATASET_GENERAL | PARAM_DATASET_DATASET | PARAM_DATASET_SUBSET)
#define DS_DATASET (PARAM_DATASET_GENERAL | PARAM_DATASET_DATASET)

/* kohya_ss's "LoRA type" groups, from lora_gui.py's visibility lists. */
#define TYPES_CONV "lora_type=Kohya DyLoRA|Kohya LoCon|Kohya LoHa|Kohya LoKr|LoRA-FA|" \
    "LyCORIS/BOFT|LyCORIS/Diag-OFT|LyCORIS/DyLoRA|LyCORIS/LoHa|LyCORIS/LoKr|LyCORIS/LoCon|LyCORIS/GLoRA"
#define TYPES_KOHYA_BLOCKS "lora_type=Standard|Kohya LoCon|Kohya DyLoRA|LoRA-FA"
#define TYPES_LYCORIS_MAIN "lora_type=LyCORIS/LoCon|LyCORIS/LoHa|LyCORIS/LoKr"
/* The network's own parameters: only a LoRA run has a network (training_mode finetune and
 * vae train the model's weights), so its forms hide them and its exports leave them out. */
#define LORA_RUN "training_mode=lora"
#define LORA_RUN_AND LORA_RUN "&"

const param params_table[] = {
#include "params_model.inc"
#include "params_basic.inc"
#include "params_advanced.inc"
#include "params_dataset.inc"
};

const size_t params_count = sizeof params_table / sizeof params_table[0];

const param *params_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < params_count; i++)
        if (strcmp(params_table[i].name, name) == 0)
            return &params_table[i];
    return NULL;
}

const param *params_find_kohya(const char *kohya_key)
{
    if (!kohya_key)
        return NULL;
    for (size_t i = 0; i < params_count; i++)
        if (params_table[i].kohya_key && strcmp(params_table[i].kohya_key, kohya_key) == 0)
            return &params_table[i];
    return NULL;
}

/* Levenshtein distance, two rows; names are short. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *prev = malloc((lb + 1) * sizeof *prev);
    size_t *cur = malloc((lb + 1) * sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return (size_t)-1;
    }
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t best = del < ins ? del : ins;
            cur[j] = best < sub ? best : sub;
        }
        size_t *t = prev;
        prev = cur;
        cur = t;
    }
    size_t d = prev[lb];
    free(prev);
    free(cur);
    return d;
}

const char *params_nearest(const char *name)
{
    if (!name || !name[0])
        return NULL;
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (size_t i = 0; i < params_count; i++) {
        const param *p = &params_table[i];
        size_t d = edit_distance(name, p->name);
        if (p->kohya_key) {
            size_t dk = edit_distance(name, p->kohya_key);
            if (dk < d)
                d = dk;
        }
        if (d < best_d) {
            best_d = d;
            best = p->name;
        }
    }
    /* a suggestion that shares less than half the letters only confuses */
    size_t len = strlen(name);
    if (best_d > (len < 6 ? 2 : len / 2))
        return NULL;
    return best;
}

static const char *const section_titles[SECTION_COUNT] = {
    "Accelerate launch", "Model", "Folders", "Metadata", "Parameters > Basic",
    "Parameters > Advanced", "Parameters > Samples", "Dataset config",
};

static const char *const section_tables[SECTION_COUNT] = {
    "accelerate", "model", "folders", "metadata", "basic", "advanced", "samples", "datasets",
};

const char *params_section_title(param_section section)
{
    return (unsigned)section < SECTION_COUNT ? section_titles[section] : "?";
}

const char *params_section_table(param_section section)
{
    return (unsigned)section < SECTION_COUNT ? section_tables[section] : "?";
}

const char *params_table_name(const param *p)
{
    if (p->flags & PARAM_LORATTY_ONLY)
        return "loratty";
    return params_section_table(p->section);
}

const char *params_type_name(param_type type)
{
    switch (type) {
    case PARAM_BOOL: return "bool";
    case PARAM_INT: return "int";
    case PARAM_FLOAT: return "float";
    case PARAM_STRING: return "string";
    case PARAM_TEXT: return "text";
    case PARAM_FILE: return "file";
    case PARAM_DIR: return "dir";
    case PARAM_CHOICE: return "choice";
    case PARAM_STRING_LIST: return "list";
    }
    return "?";
}

/* "", "false" and numeric zero are false; anything else is true. */
static bool truthy(const char *v)
{
    if (!v || !v[0] || strcmp(v, "false") == 0)
        return false;
    char *end;
    double x = strtod(v, &end);
    if (end != v && *end == '\0')
        return x != 0.0;
    return true;
}

/* Does `value` equal (or, with prefix, start with) one of the '|'-separated alternatives? */
static bool matches_any(const char *value, const char *alts, size_t alts_len, bool prefix)
{
    const char *s = alts, *end = alts + alts_len;
    while (s <= end) {
        const char *bar = memchr(s, '|', (size_t)(end - s));
        size_t n = (size_t)((bar ? bar : end) - s);
        if (prefix ? strncmp(value, s, n) == 0 : (strlen(value) == n && strncmp(value, s, n) == 0))
            return true;
        if (!bar)
            break;
        s = bar + 1;
    }
    return false;
}

static const char *current_value(const char *name, params_lookup_fn lookup, void *ctx)
{
    const char *v = lookup ? lookup(name, ctx) : NULL;
    if (v)
        return v;
    const param *p = params_find(name);
    return p && p->default_value ? p->default_value : "";
}

/* One condition: "[!]key", "[!]key=a|b", "[!]key^prefix|prefix". */
static bool condition_holds(const char *cond, size_t len, params_lookup_fn lookup, void *ctx)
{
    bool negate = false;
    if (len && cond[0] == '!') {
        negate = true;
        cond++;
        len--;
    }
    size_t key_len = strcspn(cond, "=^&");
    if (key_len > len)
        key_len = len;
    char key[128];
    if (key_len == 0 || key_len >= sizeof key)
        return !negate;
    memcpy(key, cond, key_len);
    key[key_len] = '\0';
    const char *value = current_value(key, lookup, ctx);
    bool holds;
    if (key_len == len)
        holds = truthy(value);
    else
        holds = matches_any(value, cond + key_len + 1, len - key_len - 1, cond[key_len] == '^');
    return negate ? !holds : holds;
}

bool params_applies(const param *p, params_lookup_fn lookup, void *ctx)
{
    const char *s = p->applies_when;
    if (!s || !s[0])
        return true;
    /* conditions joined by '&' must all hold */
    while (*s) {
        size_t len = strcspn(s, "&");
        if (!condition_holds(s, len, lookup, ctx))
            return false;
        s += len;
        if (*s == '&')
            s++;
    }
    return true;
}

bool params_applies_parse(const char *expr, const char **bad_key)
{
    if (bad_key)
        *bad_key = NULL;
    if (!expr)
        return true;
    if (!expr[0])
        return false;
    const char *s = expr;
    while (*s) {
        size_t len = strcspn(s, "&");
        const char *c = s;
        size_t n = len;
        if (n && c[0] == '!') {
            c++;
            n--;
        }
        size_t key_len = strcspn(c, "=^&");
        if (key_len > n)
            key_len = n;
        if (key_len == 0 || key_len >= 128)
            return false;
        char key[128];
        memcpy(key, c, key_len);
        key[key_len] = '\0';
        if (!params_find(key)) {
            static char missing[128];
            memcpy(missing, key, key_len + 1);
            if (bad_key)
                *bad_key = missing;
            return false;
        }
        if (key_len < n && key_len + 1 == n)
            return false; /* "key=" with nothing after it */
        s += len;
        if (*s == '&') {
            s++;
            if (!*s)
                return false;
        }
    }
    return true;
}
