/* fileio.c — whole-file reads and atomic writes; see fileio.h. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void release(fileio_atomic *af)
{
    free(af->path);
    free(af->tmp);
    free(af->dir);
    af->path = af->tmp = af->dir = NULL;
    af->fd = -1;
}

int fileio_atomic_open(fileio_atomic *af, const char *path, mode_t mode, error_info *err)
{
    af->fd = -1;
    af->path = af->tmp = af->dir = NULL;
    size_t plen = strlen(path);
    if (plen == 0 || path[plen - 1] == '/')
        return error_set(err, path, 0, 0, NULL, "not a file name");
    const char *slash = strrchr(path, '/');
    size_t dirlen = slash ? (size_t)(slash - path) : 0;
    af->path = strdup(path);
    af->dir = malloc(dirlen + 2);
    af->tmp = malloc(plen + 16);
    if (!af->path || !af->dir || !af->tmp) {
        release(af);
        return error_set(err, path, 0, 0, NULL, "out of memory");
    }
    if (!slash)
        snprintf(af->dir, dirlen + 2, ".");
    else
        snprintf(af->dir, dirlen + 2, "%.*s", (int)(dirlen ? dirlen : 1), dirlen ? path : "/");
    snprintf(af->tmp, plen + 16, "%.*s.%s.XXXXXX", (int)(slash ? dirlen + 1 : 0), path,
             slash ? slash + 1 : path);
    af->fd = mkostemp(af->tmp, O_CLOEXEC);
    if (af->fd < 0) {
        int e = errno;
        error_set(err, path, 0, 0, NULL, "cannot create a temporary file in %s: %s", af->dir, strerror(e));
        release(af);
        return -1;
    }
    /* mkstemp makes 0600; honour the umask as open(2) would */
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(af->fd, mode & ~mask) < 0) {
        int e = errno;
        fileio_atomic_abort(af);
        return error_set(err, path, 0, 0, NULL, "cannot write: %s", strerror(e));
    }
    return 0;
}

int fileio_atomic_write(fileio_atomic *af, const void *data, size_t len, error_info *err)
{
    const unsigned char *p = data;
    while (len > 0) {
        /* Linux writes at most ~2 GiB per call; stay below that */
        ssize_t n = write(af->fd, p, len < (1u << 30) ? len : (1u << 30));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = n < 0 ? errno : ENOSPC;
            error_set(err, af->path, 0, 0, NULL, "cannot write: %s", strerror(e));
            fileio_atomic_abort(af);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

void fileio_atomic_abort(fileio_atomic *af)
{
    if (af->fd >= 0)
        close(af->fd);
    if (af->tmp)
        unlink(af->tmp);
    release(af);
}

int fileio_atomic_commit(fileio_atomic *af, error_info *err)
{
    int failed = fsync(af->fd) < 0;
    int e = errno;
    if (close(af->fd) < 0 && !failed) {
        failed = 1;
        e = errno;
    }
    af->fd = -1;
    if (failed || rename(af->tmp, af->path) < 0) {
        if (!failed)
            e = errno;
        error_set(err, af->path, 0, 0, NULL, "cannot write: %s", strerror(e));
        fileio_atomic_abort(af);
        return -1;
    }
    int rc = 0;
    /* make the rename itself durable; some file systems cannot sync a directory (EINVAL) */
    int dfd = open(af->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        if (fsync(dfd) < 0 && errno != EINVAL)
            rc = error_set(err, af->path, 0, 0, NULL, "written, but syncing %s failed: %s", af->dir,
                           strerror(errno));
        close(dfd);
    }
    release(af);
    return rc;
}

int fileio_write_atomic(const char *path, const void *data, size_t len, error_info *err)
{
    fileio_atomic af;
    if (fileio_atomic_open(&af, path, 0666, err) < 0)
        return -1;
    if (fileio_atomic_write(&af, data, len, err) < 0)
        return -1;
    return fileio_atomic_commit(&af, err);
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
