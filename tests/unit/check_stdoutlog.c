/* Unit tests: the stdout log limit's syntax, which files are an app's, and
 * the pruning of the oldest (ac_stdoutlog). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_suites.h"
#include "ac_stdoutlog.h"

START_TEST(size_units)
{
    apr_uint32_t kib = 7;
    ck_assert_ptr_null(ac_stdoutlog_parse_size("0", &kib));
    ck_assert_uint_eq(kib, 0);
    ck_assert_ptr_null(ac_stdoutlog_parse_size("100M", &kib));
    ck_assert_uint_eq(kib, 100 * 1024);
    ck_assert_ptr_null(ac_stdoutlog_parse_size("64k", &kib));
    ck_assert_uint_eq(kib, 64);
    ck_assert_ptr_null(ac_stdoutlog_parse_size("2G", &kib));
    ck_assert_uint_eq(kib, 2 * 1024 * 1024);
    ck_assert_ptr_null(ac_stdoutlog_parse_size("1", &kib));       /* bytes, rounded up */
    ck_assert_uint_eq(kib, 1);
    ck_assert_ptr_null(ac_stdoutlog_parse_size("2048", &kib));
    ck_assert_uint_eq(kib, 2);
    ck_assert_ptr_null(ac_stdoutlog_parse_size("1024G", &kib));
    ck_assert_uint_eq(kib, AC_STDOUTLOG_MAX_KIB);
}
END_TEST

START_TEST(size_refused)
{
    static const char *const bad[] = { "", "M", "-1", "1.5M", "10MB", "10 M", "1025G",
                                       "99999999999999999999999", "0x10", "10T" };
    apr_uint32_t kib = 7;
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        ck_assert_msg(ac_stdoutlog_parse_size(bad[i], &kib) != NULL, "'%s' accepted", bad[i]);
        ck_assert_uint_eq(kib, 7);
    }
}
END_TEST

START_TEST(keep_values)
{
    apr_uint32_t keep = 7;
    ck_assert_ptr_null(ac_stdoutlog_parse_keep("0", &keep));
    ck_assert_uint_eq(keep, 0);
    ck_assert_ptr_null(ac_stdoutlog_parse_keep("100000", &keep));
    ck_assert_uint_eq(keep, 100000);
    ck_assert_ptr_nonnull(ac_stdoutlog_parse_keep("100001", &keep));
    ck_assert_ptr_nonnull(ac_stdoutlog_parse_keep("", &keep));
    ck_assert_ptr_nonnull(ac_stdoutlog_parse_keep("5x", &keep));
    ck_assert_ptr_nonnull(ac_stdoutlog_parse_keep("-1", &keep));
    ck_assert_uint_eq(keep, 100000);
}
END_TEST

START_TEST(names_of_an_app)
{
    char stamp[AC_STDOUTLOG_STAMP_CHARS + 1];
    ck_assert(ac_stdoutlog_is_file_of("stdout", "stdout_20261202120000_4711.log"));
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "stdout_20261202120000_4711.log.gz"));
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "stdout_2026120212000_4711.log"));
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "stdout_20261202120000_.log"));
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "stdoutx_20261202120000_1.log"));
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "other_20261202120000_1.log"));
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "stdout.conf"));
    ck_assert(!ac_stdoutlog_is_file_of("", "_20261202120000_1.log"));
    /* another app's prefix that starts like ours is not ours */
    ck_assert(!ac_stdoutlog_is_file_of("stdout", "stdout_shop_20261202120000_1.log"));
    ac_stdoutlog_stamp_of("/srv/a/logs/stdout_20261202120000_4711.log", stamp);
    ck_assert_str_eq(stamp, "20261202120000");
    ac_stdoutlog_stamp_of("/srv/a/logs/whatever.log", stamp);
    ck_assert_str_eq(stamp, "");
    ac_stdoutlog_stamp_of("_1.log", stamp);
    ck_assert_str_eq(stamp, "");
}
END_TEST

static void touch(const char *dir, const char *name)
{
    char path[512];
    int fd;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
}

static int exists(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return lstat(path, &st) == 0;
}

static int still_written(void *ctx, const char *name)
{
    (void)ctx;
    return strcmp(name, "out_20261202000000_100.log") == 0;
}

START_TEST(prune_keeps_the_newest)
{
    char dir[] = "/tmp/check_stdoutlog_XXXXXX", prefix[256], target[300];
    unsigned removed = 99;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    touch(dir, "out_20261201000000_9.log");      /* oldest */
    touch(dir, "out_20261202000000_100.log");
    touch(dir, "out_20261202000000_99.log");
    touch(dir, "out_20261203000000_5.log");      /* newest */
    touch(dir, "out_20261101000000_1.log.keep"); /* not one of the app's */
    touch(dir, "other_20261101000000_1.log");
    /* a directory named like the oldest file: not the app's, left alone, no error */
    snprintf(target, sizeof(target), "%s/out_20200101000000_1.log", dir);
    ck_assert_int_eq(mkdir(target, 0700), 0);
    /* a link named like the app's oldest file: removed itself, its target kept */
    snprintf(target, sizeof(target), "%s/precious", dir);
    touch(dir, "precious");
    snprintf(prefix, sizeof(prefix), "%s/out_20261001000000_1.log", dir);
    ck_assert_int_eq(symlink(target, prefix), 0);
    snprintf(prefix, sizeof(prefix), "%s/out", dir);

    ck_assert_int_eq(ac_stdoutlog_prune(prefix, 0, NULL, NULL, &removed), 0);   /* 0: keep all */
    ck_assert_uint_eq(removed, 0);
    ck_assert_int_eq(ac_stdoutlog_prune(prefix, 3, NULL, NULL, &removed), 0);
    ck_assert_uint_eq(removed, 2);
    ck_assert(!exists(dir, "out_20261001000000_1.log"));
    ck_assert(!exists(dir, "out_20261201000000_9.log"));
    ck_assert(exists(dir, "out_20261202000000_100.log"));
    ck_assert(exists(dir, "out_20261202000000_99.log"));
    ck_assert(exists(dir, "out_20261203000000_5.log"));
    ck_assert(exists(dir, "precious"));
    ck_assert(exists(dir, "out_20261101000000_1.log.keep"));
    ck_assert(exists(dir, "other_20261101000000_1.log"));
    ck_assert(exists(dir, "out_20200101000000_1.log"));
    /* a file still written to stays, however old */
    ck_assert_int_eq(ac_stdoutlog_prune(prefix, 1, still_written, NULL, &removed), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert(exists(dir, "out_20261202000000_100.log"));
    ck_assert(!exists(dir, "out_20261202000000_99.log"));
    ck_assert(exists(dir, "out_20261203000000_5.log"));
    ck_assert_int_eq(ac_stdoutlog_prune(prefix, 1, NULL, NULL, &removed), 0);
    ck_assert_uint_eq(removed, 1);
    ck_assert(!exists(dir, "out_20261202000000_100.log"));
    ck_assert(exists(dir, "out_20261203000000_5.log"));

    snprintf(prefix, sizeof(prefix), "%s/missing/out", dir);
    errno = 0;
    ck_assert_int_eq(ac_stdoutlog_prune(prefix, 1, NULL, NULL, &removed), -1);
    ck_assert_int_eq(errno, ENOENT);

    {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
    }
}
END_TEST

Suite *stdoutlog_suite(void)
{
    Suite *s = suite_create("stdoutlog");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, size_units);
    tcase_add_test(tc, size_refused);
    tcase_add_test(tc, keep_values);
    tcase_add_test(tc, names_of_an_app);
    tcase_add_test(tc, prune_keeps_the_newest);
    suite_add_tcase(s, tc);
    return s;
}
