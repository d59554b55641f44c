/* Unit tests: value parsers (booleans, ranges, time spans, port ranges,
 * hosting model, start mode) and web.config strings (%VAR%, paths). */
#include <string.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_parse.h"

/* ---------------------------------------------------------------- bool */

START_TEST(bool_values)
{
    static const struct { const char *in; int want; } ok[] = {
        { "true", 1 }, { "false", 0 }, { "TRUE", 1 }, { "False", 0 }, { "tRuE", 1 },
        { " true ", 1 }, { "\tfalse\n", 0 }, { NULL, 0 }
    };
    static const char *const bad[] = {
        "", " ", "yes", "no", "1", "0", "on", "truex", "t", "tru e", "true false", NULL
    };
    int i, v;

    for (i = 0; ok[i].in; i++) {
        v = -1;
        ck_assert_msg(ac_parse_bool(test_pool, ok[i].in, &v) == NULL, "refused '%s'", ok[i].in);
        ck_assert_int_eq(v, ok[i].want);
    }
    for (i = 0; bad[i]; i++) {
        v = 7;
        ck_assert_msg(ac_parse_bool(test_pool, bad[i], &v) != NULL, "accepted '%s'", bad[i]);
        ck_assert_int_eq(v, 7);                 /* untouched on error */
    }
    ck_assert_str_eq(ac_parse_bool(test_pool, "yes", &v), "'yes' is not true or false");
}
END_TEST

/* ------------------------------------------------------------ int range */

START_TEST(int_range_values)
{
    long v = -5;

    ck_assert_ptr_null(ac_parse_int_range(test_pool, "0", 0, 60, &v));
    ck_assert_int_eq(v, 0);
    ck_assert_ptr_null(ac_parse_int_range(test_pool, "60", 0, 60, &v));
    ck_assert_int_eq(v, 60);
    ck_assert_ptr_null(ac_parse_int_range(test_pool, " 42\t", 0, 60, &v));
    ck_assert_int_eq(v, 42);
    ck_assert_ptr_null(ac_parse_int_range(test_pool, "007", 0, 60, &v));
    ck_assert_int_eq(v, 7);
    ck_assert_ptr_null(ac_parse_int_range(test_pool, "0000000000000000000000000000001", 1, 100,
                                          &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(ac_parse_int_range(test_pool, "3600", 0, 3600, &v));
    ck_assert_int_eq(v, 3600);
    ck_assert_ptr_null(ac_parse_int_range(test_pool, "9223372036854775807", 0, APR_INT64_MAX,
                                          &v));
    ck_assert(v == APR_INT64_MAX);
}
END_TEST

START_TEST(int_range_errors)
{
    static const char *const bad[] = {
        "", " ", "61", "-1", "+1", "1.0", "1e2", "0x10", "12a", "a12", "1 2", "١",
        "99999999999999999999", "9223372036854775808", "18446744073709551617", NULL
    };
    long v = 99;
    int i;

    for (i = 0; bad[i]; i++) {
        ck_assert_msg(ac_parse_int_range(test_pool, bad[i], 0, 60, &v) != NULL,
                      "accepted '%s'", bad[i]);
        ck_assert_int_eq(v, 99);
    }
    ck_assert_str_eq(ac_parse_int_range(test_pool, "75", 0, 60, &v),
                     "'75' is not a whole number from 0 to 60");
    ck_assert_str_eq(ac_parse_int_range(test_pool, "0", 1, 100, &v),
                     "'0' is not a whole number from 1 to 100");
    ck_assert_ptr_nonnull(ac_parse_int_range(test_pool, "9223372036854775807", 0, 60, &v));
}
END_TEST

/* ------------------------------------------------------------ timespan */

static apr_interval_time_t ts(const char *s)
{
    apr_interval_time_t v = -7;
    const char *err = ac_parse_timespan(test_pool, s, AC_REQUEST_TIMEOUT_MAX, &v);
    ck_assert_msg(err == NULL, "refused '%s': %s", s, err);
    return v;
}

static const char *ts_err(const char *s)
{
    apr_interval_time_t v = -7;
    const char *err = ac_parse_timespan(test_pool, s, AC_REQUEST_TIMEOUT_MAX, &v);
    ck_assert_msg(err != NULL, "accepted '%s'", s);
    ck_assert(v == -7);
    return err;
}

START_TEST(timespan_values)
{
    ck_assert(ts("00:02:00") == apr_time_from_sec(120));
    ck_assert(ts("00:00:00") == 0);
    ck_assert(ts("0:00:01") == apr_time_from_sec(1));
    ck_assert(ts("01:02:03") == apr_time_from_sec(3723));
    ck_assert(ts("23:59:59") == apr_time_from_sec(86399));
    ck_assert(ts("100:00:00") == apr_time_from_sec(360000));
    ck_assert(ts("359:59:59") == apr_time_from_sec(360 * 3600 - 1));
    ck_assert(ts("360:00:00") == AC_REQUEST_TIMEOUT_MAX);
    ck_assert(ts(" 00:05:00 ") == apr_time_from_sec(300));
    /* d.hh:mm:ss */
    ck_assert(ts("1.00:00:00") == apr_time_from_sec(86400));
    ck_assert(ts("1.02:03:04") == apr_time_from_sec(86400 + 7384));
    ck_assert(ts("14.23:59:59") == apr_time_from_sec(15 * 86400 - 1));
    ck_assert(ts("15.00:00:00") == AC_REQUEST_TIMEOUT_MAX);
    ck_assert(ts("0.1:00:00") == apr_time_from_sec(3600));
    ck_assert(ts("0000000.00:00:01") == apr_time_from_sec(1));
}
END_TEST

START_TEST(timespan_errors)
{
    static const char *const bad[] = {
        "", " ", "2", "00:02", "00:2:00", "00:02:0", "00:02:000", "0000:00:00", ":00:00",
        "00::00", "-00:01:00", "+00:01:00", "00:01:00.5", "00:01:00.", "00:01:00 x", "a0:00:00",
        "00:0a:00", "1.2.00:00:00", ".01:00:00", "1.:00:00", "1.001:00:00", "12345678.00:00:00",
        "00-01-00", "00:01:00:00", "1 . 00:00:00", "361:00:00", "999:59:59", "15.00:00:01",
        "9999999.23:59:59", NULL
    };
    int i;

    for (i = 0; bad[i]; i++) {
        ts_err(bad[i]);
    }
    ck_assert_str_eq(ts_err("00:61:00"),
                     "'00:61:00': minutes must be 00-59 (format hh:mm:ss, at most 360:00:00)");
    ck_assert_str_eq(ts_err("00:60:00"),
                     "'00:60:00': minutes must be 00-59 (format hh:mm:ss, at most 360:00:00)");
    ck_assert_str_eq(ts_err("00:00:60"),
                     "'00:00:60': seconds must be 00-59 (format hh:mm:ss, at most 360:00:00)");
    ck_assert_str_eq(ts_err("1.24:00:00"), "'1.24:00:00': hours must be 00-23 after a day "
                     "count (format hh:mm:ss, at most 360:00:00)");
    ck_assert_str_eq(ts_err("360:00:01"),
                     "'360:00:01' is too long (format hh:mm:ss, at most 360:00:00)");
    ck_assert_str_eq(ts_err("2 minutes"),
                     "'2 minutes' is not a time span (format hh:mm:ss, at most 360:00:00)");
}
END_TEST

START_TEST(timespan_other_max)
{
    apr_interval_time_t v = 0;
    const char *err;

    ck_assert_ptr_null(ac_parse_timespan(test_pool, "01:30:00", apr_time_from_sec(5400), &v));
    ck_assert(v == apr_time_from_sec(5400));
    err = ac_parse_timespan(test_pool, "01:30:01", apr_time_from_sec(5400), &v);
    ck_assert_str_eq(err, "'01:30:01' is too long (format hh:mm:ss, at most 01:30:00)");
}
END_TEST

/* ---------------------------------------------------------- port range */

START_TEST(port_range_values)
{
    unsigned lo = 0, hi = 0;
    static const char *const bad[] = {
        "", "1024", "1024-", "-2000", "1023-2000", "2000-1999", "1024-65536", "0-0",
        "1024 - 2000", "1024-2000-3000", "+1024-2000", "1024--2000", "a-b", "1024-2000x",
        "99999999999999999999-1", NULL
    };
    int i;

    ck_assert_ptr_null(ac_parse_port_range(test_pool, "1024-65535", &lo, &hi));
    ck_assert_uint_eq(lo, 1024);
    ck_assert_uint_eq(hi, 65535);
    ck_assert_ptr_null(ac_parse_port_range(test_pool, " 10000-48000 ", &lo, &hi));
    ck_assert_uint_eq(lo, 10000);
    ck_assert_uint_eq(hi, 48000);
    ck_assert_ptr_null(ac_parse_port_range(test_pool, "5000-5000", &lo, &hi));
    ck_assert_uint_eq(lo, 5000);
    ck_assert_uint_eq(hi, 5000);
    for (i = 0; bad[i]; i++) {
        lo = hi = 1;
        ck_assert_msg(ac_parse_port_range(test_pool, bad[i], &lo, &hi) != NULL,
                      "accepted '%s'", bad[i]);
        ck_assert_uint_eq(lo, 1);
        ck_assert_uint_eq(hi, 1);
    }
    ck_assert_str_eq(ac_parse_port_range(test_pool, "80-90", &lo, &hi),
                     "'80-90' is not a port range LOW-HIGH with 1024 <= LOW <= HIGH <= 65535");
}
END_TEST

/* ------------------------------------------- hosting model, start mode */

START_TEST(hosting_model_values)
{
    int v = -1;

    ck_assert_ptr_null(ac_parse_hosting_model(test_pool, "InProcess", &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(ac_parse_hosting_model(test_pool, "outofprocess", &v));
    ck_assert_int_eq(v, 0);
    ck_assert_ptr_null(ac_parse_hosting_model(test_pool, "inprocess", &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(ac_parse_hosting_model(test_pool, "OUTOFPROCESS", &v));
    ck_assert_int_eq(v, 0);
    v = -1;
    ck_assert_ptr_null(ac_parse_hosting_model(test_pool, "", &v));    /* ANCM: empty = out */
    ck_assert_int_eq(v, 0);
    v = 5;
    ck_assert_str_eq(ac_parse_hosting_model(test_pool, "bogus", &v),
                     "'bogus' is not InProcess or OutOfProcess");
    ck_assert_ptr_nonnull(ac_parse_hosting_model(test_pool, "In Process", &v));
    ck_assert_ptr_nonnull(ac_parse_hosting_model(test_pool, "InProcessX", &v));
    ck_assert_int_eq(v, 5);
}
END_TEST

START_TEST(start_mode_values)
{
    int v = -1;

    ck_assert_ptr_null(ac_parse_start_mode(test_pool, "AlwaysRunning", &v));
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(ac_parse_start_mode(test_pool, "ondemand", &v));
    ck_assert_int_eq(v, 0);
    ck_assert_str_eq(ac_parse_start_mode(test_pool, "Always", &v),
                     "'Always' is not AlwaysRunning or OnDemand");
    ck_assert_ptr_nonnull(ac_parse_start_mode(test_pool, "", &v));
    ck_assert_int_eq(v, 0);
}
END_TEST

/* ------------------------------------------------------ %VAR% expansion */

static char *const test_env[] = {
    "HOME=/home/app", "Path=/usr/bin:/bin", "PATH=/sbin", "EMPTY=", "A=x%B%y", "B=bee",
    "WITH=eq=sign", NULL
};

static const char *expand(const char *s)
{
    const char *out = NULL, *err;
    err = ac_expand_env(test_pool, s, ac_env_lookup_envp, (void *)test_env, &out);
    ck_assert_msg(err == NULL, "'%s': %s", s, err);
    return out;
}

START_TEST(expand_env_values)
{
    ck_assert_str_eq(expand(""), "");
    ck_assert_str_eq(expand("plain"), "plain");
    ck_assert_str_eq(expand("%HOME%"), "/home/app");
    ck_assert_str_eq(expand("%HOME%\\LogFiles\\stdout"), "/home/app\\LogFiles\\stdout");
    ck_assert_str_eq(expand("a%HOME%b%B%c"), "a/home/appbbeec");
    ck_assert_str_eq(expand("%home%"), "/home/app");             /* Windows: any case */
    ck_assert_str_eq(expand("%PATH%"), "/sbin");                 /* exact case first */
    ck_assert_str_eq(expand("%Path%"), "/usr/bin:/bin");
    ck_assert_str_eq(expand("%pAtH%"), "/usr/bin:/bin");         /* first in any case */
    ck_assert_str_eq(expand("[%EMPTY%]"), "[]");
    ck_assert_str_eq(expand("%A%"), "x%B%y");                    /* values are not re-expanded */
    ck_assert_str_eq(expand("%WITH%"), "eq=sign");
    /* unknown variables and lone '%' stay as they are */
    ck_assert_str_eq(expand("%NOPE%"), "%NOPE%");
    ck_assert_str_eq(expand("100%"), "100%");
    ck_assert_str_eq(expand("%"), "%");
    ck_assert_str_eq(expand("%%"), "%%");
    ck_assert_str_eq(expand("%%HOME%"), "%/home/app");
    ck_assert_str_eq(expand("50% of %HOME%"), "50% of /home/app");   /* ' of ' is no variable */
    ck_assert_str_eq(expand("%NOPE%HOME%"), "%NOPE/home/app");       /* as Windows does */
    ck_assert_str_eq(expand("%HOME%%HOME%"), "/home/app/home/app");
    ck_assert_str_eq(expand("%HOME=x%"), "%HOME=x%");
    ck_assert_str_eq(expand("%HOME"), "%HOME");
}
END_TEST

static const char *no_lookup(void *ctx, const char *name)
{
    (void)ctx;
    (void)name;
    return NULL;
}

static const char *big_lookup(void *ctx, const char *name)
{
    (void)name;
    return ctx;
}

START_TEST(expand_env_limits)
{
    const char *out = NULL, *err;
    char *big = apr_palloc(test_pool, AC_EXPAND_MAX + 2);

    ck_assert_ptr_null(ac_expand_env(test_pool, "%HOME%", NULL, NULL, &out));
    ck_assert_str_eq(out, "%HOME%");
    ck_assert_ptr_null(ac_expand_env(test_pool, "%HOME%", no_lookup, NULL, &out));
    ck_assert_str_eq(out, "%HOME%");

    /* exactly AC_EXPAND_MAX is fine, one more byte is not */
    memset(big, 'v', AC_EXPAND_MAX);
    big[AC_EXPAND_MAX] = '\0';
    ck_assert_ptr_null(ac_expand_env(test_pool, big, NULL, NULL, &out));
    ck_assert_uint_eq(strlen(out), AC_EXPAND_MAX);
    big[AC_EXPAND_MAX] = 'v';
    big[AC_EXPAND_MAX + 1] = '\0';
    out = "untouched";
    err = ac_expand_env(test_pool, big, NULL, NULL, &out);
    ck_assert_ptr_nonnull(err);
    ck_assert_str_eq(out, "untouched");
    ck_assert_ptr_nonnull(strstr(err, "expands to more than 65536 bytes"));
    ck_assert_ptr_nonnull(strstr(err, "'..."));        /* the value is cut in the message */

    /* a value that blows the limit, and a short string repeating it */
    big[AC_EXPAND_MAX - 3] = '\0';
    ck_assert_ptr_null(ac_expand_env(test_pool, "%X%", big_lookup, big, &out));
    ck_assert_ptr_null(ac_expand_env(test_pool, "%X%abc", big_lookup, big, &out));
    ck_assert_ptr_nonnull(ac_expand_env(test_pool, "%X%abcd", big_lookup, big, &out));
    ck_assert_ptr_nonnull(ac_expand_env(test_pool, "%X%%X%", big_lookup, big, &out));
}
END_TEST

START_TEST(env_lookup_envp)
{
    ck_assert_ptr_null(ac_env_lookup_envp(NULL, "HOME"));
    ck_assert_ptr_null(ac_env_lookup_envp((void *)test_env, ""));
    ck_assert_ptr_null(ac_env_lookup_envp((void *)test_env, "HOM"));
    ck_assert_ptr_null(ac_env_lookup_envp((void *)test_env, "HOMEX"));
    ck_assert_str_eq(ac_env_lookup_envp((void *)test_env, "EMPTY"), "");
}
END_TEST

/* ------------------------------------------------------- windows paths */

START_TEST(windows_paths)
{
    ck_assert_str_eq(ac_windows_path(test_pool, ".\\MyApp.dll"), "./MyApp.dll");
    ck_assert_str_eq(ac_windows_path(test_pool, ".\\logs\\stdout"), "./logs/stdout");
    ck_assert_str_eq(ac_windows_path(test_pool, "dotnet"), "dotnet");
    ck_assert_str_eq(ac_windows_path(test_pool, ""), "");
    ck_assert_str_eq(ac_windows_path(test_pool, "a\\\\b\\"), "a//b/");
    ck_assert_str_eq(ac_windows_path(test_pool, "/already/unix"), "/already/unix");
    ck_assert_str_eq(ac_windows_path(test_pool, "f:\\application_config"),
                     "f:/application_config");
    ck_assert_str_eq(ac_windows_path(test_pool, ".\\My App.dll --flag \\\"x\\\""),
                     "./My App.dll --flag /\"x/\"");
    /* Azure's extended-length prefix means nothing here */
    ck_assert_str_eq(ac_windows_path(test_pool, "\\\\?\\%home%\\LogFiles\\stdout"),
                     "%home%/LogFiles/stdout");
    ck_assert_str_eq(ac_windows_path(test_pool, "\\\\server\\share"), "//server/share");
    ck_assert_str_eq(ac_windows_path(test_pool, "x\\\\?\\y"), "x//?/y");
}
END_TEST

/* ------------------------------------------------------------ messages */

START_TEST(show_quotes_safely)
{
    char long_value[200];

    ck_assert_str_eq(ac_parse_show(test_pool, "abc"), "'abc'");
    ck_assert_str_eq(ac_parse_show(test_pool, ""), "''");
    ck_assert_str_eq(ac_parse_show(test_pool, "a\nb\x1b[31m\x7f"), "'a\\x0ab\\x1b[31m\\x7f'");
    ck_assert_str_eq(ac_parse_show(test_pool, ".\\x %s %n"), "'.\\x %s %n'");
    ck_assert_str_eq(ac_parse_show(test_pool, "\xc3\xa9t\xc3\xa9"), "'\xc3\xa9t\xc3\xa9'");
    memset(long_value, 'x', sizeof(long_value) - 1);
    long_value[sizeof(long_value) - 1] = '\0';
    ck_assert_uint_eq(strlen(ac_parse_show(test_pool, long_value)), AC_PARSE_SHOW_MAX + 5);
    /* the cut never splits a UTF-8 sequence */
    memset(long_value, 'x', AC_PARSE_SHOW_MAX - 1);
    memcpy(long_value + AC_PARSE_SHOW_MAX - 1, "\xc3\xa9\xc3\xa9", 5);
    ck_assert_str_eq(ac_parse_show(test_pool, long_value) + AC_PARSE_SHOW_MAX - 1, "x'...");
}
END_TEST

Suite *parse_suite(void)
{
    Suite *s = suite_create("parse");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, bool_values);
    tcase_add_test(tc, int_range_values);
    tcase_add_test(tc, int_range_errors);
    tcase_add_test(tc, timespan_values);
    tcase_add_test(tc, timespan_errors);
    tcase_add_test(tc, timespan_other_max);
    tcase_add_test(tc, port_range_values);
    tcase_add_test(tc, hosting_model_values);
    tcase_add_test(tc, start_mode_values);
    tcase_add_test(tc, expand_env_values);
    tcase_add_test(tc, expand_env_limits);
    tcase_add_test(tc, env_lookup_envp);
    tcase_add_test(tc, windows_paths);
    tcase_add_test(tc, show_quotes_safely);
    suite_add_tcase(s, tc);
    return s;
}
