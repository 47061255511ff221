/* fileio.c — whole-file reads and atomic writes. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_write_atomic(const char *path, const void *data, size_t len, error_info *err)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp)
        return error_set(err, path, 0, 0, "", "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return error_set(err, path, 0, 0, "", "cannot write: %s", strerror(e));
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            free(tmp);
            return error_set(err, path, 0, 0, "", "cannot write: %s", strerror(e));
        }
        p += n;
        left -= (size_t)n;
    }
    /* mkstemp makes 0600; a saved config should have the usual permissions */
    mode_t mask = umask(0);
    umask(mask);
    fchmod(fd, 0666 & ~mask);
    if (fsync(fd) != 0 || close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return error_set(err, path, 0, 0, "", "cannot write: %s", strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        return error_set(err, path, 0, 0, "", "cannot replace the file: %s", strerror(e));
    }
    free(tmp);
    char *copy = strdup(path);
    int dfd = copy ? open(dirname(copy), O_RDONLY | O_DIRECTORY) : -1;
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    free(copy);
    return 0;
}

char *fileio_read_all(const char *path, size_t *len, error_info *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return error_set(err, path, 0, 0, "", "cannot read: %s", strerror(errno)), NULL;
    size_t cap = 4096, used = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) {
            fclose(f);
            return error_set(err, path, 0, 0, "", "out of memory"), NULL;
        }
        size_t n = fread(buf + used, 1, cap - used - 1, f);
        used += n;
        if (n == 0)
            break;
        if (used + 1 == cap) {
            cap *= 2;
            char *grown = realloc(buf, cap);
            if (!grown)
                free(buf);
            buf = grown;
        }
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        free(buf);
        return error_set(err, path, 0, 0, "", "cannot read: %s", strerror(EIO)), NULL;
    }
    buf[used] = '\0';
    if (len)
        *len = used;
    return buf;
}
