/* py_random.h — Python's `random` module where sd-scripts' results depend on it: the
 * Mersenne Twister seeded from an integer as random.seed(n) seeds it (init_by_array over the
 * 32-bit words of |n|), and random.shuffle's Fisher–Yates with _randbelow (getrandbits of
 * n.bit_length() bits, redrawn while >= n). sd-scripts' split_train_val shuffles a subset's
 * images this way, so the same validation_seed holds out the same images. */
#ifndef LORATTY_PY_RANDOM_H
#define LORATTY_PY_RANDOM_H

#include <stddef.h>
#include <stdint.h>

typedef struct py_random {
    uint32_t mt[624];
    int index;
} py_random;

/* random.seed(n) for an integer n (Python hashes other types first; not needed here) */
void py_random_seed(py_random *r, long long n);
/* the next 32-bit output (genrand_uint32) */
uint32_t py_random_u32(py_random *r);
/* random._randbelow(n) for 1 <= n < 2^32 */
uint32_t py_random_below(py_random *r, uint32_t n);
/* random.shuffle on an array of `count` elements of `size` bytes */
void py_random_shuffle(py_random *r, void *items, size_t count, size_t size);

#endif
