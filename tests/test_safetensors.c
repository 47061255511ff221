/* test_safetensors.c — checks engine/safetensors and engine/inspect: files written with
 * every common dtype and shape (0-d scalar, empty tensor, metadata with escapes) read back
 * bit-exactly; the header and data order match the Python library byte for byte; each kind
 * of malformed file is refused with its own message; a failed write leaves the old file and
 * no temporary behind; and `--inspect` prints metadata, tensors, totals and the LoRA summary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/inspect.h"
#include "engine/safetensors.h"

static char tmpdir[64];

static void path_in_tmp(char *buf, size_t size, const char *name)
{
    snprintf(buf, size, "%s/%s", tmpdir, name);
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    fclose(fp);
}

/* Entries of tmpdir whose name contains `part` (temporary files start with ".NAME."). */
static int count_entries(const char *part)
{
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, part))
            n++;
    closedir(d);
    return n;
}

static void add(safetensors_writer *w, const char *name, dtype_t dt, int ndim,
                const int64_t *shape, const void *data)
{
    error_info err = {0};
    if (safetensors_writer_add(w, name, dt, ndim, shape, data, &err) < 0)
        fail_msg("add %s: %s", name, err.message);
}

static void set_meta(safetensors_writer *w, const char *k, const char *v)
{
    error_info err = {0};
    if (safetensors_writer_set_metadata(w, k, v, &err) < 0)
        fail_msg("metadata %s: %s", k, err.message);
}

static void test_roundtrip(void **state)
{
    (void)state;
    const float f32[6] = {0, 1, -2.5f, 3e-40f, 1e30f, -0.0f};
    const uint16_t f16[4] = {0x3C00, 0x7BFF, 0x0001, 0xFC00};
    const uint16_t bf16[4] = {0x3F80, 0xC000, 0x7F80, 0x0001};
    const double f64[1] = {0.1};
    const float alpha = 4.0f;
    const int64_t i64[2] = {-1, INT64_MAX};
    const int32_t i32[1] = {-7};
    const int16_t i16[1] = {300};
    const int8_t i8[2] = {-128, 127};
    const uint8_t u8[3] = {0, 128, 255}, boolean[1] = {1}, fp8[2] = {0x38, 0xC0};
    const int64_t s23[2] = {2, 3}, s4[1] = {4}, s22[2] = {2, 2}, s1[1] = {1}, s2[1] = {2},
                  s3[1] = {3}, s03[2] = {0, 3};

    safetensors_writer *w = safetensors_writer_new();
    assert_non_null(w);
    add(w, "b.weight", DTYPE_F32, 2, s23, f32);
    add(w, "a.half", DTYPE_F16, 1, s4, f16);
    add(w, "c.bf16", DTYPE_BF16, 2, s22, bf16);
    add(w, "d.f64", DTYPE_F64, 1, s1, f64);
    add(w, "e.alpha", DTYPE_F32, 0, NULL, &alpha);
    add(w, "empty", DTYPE_F32, 2, s03, NULL);
    add(w, "i64", DTYPE_I64, 1, s2, i64);
    add(w, "i32", DTYPE_I32, 1, s1, i32);
    add(w, "i16", DTYPE_I16, 1, s1, i16);
    add(w, "i8", DTYPE_I8, 1, s2, i8);
    add(w, "u8", DTYPE_U8, 1, s3, u8);
    add(w, "bool", DTYPE_BOOL, 1, s1, boolean);
    add(w, "f8", DTYPE_F8_E4M3, 1, s2, fp8);
    set_meta(w, "ss_network_dim", "8");
    set_meta(w, "format", "pt");
    set_meta(w, "unicode", "é ✓");
    set_meta(w, "escapes", "a\"b\\c\n\t\x01/");
    set_meta(w, "format", "pt2");   /* replaces */

    char path[128];
    path_in_tmp(path, sizeof path, "roundtrip.safetensors");
    error_info err = {0};
    if (safetensors_write(path, w, &err) < 0)
        fail_msg("write: %s", err.message);
    unsigned char *mem;
    size_t memlen;
    assert_int_equal(safetensors_serialize(w, &mem, &memlen, &err), 0);
    safetensors_writer_free(w);

    size_t filelen;
    unsigned char *filebytes = slurp(path, &filelen);
    assert_int_equal(filelen, memlen);
    assert_memory_equal(filebytes, mem, memlen);
    free(filebytes);
    free(mem);
    assert_int_equal(count_entries(".roundtrip.safetensors."), 0);

    safetensors_file *f;
    if (safetensors_open(path, &f, &err) < 0)
        fail_msg("open: %s", err.message);
    assert_int_equal(safetensors_count(f), 13);
    assert_int_equal(safetensors_header_size(f) % 8, 0);

    const struct { const char *name; dtype_t dt; int ndim; const int64_t *shape;
                   const void *data; size_t nbytes; } want[] = {
        {"b.weight", DTYPE_F32, 2, s23, f32, 24}, {"a.half", DTYPE_F16, 1, s4, f16, 8},
        {"c.bf16", DTYPE_BF16, 2, s22, bf16, 8},  {"d.f64", DTYPE_F64, 1, s1, f64, 8},
        {"e.alpha", DTYPE_F32, 0, NULL, &alpha, 4}, {"empty", DTYPE_F32, 2, s03, NULL, 0},
        {"i64", DTYPE_I64, 1, s2, i64, 16},       {"i32", DTYPE_I32, 1, s1, i32, 4},
        {"i16", DTYPE_I16, 1, s1, i16, 2},        {"i8", DTYPE_I8, 1, s2, i8, 2},
        {"u8", DTYPE_U8, 1, s3, u8, 3},           {"bool", DTYPE_BOOL, 1, s1, boolean, 1},
        {"f8", DTYPE_F8_E4M3, 1, s2, fp8, 2},
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        const safetensors_tensor *t = safetensors_find(f, want[i].name);
        if (!t)
            fail_msg("tensor %s missing", want[i].name);
        assert_int_equal(t->dtype, want[i].dt);
        assert_int_equal(t->ndim, want[i].ndim);
        for (int d = 0; d < t->ndim; d++)
            assert_int_equal(t->shape[d], want[i].shape[d]);
        assert_int_equal(t->nbytes, want[i].nbytes);
        if (want[i].nbytes)
            assert_memory_equal(t->data, want[i].data, want[i].nbytes);
    }
    assert_null(safetensors_find(f, "nope"));
    assert_int_equal(safetensors_find(f, "e.alpha")->nelements, 1);
    assert_int_equal(safetensors_find(f, "empty")->nelements, 0);

    /* Iteration is in name order. */
    for (size_t i = 1; i < safetensors_count(f); i++)
        assert_true(strcmp(safetensors_tensor_at(f, i - 1)->name,
                           safetensors_tensor_at(f, i)->name) < 0);
    assert_null(safetensors_tensor_at(f, 13));

    /* Data order: dtype descending in the crate's enum order, then name. */
    const char *order[] = {"i64", "d.f64", "b.weight", "e.alpha", "empty", "i32", "c.bf16",
                           "a.half", "i16", "f8", "i8", "u8", "bool"};
    uint64_t pos = 0;
    for (size_t i = 0; i < 13; i++) {
        const safetensors_tensor *t = safetensors_find(f, order[i]);
        if (t->offset != pos)
            fail_msg("%s at offset %llu, expected %llu", order[i],
                     (unsigned long long)t->offset, (unsigned long long)pos);
        pos += t->nbytes;
    }

    assert_string_equal(safetensors_metadata_get(f, "format"), "pt2");
    assert_string_equal(safetensors_metadata_get(f, "unicode"), "é ✓");
    assert_string_equal(safetensors_metadata_get(f, "escapes"), "a\"b\\c\n\t\x01/");
    assert_null(safetensors_metadata_get(f, "missing"));
    assert_int_equal(safetensors_metadata_count(f), 4);
    const char *k, *v;
    safetensors_metadata_at(f, 0, &k, &v);
    assert_string_equal(k, "escapes");

    float out[6];
    assert_int_equal(safetensors_read_f32(safetensors_find(f, "b.weight"), out, &err), 0);
    assert_memory_equal(out, f32, sizeof f32);
    assert_int_equal(safetensors_read_f32(safetensors_find(f, "a.half"), out, &err), 0);
    assert_true(out[0] == 1.0f && out[1] == 65504.0f && out[2] == 0x1p-24f && out[3] < -1e30f);
    assert_int_equal(safetensors_read_f32(safetensors_find(f, "c.bf16"), out, &err), 0);
    assert_true(out[0] == 1.0f && out[1] == -2.0f);
    assert_int_equal(safetensors_read_f32(safetensors_find(f, "d.f64"), out, &err), 0);
    assert_true(out[0] == 0.1f);
    assert_int_equal(safetensors_read_f32(safetensors_find(f, "i32"), out, &err), -1);
    assert_non_null(strstr(err.message, "cannot read I32 as f32"));
    assert_string_equal(err.file, path);
    safetensors_close(f);
}

/* Bytes from the Rust crate's own serialization test: one F32 [1,2,3] tensor "attn.0". */
static void test_header_exact(void **state)
{
    (void)state;
    const float vals[6] = {0, 1, 2, 3, 4, 5};
    const int64_t s123[3] = {1, 2, 3};
    safetensors_writer *w = safetensors_writer_new();
    add(w, "attn.0", DTYPE_F32, 3, s123, vals);
    unsigned char *buf;
    size_t len;
    error_info err;
    assert_int_equal(safetensors_serialize(w, &buf, &len, &err), 0);
    const char hdr[] = "{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    assert_int_equal(len, 8 + 64 + 24);
    assert_int_equal(buf[0], 64);
    assert_memory_equal(buf + 1, "\0\0\0\0\0\0\0", 7);
    assert_memory_equal(buf + 8, hdr, 64);   /* exactly 64: no padding needed */
    assert_memory_equal(buf + 72, vals, 24);
    free(buf);
    safetensors_writer_free(w);

    /* Metadata first, tensors in data order (F32 before F16 despite the names), padding. */
    const uint16_t h[2] = {0x3C00, 0x4000};
    const int64_t s2[1] = {2};
    w = safetensors_writer_new();
    add(w, "a", DTYPE_F16, 1, s2, h);
    add(w, "b", DTYPE_F32, 3, s123, vals);
    set_meta(w, "z", "1");
    set_meta(w, "format", "pt");
    assert_int_equal(safetensors_serialize(w, &buf, &len, &err), 0);
    const char hdr2[] = "{\"__metadata__\":{\"format\":\"pt\",\"z\":\"1\"},"
                        "\"b\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]},"
                        "\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]}}"
                        "       ";
    assert_int_equal(sizeof hdr2 - 1, 160);
    assert_int_equal(len, 8 + 160 + 28);
    assert_int_equal(buf[0], 160);
    assert_memory_equal(buf + 8, hdr2, 160);
    assert_memory_equal(buf + 8 + 160, vals, 24);
    assert_memory_equal(buf + 8 + 160 + 24, h, 4);
    free(buf);
    safetensors_writer_free(w);

    /* Empty: the crate writes "{}" padded to 8; with metadata the map is still written. */
    w = safetensors_writer_new();
    assert_int_equal(safetensors_serialize(w, &buf, &len, &err), 0);
    assert_int_equal(len, 16);
    assert_memory_equal(buf, "\x08\0\0\0\0\0\0\0{}      ", 16);
    free(buf);
    set_meta(w, "framework", "pt");
    assert_int_equal(safetensors_serialize(w, &buf, &len, &err), 0);
    assert_int_equal(len, 48);
    assert_memory_equal(buf + 8, "{\"__metadata__\":{\"framework\":\"pt\"}}     ", 40);
    safetensors_file *f;
    assert_int_equal(safetensors_open_memory(buf, len, "mem", &f, &err), 0);
    assert_int_equal(safetensors_count(f), 0);
    assert_string_equal(safetensors_metadata_get(f, "framework"), "pt");
    safetensors_close(f);
    free(buf);
    safetensors_writer_free(w);
}

/* A file: 8-byte length, `header` (length taken as `n` unless n == 0), `data` zero bytes. */
static unsigned char *make(const char *header, uint64_t n, size_t data, size_t *len)
{
    size_t h = strlen(header);
    if (n == 0)
        n = h;
    *len = 8 + h + data;
    unsigned char *buf = calloc(1, *len);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(n >> (8 * i));
    memcpy(buf + 8, header, h);
    return buf;
}

static void test_malformed(void **state)
{
    (void)state;
    static const struct { const char *header; uint64_t n; size_t data; const char *expect; }
    cases[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 1000, 0,
         "runs past the end of the file"},
        {"{}", 1ull << 40, 0, "over the limit of 100000000 bytes"},
        {"{\"a\":", 0, 0, "header is not valid JSON"},
        {"[1, 2]", 0, 0, "header is not a JSON object"},
        {"{\"a\":3}", 0, 0, "tensor 'a': entry is not an object"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 0, 4, "tensor 'a': missing \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 0, 4,
         "tensor 'a': unexpected field \"x\""},
        {"{\"a\":{\"dtype\":\"F17\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4,
         "tensor 'a': unknown dtype \"F17\""},
        {"{\"\\u001b]x\":{\"dtype\":\"F18\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4,
         "tensor '?]x': unknown dtype \"F18\""},
        {"{\"a\":{\"dtype\":7,\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4,
         "tensor 'a': dtype is not a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":{},\"data_offsets\":[0,4]}}", 0, 4,
         "tensor 'a': shape is not a list"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,-1],\"data_offsets\":[0,4]}}", 0, 4,
         "tensor 'a': shape[1] is not a non-negative integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}",
         0, 4, "tensor 'a': shape × F32 element size overflows 64 bits"},
        {"{\"a\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[0,1]}}", 0, 1,
         "tensor 'a': 3 elements of F4 do not fill whole bytes"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,8]}}", 0, 8,
         "tensor 'a': shape [2, 2] of F32 needs 16 bytes but data_offsets span 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 0, 4,
         "tensor 'a': data_offsets is not a list of two non-negative integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 0, 8,
         "tensor 'a': data_offsets begin 8 is after end 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 4,
         "tensor 'a': data_offsets end 8 is past the end of the data buffer (4 bytes)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 0, 12,
         "tensors 'a' and 'b' overlap: the first ends at byte 8, the second begins at 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 0, 12,
         "bytes 4..8 before tensor 'b' belong to no tensor"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 8,
         "its last 4 bytes (from byte 4) belong to no tensor"},
        {"{\"__metadata__\":{\"k\":1}}", 0, 0, "__metadata__ value of \"k\" is not a string"},
        {"{\"__metadata__\":[\"k\"]}", 0, 0, "__metadata__ is not an object of string values"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8,
         "header has a duplicate key 'a'"},
    };
    size_t ncases = sizeof cases / sizeof *cases;
    char messages[32][768];
    char path[128];
    path_in_tmp(path, sizeof path, "bad.safetensors");
    for (size_t i = 0; i < ncases; i++) {
        size_t len;
        unsigned char *buf = make(cases[i].header, cases[i].n, cases[i].data, &len);
        spit(path, buf, len);
        error_info err = {0};
        safetensors_file *f = (safetensors_file *)1;
        int rc = safetensors_open(path, &f, &err);
        if (rc != -1 || f != NULL)
            fail_msg("case %zu accepted: %s", i, cases[i].header);
        if (!strstr(err.message, cases[i].expect))
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, err.message, cases[i].expect);
        assert_string_equal(err.file, path);
        snprintf(messages[i], sizeof messages[i], "%s", err.message);
        /* The in-memory entry point gives the same verdict. */
        assert_int_equal(safetensors_open_memory(buf, len, "mem", &f, &err), -1);
        assert_non_null(strstr(err.message, cases[i].expect));
        assert_string_equal(err.file, "mem");
        free(buf);
    }
    for (size_t i = 0; i < ncases; i++)
        for (size_t j = i + 1; j < ncases; j++)
            assert_string_not_equal(messages[i], messages[j]);

    /* Truncated: shorter than the length field itself. */
    error_info err = {0};
    safetensors_file *f;
    spit(path, "\x10\0\0\0", 4);
    assert_int_equal(safetensors_open(path, &f, &err), -1);
    assert_non_null(strstr(err.message, "file is 4 bytes, too short"));
    spit(path, "", 0);
    assert_int_equal(safetensors_open(path, &f, &err), -1);
    assert_non_null(strstr(err.message, "file is 0 bytes"));
    path_in_tmp(path, sizeof path, "absent.safetensors");
    assert_int_equal(safetensors_open(path, &f, &err), -1);
    assert_non_null(strstr(err.message, "cannot open"));
    assert_int_equal(safetensors_open(tmpdir, &f, &err), -1);
    assert_non_null(strstr(err.message, "not a regular file"));

    /* Valid edge cases: zero-size tensors sharing an offset, padding, null metadata. */
    size_t len;
    unsigned char *buf = make("{\"__metadata__\":null,"
                              "\"e\":{\"dtype\":\"F16\",\"shape\":[0],\"data_offsets\":[2,2]},"
                              "\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                              "\"z\":{\"dtype\":\"F16\",\"shape\":[0,5],\"data_offsets\":[0,0]}}  ",
                              0, 2, &len);
    if (safetensors_open_memory(buf, len, "mem", &f, &err) < 0)
        fail_msg("valid file refused: %s", err.message);
    assert_int_equal(safetensors_count(f), 3);
    assert_int_equal(safetensors_metadata_count(f), 0);
    safetensors_close(f);
    free(buf);
}

static void test_writer_errors(void **state)
{
    (void)state;
    const float x[2] = {1, 2};
    const int64_t s2[1] = {2}, neg[1] = {-2};
    error_info err = {0};
    safetensors_writer *w = safetensors_writer_new();
    add(w, "x", DTYPE_F32, 1, s2, x);
    assert_int_equal(safetensors_writer_add(w, "x", DTYPE_F16, 1, s2, x, &err), -1);
    assert_non_null(strstr(err.message, "added twice"));
    assert_int_equal(safetensors_writer_add(w, "__metadata__", DTYPE_F32, 1, s2, x, &err), -1);
    assert_int_equal(safetensors_writer_add(w, "bad\xff", DTYPE_F32, 1, s2, x, &err), -1);
    assert_non_null(strstr(err.message, "UTF-8"));
    assert_int_equal(safetensors_writer_add(w, "y", DTYPE_F32, 1, neg, x, &err), -1);
    assert_non_null(strstr(err.message, "negative dimension"));
    assert_int_equal(safetensors_writer_add(w, "y", DTYPE_F32, 1, s2, NULL, &err), -1);
    assert_int_equal(safetensors_writer_set_metadata(w, "k", "\xed\xa0\x80", &err), -1);
    char path[128];
    path_in_tmp(path, sizeof path, "no/such/dir/x.safetensors");
    assert_int_equal(safetensors_write(path, w, &err), -1);
    assert_non_null(strstr(err.message, "cannot create a temporary file"));
    assert_string_equal(err.file, path);
    safetensors_writer_free(w);
}

static void test_atomic_write(void **state)
{
    (void)state;
    const float small[2] = {1, 2};
    static float big[4096];
    const int64_t s2[1] = {2}, sbig[1] = {4096};
    char path[128];
    path_in_tmp(path, sizeof path, "atomic.safetensors");
    error_info err = {0};
    safetensors_writer *w = safetensors_writer_new();
    add(w, "old", DTYPE_F32, 1, s2, small);
    assert_int_equal(safetensors_write(path, w, &err), 0);
    safetensors_writer_free(w);
    size_t oldlen;
    unsigned char *old = slurp(path, &oldlen);

    w = safetensors_writer_new();
    add(w, "new", DTYPE_F32, 1, sbig, big);
    /* The write fails part-way (file size limit) in a child, so the limit stays there. */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {1024, 1024};
        setrlimit(RLIMIT_FSIZE, &rl);
        int rc = safetensors_write(path, w, &err);
        _exit(rc == -1 && strstr(err.message, "cannot write") ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    size_t len;
    unsigned char *now = slurp(path, &len);
    assert_int_equal(len, oldlen);
    assert_memory_equal(now, old, len);
    free(now);
    assert_int_equal(count_entries(".atomic.safetensors."), 0);

    /* An unwritable directory (root ignores permissions, so only as a normal user). */
    if (geteuid() != 0) {
        assert_int_equal(chmod(tmpdir, 0555), 0);
        assert_int_equal(safetensors_write(path, w, &err), -1);
        assert_int_equal(chmod(tmpdir, 0755), 0);
        now = slurp(path, &len);
        assert_int_equal(len, oldlen);
        assert_memory_equal(now, old, len);
        free(now);
    }

    /* The rename fails when the target is a directory; the temporary must go too. */
    char dirpath[128];
    path_in_tmp(dirpath, sizeof dirpath, "isdir.safetensors");
    assert_int_equal(mkdir(dirpath, 0755), 0);
    assert_int_equal(safetensors_write(dirpath, w, &err), -1);
    assert_non_null(strstr(err.message, "cannot write"));
    assert_int_equal(count_entries(".isdir.safetensors."), 0);
    assert_int_equal(rmdir(dirpath), 0);

    /* And a successful overwrite replaces it and leaves nothing else behind. */
    assert_int_equal(safetensors_write(path, w, &err), 0);
    safetensors_file *f;
    assert_int_equal(safetensors_open(path, &f, &err), 0);
    assert_non_null(safetensors_find(f, "new"));
    assert_null(safetensors_find(f, "old"));
    safetensors_close(f);
    assert_int_equal(count_entries("atomic.safetensors"), 1);
    safetensors_writer_free(w);
    free(old);
}

/* The line of tensor `name` reads: two spaces, name, padding, dtype, padding, shape. */
static void check_tensor_line(const char *text, const char *name, const char *dt,
                              const char *shape)
{
    char key[160];
    snprintf(key, sizeof key, "\n  %s ", name);
    const char *p = strstr(text, key);
    if (!p)
        fail_msg("no line for %s in:\n%s", name, text);
    p += strlen(key);
    while (*p == ' ')
        p++;
    assert_memory_equal(p, dt, strlen(dt));
    p += strlen(dt);
    assert_true(*p == ' ');
    while (*p == ' ')
        p++;
    assert_memory_equal(p, shape, strlen(shape));
    assert_true(p[strlen(shape)] == '\n');
}

static void test_inspect(void **state)
{
    (void)state;
    static uint16_t zeros[8 * 320 * 3 * 3];
    const uint16_t alpha = 0x4400;
    const int64_t down4[2] = {4, 320}, up4[2] = {320, 4}, down8[4] = {8, 320, 3, 3},
                  up8[4] = {320, 8, 1, 1}, te_down[2] = {4, 768}, te_up[2] = {768, 4};
    safetensors_writer *w = safetensors_writer_new();
    add(w, "lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight", DTYPE_F16, 2, down4,
        zeros);
    add(w, "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight", DTYPE_F16, 2, up4,
        zeros);
    add(w, "lora_unet_down_blocks_0_attentions_0_proj_in.alpha", DTYPE_F16, 0, NULL, &alpha);
    add(w, "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", DTYPE_F16, 4, down8,
        zeros);
    add(w, "lora_unet_down_blocks_0_resnets_0_conv1.lora_up.weight", DTYPE_F16, 4, up8, zeros);
    add(w, "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight", DTYPE_F16, 2,
        te_down, zeros);
    add(w, "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", DTYPE_F16, 2, te_up,
        zeros);
    char tags[400];
    memset(tags, 'x', sizeof tags - 1);
    tags[sizeof tags - 1] = '\0';
    memcpy(tags, "{\"10_cat\":\n", 11);
    set_meta(w, "ss_tag_frequency", tags);
    set_meta(w, "ss_network_dim", "8");
    set_meta(w, "modelspec.title", "cat");
    char path[128];
    path_in_tmp(path, sizeof path, "lora.safetensors");
    error_info err = {0};
    assert_int_equal(safetensors_write(path, w, &err), 0);
    safetensors_writer_free(w);

    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_int_equal(inspect_safetensors(path, out, &err), 0);
    fclose(out);
    const char *expect[] = {
        "file: ", "lora.safetensors\n", "metadata (3):\n",
        "  modelspec.title   cat\n", "  ss_network_dim    8\n",
        "  ss_tag_frequency  {\"10_cat\": xxx", "… (399 bytes)\n",
        "tensors (7):\n",
        "totals: 7 tensors, 34305 parameters\n",
        "  F16     7 tensors, 34305 parameters, 68610 bytes (67.0 KiB)\n",
        "kind: kohya LoRA, 3 modules (2 UNet, 1 text encoder), ranks 4, 8, alpha 4\n",
        "  2 modules without alpha (taken as the rank)\n",
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++)
        if (!strstr(text, expect[i]))
            fail_msg("inspect output lacks \"%s\":\n%s", expect[i], text);
    check_tensor_line(text, "lora_unet_down_blocks_0_resnets_0_conv1.lora_down.weight", "F16",
                      "[8, 320, 3, 3]");
    check_tensor_line(text, "lora_unet_down_blocks_0_attentions_0_proj_in.alpha", "F16", "[]");
    check_tensor_line(text, "lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight", "F16",
                      "[768, 4]");
    /* Metadata sorted, and the long value cut to one line. */
    assert_true(strstr(text, "modelspec.title") < strstr(text, "ss_network_dim"));
    const char *line = strstr(text, "  ss_tag_frequency");
    assert_true(strchr(line, '\n') - line < 140);
    /* Tensors sorted by name. */
    assert_true(strstr(text, "lora_te_text") < strstr(text, "lora_unet_down_blocks_0_att"));
    free(text);

    /* Control characters in names never reach the terminal. */
    const float one = 1;
    w = safetensors_writer_new();
    add(w, "evil\x1b[2J", DTYPE_F32, 0, NULL, &one);
    set_meta(w, "k\x1b", "v\x1b");
    assert_int_equal(safetensors_write(path, w, &err), 0);
    safetensors_writer_free(w);
    text = NULL;
    out = open_memstream(&text, &len);
    assert_int_equal(inspect_safetensors(path, out, &err), 0);
    fclose(out);
    assert_null(strchr(text, '\x1b'));
    assert_non_null(strstr(text, "evil?[2J"));
    assert_non_null(strstr(text, "kind: not recognised"));
    free(text);

    text = NULL;
    out = open_memstream(&text, &len);
    path_in_tmp(path, sizeof path, "absent.safetensors");
    assert_int_equal(inspect_safetensors(path, out, &err), -1);
    fclose(out);
    assert_int_equal(len, 0);
    free(text);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_safetensors.XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    return rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_header_exact),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_writer_errors),
        cmocka_unit_test(test_atomic_write),
        cmocka_unit_test(test_inspect),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
