/* lr_schedule.c — sd-scripts' learning-rate schedules (see lr_schedule.h): resolving the
 * options as train_util.get_scheduler_fix does, and the factor formulas of
 * transformers.optimization (diffusers.optimization for piecewise_constant). */
#include "engine/train/lr_schedule.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/pyliteral.h"

static const char *const names[LR_KIND_COUNT] = {
    [LR_ADAFACTOR] = "adafactor",
    [LR_CONSTANT] = "constant",
    [LR_CONSTANT_WITH_WARMUP] = "constant_with_warmup",
    [LR_COSINE] = "cosine",
    [LR_COSINE_WITH_RESTARTS] = "cosine_with_restarts",
    [LR_LINEAR] = "linear",
    [LR_PIECEWISE_CONSTANT] = "piecewise_constant",
    [LR_POLYNOMIAL] = "polynomial",
    [LR_COSINE_WITH_MIN_LR] = "cosine_with_min_lr",
    [LR_INVERSE_SQRT] = "inverse_sqrt",
    [LR_WARMUP_STABLE_DECAY] = "warmup_stable_decay",
};

const char *lr_schedule_kind_name(lr_schedule_kind kind)
{
    return (unsigned)kind < LR_KIND_COUNT ? names[kind] : "?";
}

void lr_schedule_options_init(lr_schedule_options *o)
{
    memset(o, 0, sizeof *o);
    o->name = "constant";
    o->num_cycles = 1;
    o->power = 1.0;
    o->min_lr_ratio = -1;
}

/* step_rules "v1:s1,v2:s2,...,v_last": factor v_i while step < s_i (thresholds sorted). */
static int parse_rules(lr_schedule *s, const char *rules, error_info *err)
{
    const char *k = "lr_scheduler_args";
    char buf[256];
    snprintf(buf, sizeof buf, "%s", rules);
    s->nrules = 0;
    char *save = NULL, *tok = strtok_r(buf, ",", &save);
    while (tok) {
        char *next = strtok_r(NULL, ",", &save);
        char *end;
        if (!next) {
            s->rule_last = strtod(tok, &end);
            if (end == tok || *end)
                return error_set(err, "", 0, 0, k, "step_rules: last value '%s' is not a number",
                                 tok);
            break;
        }
        char *colon = strchr(tok, ':');
        if (!colon || s->nrules >= LR_MAX_RULES)
            return error_set(err, "", 0, 0, k, "step_rules: '%s' is not value:steps", tok);
        *colon = 0;
        double v = strtod(tok, &end);
        if (end == tok || *end)
            return error_set(err, "", 0, 0, k, "step_rules: '%s' is not a number", tok);
        long long st = strtoll(colon + 1, &end, 10);
        if (end == colon + 1 || *end)
            return error_set(err, "", 0, 0, k, "step_rules: '%s' is not an integer", colon + 1);
        /* a repeated threshold replaces the earlier value (a Python dict) */
        int i;
        for (i = 0; i < s->nrules && s->rule_steps[i] != st; i++)
            ;
        s->rule_steps[i] = st;
        s->rule_values[i] = v;
        if (i == s->nrules)
            s->nrules++;
        tok = next;
    }
    for (int i = 1; i < s->nrules; i++) /* insertion sort by threshold */
        for (int j = i; j > 0 && s->rule_steps[j - 1] > s->rule_steps[j]; j--) {
            int64_t ts = s->rule_steps[j];
            double tv = s->rule_values[j];
            s->rule_steps[j] = s->rule_steps[j - 1], s->rule_values[j] = s->rule_values[j - 1];
            s->rule_steps[j - 1] = ts, s->rule_values[j - 1] = tv;
        }
    return 0;
}

static int wsd_type(const char *v, int *out)
{
    static const char *const t[] = { "linear", "cosine", "1-sqrt" };
    for (int i = 0; i < 3; i++)
        if (strcmp(v, t[i]) == 0) {
            *out = i;
            return 0;
        }
    return -1;
}

/* lr_scheduler_args: the keyword arguments each schedule function takes beyond those
 * sd-scripts passes itself (passing one of those again is Python's "multiple values"). */
static int apply_args(lr_schedule *s, const lr_schedule_options *o, double *min_lr,
                      int *has_rules, error_info *err)
{
    const char *k = "lr_scheduler_args";
    const char *name = names[s->kind];
    for (int i = 0; i < o->nargs; i++) {
        const char *arg = o->args[i], *eq = strchr(arg, '=');
        if (!eq || strchr(eq + 1, '='))
            return error_set(err, "", 0, 0, k, "'%s': expected exactly one key=value", arg);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
        pyval v;
        if (pyliteral_parse(eq + 1, &v))
            return error_set(err, "", 0, 0, k, "'%s': the value is not a Python literal", arg);
        int num = v.type == PY_NUM || v.type == PY_BOOL;
        if (strcmp(key, "last_epoch") == 0) {
            if (!num || v.num != -1)
                return error_set(err, "", 0, 0, k, "'%s': only last_epoch=-1 is supported", arg);
        } else if (s->kind == LR_COSINE && strcmp(key, "num_cycles") == 0 && num) {
            s->num_cycles = v.num;
        } else if (s->kind == LR_POLYNOMIAL && strcmp(key, "lr_end") == 0 && num) {
            s->lr_end = v.num;
        } else if (s->kind == LR_COSINE_WITH_MIN_LR && strcmp(key, "min_lr") == 0 && num) {
            *min_lr = v.num;
        } else if (s->kind == LR_PIECEWISE_CONSTANT && strcmp(key, "step_rules") == 0 &&
                   v.type == PY_STR) {
            if (parse_rules(s, v.str, err))
                return -1;
            *has_rules = 1;
        } else if (s->kind == LR_WARMUP_STABLE_DECAY &&
                   (strcmp(key, "warmup_type") == 0 || strcmp(key, "decay_type") == 0)) {
            int *dst = key[0] == 'w' ? &s->warmup_type : &s->decay_type;
            if (v.type != PY_STR || wsd_type(v.str, dst))
                return error_set(err, "", 0, 0, k, "'%s': expected 'linear', 'cosine' or '1-sqrt'",
                                 arg);
        } else if (s->kind == LR_WARMUP_STABLE_DECAY && strcmp(key, "num_training_steps") == 0) {
            /* accepted and unused: sd-scripts passes num_stable_steps, which wins */
        } else {
            return error_set(err, "", 0, 0, k, "'%s': %s takes no argument '%s' here", arg, name,
                             key);
        }
    }
    return 0;
}

int lr_schedule_setup(lr_schedule *s, const lr_schedule_options *o, error_info *err)
{
    memset(s, 0, sizeof *s);
    int kind = -1;
    const char *name = o->name && *o->name ? o->name : "constant";
    /* sd-scripts turns --lr_scheduler into "adafactor:<lr>" for Adafactor's relative_step */
    if (strncmp(name, "adafactor", 9) == 0 && (name[9] == 0 || name[9] == ':'))
        kind = LR_ADAFACTOR;
    for (int i = 0; i < LR_KIND_COUNT && kind < 0; i++)
        if (strcmp(name, names[i]) == 0)
            kind = i;
    if (kind < 0)
        return error_set(err, "", 0, 0, "lr_scheduler",
                         "'%s' is not a scheduler (adafactor, constant, constant_with_warmup, "
                         "cosine, cosine_with_restarts, linear, piecewise_constant, polynomial, "
                         "cosine_with_min_lr, inverse_sqrt, warmup_stable_decay)", name);
    s->kind = (lr_schedule_kind)kind;
    s->training = o->max_train_steps;
    s->warmup = o->warmup_is_ratio ? (int64_t)(o->warmup * (double)s->training) : (int64_t)o->warmup;
    s->decay = o->decay_is_ratio ? (int64_t)(o->decay * (double)s->training) : (int64_t)o->decay;
    s->stable = s->training - s->warmup - s->decay;
    s->power = o->power;
    s->lr_init = o->lr;
    s->lr_end = 1e-7;
    s->num_cycles = s->kind == LR_COSINE ? 0.5 : o->num_cycles;
    if (s->kind == LR_COSINE_WITH_MIN_LR || s->kind == LR_WARMUP_STABLE_DECAY)
        s->num_cycles = o->num_cycles / 2.0;
    s->decay_type = 1; /* WSD: linear warmup, cosine decay */
    s->timescale = o->timescale > 0 ? o->timescale : (s->warmup ? s->warmup : 10000);
    double min_lr = -1;
    int has_rules = 0;
    if (apply_args(s, o, &min_lr, &has_rules, err))
        return -1;

    const char *k = "lr_warmup_steps";
    if ((s->kind == LR_ADAFACTOR || s->kind == LR_CONSTANT) && s->warmup != 0)
        return error_set(err, "", 0, 0, k, "%s does not require `num_warmup_steps`. Set None or 0.",
                         names[s->kind]);
    if (s->warmup < 0 || s->decay < 0)
        return error_set(err, "", 0, 0, k, "warmup and decay steps must be >= 0");
    switch (s->kind) {
    case LR_PIECEWISE_CONSTANT:
        if (!has_rules)
            return error_set(err, "", 0, 0, "lr_scheduler_args",
                             "piecewise_constant needs step_rules, e.g. "
                             "step_rules=\"1:10,0.1:20,0.01\"");
        break;
    case LR_POLYNOMIAL:
        if (!(s->lr_init > s->lr_end))
            return error_set(err, "", 0, 0, "lr_scheduler_args",
                             "lr_end (%g) must be smaller than initial lr (%g)", s->lr_end,
                             s->lr_init);
        break;
    case LR_COSINE_WITH_MIN_LR:
        if (min_lr >= 0 && o->min_lr_ratio >= 0)
            return error_set(err, "", 0, 0, "lr_scheduler_args",
                             "Only one of min_lr or min_lr_rate should be set");
        if (min_lr >= 0)
            s->min_lr_rate = min_lr / o->lr;
        else if (o->min_lr_ratio >= 0)
            s->min_lr_rate = o->min_lr_ratio;
        else
            return error_set(err, "", 0, 0, "lr_scheduler_min_lr_ratio",
                             "cosine_with_min_lr needs lr_scheduler_min_lr_ratio or "
                             "lr_scheduler_args min_lr=...");
        break;
    case LR_WARMUP_STABLE_DECAY:
        s->min_lr_rate = o->min_lr_ratio >= 0 ? o->min_lr_ratio : 0.0;
        break;
    default:
        break;
    }
    return 0;
}

static double warmup_factor(const lr_schedule *s, int64_t t)
{
    return (double)t / (double)(s->warmup > 1 ? s->warmup : 1);
}

static double cosine(double cycles, double progress)
{
    return 0.5 * (1.0 + cos(M_PI * cycles * 2.0 * progress));
}

static double wsd(const lr_schedule *s, int64_t t)
{
    const double mr = s->min_lr_rate;
    double f;
    if (t < s->warmup) {
        double p = (double)t / (double)(s->warmup > 1 ? s->warmup : 1);
        f = s->warmup_type == 0 ? p : s->warmup_type == 1 ? 0.5 * (1.0 - cos(M_PI * p))
                                                          : 1.0 - sqrt(1.0 - p);
        return fmax(0.0, f * (1.0 - mr) + mr);
    }
    if (t < s->warmup + s->stable)
        return 1.0;
    if (t < s->warmup + s->stable + s->decay) {
        double p = (double)(t - s->warmup - s->stable) / (double)(s->decay > 1 ? s->decay : 1);
        f = s->decay_type == 0 ? 1.0 - p : s->decay_type == 1 ? cosine(s->num_cycles, p)
                                                              : 1.0 - sqrt(p);
        return fmax(0.0, f * (1.0 - mr) + mr);
    }
    return mr;
}

double lr_schedule_factor(const lr_schedule *s, int64_t t)
{
    const int64_t after = s->training - s->warmup;
    const double progress = (double)(t - s->warmup) / (double)(after > 1 ? after : 1);
    switch (s->kind) {
    case LR_ADAFACTOR:
    case LR_CONSTANT:
        return 1.0;
    case LR_PIECEWISE_CONSTANT:
        for (int i = 0; i < s->nrules; i++)
            if (t < s->rule_steps[i])
                return s->rule_values[i];
        return s->rule_last;
    case LR_WARMUP_STABLE_DECAY:
        return wsd(s, t);
    default:
        break;
    }
    if (t < s->warmup)
        return warmup_factor(s, t);
    switch (s->kind) {
    case LR_CONSTANT_WITH_WARMUP:
        return 1.0;
    case LR_LINEAR:
        return fmax(0.0, (double)(s->training - t) / (double)(after > 1 ? after : 1));
    case LR_COSINE:
        return fmax(0.0, cosine(s->num_cycles, progress));
    case LR_COSINE_WITH_RESTARTS:
        if (progress >= 1.0)
            return 0.0;
        return fmax(0.0, 0.5 * (1.0 + cos(M_PI * fmod(s->num_cycles * progress, 1.0))));
    case LR_POLYNOMIAL: {
        if (t > s->training)
            return s->lr_end / s->lr_init;
        double pct_remaining = 1.0 - (double)(t - s->warmup) / (double)after;
        return ((s->lr_init - s->lr_end) * pow(pct_remaining, s->power) + s->lr_end) / s->lr_init;
    }
    case LR_COSINE_WITH_MIN_LR:
        return fmax(0.0, cosine(s->num_cycles, progress) * (1 - s->min_lr_rate) + s->min_lr_rate);
    case LR_INVERSE_SQRT: {
        double shift = (double)(s->timescale - s->warmup);
        return 1.0 / sqrt(((double)t + shift) / (double)s->timescale);
    }
    default:
        return 1.0;
    }
}
