/* optimizer_args.c — each optimizer's defaults and sd-scripts' optimizer_args.
 *
 * sd-scripts (train_util.get_optimizer) splits every argument on "=" into exactly a key and a
 * value and evaluates the value with ast.literal_eval, so values are Python literals: numbers
 * (1e-3, 10, -0.8, 1_000), True / False / None, quoted strings, and tuples or lists —
 * "betas=0.9,0.99" is the tuple (0.9, 0.99) as much as "betas=(0.9, 0.99)". The pairs become
 * keyword arguments of the optimizer class, so an unknown key or "lr" (which sd-scripts passes
 * itself) is an error there; here it is an error naming the argument. */
#include "engine/train/optimizer_impl.h"
#include "engine/train/pyliteral.h"

#include <ctype.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void optim_config_init(optim_config *c, optim_kind kind, double lr)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->lr = lr;
    c->beta1 = 0.9, c->beta2 = 0.999, c->beta3 = -1;
    c->eps = 1e-8, c->eps2 = 1e-3;
    c->min_8bit_size = 4096, c->optim_bits = 8;
    c->clip_threshold = 1.0, c->decay_rate = -0.8;
    c->scale_parameter = 1, c->relative_step = 1;
    c->d0 = 1e-6, c->d_coef = 1.0, c->growth_rate = INFINITY, c->slice_p = 1;
    c->weight_lr_power = 2.0;
    switch (kind) {
    case OPTIM_ADAMW:
    case OPTIM_ADAMW8BIT:
        c->weight_decay = 0.01; /* torch.optim.AdamW and bnb AdamW8bit default */
        break;
    case OPTIM_LION:
        c->beta2 = 0.99;
        break;
    case OPTIM_SGD_NESTEROV:
        c->momentum = 0.9; /* sd-scripts sets it when optimizer_args do not */
        break;
    case OPTIM_ADAFACTOR:
        c->eps = 1e-30;
        break;
    case OPTIM_PRODIGY:
        c->decouple = 1;
        break;
    default:
        break;
    }
}

/* ---- the arguments each optimizer class accepts ---- */

enum arg_type {
    A_NUM,        /* float (ints and bools are numbers in Python too) */
    A_INT,
    A_BOOL,
    A_PAIR,       /* 2-tuple into two doubles */
    A_NUM_NONE,   /* number or None (stores -1 / clears a flag) */
    A_IGNORED,    /* accepted, no effect on the math (foreach, use_triton, ...) */
    A_ONLY,       /* accepted only with the value `only` */
};

#define K(x) (1u << (x))
#define ADAMS (K(OPTIM_ADAMW) | K(OPTIM_ADAMW8BIT) | K(OPTIM_PRODIGY) | K(OPTIM_DADAPT_ADAM) | \
               K(OPTIM_ADAMW_SCHEDULEFREE))
#define ALL ((1u << OPTIM_KIND_COUNT) - 1)
#define OFF(f) offsetof(optim_config, f)

typedef struct arg_spec {
    const char *name;
    unsigned kinds;
    enum arg_type type;
    size_t off, off2;
    double only;
} arg_spec;

static const arg_spec specs[] = {
    { "betas", ADAMS | K(OPTIM_LION), A_PAIR, OFF(beta1), OFF(beta2), 0 },
    { "eps", ADAMS, A_NUM, OFF(eps), 0, 0 },
    { "eps", K(OPTIM_ADAFACTOR), A_PAIR, OFF(eps), OFF(eps2), 0 },
    { "weight_decay", ALL, A_NUM, OFF(weight_decay), 0, 0 },
    { "amsgrad", K(OPTIM_ADAMW) | K(OPTIM_ADAMW8BIT), A_ONLY, 0, 0, 0 },
    { "maximize", K(OPTIM_ADAMW) | K(OPTIM_SGD_NESTEROV), A_ONLY, 0, 0, 0 },
    { "foreach", K(OPTIM_ADAMW) | K(OPTIM_SGD_NESTEROV) | K(OPTIM_ADAMW_SCHEDULEFREE), A_IGNORED, 0, 0, 0 },
    { "fused", K(OPTIM_ADAMW) | K(OPTIM_SGD_NESTEROV), A_IGNORED, 0, 0, 0 },
    { "capturable", K(OPTIM_ADAMW), A_IGNORED, 0, 0, 0 },
    { "differentiable", K(OPTIM_ADAMW) | K(OPTIM_SGD_NESTEROV), A_IGNORED, 0, 0, 0 },
    { "optim_bits", K(OPTIM_ADAMW8BIT), A_INT, OFF(optim_bits), 0, 0 },
    { "min_8bit_size", K(OPTIM_ADAMW8BIT), A_INT, OFF(min_8bit_size), 0, 0 },
    { "percentile_clipping", K(OPTIM_ADAMW8BIT), A_ONLY, 0, 0, 100 },
    { "block_wise", K(OPTIM_ADAMW8BIT), A_ONLY, 0, 0, 1 },
    { "is_paged", K(OPTIM_ADAMW8BIT), A_IGNORED, 0, 0, 0 },
    { "use_triton", K(OPTIM_LION), A_IGNORED, 0, 0, 0 },
    { "decoupled_weight_decay", K(OPTIM_LION), A_BOOL, OFF(decoupled_weight_decay), 0, 0 },
    { "momentum", K(OPTIM_SGD_NESTEROV), A_NUM, OFF(momentum), 0, 0 },
    { "dampening", K(OPTIM_SGD_NESTEROV), A_NUM, OFF(dampening), 0, 0 },
    { "clip_threshold", K(OPTIM_ADAFACTOR), A_NUM, OFF(clip_threshold), 0, 0 },
    { "decay_rate", K(OPTIM_ADAFACTOR), A_NUM, OFF(decay_rate), 0, 0 },
    { "beta1", K(OPTIM_ADAFACTOR), A_NUM_NONE, OFF(beta1), OFF(has_beta1), 0 },
    { "scale_parameter", K(OPTIM_ADAFACTOR), A_BOOL, OFF(scale_parameter), 0, 0 },
    { "relative_step", K(OPTIM_ADAFACTOR), A_BOOL, OFF(relative_step), 0, 0 },
    { "warmup_init", K(OPTIM_ADAFACTOR), A_BOOL, OFF(warmup_init), 0, 0 },
    { "beta3", K(OPTIM_PRODIGY), A_NUM_NONE, OFF(beta3), 0, 0 },
    { "decouple", K(OPTIM_PRODIGY) | K(OPTIM_DADAPT_ADAM), A_BOOL, OFF(decouple), 0, 0 },
    { "use_bias_correction", K(OPTIM_PRODIGY) | K(OPTIM_DADAPT_ADAM), A_BOOL, OFF(use_bias_correction), 0, 0 },
    { "safeguard_warmup", K(OPTIM_PRODIGY), A_BOOL, OFF(safeguard_warmup), 0, 0 },
    { "d0", K(OPTIM_PRODIGY) | K(OPTIM_DADAPT_ADAM), A_NUM, OFF(d0), 0, 0 },
    { "d_coef", K(OPTIM_PRODIGY), A_NUM, OFF(d_coef), 0, 0 },
    { "growth_rate", K(OPTIM_PRODIGY) | K(OPTIM_DADAPT_ADAM), A_NUM, OFF(growth_rate), 0, 0 },
    { "slice_p", K(OPTIM_PRODIGY), A_INT, OFF(slice_p), 0, 0 },
    { "fsdp_in_use", K(OPTIM_PRODIGY) | K(OPTIM_DADAPT_ADAM), A_ONLY, 0, 0, 0 },
    { "log_every", K(OPTIM_DADAPT_ADAM), A_IGNORED, 0, 0, 0 },
    { "warmup_steps", K(OPTIM_ADAMW_SCHEDULEFREE), A_INT, OFF(warmup_steps), 0, 0 },
    { "r", K(OPTIM_ADAMW_SCHEDULEFREE), A_NUM, OFF(r), 0, 0 },
    { "weight_lr_power", K(OPTIM_ADAMW_SCHEDULEFREE), A_NUM, OFF(weight_lr_power), 0, 0 },
};

static const arg_spec *find_spec(optim_kind kind, const char *key, size_t len)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
        if ((specs[i].kinds & K(kind)) && strlen(specs[i].name) == len &&
            strncmp(specs[i].name, key, len) == 0)
            return &specs[i];
    return NULL;
}

static void known_list(optim_kind kind, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = 0;
    for (size_t i = 0; i < sizeof specs / sizeof specs[0] && n < size; i++)
        if (specs[i].kinds & K(kind))
            n += (size_t)snprintf(buf + n, size - n, "%s%s", n ? ", " : "", specs[i].name);
}

static int is_number(const pyval *v)
{
    return v->type == PY_NUM || v->type == PY_BOOL;
}

static int apply_one(optim_config *c, const char *arg, error_info *err)
{
    const char *k = "optimizer_args";
    const char *eq = strchr(arg, '=');
    if (!eq || strchr(eq + 1, '='))
        return error_set(err, "", 0, 0, k, "'%s': expected exactly one key=value", arg);
    size_t klen = (size_t)(eq - arg);
    const char *name = optim_kind_name(c->kind);
    if (klen == 2 && strncmp(arg, "lr", 2) == 0)
        return error_set(err, "", 0, 0, k, "'%s': lr is set by learning_rate, not optimizer_args",
                         arg);
    if (c->kind == OPTIM_SGD_NESTEROV && klen == 8 && strncmp(arg, "nesterov", 8) == 0)
        return error_set(err, "", 0, 0, k, "'%s': SGDNesterov always sets nesterov=True", arg);
    const arg_spec *sp = find_spec(c->kind, arg, klen);
    if (!sp) {
        char known[512];
        known_list(c->kind, known, sizeof known);
        return error_set(err, "", 0, 0, k, "'%s': %s has no argument '%.*s' (it takes: %s)", arg,
                         name, (int)klen, arg, known);
    }
    pyval v;
    int rc = pyliteral_parse(eq + 1, &v);
    if (rc)
        return error_set(err, "", 0, 0, k, "'%s': the value is not a %s", arg,
                         rc == -2 ? "tuple of numbers" : "Python literal (number, True, False, "
                                                         "None, tuple)");
    char *base = (char *)c;
    switch (sp->type) {
    case A_IGNORED:
        return 0;
    case A_ONLY:
        if (!is_number(&v) || v.num != sp->only)
            return error_set(err, "", 0, 0, k, "'%s': only %s=%s is supported", arg, sp->name,
                             sp->only == 0 ? "False" : sp->only == 1 ? "True" : "100");
        return 0;
    case A_NUM:
        if (!is_number(&v))
            return error_set(err, "", 0, 0, k, "'%s': %s must be a number", arg, sp->name);
        *(double *)(base + sp->off) = v.num;
        return 0;
    case A_INT:
        if (!is_number(&v) || !v.is_int || fabs(v.num) > 2e9)
            return error_set(err, "", 0, 0, k, "'%s': %s must be an integer", arg, sp->name);
        *(int *)(base + sp->off) = (int)v.num;
        return 0;
    case A_BOOL:
        if (!is_number(&v) && v.type != PY_NONE)
            return error_set(err, "", 0, 0, k, "'%s': %s must be True or False", arg, sp->name);
        *(int *)(base + sp->off) = v.type != PY_NONE && v.num != 0; /* Python truthiness */
        return 0;
    case A_PAIR:
        if (v.type != PY_TUPLE || v.nitems != 2)
            return error_set(err, "", 0, 0, k, "'%s': %s must be a pair of numbers, e.g. %s=0.9,0.99",
                             arg, sp->name, sp->name);
        *(double *)(base + sp->off) = v.items[0];
        *(double *)(base + sp->off2) = v.items[1];
        return 0;
    case A_NUM_NONE:
        if (v.type == PY_NONE) {
            if (sp->off2)
                *(int *)(base + sp->off2) = 0;
            else
                *(double *)(base + sp->off) = -1;
            return 0;
        }
        if (!is_number(&v))
            return error_set(err, "", 0, 0, k, "'%s': %s must be a number or None", arg, sp->name);
        *(double *)(base + sp->off) = v.num;
        if (sp->off2)
            *(int *)(base + sp->off2) = 1;
        return 0;
    }
    return 0;
}

int optim_config_apply_args(optim_config *c, const char *const *args, int nargs, error_info *err)
{
    for (int i = 0; i < nargs; i++)
        if (apply_one(c, args[i], err))
            return -1;
    /* sd-scripts: warmup_init needs relative_step, so it turns relative_step back on */
    if (c->kind == OPTIM_ADAFACTOR && !c->relative_step && c->warmup_init)
        c->relative_step = 1;
    return 0;
}
