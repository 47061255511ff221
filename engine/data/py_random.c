/* py_random.c — Python's random.seed / shuffle (MT19937, mt19937ar's init_by_array); see
 * py_random.h. */
#include "engine/data/py_random.h"

#include <string.h>

#define MT_N 624
#define MT_M 397

static void init_genrand(py_random *r, uint32_t s)
{
    r->mt[0] = s;
    for (int i = 1; i < MT_N; i++)
        r->mt[i] = 1812433253u * (r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) + (uint32_t)i;
    r->index = MT_N;
}

static void init_by_array(py_random *r, const uint32_t *key, int len)
{
    init_genrand(r, 19650218u);
    int i = 1, j = 0;
    for (int k = MT_N > len ? MT_N : len; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++, j++;
        if (i >= MT_N) {
            r->mt[0] = r->mt[MT_N - 1];
            i = 1;
        }
        if (j >= len)
            j = 0;
    }
    for (int k = MT_N - 1; k; k--) {
        r->mt[i] = (r->mt[i] ^ ((r->mt[i - 1] ^ (r->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT_N) {
            r->mt[0] = r->mt[MT_N - 1];
            i = 1;
        }
    }
    r->mt[0] = 0x80000000u;   /* non-zero initial state */
}

void py_random_seed(py_random *r, long long n)
{
    /* CPython: the little-endian 32-bit words of abs(n), at least one */
    unsigned long long a = n < 0 ? 0ull - (unsigned long long)n : (unsigned long long)n;
    uint32_t key[2] = {(uint32_t)a, (uint32_t)(a >> 32)};
    init_by_array(r, key, key[1] ? 2 : 1);
}

static void twist(py_random *r)
{
    for (int i = 0; i < MT_N; i++) {
        uint32_t y = (r->mt[i] & 0x80000000u) | (r->mt[(i + 1) % MT_N] & 0x7fffffffu);
        r->mt[i] = r->mt[(i + MT_M) % MT_N] ^ (y >> 1) ^ ((y & 1u) ? 0x9908b0dfu : 0u);
    }
    r->index = 0;
}

uint32_t py_random_u32(py_random *r)
{
    if (r->index >= MT_N)
        twist(r);
    uint32_t y = r->mt[r->index++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

uint32_t py_random_below(py_random *r, uint32_t n)
{
    int k = 0;
    while (k < 32 && (n >> k))
        k++;
    uint32_t v;
    do
        v = py_random_u32(r) >> (32 - k);   /* getrandbits(k) */
    while (v >= n);
    return v;
}

void py_random_shuffle(py_random *r, void *items, size_t count, size_t size)
{
    unsigned char *p = items, tmp[256];
    for (size_t i = count; i-- > 1;) {
        size_t j = py_random_below(r, (uint32_t)(i + 1));
        for (size_t off = 0; off < size; off += sizeof tmp) {   /* swap in pieces */
            size_t c = size - off < sizeof tmp ? size - off : sizeof tmp;
            memcpy(tmp, p + i * size + off, c);
            memcpy(p + i * size + off, p + j * size + off, c);
            memcpy(p + j * size + off, tmp, c);
        }
    }
}
