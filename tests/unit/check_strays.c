/* Unit tests: the record of running backends and the cleanup of strays. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
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

/* A pid that ran and is gone (reaped). */
static pid_t dead_pid(void)
{
    int status;
    pid_t pid = fork();
    if (pid == 0) {
        _exit(0);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    return pid;
}

static int reap_dir(const char *dir, ac_strays_refusal_t *refused)
{
    ac_safefile_rules_t rules;
    int fd = open(dir, O_RDONLY | O_DIRECTORY), n;
    ck_assert_int_ge(fd, 0);
    memset(&rules, 0, sizeof(rules));
    rules.nofollow = 1;
    rules.check_owner = 1;
    rules.owner = geteuid();
    n = ac_strays_reap(test_pool, fd, &rules, "/proc", refused);
    close(fd);
    return n;
}

static void stop(pid_t pid)
{
    int status;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
}

START_TEST(reaps_recorded_groups_with_the_token_only)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128];
    ac_stray_t rec[2];
    ac_strays_refusal_t refused;
    pid_t ours, other;
    int status;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/backends-1234", dir);
    ours = start_backend("tok-ours");
    other = start_backend("tok-other");
    wait_exec(ours);
    wait_exec(other);

    rec[0].pgid = ours;
    strcpy(rec[0].token, "tok-ours");
    rec[1].pgid = other;
    strcpy(rec[1].token, "tok-not-its-token");   /* a recycled pid: must be left alone */
    ck_assert_int_eq(ac_strays_write_owned(path, rec, 2, dead_pid()), 0);

    ck_assert_int_eq(reap_dir(dir, &refused), 1);
    ck_assert_int_eq(refused.count, 0);
    ck_assert_int_eq(waitpid(ours, &status, 0), ours);
    ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    ck_assert_int_eq(kill(other, 0), 0);          /* still running */
    ck_assert_int_eq(access(path, F_OK), -1);     /* the record is gone */

    stop(other);
    rmdir(dir);
}
END_TEST

/* Defect 2.11: another Apache sharing the runtime directory still runs: its
 * record and its backends are left alone. */
START_TEST(leaves_a_live_owners_backends_alone)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128];
    ac_stray_t rec;
    ac_strays_refusal_t refused;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/backends-99", dir);
    rec.pgid = start_backend("tok-live");
    wait_exec(rec.pgid);
    strcpy(rec.token, "tok-live");
    /* owned by this process, which runs */
    ck_assert_int_eq(ac_strays_write_owned(path, &rec, 1, getpid()), 0);
    ck_assert_int_eq(reap_dir(dir, &refused), 0);
    ck_assert_int_eq(kill(rec.pgid, 0), 0);
    ck_assert_int_eq(access(path, F_OK), 0);      /* its record stays */
    /* the supervisor's own call records its parent: this test's parent runs */
    ck_assert_int_eq(ac_strays_write(path, &rec, 1), 0);
    ck_assert_int_eq(reap_dir(dir, &refused), 0);
    ck_assert_int_eq(kill(rec.pgid, 0), 0);
    /* an owner line of a pid that runs but started at another time (a
     * recycled pid) does not count */
    {
        FILE *f = fopen(path, "w");
        ck_assert_ptr_nonnull(f);
        fprintf(f, "owner %ld 1\n%ld tok-live\n", (long)getpid(), (long)rec.pgid);
        fclose(f);
    }
    ck_assert_int_eq(reap_dir(dir, &refused), 1);
    ck_assert_int_eq(access(path, F_OK), -1);
    stop(rec.pgid);
    rmdir(dir);
}
END_TEST

/* Defect 2.5: a FIFO or a link planted in the runtime directory is neither
 * opened blocking nor followed; it is reported and left alone. */
START_TEST(refuses_fifos_and_links)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", fifo[128], link[128], target[128];
    ac_strays_refusal_t refused;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/backends", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    ck_assert_int_eq(reap_dir(dir, &refused), 0);    /* returns: no writer needed */
    ck_assert_int_eq(refused.count, 1);
    ck_assert_str_eq(refused.why, "not a regular file");
    ck_assert_int_eq(access(fifo, F_OK), 0);
    unlink(fifo);

    snprintf(target, sizeof(target), "%s/elsewhere", dir);
    f = fopen(target, "w");
    ck_assert_ptr_nonnull(f);
    fputs("1234 tok\n", f);
    fclose(f);
    snprintf(link, sizeof(link), "%s/backends-7", dir);
    ck_assert_int_eq(symlink(target, link), 0);
    ck_assert_int_eq(reap_dir(dir, &refused), 0);
    ck_assert_int_eq(refused.count, 1);
    ck_assert_str_eq(refused.why, "a symbolic link (not followed)");
    ck_assert_int_eq(access(target, F_OK), 0);
    unlink(link);
    unlink(target);

    /* the writer replaces a FIFO in its temporary file's place instead of
     * blocking on it */
    {
        char rec_path[128], tmp[160];
        ac_stray_t rec = { 4242, "abc" };
        snprintf(rec_path, sizeof(rec_path), "%s/backends-8", dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", rec_path);
        ck_assert_int_eq(mkfifo(tmp, 0600), 0);
        ck_assert_int_eq(ac_strays_write_owned(rec_path, &rec, 1, 0), 0);
        ck_assert_int_eq(access(tmp, F_OK), -1);
        unlink(rec_path);
    }
    rmdir(dir);
}
END_TEST

START_TEST(missing_or_garbled_record)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128];
    ac_strays_refusal_t refused;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/backends", dir);
    ck_assert_int_eq(reap_dir(dir, &refused), 0);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("garbage\n1 tok\n-5 tok\n0 x\n", f);    /* pid 1 and below are never touched */
    fclose(f);
    ck_assert_int_eq(reap_dir(dir, &refused), 0);
    ck_assert_int_eq(access(path, F_OK), -1);     /* no owner line: nobody's, removed */
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
    ck_assert_int_eq(ac_strays_write_owned(path, &rec, 1, 0), 0);
    ck_assert_int_eq(ac_strays_write_owned(path, &rec, 1, 0), 0);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    ck_assert_str_eq(buf, "owner 0 0\n4242 abc\n");
    ck_assert_int_eq(access(tmp, F_OK), -1);
    /* a directory that does not exist: an error, not a crash */
    ck_assert_int_eq(ac_strays_write("/nonexistent-dir/backends", &rec, 1), ENOENT);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* ac_safefile, which the record's reader uses: size limit, mode bits. */
START_TEST(safefile_rules)
{
    char dir[] = "/tmp/ac-strays-XXXXXX", path[128];
    ac_safefile_rules_t rules;
    const char *why;
    char *buf;
    apr_size_t len;
    FILE *f;
    int fd;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("0123456789", f);
    fclose(f);
    memset(&rules, 0, sizeof(rules));
    ck_assert_ptr_null(ac_safefile_read(test_pool, AT_FDCWD, path, &rules, 10, &buf, &len));
    ck_assert_uint_eq(len, 10);
    ck_assert_str_eq(buf, "0123456789");
    /* one byte over the limit: refused, not cut */
    ck_assert_str_eq(ac_safefile_read(test_pool, AT_FDCWD, path, &rules, 9, &buf, &len),
                     "too big");
    /* readable by its mode bits: by owner, else group, else others */
    rules.check_readable = 1;
    rules.reader_uid = getuid() + 1;
    rules.reader_gid = getgid() + 1;
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_lt(ac_safefile_open(AT_FDCWD, path, &rules, &why), 0);
    ck_assert_str_eq(why, "not readable by Apache's User (its mode bits)");
    ck_assert_int_eq(errno, EACCES);
    ck_assert_int_eq(chmod(path, 0644), 0);
    fd = ac_safefile_open(AT_FDCWD, path, &rules, &why);
    ck_assert_int_ge(fd, 0);
    /* blocking again once checked */
    ck_assert_int_eq(fcntl(fd, F_GETFL) & O_NONBLOCK, 0);
    close(fd);
    rules.reader_uid = getuid();
    ck_assert_int_eq(chmod(path, 0044), 0);     /* the owner's own bits say no */
    ck_assert_int_lt(ac_safefile_open(AT_FDCWD, path, &rules, &why), 0);
    /* a directory is not a regular file; a missing file says ENOENT */
    memset(&rules, 0, sizeof(rules));
    ck_assert_int_lt(ac_safefile_open(AT_FDCWD, dir, &rules, &why), 0);
    ck_assert_str_eq(why, "not a regular file");
    unlink(path);
    ck_assert_int_lt(ac_safefile_open(AT_FDCWD, path, &rules, &why), 0);
    ck_assert_int_eq(errno, ENOENT);
    rmdir(dir);
}
END_TEST

Suite *strays_suite(void)
{
    Suite *s = suite_create("strays");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, reaps_recorded_groups_with_the_token_only);
    tcase_add_test(tc, leaves_a_live_owners_backends_alone);
    tcase_add_test(tc, refuses_fifos_and_links);
    tcase_add_test(tc, safefile_rules);
    tcase_add_test(tc, missing_or_garbled_record);
    tcase_add_test(tc, write_replaces_atomically);
    suite_add_tcase(s, tc);
    return s;
}
