/* run.c — run directories, starting a detached training process, reading a run's state back
 * from its events, and the control FIFO. See run.h. */
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "events.h"
#include "fileio.h"

const char *run_state_name(run_state state)
{
    switch (state) {
    case RUN_STATE_RUNNING: return "running";
    case RUN_STATE_FINISHED: return "finished";
    case RUN_STATE_STOPPED: return "stopped";
    case RUN_STATE_FAILED: return "failed";
    }
    return "failed";
}

int run_root(char *buf, size_t size, error_info *err)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;
    /* the XDG spec says a relative XDG_STATE_HOME is invalid and must be ignored */
    if (xdg && xdg[0] == '/')
        n = snprintf(buf, size, "%s/loratty/runs", xdg);
    else if (home && *home)
        n = snprintf(buf, size, "%s/.local/state/loratty/runs", home);
    else
        return error_set(err, NULL, 0, 0, NULL, "neither XDG_STATE_HOME nor HOME is set: "
                                                "nowhere to keep run directories");
    if (n < 0 || (size_t)n >= size)
        return error_set(err, NULL, 0, 0, NULL, "the run directory path is too long");
    return 0;
}

static int mkdirs(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    return mkdir(tmp, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

static void join(char *out, size_t size, const char *dir, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

static int make_fifo(const char *dir, error_info *err)
{
    char path[4200];
    join(path, sizeof path, dir, "control");
    if (mkfifo(path, 0600) < 0 && errno != EEXIST)
        return error_set(err, path, 0, 0, NULL, "cannot create the control FIFO: %s", strerror(errno));
    return 0;
}

int run_dir_create(const char *preset_path, const char *output_name, char *dir, size_t size,
                   error_info *err)
{
    char root[4000];
    if (run_root(root, sizeof root, err) != 0)
        return -1;
    if (mkdirs(root) < 0)
        return error_set(err, root, 0, 0, NULL, "cannot create: %s", strerror(errno));
    char safe[96];
    size_t n = 0;
    for (const char *p = output_name ? output_name : ""; *p && n < sizeof safe - 1; p++)
        safe[n++] = (strchr("._-", *p) || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z')
                     || (*p >= 'A' && *p <= 'Z')) ? *p : '_';
    safe[n] = 0;
    if (!n || safe[0] == '.')
        snprintf(safe, sizeof safe, "run");
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    /* two runs started in the same second get -2, -3, ... */
    for (int i = 1;; i++) {
        int w = i == 1 ? snprintf(dir, size, "%s/%s-%s", root, stamp, safe)
                       : snprintf(dir, size, "%s/%s-%s-%d", root, stamp, safe, i);
        if (w < 0 || (size_t)w >= size)
            return error_set(err, NULL, 0, 0, NULL, "the run directory path is too long");
        if (mkdir(dir, 0755) == 0)
            break;
        if (errno != EEXIST || i == 100)
            return error_set(err, dir, 0, 0, NULL, "cannot create: %s", strerror(errno));
    }
    char path[4200];
    if (preset_path) {
        size_t len;
        char *text = fileio_read_all(preset_path, &len, err);
        if (!text)
            return -1;
        join(path, sizeof path, dir, "preset.toml");
        int rc = fileio_write_atomic(path, text, len, err);
        free(text);
        if (rc != 0)
            return -1;
    }
    join(path, sizeof path, dir, "events.jsonl");
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return error_set(err, path, 0, 0, NULL, "cannot create: %s", strerror(errno));
    close(fd);
    return make_fifo(dir, err);
}

int run_dir_claim(const char *dir, pid_t pid, error_info *err)
{
    struct stat st;
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
        return error_set(err, dir, 0, 0, NULL, "not a run directory");
    if (make_fifo(dir, err) != 0)
        return -1;
    char path[4200], text[32];
    join(path, sizeof path, dir, "pid");
    int n = snprintf(text, sizeof text, "%ld\n", (long)pid);
    return fileio_write_atomic(path, text, (size_t)n, err);
}

/* The exec'd child: never returns. Errors go back through `report` (close-on-exec). */
static void exec_child(const char *exe, const char *preset, const char *dir, int report)
{
    char log[4200];
    join(log, sizeof log, dir, "output.log");
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0
        || dup2(out, STDERR_FILENO) < 0) {
        int e = errno;
        if (write(report, &e, sizeof e) < 0) {}
        _exit(127);
    }
    close(in);
    close(out);
    /* the run must outlive the terminal: no SIGHUP, default SIGINT/SIGPIPE handling reset */
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    char *argv[] = {(char *)"loratty", (char *)"--run", (char *)preset, (char *)"--run-dir",
                    (char *)dir, NULL};
    execv(exe, argv);
    int e = errno;
    if (write(report, &e, sizeof e) < 0) {}
    _exit(127);
}

static int read_full(int fd, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, (char *)buf + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return (int)got;
}

int run_start(const char *exe, const char *preset_path, const char *output_name, run_info *run,
              error_info *err)
{
    char self[4096], preset[4096], dir[4096];
    if (!exe) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0)
            return error_set(err, NULL, 0, 0, NULL, "cannot find the loratty program: %s",
                             strerror(errno));
        self[n] = 0;
        exe = self;
    }
    /* the child keeps our working directory, but the preset path must not depend on it */
    if (!realpath(preset_path, preset))
        return error_set(err, preset_path, 0, 0, NULL, "%s", strerror(errno));
    if (run_dir_create(preset, output_name, dir, sizeof dir, err) != 0)
        return -1;

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
        /* double fork: the run is reparented to init, so it never lingers as our zombie */
        close(p[0]);
        setsid();
        pid_t child = fork();
        if (child == 0)
            exec_child(exe, preset, dir, p[1]);
        if (write(p[1], &child, sizeof child) < 0) {}
        _exit(child < 0 ? 1 : 0);
    }
    close(p[1]);
    pid_t child = -1;
    int exec_errno = 0;
    int got = read_full(p[0], &child, sizeof child);
    int more = read_full(p[0], &exec_errno, sizeof exec_errno);
    close(p[0]);
    while (waitpid(mid, NULL, 0) < 0 && errno == EINTR) {}
    if (got != (int)sizeof child || child <= 0)
        return error_set(err, NULL, 0, 0, NULL, "cannot start the run (fork failed)");
    if (more == (int)sizeof exec_errno)
        return error_set(err, exe, 0, 0, NULL, "cannot start the run: %s", strerror(exec_errno));
    if (run_dir_claim(dir, child, err) != 0)
        return -1;
    return run_info_load(dir, run, err);
}

static bool pid_alive(pid_t pid)
{
    if (pid <= 0)
        return false;
    if (kill(pid, 0) < 0 && errno != EPERM)
        return false;
    /* a recycled pid belongs to some other program */
    char path[64], cmd[4096];
    snprintf(path, sizeof path, "/proc/%ld/cmdline", (long)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;   /* no /proc: trust kill() */
    size_t n = fread(cmd, 1, sizeof cmd - 1, f);
    fclose(f);
    cmd[n] = 0;
    return strstr(cmd, "loratty") != NULL;
}

int run_info_load(const char *dir, run_info *info, error_info *err)
{
    char copy[sizeof info->dir];   /* dir may be info->dir itself (reloading a run) */
    snprintf(copy, sizeof copy, "%s", dir);
    memset(info, 0, sizeof *info);
    snprintf(info->dir, sizeof info->dir, "%s", copy);
    size_t dl = strlen(info->dir);
    while (dl > 1 && info->dir[dl - 1] == '/')
        info->dir[--dl] = 0;
    const char *base = strrchr(info->dir, '/');
    snprintf(info->name, sizeof info->name, "%s", base ? base + 1 : info->dir);
    char path[4200];
    join(path, sizeof path, info->dir, "events.jsonl");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, path, 0, 0, NULL, "not a loratty run: %s", strerror(errno));
    struct stat st;
    if (fstat(fd, &st) == 0)
        info->started = st.st_mtime;

    join(path, sizeof path, info->dir, "pid");
    FILE *pf = fopen(path, "r");
    if (pf) {
        long pid = 0;
        if (fscanf(pf, "%ld", &pid) == 1)
            info->pid = (pid_t)pid;
        fclose(pf);
    }
    info->alive = pid_alive(info->pid);

    events_reader r;
    events_reader_init(&r);
    events_event *e = malloc(sizeof *e);
    bool done = false;
    long got;
    while (e && (got = events_reader_read_fd(&r, fd)) > 0) {
        for (;;) {
            int rc = events_reader_next(&r, e, NULL);
            if (rc == 0)
                break;
            if (rc < 0)
                continue;
            switch (e->type) {
            case EVENTS_START:
                if (e->time > 0)
                    info->started = (time_t)e->time;
                info->total = e->steps;
                snprintf(info->preset, sizeof info->preset, "%s", e->preset);
                snprintf(info->output, sizeof info->output, "%s", e->output);
                break;
            case EVENTS_PROGRESS:
                info->step = e->step;
                if (e->total)
                    info->total = e->total;
                break;
            case EVENTS_ERROR:
                snprintf(info->message, sizeof info->message, "%s", e->text);
                break;
            case EVENTS_DONE:
                done = true;
                info->exit_code = e->exit_code;
                info->state = !strcmp(e->status, "finished") ? RUN_STATE_FINISHED
                              : !strcmp(e->status, "stopped") ? RUN_STATE_STOPPED
                                                              : RUN_STATE_FAILED;
                break;
            default:
                break;
            }
        }
    }
    free(e);
    events_reader_free(&r);
    close(fd);
    if (!done) {
        info->state = info->alive ? RUN_STATE_RUNNING : RUN_STATE_FAILED;
        if (!info->alive && !info->message[0])
            snprintf(info->message, sizeof info->message,
                     "the process ended without reporting (see output.log)");
    }
    return 0;
}

static int cmp_runs(const void *a, const void *b)
{
    return strcmp(((const run_info *)a)->name, ((const run_info *)b)->name);
}

int run_list(run_info **runs, size_t *count, error_info *err)
{
    *runs = NULL;
    *count = 0;
    char root[4000];
    if (run_root(root, sizeof root, err) != 0)
        return -1;
    DIR *d = opendir(root);
    if (!d)
        return errno == ENOENT ? 0 : error_set(err, root, 0, 0, NULL, "%s", strerror(errno));
    size_t cap = 0;
    struct dirent *ent;
    int rc = 0;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            run_info *p = realloc(*runs, cap * sizeof *p);
            if (!p) {
                rc = error_set(err, NULL, 0, 0, NULL, "out of memory");
                break;
            }
            *runs = p;
        }
        char dir[4300];
        snprintf(dir, sizeof dir, "%s/%s", root, ent->d_name);
        if (run_info_load(dir, &(*runs)[*count], NULL) == 0)
            (*count)++;
    }
    closedir(d);
    if (*count)
        qsort(*runs, *count, sizeof **runs, cmp_runs);
    return rc;
}

int run_find(const char *name, run_info *info, error_info *err)
{
    struct stat st;
    if (name && *name && (strchr(name, '/') || (stat(name, &st) == 0 && S_ISDIR(st.st_mode))))
        return run_info_load(name, info, err);
    run_info *runs;
    size_t n;
    if (run_list(&runs, &n, err) != 0)
        return -1;
    size_t len = name ? strlen(name) : 0;
    int rc = -1;
    for (size_t i = n; i-- > 0;)
        if (!len || strncmp(runs[i].name, name, len) == 0
            || (strlen(runs[i].name) > 16 && strncmp(runs[i].name + 16, name, len) == 0)) {
            *info = runs[i];
            rc = 0;
            break;
        }
    free(runs);
    if (rc != 0) {
        char root[4000] = "";
        run_root(root, sizeof root, NULL);
        if (len)
            error_set(err, NULL, 0, 0, NULL, "no run named %s* in %s (loratty --list-runs)", name, root);
        else
            error_set(err, NULL, 0, 0, NULL, "no runs yet in %s", root);
    }
    return rc;
}

int run_control(const run_info *run, const char *command, error_info *err)
{
    char path[4200], line[64];
    join(path, sizeof path, run->dir, "control");
    /* O_NONBLOCK: opening a FIFO nobody reads fails with ENXIO instead of hanging */
    int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, NULL, 0, 0, NULL, "%s: the run is not listening (%s)", command,
                         errno == ENXIO ? "it is not running" : strerror(errno));
    int n = snprintf(line, sizeof line, "%s\n", command);
    ssize_t w = write(fd, line, (size_t)n);
    int e = errno;
    close(fd);
    if (w != n)
        return error_set(err, NULL, 0, 0, NULL, "%s: cannot write to the run: %s", command,
                         strerror(e));
    return 0;
}

int run_control_open(const char *dir, error_info *err)
{
    char path[4200];
    join(path, sizeof path, dir, "control");
    /* O_RDWR keeps a writer open ourselves, so the FIFO never reports end of file */
    int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return error_set(err, path, 0, 0, NULL, "cannot open the control FIFO: %s", strerror(errno));
    return fd;
}

int run_control_poll(int fd, char *cmd, size_t size)
{
    /* commands are tiny and written with one write(2), so whole lines arrive together */
    size_t n = 0;
    char c;
    while (read(fd, &c, 1) == 1) {
        if (c == '\n') {
            cmd[n] = 0;
            if (n)
                return 1;
            continue;
        }
        if (n + 1 < size)
            cmd[n++] = c;
    }
    return 0;
}
