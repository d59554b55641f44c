/* Unit tests: the record of running backends and the cleanup of strays. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "check_suites.h"
#include "ac_strays.h"

/* A process in its own group with ASPNETCORE_TOKEN=<token>, like a backend. */
static pid_t start_backend(const char *token)
{
    pid_t pid = fork();
    if (pid == 0) {
        char env[64];
        char *argv[] = { "sleep", "30", NULL };
        char *envp[] = { env, NULL };
        snprintf(env, sizeof(env), "ASPNETCORE_TOKEN=%s", token);
        setpgid(0, 0);
        execve("/bin/sleep", argv, envp);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Polls (bounded) until /proc/<pid>/environ is the exec'd program's. */
static void wait_exec(pid_t pid)
{
    char path[64], buf[256];
    int i;
    snprintf(path, sizeof(path), "/proc/%ld/environ", (long)pid);
    for (i = 0; i < 500; i++) {
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        buf[n] = '\0';
        if (!strncmp(buf, "ASPNETCORE_TOKEN=", 17)) {
            return;
        }
        usleep(10000);
    }
    ck_abort_msg("child %ld never exec'd", (long)pid);
}

START_TEST(reaps_recorded_groups_with_the_token_only)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128];
    ac_stray_t rec[2];
    pid_t ours, other;
    int status;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/backends", dir);
    ours = start_backend("tok-ours");
    other = start_backend("tok-other");
    wait_exec(ours);
    wait_exec(other);

    rec[0].pgid = ours;
    strcpy(rec[0].token, "tok-ours");
    rec[1].pgid = other;
    strcpy(rec[1].token, "tok-not-its-token");   /* a recycled pid: must be left alone */
    ck_assert_int_eq(ac_strays_write(path, rec, 2), 0);

    ck_assert_int_eq(ac_strays_reap(test_pool, path, "/proc"), 1);
    ck_assert_int_eq(waitpid(ours, &status, 0), ours);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(kill(other, 0), 0);          /* still running */
    ck_assert_int_eq(access(path, F_OK), -1);     /* the record is gone */

    kill(other, SIGKILL);
    waitpid(other, &status, 0);
    rmdir(dir);
}
END_TEST

START_TEST(missing_or_garbled_record)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128];
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/backends", dir);
    ck_assert_int_eq(ac_strays_reap(test_pool, path, "/proc"), 0);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("garbage\n1 tok\n-5 tok\n0 x\n", f);    /* pid 1 and below are never touched */
    fclose(f);
    ck_assert_int_eq(ac_strays_reap(test_pool, path, "/proc"), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
    rmdir(dir);
}
END_TEST

START_TEST(write_replaces_atomically)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128], tmp[160], buf[128];
    ac_stray_t rec = { 4242, "abc" };
    FILE *f;
    size_t n;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/backends", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    ck_assert_int_eq(ac_strays_write(path, &rec, 1), 0);
    ck_assert_int_eq(ac_strays_write(path, &rec, 1), 0);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "4242 abc\n");
    ck_assert_int_eq(access(tmp, F_OK), -1);
    /* a directory that does not exist: an error, not a crash */
    ck_assert_int_eq(ac_strays_write("/nonexistent-dir/backends", &rec, 1), ENOENT);
    unlink(path);
    rmdir(dir);
}
END_TEST

Suite *strays_suite(void)
{
    Suite *s = suite_create("strays");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, reaps_recorded_groups_with_the_token_only);
    tcase_add_test(tc, missing_or_garbled_record);
    tcase_add_test(tc, write_replaces_atomically);
    suite_add_tcase(s, tc);
    return s;
}
