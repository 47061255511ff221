/* fixture_dirs.h — which fixture directories a parity test runs on: the ones named on its
 * command line, or else every tests/fixtures/<prefix>* directory (under $top_srcdir), sorted,
 * so a new tiny config is picked up without a code change. */
#ifndef LORATTY_TESTS_FIXTURE_DIRS_H
#define LORATTY_TESTS_FIXTURE_DIRS_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fixture_dirs_by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Calls run(dir) for each directory and returns how many failed (run returned non-zero),
 * counting a missing tests/fixtures or no matching directory as a failure too. */
static int fixture_dirs_run(int argc, char **argv, const char *prefix, int (*run)(const char *dir))
{
    int failed = 0;
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            failed += run(argv[i]) != 0;
        return failed;
    }
    const char *top = getenv("top_srcdir");
    char base[900], dir[1200];
    snprintf(base, sizeof base, "%s/tests/fixtures", top ? top : ".");
    DIR *d = opendir(base);
    if (!d) {
        printf("FAIL  no fixtures at %s\n", base);
        return 1;
    }
    char *names[64];
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 64)
        if (!strncmp(e->d_name, prefix, strlen(prefix)))
            names[n++] = strdup(e->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, fixture_dirs_by_name);
    for (int i = 0; i < n; i++) {
        snprintf(dir, sizeof dir, "%s/%s", base, names[i]);
        failed += run(dir) != 0;
        free(names[i]);
    }
    if (n == 0) {
        printf("FAIL  no %s* fixtures in %s\n", prefix, base);
        failed++;
    }
    return failed;
}

#endif
