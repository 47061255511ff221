/* golden_fixture.h — reading the golden fixtures tests/golden makes, in the plain-C tests:
 * a tensor by name as f32 (a missing or unreadable one counts as a failure, see check.h) and
 * the relative error the fixtures are compared with. */
#ifndef LORATTY_TESTS_GOLDEN_FIXTURE_H
#define LORATTY_TESTS_GOLDEN_FIXTURE_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "engine/safetensors.h"
#include "tests/check.h"

/* The tensor `name` of f as a malloc'd f32 array (its element count in *n when n), or NULL. */
static inline float *fixture_tensor(const safetensors_file *f, const char *name, size_t *n)
{
    const safetensors_tensor *t = safetensors_find(f, name);
    if (n)
        *n = 0;
    if (!t) {
        fprintf(stderr, "FAIL: %s missing\n", name);
        failures++;
        return NULL;
    }
    float *v = malloc((t->nelements ? t->nelements : 1) * sizeof *v);
    error_info err = {0};
    if (!v || safetensors_read_f32(t, v, &err) != 0)
        failures++;
    if (n)
        *n = t->nelements;
    return v;
}

/* max |got − want| over max |want| (the absolute error when want is all zero); infinite
 * when either holds a NaN */
static inline double fixture_rel_err(const float *got, const float *want, size_t n)
{
    double mx = 0.0, err = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) || isnan(want[i]))
            return INFINITY;
        if (fabs(want[i]) > mx)
            mx = fabs(want[i]);
        if (fabs((double)got[i] - want[i]) > err)
            err = fabs((double)got[i] - want[i]);
    }
    return err / (mx > 0.0 ? mx : 1.0);
}

#endif
