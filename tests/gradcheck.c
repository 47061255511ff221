/* gradcheck.c — finite-difference gradient checks for the kernel tests (see gradcheck.h). */
#include "tests/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

gc_opts gc_default_opts(void)
{
    gc_opts o = { .h = 1e-2, .atol = 1e-3, .rtol = 1e-2, .max_checks = 0, .quiet = 0 };
    return o;
}

static int gc_close(double a, double b, double atol, double rtol)
{
    double m = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= atol + rtol * m; /* false for NaN too */
}

size_t gc_check(const char *name, gc_loss_fn f, void *ctx, float *x, const float *grad,
                size_t n, const gc_opts *opts)
{
    gc_opts o = opts ? *opts : gc_default_opts();
    size_t stride = 1;
    if (o.max_checks && n > o.max_checks)
        stride = (n + o.max_checks - 1) / o.max_checks;
    size_t failed = 0, checked = 0, worst = 0;
    double worst_err = -1.0, worst_num = 0.0;
    for (size_t i = 0; i < n; i += stride) {
        float saved = x[i];
        /* Step by the representable difference, not by h, so the divisor is exact. */
        float xp = saved + (float)o.h, xm = saved - (float)o.h;
        x[i] = xp;
        double lp = f(ctx);
        x[i] = xm;
        double lm = f(ctx);
        x[i] = saved;
        double num = (lp - lm) / ((double)xp - (double)xm);
        double ana = grad[i];
        double err = fabs(ana - num) / (o.atol + o.rtol * fmax(fabs(ana), fabs(num)));
        if (isnan(err))
            err = INFINITY;
        if (err > worst_err) {
            worst_err = err;
            worst = i;
            worst_num = num;
        }
        if (!gc_close(ana, num, o.atol, o.rtol)) {
            if (failed < 5)
                fprintf(stderr, "  %s[%zu]: analytic %.6g numeric %.6g\n", name, i, ana, num);
            failed++;
        }
        checked++;
    }
    if (failed || !o.quiet)
        printf("%-40s %s  %zu/%zu checked, worst [%zu] analytic %.6g numeric %.6g (%.2f of tol)\n",
               name, failed ? "FAIL" : "ok  ", checked, n, worst, n ? grad[worst] : 0.0,
               worst_num, worst_err);
    return failed;
}

size_t gc_expect_close(const char *name, const float *got, const float *want, size_t n,
                       double atol, double rtol)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        double m = fabs((double)want[i]);
        if (!(fabs((double)got[i] - want[i]) <= atol + rtol * m)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: got %.7g want %.7g\n", name, i, got[i], want[i]);
            bad++;
        }
    }
    printf("%-40s %s  %zu values\n", name, bad ? "FAIL" : "ok  ", n);
    return bad;
}

void gc_fill_uniform(float *x, size_t n, uint64_t *state, float lo, float hi)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        double u = (double)(z >> 11) / 9007199254740992.0; /* 53 bits -> [0, 1) */
        x[i] = lo + (float)(u * (hi - lo));
    }
}

double gc_dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

float *gc_zalloc(size_t n)
{
    float *p = calloc(n ? n : 1, sizeof *p);
    if (!p) {
        fprintf(stderr, "gradcheck: out of memory (%zu floats)\n", n);
        abort();
    }
    return p;
}
