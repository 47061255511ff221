/* gradcheck.h — finite-difference gradient checks for the kernel tests.
 *
 * A test wraps its op's forward in a loss function L(params) = Σ out·proj, with a fixed random
 * projection proj, so that dL/dout = proj is what it passes to the backward as dout. The
 * harness then perturbs one element of a parameter tensor at a time and compares the central
 * difference (L(x+h) − L(x−h)) / 2h with the analytic gradient.
 *
 * Why f32 central differences with h ≈ 1e-2 and a 1e-2 relative tolerance: the ops are
 * f32, so a double re-implementation would test a different program. With inputs of order 1,
 * truncation error is h²/6·|L'''| ≈ 2e-5, and roundoff is about ε_f32 · |L| / h ≈ 6e-8 · 10 /
 * 2e-2 ≈ 3e-5 because L is summed in double from f32 outputs; both are far below the
 * tolerance |analytic − numeric| ≤ atol + rtol · max(|analytic|, |numeric|) with atol 1e-3,
 * rtol 1e-2, while a wrong formula (a missing term, a factor off) errs by O(1) relative.
 * tests/test_gradcheck.c checks that a deliberately wrong gradient fails.
 */
#ifndef LORATTY_TESTS_GRADCHECK_H
#define LORATTY_TESTS_GRADCHECK_H

#include <stddef.h>
#include <stdint.h>

/* Runs the forward on the current parameter values and returns the scalar loss. */
typedef double (*gc_loss_fn)(void *ctx);

typedef struct gc_opts {
    double h;            /* finite-difference step */
    double atol, rtol;   /* pass when |a − n| ≤ atol + rtol · max(|a|, |n|) */
    size_t max_checks;   /* check at most this many elements (evenly spread); 0 = all */
    int quiet;           /* 1: print only failures */
} gc_opts;

/* h = 1e-2, atol = 1e-3, rtol = 1e-2, max_checks = 0, quiet = 0. */
gc_opts gc_default_opts(void);

/* Checks the analytic gradient grad[n] of x[n] against central differences of f.
 * x is perturbed and restored in place. Prints one summary line (and the worst elements on
 * failure). Returns the number of elements that failed (0 = pass). */
size_t gc_check(const char *name, gc_loss_fn f, void *ctx, float *x, const float *grad,
                size_t n, const gc_opts *opts);

/* Checks got[n] against want[n] with |got − want| ≤ atol + rtol · |want|; prints a line.
 * Returns the number of mismatches. For hand-computed forward values. */
size_t gc_expect_close(const char *name, const float *got, const float *want, size_t n,
                       double atol, double rtol);

/* Deterministic pseudo-random numbers (splitmix64), uniform in [lo, hi). */
void gc_fill_uniform(float *x, size_t n, uint64_t *state, float lo, float hi);

/* Σ a[i]·b[i] accumulated in double: the projected loss. */
double gc_dot(const float *a, const float *b, size_t n);

/* calloc that aborts the test on failure (tests only). */
float *gc_zalloc(size_t n);

#endif
