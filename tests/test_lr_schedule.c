/* test_lr_schedule.c — every sd-scripts LR scheduler against the lr the reference library
 * produced at each of 100 steps (tests/fixtures/optim/lr_schedules.json, made by
 * tests/golden/make_optimizer_fixtures.py through transformers / diffusers with sd-scripts'
 * get_scheduler_fix dispatch, and torch.optim.lr_scheduler classes for lr_scheduler_type), for
 * two parameter groups, to 1e-6 relative; the errors sd-scripts and torch raise; and the
 * schedule-free optimizer's dummy scheduler. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/train/lr_schedule.h"


#include "tests/check.h"

/* int_or_float: a JSON real is a ratio of the training steps, an integer a step count. */
static void steps_opt(json_t *v, double *val, int *is_ratio)
{
    *is_ratio = json_is_real(v);
    *val = json_number_value(v);
}

static void test_golden(const char *path)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    if (!root)
        return;
    size_t i;
    json_t *c;
    json_array_foreach(root, i, c) {
        lr_schedule_options o;
        lr_schedule_options_init(&o);
        o.name = json_string_value(json_object_get(c, "lr_scheduler"));
        o.lr = json_number_value(json_object_get(c, "learning_rate"));
        o.max_train_steps = json_integer_value(json_object_get(c, "max_train_steps"));
        steps_opt(json_object_get(c, "lr_warmup_steps"), &o.warmup, &o.warmup_is_ratio);
        steps_opt(json_object_get(c, "lr_decay_steps"), &o.decay, &o.decay_is_ratio);
        o.num_cycles = (int)json_integer_value(json_object_get(c, "lr_scheduler_num_cycles"));
        o.power = json_number_value(json_object_get(c, "lr_scheduler_power"));
        json_t *ts = json_object_get(c, "lr_scheduler_timescale");
        o.timescale = json_is_null(ts) ? 0 : json_integer_value(ts);
        json_t *mr = json_object_get(c, "lr_scheduler_min_lr_ratio");
        o.min_lr_ratio = json_is_null(mr) ? -1 : json_number_value(mr);
        json_t *ja = json_object_get(c, "lr_scheduler_args");
        const char *args[8];
        o.nargs = (int)json_array_size(ja);
        for (int a = 0; a < o.nargs && a < 8; a++)
            args[a] = json_string_value(json_array_get(ja, (size_t)a));
        o.args = args;
        json_t *type = json_object_get(c, "lr_scheduler_type");
        o.type = type ? json_string_value(type) : NULL;
        lr_schedule s;
        error_info err;
        if (lr_schedule_setup(&s, &o, &err)) {
            CHECK(0, "case %zu (%s): %s", i, o.name, err.message);
            continue;
        }
        /* every group: the second one's base lr is a quarter (eta_min stays absolute) */
        json_t *lrs = json_object_get(c, "lr"), *lrs2 = json_object_get(c, "lr_group2");
        double worst = 0;
        const char *label = o.type && o.type[0] ? o.type : o.name;
        for (size_t t = 0; t < json_array_size(lrs); t++)
            for (int g = 0; g < (lrs2 ? 2 : 1); g++) {
                double ref = json_number_value(json_array_get(g ? lrs2 : lrs, t));
                double got = lr_schedule_lr(&s, (int64_t)t, g ? o.lr / 4 : o.lr);
                double e = fabs(got - ref) / fmax(fabs(ref), 1e-12);
                worst = fmax(worst, e);
                CHECK(e <= 1e-6, "case %zu (%s) group %d step %zu: %.10g, reference %.10g", i, label, g,
                      t, got, ref);
                if (!g && (!o.type || !o.type[0]))   /* the LambdaLR schedules' factor too */
                    CHECK(fabs(o.lr * lr_schedule_factor(&s, (int64_t)t) - got) <= 1e-15,
                          "case %zu: the factor and the lr disagree", i);
            }
        printf("  %-27s case %2zu: max relative error %.2e over %zu steps\n", label, i, worst,
               json_array_size(lrs));
    }
    json_decref(root);
}

static int setup_fails(const char *name, double warmup, const char *arg, double min_lr_ratio,
                       const char *needle)
{
    lr_schedule_options o;
    lr_schedule_options_init(&o);
    o.name = name;
    o.lr = 1e-3;
    o.max_train_steps = 100;
    o.warmup = warmup;
    o.min_lr_ratio = min_lr_ratio;
    const char *args[1] = { arg };
    o.args = args;
    o.nargs = arg ? 1 : 0;
    lr_schedule s;
    error_info err = { 0 };
    int rc = lr_schedule_setup(&s, &o, &err);
    return rc != 0 && strstr(err.message, needle) != NULL;
}

static int torch_fails(const char *type, double warmup, const char *arg, const char *key,
                       const char *needle)
{
    lr_schedule_options o;
    lr_schedule_options_init(&o);
    o.type = type;
    o.lr = 1e-3;
    o.max_train_steps = 100;
    o.warmup = warmup;
    const char *args[1] = {arg};
    o.args = args;
    o.nargs = arg ? 1 : 0;
    lr_schedule s;
    error_info err = {0};
    int rc = lr_schedule_setup(&s, &o, &err);
    if (rc == 0 || !strstr(err.message, needle) || strcmp(err.key, key))
        fprintf(stderr, "%s %s: %s (%s)\n", type, arg ? arg : "", err.message, err.key);
    return rc != 0 && strstr(err.message, needle) != NULL && !strcmp(err.key, key);
}

static void test_errors(void)
{
    /* lr_scheduler_type: sd-scripts raises for warmup; torch for missing or bad arguments */
    CHECK(torch_fails("CosineAnnealingLR", 10, "T_max=100", "lr_warmup_steps", "num_warmup_steps"),
          "warmup with a torch class");
    CHECK(torch_fails("CosineAnnealingLR", 0, NULL, "lr_scheduler_args", "T_max"), "no T_max");
    CHECK(torch_fails("MultiStepLR", 0, "milestones='a'", "lr_scheduler_args", "list"), "milestones");
    CHECK(torch_fails("StepLR", 0, "step_size=1.5", "lr_scheduler_args", "integer"), "step_size");
    CHECK(torch_fails("ExponentialLR", 0, "gamma=(0.9,0.8)", "lr_scheduler_args", "number"), "gamma tuple");
    CHECK(torch_fails("LinearLR", 0, "start_factor=0", "lr_scheduler_args", "(0, 1]"), "start 0");
    CHECK(torch_fails("OneCycleLR", 0, "max_lr=0.1", "lr_scheduler_type", "not a scheduler"),
          "unsupported class");
    CHECK(torch_fails("StepLR", 0, "T_max=3", "lr_scheduler_args", "takes no argument"), "wrong arg");
    {   /* a schedule-free optimizer: sd-scripts' dummy scheduler keeps the lr */
        lr_schedule_options o;
        lr_schedule_options_init(&o);
        o.name = "cosine";
        o.type = "StepLR";
        o.lr = 1e-3;
        o.max_train_steps = 100;
        o.warmup = 10;
        o.schedule_free = 1;
        lr_schedule s;
        error_info err = {0};
        CHECK(lr_schedule_setup(&s, &o, &err) == 0 && lr_schedule_lr(&s, 0, 2e-3) == 2e-3 &&
                  lr_schedule_lr(&s, 90, 2e-3) == 2e-3,
              "schedule-free: the lr moved (%s)", err.message);
    }
    CHECK(setup_fails("constant", 10, NULL, -1, "num_warmup_steps"), "constant with warmup");
    CHECK(setup_fails("adafactor:0.001", 5, NULL, -1, "num_warmup_steps"), "adafactor warmup");
    CHECK(setup_fails("cosine_annealing", 0, NULL, -1, "not a scheduler"), "unknown");
    CHECK(setup_fails("cosine_with_min_lr", 10, NULL, -1, "min_lr"), "min_lr missing");
    CHECK(setup_fails("cosine_with_min_lr", 10, "min_lr=1e-5", 0.1, "Only one"), "both min_lr");
    CHECK(setup_fails("piecewise_constant", 0, NULL, -1, "step_rules"), "no rules");
    CHECK(setup_fails("piecewise_constant", 0, "step_rules=\"1:x,0.1\"", -1, "integer"), "rule");
    CHECK(setup_fails("polynomial", 10, "lr_end=0.1", -1, "smaller"), "lr_end too big");
    CHECK(setup_fails("cosine_with_restarts", 10, "num_cycles=2", -1, "num_cycles"), "dup arg");
    CHECK(setup_fails("warmup_stable_decay", 10, "decay_type='exp'", -1, "1-sqrt"), "wsd type");
    CHECK(setup_fails("linear", 10, "power", -1, "key=value"), "not key=value");
    lr_schedule_options o;
    lr_schedule_options_init(&o);
    o.name = "adafactor:0.001";
    lr_schedule s;
    error_info err;
    CHECK(lr_schedule_setup(&s, &o, &err) == 0 && lr_schedule_factor(&s, 5) == 1.0, "adafactor");
}

int main(void)
{
    const char *top = getenv("top_srcdir");
    char path[1200];
    snprintf(path, sizeof path, "%s/tests/fixtures/optim/lr_schedules.json", top ? top : ".");
    test_golden(path);
    test_errors();
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
