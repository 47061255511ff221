/* test_queue.c — the run queue: add keeps order and stores absolute paths, refuses missing
 * files; remove takes entry N; every change rewrites the file atomically (no temp left, a
 * header comment); the runner runs each entry with `EXE --run PRESET` in order (EXE is a stub
 * script here, not a trainer), empties the queue, stops and keeps the rest when a run exits
 * 130 (stopped by the user), and while one runner works a second is refused and the status
 * names the running preset. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "src/queue.h"

static char tmp[256], qpath[512], stub[512], ran[512];

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static void preset(const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.toml", tmp, name);
    put(out, "[basic]\nnetwork_dim = 8\n", 0644);
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "%s/loratty-queue.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(tmp));
    snprintf(qpath, sizeof qpath, "%s/state/queue", tmp);
    snprintf(ran, sizeof ran, "%s/ran.log", tmp);
    snprintf(stub, sizeof stub, "%s/stub.sh", tmp);
    /* the stub "trainer": records its arguments; a preset named *stop* acts stopped by the
     * user, *slow* takes a while */
    char script[1024];
    snprintf(script, sizeof script,
             "#!/bin/sh\necho \"$1 $(basename \"$2\")\" >> '%s'\n"
             "case \"$2\" in *slow*) sleep 1 ;; esac\n"
             "case \"$2\" in *stop*) exit 130 ;; *fail*) exit 1 ;; esac\nexit 0\n", ran);
    put(stub, script, 0755);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void reset(void)
{
    unlink(qpath);
    unlink(ran);
}

static char *slurp(const char *path)
{
    static char buf[4096];
    FILE *f = fopen(path, "r");
    if (!f)
        return strcpy(buf, "");
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_add_list_remove(void **state)
{
    (void)state;
    reset();
    char a[512], b[512], c[512];
    preset("a", a, sizeof a);
    preset("b", b, sizeof b);
    preset("c", c, sizeof c);
    error_info err = {0};
    queue q;
    assert_int_equal(queue_load(qpath, &q, &err), 0);   /* no file yet: empty */
    assert_int_equal((int)q.count, 0);

    /* a relative path is stored absolute */
    char cwd[1024];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmp), 0);
    const char *first[] = {"a.toml", "b.toml"};
    size_t pos = 0;
    assert_int_equal(queue_add(qpath, first, 2, &pos, &err), 0);
    assert_int_equal(chdir(cwd), 0);
    assert_int_equal((int)pos, 1);
    const char *second[] = {c};
    assert_int_equal(queue_add(qpath, second, 1, &pos, &err), 0);
    assert_int_equal((int)pos, 3);
    const char *missing[] = {a, "/nonexistent/x.toml"};
    assert_int_equal(queue_add(qpath, missing, 2, NULL, &err), -1);
    assert_non_null(strstr(err.file, "nonexistent"));

    assert_int_equal(queue_load(qpath, &q, &err), 0);
    assert_int_equal((int)q.count, 3);   /* the refused add added nothing */
    assert_string_equal(q.presets[0], a);
    assert_string_equal(q.presets[1], b);
    assert_string_equal(q.presets[2], c);
    queue_free(&q);
    assert_int_equal(strncmp(slurp(qpath), "# loratty run queue", 19), 0);

    char removed[4096];
    assert_int_equal(queue_remove(qpath, 2, removed, sizeof removed, &err), 0);
    assert_string_equal(removed, b);
    assert_int_equal(queue_remove(qpath, 5, removed, sizeof removed, &err), -1);
    assert_non_null(strstr(err.message, "no entry 5"));
    assert_int_equal(queue_remove(qpath, 0, removed, sizeof removed, &err), -1);
    assert_int_equal(queue_load(qpath, &q, &err), 0);
    assert_int_equal((int)q.count, 2);
    assert_string_equal(q.presets[1], c);
    queue_free(&q);

    /* atomic rewrites leave no temp file beside the queue */
    char dir[600];
    snprintf(dir, sizeof dir, "%s/state", tmp);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        assert_false(e->d_name[0] == '.' && strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    closedir(d);

    char got[4096];
    assert_int_equal(queue_pop(qpath, got, sizeof got, &err), 1);
    assert_string_equal(got, a);
    assert_int_equal(queue_pop(qpath, got, sizeof got, &err), 1);
    assert_int_equal(queue_pop(qpath, got, sizeof got, &err), 0);
}

static void test_runner(void **state)
{
    (void)state;
    reset();
    char a[512], b[512], c[512];
    preset("one", a, sizeof a);
    preset("two-fail", b, sizeof b);
    preset("three", c, sizeof c);
    const char *all[] = {a, b, c};
    error_info err = {0};
    assert_int_equal(queue_add(qpath, all, 3, NULL, &err), 0);
    queue_run_options o = {.exe = stub};
    /* a failed run does not stop the queue */
    assert_int_equal(queue_run(qpath, &o, &err), 0);
    assert_string_equal(slurp(ran), "--run one.toml\n--run two-fail.toml\n--run three.toml\n");
    queue q;
    assert_int_equal(queue_load(qpath, &q, &err), 0);
    assert_int_equal((int)q.count, 0);
    queue_free(&q);
    queue_runner st;
    queue_runner_status(qpath, &st);
    assert_false(st.active);

    /* stopped by the user: the rest stays queued */
    reset();
    char s[512];
    preset("x-stop", s, sizeof s);
    const char *with_stop[] = {a, s, c};
    assert_int_equal(queue_add(qpath, with_stop, 3, NULL, &err), 0);
    assert_int_equal(queue_run(qpath, &o, &err), 0);
    assert_string_equal(slurp(ran), "--run one.toml\n--run x-stop.toml\n");
    assert_int_equal(queue_load(qpath, &q, &err), 0);
    assert_int_equal((int)q.count, 1);
    assert_string_equal(q.presets[0], c);
    queue_free(&q);
}

static void test_one_runner(void **state)
{
    (void)state;
    reset();
    char slow[512], c[512];
    preset("slow", slow, sizeof slow);
    preset("three", c, sizeof c);
    const char *two[] = {slow, c};
    error_info err = {0};
    assert_int_equal(queue_add(qpath, two, 2, NULL, &err), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        queue_run_options o = {.exe = stub};
        _exit(queue_run(qpath, &o, NULL) == 0 ? 0 : 1);
    }
    /* wait until the child runs the slow one */
    queue_runner st = {0};
    for (int i = 0; i < 200 && strcmp(st.current, slow) != 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
        queue_runner_status(qpath, &st);
    }
    assert_true(st.active);
    assert_int_equal((int)st.pid, (int)pid);
    assert_string_equal(st.current, slow);
    queue_run_options o = {.exe = stub};
    assert_int_equal(queue_run(qpath, &o, &err), -1);
    assert_non_null(strstr(err.message, "already being run"));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_string_equal(slurp(ran), "--run slow.toml\n--run three.toml\n");
    queue_runner_status(qpath, &st);
    assert_false(st.active);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_list_remove),
        cmocka_unit_test(test_runner),
        cmocka_unit_test(test_one_runner),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
