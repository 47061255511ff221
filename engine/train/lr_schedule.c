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
    [LR_TORCH_STEP] = "StepLR",
    [LR_TORCH_MULTISTEP] = "MultiStepLR",
    [LR_TORCH_EXPONENTIAL] = "ExponentialLR",
    [LR_TORCH_COSINE_ANNEALING] = "CosineAnnealingLR",
    [LR_TORCH_COSINE_WARM_RESTARTS] = "CosineAnnealingWarmRestarts",
    [LR_TORCH_LINEAR] = "LinearLR",
    [LR_TORCH_CONSTANT] = "ConstantLR",
    [LR_TORCH_POLYNOMIAL] = "PolynomialLR",
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

/* ---- torch.optim.lr_scheduler classes (--lr_scheduler_type) ---- */

/* a keyword argument of the class: which field, and what it must be */
typedef struct torch_arg {
    const char *key;
    int kind;          /* 0 number, 1 integer, 2 list of numbers */
    int required;
} torch_arg;

static double *torch_field(lr_schedule *s, const char *key)
{
    static const char *const keys[] = {"gamma", "eta_min", "T_max", "start_factor", "end_factor",
                                       "factor", "power"};
    double *fields[] = {&s->gamma, &s->eta_min, &s->t_max, &s->start_factor, &s->end_factor,
                        &s->factor, &s->power};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i]))
            return fields[i];
    return NULL;
}

static int64_t *torch_int_field(lr_schedule *s, const char *key)
{
    static const char *const keys[] = {"step_size", "total_iters", "T_0", "T_mult"};
    int64_t *fields[] = {&s->step_size, &s->total_iters, &s->t0, &s->t_mult};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(key, keys[i]))
            return fields[i];
    return NULL;
}

static int torch_setup(lr_schedule *s, const lr_schedule_options *o, error_info *err)
{
    const char *k = "lr_scheduler_type", *ka = "lr_scheduler_args";
    const char *name = o->type;
    /* sd-scripts: a name without a module is torch.optim.lr_scheduler's */
    static const char prefix[] = "torch.optim.lr_scheduler.";
    if (!strncmp(name, prefix, sizeof prefix - 1))
        name += sizeof prefix - 1;
    static const struct {
        lr_schedule_kind kind;
        torch_arg args[4];
    } classes[] = {
        {LR_TORCH_STEP, {{"step_size", 1, 1}, {"gamma", 0, 0}}},
        {LR_TORCH_MULTISTEP, {{"milestones", 2, 1}, {"gamma", 0, 0}}},
        {LR_TORCH_EXPONENTIAL, {{"gamma", 0, 1}}},
        {LR_TORCH_COSINE_ANNEALING, {{"T_max", 0, 1}, {"eta_min", 0, 0}}},
        {LR_TORCH_COSINE_WARM_RESTARTS, {{"T_0", 1, 1}, {"T_mult", 1, 0}, {"eta_min", 0, 0}}},
        {LR_TORCH_LINEAR, {{"start_factor", 0, 0}, {"end_factor", 0, 0}, {"total_iters", 1, 0}}},
        {LR_TORCH_CONSTANT, {{"factor", 0, 0}, {"total_iters", 1, 0}}},
        {LR_TORCH_POLYNOMIAL, {{"total_iters", 1, 0}, {"power", 0, 0}}},
    };
    int c = -1;
    for (int i = 0; i < (int)(sizeof classes / sizeof classes[0]); i++)
        if (!strcmp(name, names[classes[i].kind]))
            c = i;
    if (c < 0)
        return error_set(err, "", 0, 0, k, "'%s' is not a scheduler loratty computes (StepLR, "
                         "MultiStepLR, ExponentialLR, CosineAnnealingLR, "
                         "CosineAnnealingWarmRestarts, LinearLR, ConstantLR, PolynomialLR of "
                         "torch.optim.lr_scheduler)", o->type);
    s->kind = classes[c].kind;
    /* torch's defaults */
    s->gamma = 0.1;
    s->start_factor = 1.0 / 3.0;
    s->end_factor = 1.0;
    s->factor = 1.0 / 3.0;
    s->total_iters = 5;
    s->power = 1.0;
    s->t_mult = 1;
    s->eta_min = 0.0;
    int given[4] = {0};
    for (int i = 0; i < o->nargs; i++) {
        const char *arg = o->args[i], *eq = strchr(arg, '=');
        if (!eq || strchr(eq + 1, '='))
            return error_set(err, "", 0, 0, ka, "'%s': expected exactly one key=value", arg);
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
        pyval v;
        int rc = pyliteral_parse(eq + 1, &v);
        if (rc == -1)
            return error_set(err, "", 0, 0, ka, "'%s': the value is not a Python literal", arg);
        if (!strcmp(key, "last_epoch")) {
            if (v.type != PY_NUM || v.num != -1)
                return error_set(err, "", 0, 0, ka, "'%s': only last_epoch=-1 is supported", arg);
            continue;
        }
        if (!strcmp(key, "verbose"))   /* deprecated, prints only */
            continue;
        int a = -1;
        for (int j = 0; j < 4 && classes[c].args[j].key; j++)
            if (!strcmp(key, classes[c].args[j].key))
                a = j;
        if (a < 0)
            return error_set(err, "", 0, 0, ka, "'%s': %s takes no argument '%s'", arg, name, key);
        const torch_arg *ta = &classes[c].args[a];
        if (ta->kind == 2) {
            if (rc != 0 || (v.type != PY_TUPLE && v.type != PY_NUM))
                return error_set(err, "", 0, 0, ka, "'%s': %s is a list of step numbers, e.g. "
                                 "%s=[100,200]", arg, key, key);
            s->nmilestones = v.type == PY_NUM ? 1 : v.nitems;
            for (int m = 0; m < s->nmilestones; m++)
                s->milestones[m] = v.type == PY_NUM ? v.num : v.items[m];
        } else {
            if (v.type != PY_NUM || (ta->kind == 1 && !v.is_int))
                return error_set(err, "", 0, 0, ka, "'%s': %s must be %s", arg, key,
                                 ta->kind == 1 ? "an integer" : "a number");
            if (ta->kind == 1)
                *torch_int_field(s, key) = (int64_t)v.num;
            else
                *torch_field(s, key) = v.num;
        }
        given[a] = 1;
    }
    for (int j = 0; j < 4 && classes[c].args[j].key; j++)
        if (classes[c].args[j].required && !given[j])
            return error_set(err, "", 0, 0, ka, "%s needs %s in lr_scheduler_args (e.g. %s=%s)", name,
                             classes[c].args[j].key, classes[c].args[j].key,
                             classes[c].args[j].kind == 2 ? "[100,200]" : "1000");
    /* the checks torch makes when it builds them */
    switch (s->kind) {
    case LR_TORCH_STEP:
        if (s->step_size < 1)
            return error_set(err, "", 0, 0, ka, "StepLR: step_size must be at least 1");
        break;
    case LR_TORCH_MULTISTEP:   /* a Counter of the milestones, sorted */
        for (int i = 1; i < s->nmilestones; i++)
            for (int j = i; j > 0 && s->milestones[j - 1] > s->milestones[j]; j--) {
                double t = s->milestones[j];
                s->milestones[j] = s->milestones[j - 1];
                s->milestones[j - 1] = t;
            }
        break;
    case LR_TORCH_COSINE_ANNEALING:
        if (s->t_max == 0)
            return error_set(err, "", 0, 0, ka, "CosineAnnealingLR: T_max must not be 0");
        break;
    case LR_TORCH_COSINE_WARM_RESTARTS:
        if (s->t0 < 1 || s->t_mult < 1)
            return error_set(err, "", 0, 0, ka, "CosineAnnealingWarmRestarts: T_0 must be a "
                             "positive integer and T_mult an integer >= 1");
        break;
    case LR_TORCH_LINEAR:
        if (!(s->start_factor > 0 && s->start_factor <= 1) || !(s->end_factor >= 0 && s->end_factor <= 1))
            return error_set(err, "", 0, 0, ka, "LinearLR: start_factor must be in (0, 1] and "
                             "end_factor in [0, 1]");
        break;
    case LR_TORCH_CONSTANT:
        if (!(s->factor >= 0 && s->factor <= 1))
            return error_set(err, "", 0, 0, ka, "ConstantLR: factor must be in [0, 1]");
        break;
    default:
        break;
    }
    if (s->warmup != 0)   /* sd-scripts' wrap_check_needless_num_warmup_steps */
        return error_set(err, "", 0, 0, "lr_warmup_steps", "%s does not require `num_warmup_steps`: "
                         "set lr_warmup (and lr_warmup_steps) to 0 with lr_scheduler_type", name);
    return 0;
}

/* torch's closed forms; eta_min is an absolute lr, the same for every group */
static double torch_lr(const lr_schedule *s, int64_t t, double base)
{
    switch (s->kind) {
    case LR_TORCH_STEP:
        return base * pow(s->gamma, (double)(t / s->step_size));
    case LR_TORCH_MULTISTEP: {
        int passed = 0;   /* bisect_right */
        while (passed < s->nmilestones && s->milestones[passed] <= (double)t)
            passed++;
        return base * pow(s->gamma, passed);
    }
    case LR_TORCH_EXPONENTIAL:
        return base * pow(s->gamma, (double)t);
    case LR_TORCH_COSINE_ANNEALING:
        return s->eta_min + (base - s->eta_min) * (1.0 + cos(M_PI * (double)t / s->t_max)) / 2.0;
    case LR_TORCH_COSINE_WARM_RESTARTS: {
        int64_t cur = t, len = s->t0;   /* step(): T_cur += 1, and past T_i the next cycle */
        while (cur >= len) {
            cur -= len;
            len *= s->t_mult;
        }
        return s->eta_min + (base - s->eta_min) * (1.0 + cos(M_PI * (double)cur / (double)len)) / 2.0;
    }
    case LR_TORCH_LINEAR: {
        double done = (double)(t < s->total_iters ? t : s->total_iters);
        return base * (s->start_factor + (s->end_factor - s->start_factor) * done / (double)s->total_iters);
    }
    case LR_TORCH_CONSTANT:
        return base * (t < s->total_iters ? s->factor : 1.0);
    case LR_TORCH_POLYNOMIAL: {
        double done = (double)(t < s->total_iters ? t : s->total_iters);
        return base * pow(1.0 - done / (double)s->total_iters, s->power);
    }
    default:
        return base;
    }
}

int lr_schedule_setup(lr_schedule *s, const lr_schedule_options *o, error_info *err)
{
    memset(s, 0, sizeof *s);
    if (o->schedule_free) {   /* sd-scripts' DummyScheduler: the lr is left alone */
        s->kind = LR_CONSTANT;
        s->lr_init = o->lr;
        return 0;
    }
    if (o->type && o->type[0]) {
        s->lr_init = o->lr;
        s->training = o->max_train_steps;
        s->warmup = o->warmup_is_ratio ? (int64_t)(o->warmup * (double)s->training) : (int64_t)o->warmup;
        return torch_setup(s, o, err);
    }
    int kind = -1;
    const char *name = o->name && *o->name ? o->name : "constant";
    /* sd-scripts turns --lr_scheduler into "adafactor:<lr>" for Adafactor's relative_step */
    if (strncmp(name, "adafactor", 9) == 0 && (name[9] == 0 || name[9] == ':'))
        kind = LR_ADAFACTOR;
    for (int i = 0; i < LR_TORCH_STEP && kind < 0; i++)
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

double lr_schedule_lr(const lr_schedule *s, int64_t t, double base_lr)
{
    if (s->kind >= LR_TORCH_STEP)
        return torch_lr(s, t, base_lr);
    return base_lr * lr_schedule_factor(s, t);
}

double lr_schedule_factor(const lr_schedule *s, int64_t t)
{
    if (s->kind >= LR_TORCH_STEP)
        return s->lr_init != 0.0 ? torch_lr(s, t, s->lr_init) / s->lr_init : 1.0;
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
