/* optimizer.c — creating an optimizer: kind names, checks, the one allocation of all state,
 * lr access, step dispatch, schedule-free mode switches and state save/load.
 * The update rules themselves live in one file per kind (optimizer_<kind>.c). */
#include "engine/train/optimizer_impl.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const kind_names[OPTIM_KIND_COUNT] = {
    [OPTIM_ADAMW] = "AdamW",
    [OPTIM_ADAMW8BIT] = "AdamW8bit",
    [OPTIM_LION] = "Lion",
    [OPTIM_SGD_NESTEROV] = "SGDNesterov",
    [OPTIM_ADAFACTOR] = "Adafactor",
    [OPTIM_PRODIGY] = "Prodigy",
    [OPTIM_DADAPT_ADAM] = "DAdaptAdam",
    [OPTIM_ADAMW_SCHEDULEFREE] = "AdamWScheduleFree",
};

const char *optim_kind_name(optim_kind kind)
{
    return (unsigned)kind < OPTIM_KIND_COUNT ? kind_names[kind] : "?";
}

int optim_kind_from_name(const char *name, optim_kind *out, error_info *err)
{
    if (!name || !*name) { /* sd-scripts: an empty optimizer_type means AdamW */
        *out = OPTIM_ADAMW;
        return 0;
    }
    for (int k = 0; k < OPTIM_KIND_COUNT; k++)
        if (strcasecmp(name, kind_names[k]) == 0) {
            *out = (optim_kind)k;
            return 0;
        }
    return error_set(err, "", 0, 0, "optimizer_type",
                     "optimizer '%s' is not implemented (AdamW, AdamW8bit, Lion, SGDNesterov, "
                     "Adafactor, Prodigy, DAdaptAdam, AdamWScheduleFree)", name);
}

int64_t optim_param_numel(const optim_param *p)
{
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++)
        n *= p->shape[d];
    return n;
}

/* Floats and bytes of state tensor `ps` needs; fills its sizes (not yet its pointers). */
static void plan_param(const optim_config *c, const optim_param *p, optim_pstate *ps,
                       size_t *nf, size_t *nq)
{
    int64_t n = ps->n;
    *nf = 0;
    *nq = 0;
    switch (c->kind) {
    case OPTIM_ADAMW:
        *nf = 2 * (size_t)n;
        break;
    case OPTIM_ADAMW8BIT:
        /* bitsandbytes keeps 32-bit state for small tensors (numel < min_8bit_size) */
        if (c->optim_bits == 8 && n >= c->min_8bit_size) {
            ps->nblocks = (n + OPTIM_8BIT_BLOCK - 1) / OPTIM_8BIT_BLOCK;
            *nq = 2 * (size_t)n;
            *nf = 2 * (size_t)ps->nblocks;
        } else {
            *nf = 2 * (size_t)n;
        }
        break;
    case OPTIM_LION:
    case OPTIM_SGD_NESTEROV:
        *nf = (size_t)n;
        break;
    case OPTIM_ADAFACTOR:
        if (p->ndim >= 2) {
            ps->cols = p->shape[p->ndim - 1];
            ps->rows = p->shape[p->ndim - 2];
            ps->batch = n / (ps->cols * ps->rows);
            *nf = (size_t)(ps->batch * (ps->rows + ps->cols));
        } else {
            *nf = (size_t)n;
        }
        if (c->has_beta1)
            *nf += (size_t)n;
        break;
    case OPTIM_PRODIGY:
        ps->ns = (n + c->slice_p - 1) / c->slice_p;
        *nf = 2 * (size_t)ps->ns + (size_t)n * (c->beta1 > 0 ? 2 : 1);
        break;
    case OPTIM_DADAPT_ADAM:
        *nf = 3 * (size_t)n;
        break;
    case OPTIM_ADAMW_SCHEDULEFREE:
        *nf = 2 * (size_t)n;
        break;
    default:
        break;
    }
}

/* Points ps's state into f (floats) and q (bytes), in the order plan_param counted. */
static void place_param(const optim_config *c, const optim_param *p, optim_pstate *ps, float *f,
                        uint8_t *q)
{
    int64_t n = ps->n;
    switch (c->kind) {
    case OPTIM_ADAMW:
        ps->m = f, ps->v = f + n;
        break;
    case OPTIM_ADAMW8BIT:
        if (ps->nblocks) {
            ps->absmax1 = f, ps->absmax2 = f + ps->nblocks;
            ps->q1 = q, ps->q2 = q + n;
        } else {
            ps->m = f, ps->v = f + n;
        }
        break;
    case OPTIM_LION:
    case OPTIM_SGD_NESTEROV:
        ps->m = f;
        break;
    case OPTIM_ADAFACTOR:
        if (p->ndim >= 2) {
            ps->row = f, ps->col = f + ps->batch * ps->rows;
            f += ps->batch * (ps->rows + ps->cols);
        } else {
            ps->v = f;
            f += n;
        }
        if (c->has_beta1)
            ps->m = f;
        break;
    case OPTIM_PRODIGY:
        ps->s = f, ps->p0 = f + ps->ns, ps->v = f + 2 * ps->ns;
        if (c->beta1 > 0)
            ps->m = ps->v + n;
        break;
    case OPTIM_DADAPT_ADAM:
        ps->s = f, ps->m = f + n, ps->v = f + 2 * n;
        break;
    case OPTIM_ADAMW_SCHEDULEFREE:
        ps->z = f, ps->v = f + n;
        break;
    default:
        break;
    }
}

static int check_config(const optim_config *c, error_info *err)
{
    const char *k = "optimizer_args";
    if (!(c->eps > 0) && c->kind != OPTIM_LION && c->kind != OPTIM_SGD_NESTEROV)
        return error_set(err, "", 0, 0, k, "eps must be > 0 (got %g)", c->eps);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 <= 1))
        return error_set(err, "", 0, 0, k, "betas must lie in [0, 1) (got %g, %g)", c->beta1,
                         c->beta2);
    if (c->kind == OPTIM_SGD_NESTEROV && (!(c->momentum > 0) || c->dampening != 0))
        return error_set(err, "", 0, 0, k,
                         "SGDNesterov needs momentum > 0 and dampening = 0 (got %g, %g)",
                         c->momentum, c->dampening);
    if (c->kind == OPTIM_ADAMW8BIT && c->optim_bits != 8 && c->optim_bits != 32)
        return error_set(err, "", 0, 0, k, "optim_bits must be 8 or 32 (got %d)", c->optim_bits);
    if ((c->kind == OPTIM_PRODIGY || c->kind == OPTIM_DADAPT_ADAM) && !(c->d0 > 0))
        return error_set(err, "", 0, 0, k, "d0 must be > 0 (got %g)", c->d0);
    if (c->kind == OPTIM_PRODIGY && c->slice_p < 1)
        return error_set(err, "", 0, 0, k, "slice_p must be >= 1 (got %d)", c->slice_p);
    if (c->kind == OPTIM_ADAFACTOR && c->warmup_init && !c->relative_step)
        return error_set(err, "", 0, 0, k, "warmup_init=True requires relative_step=True");
    if (c->kind == OPTIM_ADAMW_SCHEDULEFREE && c->warmup_steps < 0)
        return error_set(err, "", 0, 0, k, "warmup_steps must be >= 0");
    return 0;
}

int optim_create(const optim_config *cfg, const optim_group *groups, int ngroups, optim **out,
                 error_info *err)
{
    *out = NULL;
    if (check_config(cfg, err))
        return -1;
    if (ngroups < 1)
        return error_set(err, "", 0, 0, "", "an optimizer needs at least one parameter group");
    int nparams = 0;
    double max_lr = 0;
    for (int g = 0; g < ngroups; g++) {
        if (groups[g].nparams < 0 || (groups[g].nparams && !groups[g].params))
            return error_set(err, "", 0, 0, "", "parameter group %d has no tensors", g);
        nparams += groups[g].nparams;
        double lr = groups[g].lr < 0 ? cfg->lr : groups[g].lr;
        if (lr > max_lr)
            max_lr = lr;
        for (int i = 0; i < groups[g].nparams; i++) {
            const optim_param *p = &groups[g].params[i];
            if (!p->data || p->ndim < 1 || p->ndim > OPTIM_MAX_DIMS)
                return error_set(err, "", 0, 0, "", "group %d tensor %d: no data or bad rank %d",
                                 g, i, p->ndim);
            for (int d = 0; d < p->ndim; d++)
                if (p->shape[d] < 1)
                    return error_set(err, "", 0, 0, "", "group %d tensor %d: empty dimension",
                                     g, i);
        }
    }
    /* D-Adaptation / Prodigy share one step size: every group runs at the max lr or at 0. */
    if (cfg->kind == OPTIM_PRODIGY || cfg->kind == OPTIM_DADAPT_ADAM)
        for (int g = 0; g < ngroups; g++) {
            double lr = groups[g].lr < 0 ? cfg->lr : groups[g].lr;
            if (lr != max_lr && lr != 0)
                return error_set(err, "", 0, 0, "learning_rate",
                                 "%s: different lr values in different parameter groups are "
                                 "only supported for values of 0 (group %d has %g, max %g)",
                                 optim_kind_name(cfg->kind), g, lr, max_lr);
        }

    optim *o = calloc(1, sizeof *o);
    if (!o)
        return error_set(err, "", 0, 0, "", "out of memory");
    o->cfg = *cfg;
    o->ngroups = ngroups;
    o->nparams = nparams;
    o->groups = calloc((size_t)ngroups, sizeof *o->groups);
    o->params = calloc((size_t)(nparams ? nparams : 1), sizeof *o->params);
    o->ps = calloc((size_t)(nparams ? nparams : 1), sizeof *o->ps);
    if (!o->groups || !o->params || !o->ps) {
        optim_free(o);
        return error_set(err, "", 0, 0, "", "out of memory");
    }
    int j = 0;
    size_t nf = 0, nq = 0;
    for (int g = 0; g < ngroups; g++) {
        optim_gstate *gs = &o->groups[g];
        gs->lr = groups[g].lr < 0 ? cfg->lr : groups[g].lr;
        gs->weight_decay = groups[g].weight_decay < 0 ? cfg->weight_decay : groups[g].weight_decay;
        gs->lr_max = -1.0;
        gs->train_mode = 1;
        gs->first = j;
        gs->count = groups[g].nparams;
        for (int i = 0; i < groups[g].nparams; i++, j++) {
            size_t f, q;
            o->params[j] = groups[g].params[i];
            o->ps[j].n = optim_param_numel(&o->params[j]);
            plan_param(cfg, &o->params[j], &o->ps[j], &f, &q);
            nf += f;
            nq += q;
        }
    }
    o->nfloats = nf;
    o->nq = nq;
    o->fstate = calloc(nf ? nf : 1, sizeof(float));
    o->qstate = calloc(nq ? nq : 1, 1);
    int64_t nmax = 1;
    for (j = 0; j < nparams; j++)
        nmax = o->ps[j].n > nmax ? o->ps[j].n : nmax;
    if (cfg->kind == OPTIM_ADAFACTOR)
        o->scratch = calloc((size_t)nmax, sizeof(float));
    if (!o->fstate || !o->qstate || (cfg->kind == OPTIM_ADAFACTOR && !o->scratch)) {
        optim_free(o);
        return error_set(err, "", 0, 0, "", "out of memory for %zu bytes of optimizer state",
                         nf * sizeof(float) + nq);
    }
    nf = nq = 0;
    for (j = 0; j < nparams; j++) {
        size_t f, q;
        optim_pstate tmp = o->ps[j];
        plan_param(cfg, &o->params[j], &tmp, &f, &q);
        place_param(cfg, &o->params[j], &o->ps[j], o->fstate + nf, o->qstate + nq);
        nf += f;
        nq += q;
    }
    o->sc.d = o->sc.d_max = cfg->d0;
    if (cfg->kind == OPTIM_ADAMW8BIT)
        optim_adamw8bit_init_maps(o);
    *out = o;
    return 0;
}

void optim_free(optim *o)
{
    if (!o)
        return;
    for (int j = 0; o->ps && j < o->nparams; j++)
        free(o->ps[j].y_kept);
    free(o->scratch);
    free(o->qstate);
    free(o->fstate);
    free(o->ps);
    free(o->params);
    free(o->groups);
    free(o);
}

void optim_set_lr(optim *o, int g, double lr)
{
    if (g >= 0 && g < o->ngroups)
        o->groups[g].lr = lr;
}

double optim_get_lr(const optim *o, int g)
{
    return g >= 0 && g < o->ngroups ? o->groups[g].lr : 0.0;
}

double optim_effective_lr(const optim *o, int g)
{
    if (g < 0 || g >= o->ngroups)
        return 0.0;
    const optim_gstate *gs = &o->groups[g];
    switch (o->cfg.kind) {
    case OPTIM_ADAFACTOR:
        if (gs->count == 0)
            return 0.0;
        return optim_adafactor_lr(o, gs, &o->ps[gs->first]);
    case OPTIM_PRODIGY:
    case OPTIM_DADAPT_ADAM:
        return o->sc.d * gs->lr;
    default:
        return gs->lr;
    }
}

int optim_step(optim *o, error_info *err)
{
    if (o->cfg.kind == OPTIM_ADAMW_SCHEDULEFREE && o->ngroups && !o->groups[0].train_mode)
        return error_set(err, "", 0, 0, "", "AdamWScheduleFree: step called in eval mode; call "
                                            "optim_train first");
    switch (o->cfg.kind) {
    case OPTIM_ADAMW: optim_adamw_step(o); break;
    case OPTIM_ADAMW8BIT: optim_adamw8bit_step(o); break;
    case OPTIM_LION: optim_lion_step(o); break;
    case OPTIM_SGD_NESTEROV: optim_sgd_step(o); break;
    case OPTIM_ADAFACTOR: optim_adafactor_step(o); break;
    case OPTIM_PRODIGY: optim_prodigy_step(o); break;
    case OPTIM_DADAPT_ADAM: optim_dadapt_adam_step(o); break;
    case OPTIM_ADAMW_SCHEDULEFREE: optim_schedulefree_step(o); break;
    default: return error_set(err, "", 0, 0, "", "unknown optimizer kind %d", (int)o->cfg.kind);
    }
    return 0;
}

void optim_train(optim *o)
{
    if (o->cfg.kind == OPTIM_ADAMW_SCHEDULEFREE)
        optim_schedulefree_swap(o, 1);
}

void optim_eval(optim *o)
{
    if (o->cfg.kind == OPTIM_ADAMW_SCHEDULEFREE)
        optim_schedulefree_swap(o, 0);
}

/* Saved state: header, global scalars, per-group and per-tensor scalars, floats, bytes. */
typedef struct state_header {
    char magic[8];
    int32_t kind, ngroups, nparams, pad;
    uint64_t nfloats, nq;
} state_header;

typedef struct gsaved {
    double lr, weight_decay, weight_sum, lr_max;
    int64_t k, train_mode;
} gsaved;

typedef struct psaved {
    int64_t step, inited;
} psaved;

int optim_param_count(const optim *o)
{
    return o->nparams;
}

const optim_param *optim_param_at(const optim *o, int i)
{
    return &o->params[i];
}

void optim_set_grad(optim *o, int i, const float *grad)
{
    if (i >= 0 && i < o->nparams)
        o->params[i].grad = grad;
}

size_t optim_state_size(const optim *o)
{
    return sizeof(state_header) + sizeof(optim_scalars) + (size_t)o->ngroups * sizeof(gsaved) +
           (size_t)o->nparams * sizeof(psaved) + o->nfloats * sizeof(float) + o->nq;
}

void optim_state_save(const optim *o, void *buf)
{
    unsigned char *b = buf;
    state_header h = { "LTOPTIM", (int32_t)o->cfg.kind, o->ngroups, o->nparams, 0,
                       o->nfloats, o->nq };
    memcpy(b, &h, sizeof h);
    b += sizeof h;
    memcpy(b, &o->sc, sizeof o->sc);
    b += sizeof o->sc;
    for (int g = 0; g < o->ngroups; g++) {
        const optim_gstate *s = &o->groups[g];
        gsaved v = { s->lr, s->weight_decay, s->weight_sum, s->lr_max, s->k, s->train_mode };
        memcpy(b, &v, sizeof v);
        b += sizeof v;
    }
    for (int j = 0; j < o->nparams; j++) {
        psaved v = { o->ps[j].step, o->ps[j].inited };
        memcpy(b, &v, sizeof v);
        b += sizeof v;
    }
    memcpy(b, o->fstate, o->nfloats * sizeof(float));
    b += o->nfloats * sizeof(float);
    memcpy(b, o->qstate, o->nq);
}

int optim_state_load(optim *o, const void *buf, size_t size, error_info *err)
{
    const unsigned char *b = buf;
    state_header h;
    if (size != optim_state_size(o))
        return error_set(err, "", 0, 0, "", "optimizer state: %zu bytes, expected %zu", size,
                         optim_state_size(o));
    memcpy(&h, b, sizeof h);
    if (memcmp(h.magic, "LTOPTIM", 8) != 0)
        return error_set(err, "", 0, 0, "", "optimizer state: not a loratty optimizer state");
    if (h.kind != (int32_t)o->cfg.kind || h.ngroups != o->ngroups || h.nparams != o->nparams ||
        h.nfloats != o->nfloats || h.nq != o->nq)
        return error_set(err, "", 0, 0, "",
                         "optimizer state: saved for %s with %d groups and %d tensors, this is "
                         "%s with %d groups and %d tensors",
                         optim_kind_name((optim_kind)h.kind), h.ngroups, h.nparams,
                         optim_kind_name(o->cfg.kind), o->ngroups, o->nparams);
    b += sizeof h;
    memcpy(&o->sc, b, sizeof o->sc);
    b += sizeof o->sc;
    for (int g = 0; g < o->ngroups; g++) {
        gsaved v;
        memcpy(&v, b, sizeof v);
        b += sizeof v;
        optim_gstate *s = &o->groups[g];
        s->lr = v.lr, s->weight_decay = v.weight_decay, s->weight_sum = v.weight_sum;
        s->lr_max = v.lr_max, s->k = v.k, s->train_mode = v.train_mode;
    }
    for (int j = 0; j < o->nparams; j++) {
        psaved v;
        memcpy(&v, b, sizeof v);
        b += sizeof v;
        o->ps[j].step = v.step, o->ps[j].inited = v.inited;
    }
    memcpy(o->fstate, b, o->nfloats * sizeof(float));
    b += o->nfloats * sizeof(float);
    memcpy(o->qstate, b, o->nq);
    return 0;
}
