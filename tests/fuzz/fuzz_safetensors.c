/* fuzz_safetensors.c — libFuzzer target for the safetensors reader, writer and --inspect.
 *
 * Every input goes through safetensors_open_memory; an accepted one must be safe to use in
 * full (every tensor byte read, float tensors converted, the inspect report printed) and
 * must survive a round trip: written back with the writer and re-read, it gives the same
 * tensors and metadata, and writing that again gives identical bytes.
 *
 * Build and run (from the repository root; not part of `make check`):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
 *     -D_GNU_SOURCE -I. -Isrc tests/fuzz/fuzz_safetensors.c engine/safetensors.c \
 *     engine/safetensors_write.c engine/dtype.c engine/inspect.c src/error.c \
 *     -ljansson -o /tmp/fuzz_safetensors
 *   mkdir -p /tmp/st-corpus && /tmp/fuzz_safetensors -max_total_time=120 -max_len=4096 \
 *     /tmp/st-corpus
 * Any valid .safetensors files make good seeds (copy a few small ones into the corpus). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/inspect.h"
#include "engine/safetensors.h"

#define CHECK(cond)                                                                 \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

static FILE *devnull;

/* Builds a writer holding everything in f (data borrowed from f). */
static safetensors_writer *copy_of(const safetensors_file *f)
{
    safetensors_writer *w = safetensors_writer_new();
    CHECK(w);
    error_info err;
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        CHECK(safetensors_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data, &err) == 0);
    }
    for (size_t i = 0; i < safetensors_metadata_count(f); i++) {
        const char *k, *v;
        safetensors_metadata_at(f, i, &k, &v);
        CHECK(safetensors_writer_set_metadata(w, k, v, &err) == 0);
    }
    return w;
}

static void same_contents(const safetensors_file *a, const safetensors_file *b)
{
    CHECK(safetensors_count(a) == safetensors_count(b));
    for (size_t i = 0; i < safetensors_count(a); i++) {
        const safetensors_tensor *x = safetensors_tensor_at(a, i);
        const safetensors_tensor *y = safetensors_tensor_at(b, i);
        CHECK(strcmp(x->name, y->name) == 0);
        CHECK(x->dtype == y->dtype && x->ndim == y->ndim && x->nbytes == y->nbytes);
        CHECK(x->ndim == 0 || memcmp(x->shape, y->shape, (size_t)x->ndim * sizeof *x->shape) == 0);
        CHECK(x->nbytes == 0 || memcmp(x->data, y->data, x->nbytes) == 0);
        CHECK(safetensors_find(b, x->name) == y);
    }
    CHECK(safetensors_metadata_count(a) == safetensors_metadata_count(b));
    for (size_t i = 0; i < safetensors_metadata_count(a); i++) {
        const char *k, *v;
        safetensors_metadata_at(a, i, &k, &v);
        const char *v2 = safetensors_metadata_get(b, k);
        CHECK(v2 && strcmp(v, v2) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!devnull)
        devnull = fopen("/dev/null", "w");
    safetensors_file *f;
    error_info err;
    if (safetensors_open_memory(data, size, "fuzz", &f, &err) < 0) {
        CHECK(f == NULL && err.message[0]);
        return 0;
    }

    unsigned sum = 0;
    for (size_t i = 0; i < safetensors_count(f); i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        const unsigned char *p = t->data;
        CHECK(p >= data && t->nbytes <= size && p + t->nbytes <= data + size);
        for (size_t k = 0; k < t->nbytes; k++)
            sum += p[k];
        if (dtype_is_float_convertible(t->dtype)) {
            float *out = malloc((size_t)t->nelements * sizeof *out + 1);
            CHECK(out);
            CHECK(safetensors_read_f32(t, out, &err) == 0);
            free(out);
        }
    }
    (void)sum;
    inspect_print(f, "fuzz", devnull);

    safetensors_writer *w = copy_of(f);
    unsigned char *buf;
    size_t len;
    CHECK(safetensors_serialize(w, &buf, &len, &err) == 0);
    safetensors_file *g;
    if (safetensors_open_memory(buf, len, "roundtrip", &g, &err) != 0) {
        fprintf(stderr, "round trip refused: %s\n", err.message);
        abort();
    }
    same_contents(f, g);

    safetensors_writer *w2 = copy_of(g);
    unsigned char *buf2;
    size_t len2;
    CHECK(safetensors_serialize(w2, &buf2, &len2, &err) == 0);
    CHECK(len2 == len && memcmp(buf, buf2, len) == 0);

    free(buf2);
    safetensors_writer_free(w2);
    safetensors_close(g);
    free(buf);
    safetensors_writer_free(w);
    safetensors_close(f);
    return 0;
}
