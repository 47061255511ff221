/* presets.c — preset directories and look-up by name; see presets.h. */
#include "presets.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#ifndef LORATTY_DATADIR
#define LORATTY_DATADIR "/usr/local/share/loratty"
#endif
#ifndef LORATTY_SRCDIR
#define LORATTY_SRCDIR "."
#endif

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

const char *presets_datadir(void)
{
    const char *env = getenv("LORATTY_DATADIR");
    if (env && *env)
        return env;
    if (is_dir(LORATTY_DATADIR))
        return LORATTY_DATADIR;
    /* not installed yet: the source tree this binary was built from */
    static char src_share[4096];
    snprintf(src_share, sizeof src_share, "%s/share", LORATTY_SRCDIR);
    return is_dir(src_share) ? src_share : LORATTY_DATADIR;
}

void presets_shipped_dir(char *buf, size_t size)
{
    snprintf(buf, size, "%s/presets", presets_datadir());
}

void presets_user_dir(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_CONFIG_HOME");
    if (xdg && *xdg)
        snprintf(buf, size, "%s/loratty/presets", xdg);
    else
        snprintf(buf, size, "%s/.config/loratty/presets", getenv("HOME") ? getenv("HOME") : ".");
}

int presets_resolve(const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s", name);
    if (is_file(name) || strchr(name, '/') || !name[0])
        return is_file(name) ? 0 : -1;
    char dirs[2][4096];
    presets_user_dir(dirs[0], sizeof dirs[0]);
    presets_shipped_dir(dirs[1], sizeof dirs[1]);
    for (int d = 0; d < 2; d++) {
        static const char *const suffixes[] = {"", ".toml"};
        for (int s = 0; s < 2; s++) {
            char path[8300];
            snprintf(path, sizeof path, "%s/%s%s", dirs[d], name, suffixes[s]);
            if (is_file(path)) {
                snprintf(buf, size, "%s", path);
                return 0;
            }
        }
    }
    return -1;
}
