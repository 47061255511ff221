/* queue.c — the run queue file, its locks and the runner that works through it. See queue.h. */
#include "queue.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fileio.h"
#include "run.h"

enum { EXIT_STOPPED_BY_USER = 130 };

int queue_default_path(char *buf, size_t size, error_info *err)
{
    char runs[4096];
    if (run_root(runs, sizeof runs, err) != 0)
        return -1;
    /* run_root ends in "/runs": the queue sits beside the run directories */
    char *slash = strrchr(runs, '/');
    if (slash)
        *slash = 0;
    int n = snprintf(buf, size, "%s/queue", runs);
    if (n < 0 || (size_t)n >= size)
        return error_set(err, NULL, 0, 0, NULL, "the queue path is too long");
    return 0;
}

void queue_free(queue *q)
{
    for (size_t i = 0; i < q->count; i++)
        free(q->presets[i]);
    free(q->presets);
    q->presets = NULL;
    q->count = 0;
}

static int queue_push(queue *q, const char *s, size_t len)
{
    char **p = realloc(q->presets, (q->count + 1) * sizeof *p);
    if (!p)
        return -1;
    q->presets = p;
    if (!(p[q->count] = strndup(s, len)))
        return -1;
    q->count++;
    return 0;
}

int queue_load(const char *path, queue *q, error_info *err)
{
    q->presets = NULL;
    q->count = 0;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        return 0;
    size_t len;
    char *text = fileio_read_all(path, &len, err);
    if (!text)
        return -1;
    for (char *s = text; *s;) {
        char *e = strchr(s, '\n');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
            n--;
        if (n && s[0] != '#' && queue_push(q, s, n) != 0) {
            free(text);
            queue_free(q);
            return error_set(err, path, 0, 0, NULL, "out of memory");
        }
        s = e ? e + 1 : s + strlen(s);
    }
    free(text);
    return 0;
}

static int queue_save(const char *path, const queue *q, error_info *err)
{
    size_t len = 128;
    for (size_t i = 0; i < q->count; i++)
        len += strlen(q->presets[i]) + 1;
    char *text = malloc(len);
    if (!text)
        return error_set(err, path, 0, 0, NULL, "out of memory");
    size_t n = (size_t)snprintf(text, len, "# loratty run queue: one preset a line, run in order "
                                           "by `loratty --queue run`\n");
    for (size_t i = 0; i < q->count; i++)
        n += (size_t)snprintf(text + n, len - n, "%s\n", q->presets[i]);
    int rc = fileio_write_atomic(path, text, n, err);
    free(text);
    return rc;
}

static int mkdirs_parent(const char *path, error_info *err)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    char *last = strrchr(tmp, '/');
    if (!last || last == tmp)
        return 0;
    *last = 0;
    for (char *p = tmp + 1;; p++) {
        if (*p && *p != '/')
            continue;
        char c = *p;
        *p = 0;
        if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
            return error_set(err, tmp, 0, 0, NULL, "cannot create: %s", strerror(errno));
        if (!c)
            return 0;
        *p = c;
    }
}

/* Opens and flocks PATH + suffix; returns the fd or -1 (with err unless `quiet_busy` and the
 * lock is held by someone else: then -2). */
static int lock_file(const char *path, const char *suffix, int how, error_info *err)
{
    char lp[4200];
    snprintf(lp, sizeof lp, "%s%s", path, suffix);
    if (mkdirs_parent(lp, err) != 0)
        return -1;
    int fd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_set(err, lp, 0, 0, NULL, "cannot open: %s", strerror(errno));
    while (flock(fd, how) < 0) {
        if (errno == EINTR)
            continue;
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return -2;
        return error_set(err, lp, 0, 0, NULL, "cannot lock: %s", strerror(e));
    }
    return fd;
}

/* Load, change, save under the queue's lock. */
typedef int (*queue_edit_fn)(queue *q, void *ctx, error_info *err);

static int queue_edit(const char *path, queue_edit_fn fn, void *ctx, error_info *err)
{
    int fd = lock_file(path, ".lock", LOCK_EX, err);
    if (fd < 0)
        return -1;
    queue q;
    int rc = queue_load(path, &q, err);
    if (rc == 0)
        rc = fn(&q, ctx, err);
    if (rc > 0)   /* changed */
        rc = queue_save(path, &q, err);
    queue_free(&q);
    close(fd);
    return rc;
}

typedef struct add_ctx {
    char **abs;
    size_t n, position;
} add_ctx;

static int add_fn(queue *q, void *ctx, error_info *err)
{
    add_ctx *a = ctx;
    a->position = q->count + 1;
    for (size_t i = 0; i < a->n; i++)
        if (queue_push(q, a->abs[i], strlen(a->abs[i])) != 0)
            return error_set(err, NULL, 0, 0, NULL, "out of memory");
    return 1;
}

int queue_add(const char *path, const char *const *presets, size_t n, size_t *position,
              error_info *err)
{
    if (!n)
        return error_set(err, NULL, 0, 0, NULL, "no preset to add");
    add_ctx a = {calloc(n, sizeof(char *)), n, 0};
    if (!a.abs)
        return error_set(err, NULL, 0, 0, NULL, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct stat st;
        /* the runner starts from another directory: store where the preset really is */
        a.abs[i] = realpath(presets[i], NULL);
        if (!a.abs[i])
            rc = error_set(err, presets[i], 0, 0, NULL, "%s", strerror(errno));
        else if (stat(a.abs[i], &st) != 0 || !S_ISREG(st.st_mode))
            rc = error_set(err, presets[i], 0, 0, NULL, "is not a preset file");
        else if (strchr(a.abs[i], '\n'))
            rc = error_set(err, presets[i], 0, 0, NULL, "a line break in the path cannot be queued");
    }
    if (rc == 0)
        rc = queue_edit(path, add_fn, &a, err);
    if (rc == 0 && position)
        *position = a.position;
    for (size_t i = 0; i < n; i++)
        free(a.abs[i]);
    free(a.abs);
    return rc;
}

typedef struct take_ctx {
    size_t number;
    char *out;
    size_t size;
    bool got;
} take_ctx;

static int take_fn(queue *q, void *ctx, error_info *err)
{
    take_ctx *t = ctx;
    if (t->number == 0 || t->number > q->count) {
        if (!t->number && !q->count)
            return 0;   /* pop of an empty queue */
        return error_set(err, NULL, 0, 0, NULL, "no entry %zu: the queue has %zu", t->number,
                         q->count);
    }
    size_t i = t->number - 1;
    if (t->out)
        snprintf(t->out, t->size, "%s", q->presets[i]);
    free(q->presets[i]);
    memmove(q->presets + i, q->presets + i + 1, (q->count - i - 1) * sizeof *q->presets);
    q->count--;
    t->got = true;
    return 1;
}

int queue_remove(const char *path, size_t number, char *removed, size_t size, error_info *err)
{
    if (number == 0)
        return error_set(err, NULL, 0, 0, NULL, "entries are numbered from 1");
    take_ctx t = {number, removed, size, false};
    return queue_edit(path, take_fn, &t, err);
}

int queue_pop(const char *path, char *preset, size_t size, error_info *err)
{
    take_ctx t = {0, preset, size, false};
    /* number 0 reads as "the first, if any" */
    queue q;
    if (queue_load(path, &q, err) != 0)
        return -1;
    t.number = q.count ? 1 : 0;
    queue_free(&q);
    if (!t.number)
        return 0;
    if (queue_edit(path, take_fn, &t, err) != 0)
        return -1;
    return t.got ? 1 : 0;
}

void queue_runner_status(const char *path, queue_runner *status)
{
    memset(status, 0, sizeof *status);
    int fd = lock_file(path, ".runner", LOCK_SH | LOCK_NB, NULL);
    if (fd >= 0) {   /* we got the lock: nobody runs the queue */
        close(fd);
        return;
    }
    if (fd != -2)
        return;
    status->active = true;
    char p[4200];
    snprintf(p, sizeof p, "%s.runner", path);
    FILE *f = fopen(p, "r");
    if (f) {
        long pid;
        if (fscanf(f, "%ld", &pid) == 1)
            status->pid = (pid_t)pid;
        fclose(f);
    }
    snprintf(p, sizeof p, "%s.current", path);
    f = fopen(p, "r");
    if (f) {
        if (fgets(status->current, sizeof status->current, f))
            status->current[strcspn(status->current, "\n")] = 0;
        fclose(f);
    }
}

static void say(const char *fmt, const char *a, int n)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    fprintf(stderr, "%s loratty queue: ", when);
    fprintf(stderr, fmt, a, n);
    fputc('\n', stderr);
    fflush(stderr);
}

static bool other_run_alive(void)
{
    run_info *runs;
    size_t n;
    bool alive = false;
    if (run_list(&runs, &n, NULL) != 0)
        return false;
    for (size_t i = 0; i < n; i++)
        alive |= runs[i].alive && runs[i].state == RUN_STATE_RUNNING;
    free(runs);
    return alive;
}

static int self_exe(char *buf, size_t size, error_info *err)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    if (n <= 0)
        return error_set(err, NULL, 0, 0, NULL, "cannot find the loratty program: %s",
                         strerror(errno));
    buf[n] = 0;
    return 0;
}

/* Runs EXE --run PRESET and waits; returns its exit status (128 + signal when killed). */
static int run_one(const char *exe, const char *preset, error_info *err)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return error_set(err, NULL, 0, 0, NULL, "fork: %s", strerror(errno));
    if (pid == 0) {
        char *argv[] = {(char *)"loratty", (char *)"--run", (char *)preset, NULL};
        execv(exe, argv);
        fprintf(stderr, "loratty queue: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return error_set(err, NULL, 0, 0, NULL, "waitpid: %s", strerror(errno));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int queue_run(const char *path, const queue_run_options *opts, error_info *err)
{
    queue_run_options o = opts ? *opts : (queue_run_options){0};
    char exe[4096];
    if (!o.exe) {
        if (self_exe(exe, sizeof exe, err) != 0)
            return -1;
        o.exe = exe;
    }
    unsigned poll_ms = o.poll_ms ? o.poll_ms : 2000;
    int lock = lock_file(path, ".runner", LOCK_EX | LOCK_NB, err);
    if (lock == -2) {
        queue_runner st;
        queue_runner_status(path, &st);
        return error_set(err, NULL, 0, 0, NULL, "the queue is already being run (pid %ld)",
                         (long)st.pid);
    }
    if (lock < 0)
        return -1;
    char text[32], cur[4200];
    int n = snprintf(text, sizeof text, "%ld\n", (long)getpid());
    if (ftruncate(lock, 0) < 0 || pwrite(lock, text, (size_t)n, 0) != n) {}
    snprintf(cur, sizeof cur, "%s.current", path);
    int rc = 0;
    for (;;) {
        bool said = false;
        while (o.wait_for_runs && other_run_alive()) {
            if (!said)
                say("%swaiting for the run in progress to end", "", 0);
            said = true;
            struct timespec ts = {poll_ms / 1000, (long)(poll_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        char preset[4096];
        int got = queue_pop(path, preset, sizeof preset, err);
        if (got <= 0) {
            rc = got;
            if (got == 0)
                say("%sthe queue is empty: done", "", 0);
            break;
        }
        size_t plen = strlen(preset);
        preset[plen] = '\n';
        if (fileio_write_atomic(cur, preset, plen + 1, NULL) != 0) {}
        preset[plen] = 0;
        say("starting %s", preset, 0);
        int status = run_one(o.exe, preset, err);
        unlink(cur);
        if (status < 0) {
            rc = -1;
            break;
        }
        say("%s ended with exit status %d", preset, status);
        if (status == EXIT_STOPPED_BY_USER) {
            say("%sthe run was stopped by the user: the queue stops here "
                "(loratty --queue run goes on)", "", 0);
            break;
        }
    }
    unlink(cur);
    close(lock);   /* releases the runner lock */
    return rc;
}

int queue_start(const char *path, const char *exe, pid_t *pid, error_info *err)
{
    char self[4096], log[4200];
    if (!exe) {
        if (self_exe(self, sizeof self, err) != 0)
            return -1;
        exe = self;
    }
    if (mkdirs_parent(path, err) != 0)
        return -1;
    snprintf(log, sizeof log, "%s.log", path);
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return error_set(err, NULL, 0, 0, NULL, "pipe: %s", strerror(errno));
    fflush(NULL);
    pid_t mid = fork();
    if (mid < 0) {
        close(p[0]);
        close(p[1]);
        return error_set(err, NULL, 0, 0, NULL, "fork: %s", strerror(errno));
    }
    if (mid == 0) {
        /* new session, then fork again: the runner has no terminal and is init's child */
        close(p[0]);
        setsid();
        pid_t child = fork();
        if (child == 0) {
            int in = open("/dev/null", O_RDONLY);
            int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (in >= 0 && out >= 0 && dup2(in, STDIN_FILENO) >= 0
                && dup2(out, STDOUT_FILENO) >= 0 && dup2(out, STDERR_FILENO) >= 0) {
                signal(SIGHUP, SIG_IGN);
                signal(SIGINT, SIG_DFL);
                signal(SIGTERM, SIG_DFL);
                char *argv[] = {(char *)"loratty", (char *)"--queue", (char *)"runner",
                                (char *)path, NULL};
                execv(exe, argv);
            }
            int e = errno;
            if (write(p[1], &e, sizeof e) < 0) {}
            _exit(127);
        }
        _exit(child < 0 ? 1 : 0);
    }
    close(p[1]);
    int e = 0;
    ssize_t got;
    while ((got = read(p[0], &e, sizeof e)) < 0 && errno == EINTR) {}
    close(p[0]);
    int status = 0;
    while (waitpid(mid, &status, 0) < 0 && errno == EINTR) {}
    if (got == (ssize_t)sizeof e)
        return error_set(err, exe, 0, 0, NULL, "cannot start the queue runner: %s", strerror(e));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, NULL, 0, 0, NULL, "cannot start the queue runner (fork failed)");
    /* the runner writes its pid once it holds the lock; give it a moment to be seen */
    queue_runner st = {0};
    for (int i = 0; i < 50; i++) {
        queue_runner_status(path, &st);
        if (st.active && st.pid)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (pid)
        *pid = st.pid;
    return 0;
}
