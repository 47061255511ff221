/* inspect.c — the report behind `loratty --inspect`: path and size, metadata sorted by key
 * (long values cut to one line), every tensor sorted by name with dtype and shape, totals per
 * dtype, and a guess at what the file is (a kohya LoRA: module count and ranks). */
#include "engine/inspect.h"

#include <stdlib.h>
#include <string.h>

#include "engine/models/checkpoint.h"
#include "engine/safetensors.h"

static const char *plural(size_t n)
{
    return n == 1 ? "" : "s";
}

/* Longest metadata value shown in full, in bytes; ss_tag_frequency and friends are cut. */
#define VALUE_MAX 100

static void print_size(FILE *out, unsigned long long bytes)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) {
        fprintf(out, "%llu bytes", bytes);
        return;
    }
    double v = (double)bytes / 1024;
    int u = 0;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    fprintf(out, "%llu bytes (%.1f %s)", bytes, v, units[u]);
}

/* One line of at most VALUE_MAX bytes: control characters become spaces, a cut never splits
 * a UTF-8 sequence, and a cut value ends with "… (N bytes)". */
static void print_value(FILE *out, const char *v)
{
    size_t len = strlen(v);
    size_t show = len;
    if (len > VALUE_MAX) {
        show = VALUE_MAX;
        while (show > 0 && ((unsigned char)v[show] & 0xC0) == 0x80)
            show--;
    }
    for (size_t i = 0; i < show; i++) {
        unsigned char c = (unsigned char)v[i];
        fputc(c < 0x20 || c == 0x7f ? ' ' : c, out);
    }
    if (show < len)
        fprintf(out, "… (%zu bytes)", len);
    fputc('\n', out);
}

/* Terminal cells a UTF-8 string takes, counting one per code point. */
static int cells(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

/* Prints s padded to `width` cells; control characters, which a hostile file could use to
 * drive the terminal, are shown as '?'. */
static void print_padded(FILE *out, const char *s, int width)
{
    for (const char *p = s; *p; p++)
        fputc((unsigned char)*p < 0x20 || *p == 0x7f ? '?' : *p, out);
    for (int n = cells(s); n < width; n++)
        fputc(' ', out);
}

static void print_metadata(const safetensors_file *f, FILE *out)
{
    size_t n = safetensors_metadata_count(f);
    if (n == 0) {
        fprintf(out, "\nmetadata: none\n");
        return;
    }
    fprintf(out, "\nmetadata (%zu):\n", n);
    int width = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        safetensors_metadata_at(f, i, &k, &v);
        int len = cells(k);
        if (len > width)
            width = len < 40 ? len : 40;
    }
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        safetensors_metadata_at(f, i, &k, &v);
        fputs("  ", out);
        print_padded(out, k, width);
        fputs("  ", out);
        print_value(out, v);
    }
}

static void print_tensors(const safetensors_file *f, FILE *out)
{
    size_t n = safetensors_count(f);
    fprintf(out, "\ntensors (%zu):\n", n);
    int width = 0;
    for (size_t i = 0; i < n; i++) {
        int len = cells(safetensors_tensor_at(f, i)->name);
        if (len > width)
            width = len;
    }
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        fputs("  ", out);
        print_padded(out, t->name, width);
        fprintf(out, "  %-7s [", dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            fprintf(out, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        fprintf(out, "]\n");
    }
}

static void print_totals(const safetensors_file *f, FILE *out)
{
    size_t count[DTYPE_COUNT] = {0};
    unsigned long long params[DTYPE_COUNT] = {0}, bytes[DTYPE_COUNT] = {0}, total = 0;
    size_t n = safetensors_count(f);
    for (size_t i = 0; i < n; i++) {
        const safetensors_tensor *t = safetensors_tensor_at(f, i);
        count[t->dtype]++;
        params[t->dtype] += t->nelements;
        bytes[t->dtype] += t->nbytes;
        total += t->nelements;
    }
    fprintf(out, "\ntotals: %zu tensors, %llu parameters\n", n, total);
    for (int d = 0; d < DTYPE_COUNT; d++) {
        if (!count[d])
            continue;
        fprintf(out, "  %-7s %zu tensor%s, %llu parameters, ", dtype_name((dtype_t)d),
                count[d], plural(count[d]), params[d]);
        print_size(out, bytes[d]);
        fputc('\n', out);
    }
}

static const char *const lora_prefixes[] = {"lora_unet_", "lora_te_", "lora_te1_", "lora_te2_"};

static int ends_with(const char *s, size_t len, const char *suffix)
{
    size_t n = strlen(suffix);
    return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? -1 : x > y;
}

/* kohya LoRA keys: lora_{unet,te,te1,te2}_<module>.{lora_down.weight,lora_up.weight,alpha}.
 * Tensors are in name order, so the tensors of one module are adjacent. The rank is the
 * first dimension of lora_down; alpha is a scalar (sd-scripts uses the rank when absent). */
static int print_kohya_lora(const safetensors_file *f, FILE *out)
{
    size_t n = safetensors_count(f);
    size_t modules = 0, unet = 0, other = 0, nranks = 0, nalphas = 0;
    uint64_t *ranks = malloc((n ? n : 1) * sizeof *ranks);
    float *alphas = malloc((n ? n : 1) * sizeof *alphas);
    if (!ranks || !alphas) {
        free(ranks);
        free(alphas);
        return 0;
    }
    for (size_t i = 0; i < n;) {
        const char *name = safetensors_tensor_at(f, i)->name;
        int is_unet = -1;
        for (size_t p = 0; p < sizeof lora_prefixes / sizeof *lora_prefixes; p++)
            if (strncmp(name, lora_prefixes[p], strlen(lora_prefixes[p])) == 0)
                is_unet = p == 0;
        const char *dot = strchr(name, '.');
        if (is_unet < 0 || !dot) {
            other++;
            i++;
            continue;
        }
        size_t mlen = (size_t)(dot - name) + 1;
        int down = 0, up = 0, has_alpha = 0;
        size_t unknown = 0;
        uint64_t rank = 0;
        float alpha = 0;
        size_t j = i;
        for (; j < n && strncmp(safetensors_tensor_at(f, j)->name, name, mlen) == 0; j++) {
            const safetensors_tensor *t = safetensors_tensor_at(f, j);
            size_t len = strlen(t->name);
            if (ends_with(t->name, len, ".lora_down.weight") && t->ndim >= 2) {
                down = 1;
                rank = (uint64_t)t->shape[0];
            } else if (ends_with(t->name, len, ".lora_up.weight")) {
                up = 1;
            } else if (ends_with(t->name, len, ".alpha") && t->nelements == 1 &&
                       dtype_to_f32(t->dtype, t->data, &alpha, 1) == 0) {
                has_alpha = 1;
            } else {
                unknown++;
            }
        }
        if (down && up) {
            modules++;
            unet += (size_t)is_unet;
            ranks[nranks++] = rank;
            if (has_alpha)
                alphas[nalphas++] = alpha;
            other += unknown;
        } else {
            other += j - i;
        }
        i = j;
    }
    if (modules) {
        qsort(ranks, nranks, sizeof *ranks, cmp_u64);
        fprintf(out, "kind: kohya LoRA, %zu module%s (%zu UNet, %zu text encoder), rank%s ",
                modules, plural(modules), unet, modules - unet,
                ranks[0] != ranks[nranks - 1] ? "s" : "");
        for (size_t i = 0; i < nranks; i++)
            if (i == 0 || ranks[i] != ranks[i - 1])
                fprintf(out, "%s%llu", i ? ", " : "", (unsigned long long)ranks[i]);
        if (nalphas) {
            qsort(alphas, nalphas, sizeof *alphas, cmp_float);
            fprintf(out, ", alpha%s ", alphas[0] != alphas[nalphas - 1] ? "s" : "");
            for (size_t i = 0; i < nalphas; i++)
                if (i == 0 || alphas[i] != alphas[i - 1])
                    fprintf(out, "%s%g", i ? ", " : "", alphas[i]);
        }
        fputc('\n', out);
        if (nalphas < modules)
            fprintf(out, "  %zu module%s without alpha (taken as the rank)\n",
                    modules - nalphas, plural(modules - nalphas));
        if (other)
            fprintf(out, "  %zu tensor%s not part of a lora_down/lora_up pair\n", other,
                    plural(other));
    }
    free(ranks);
    free(alphas);
    return modules > 0;
}

static void print_kind(const safetensors_file *f, FILE *out)
{
    fputc('\n', out);
    if (print_kohya_lora(f, out))
        return;
    /* Model family from the key layout and shapes (engine/models/checkpoint_detect.c). */
    ckpt_detection d;
    ckpt_detect_file(f, NULL, &d);
    if (d.family == CKPT_UNKNOWN && !d.has_unet) {
        fprintf(out, "kind: not recognised\n");
        return;
    }
    fprintf(out, "kind: %s%s\n", d.text, d.loadable ? "" : " (loratty cannot train on it)");
}

void inspect_print(const safetensors_file *f, const char *label, FILE *out)
{
    fprintf(out, "file: %s\nsize: ", label);
    print_size(out, safetensors_file_size(f));
    fprintf(out, ", header %llu bytes\n", (unsigned long long)safetensors_header_size(f));
    print_metadata(f, out);
    print_tensors(f, out);
    print_totals(f, out);
    print_kind(f, out);
}

int inspect_safetensors(const char *path, FILE *out, error_info *err)
{
    safetensors_file *f;
    if (safetensors_open(path, &f, err) < 0)
        return -1;
    inspect_print(f, path, out);
    safetensors_close(f);
    return 0;
}
