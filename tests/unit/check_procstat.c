/* Unit tests: a process group's memory and CPU time from /proc (ac_procstat),
 * on a made-up /proc with known figures and on the real one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_suites.h"
#include "ac_procstat.h"

/* 52 fields as the kernel writes them; comm with spaces and a ')' */
#define STAT_LINE(pid, comm, pgrp, utime, stime, threads, start)                             \
    #pid " (" comm ") S 1 " #pgrp " " #pgrp " 0 -1 4194560 100 0 0 0 " #utime " " #stime    \
    " 0 0 20 0 " #threads " 0 " #start " 1000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 " \
    "0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

START_TEST(stat_line_fields)
{
    pid_t pgid;
    apr_uint64_t ut, st, start;
    unsigned threads;
    ck_assert_int_eq(ac_procstat_parse_stat(STAT_LINE(42, "a) b (c", 40, 250, 50, 7, 12345),
                                            &pgid, &ut, &st, &threads, &start), 0);
    ck_assert_int_eq(pgid, 40);
    ck_assert_uint_eq(ut, 250);
    ck_assert_uint_eq(st, 50);
    ck_assert_uint_eq(threads, 7);
    ck_assert_uint_eq(start, 12345);
    ck_assert_int_eq(ac_procstat_parse_stat("42 (x) S 1 2 3", &pgid, &ut, &st, &threads, &start),
                     -1);
    ck_assert_int_eq(ac_procstat_parse_stat("no paren at all", &pgid, &ut, &st, &threads, &start),
                     -1);
    ck_assert_int_eq(ac_procstat_parse_stat("42 (x)", &pgid, &ut, &st, &threads, &start), -1);
}
END_TEST

static void put(const char *root, const char *pid, const char *file, const char *text)
{
    char path[512];
    FILE *f;
    snprintf(path, sizeof(path), "%s/%s", root, pid);
    mkdir(path, 0700);
    snprintf(path, sizeof(path), "%s/%s/%s", root, pid, file);
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

START_TEST(group_sums)
{
    char root[] = "/tmp/check_procstat_XXXXXX", cmd[300];
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    ac_procstat_t ps;

    ck_assert_ptr_nonnull(mkdtemp(root));
    put(root, "40", "stat", STAT_LINE(40, "dotnet", 40, 100, 100, 20, 5000));
    put(root, "40", "statm", "1000 300 10 1 0 50 0\n");
    put(root, "41", "stat", STAT_LINE(41, "child) x", 40, 50, 50, 2, 6000));
    put(root, "41", "statm", "1000 100 10 1 0 50 0\n");
    put(root, "77", "stat", STAT_LINE(77, "other", 77, 999, 999, 9, 7000));
    put(root, "77", "statm", "1000 999 10 1 0 50 0\n");
    put(root, "43", "stat", STAT_LINE(43, "gone", 40, 1, 1, 1, 1));   /* no statm: ended */
    put(root, "self", "stat", "not a process\n");

    ck_assert_int_eq(ac_procstat_group(40, root, &ps), 0);
    ck_assert_uint_eq(ps.processes, 2);
    ck_assert_uint_eq(ps.tasks, 22);
    ck_assert_uint_eq(ps.rss_kib, 400 * (apr_uint64_t)page / 1024);
    ck_assert_uint_eq(ps.cpu_ms, 300 * 1000 / (apr_uint64_t)tick);
    ck_assert_uint_eq(ps.leader_start_ms, 5000 * 1000 / (apr_uint64_t)tick);

    ck_assert_int_eq(ac_procstat_group(12345, root, &ps), 0);       /* nobody left */
    ck_assert_uint_eq(ps.processes, 0);
    ck_assert_uint_eq(ps.rss_kib, 0);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(ac_procstat_group(40, root, &ps), -1);
    ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(own_group_on_the_real_proc)
{
    ac_procstat_t ps;
    ck_assert_int_eq(ac_procstat_group(getpgrp(), "/proc", &ps), 0);
    ck_assert_uint_ge(ps.processes, 1);
    ck_assert_uint_ge(ps.tasks, 1);
    ck_assert_uint_gt(ps.rss_kib, 0);
}
END_TEST

Suite *procstat_suite(void)
{
    Suite *s = suite_create("procstat");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, stat_line_fields);
    tcase_add_test(tc, group_sums);
    tcase_add_test(tc, own_group_on_the_real_proc);
    suite_add_tcase(s, tc);
    return s;
}
