/* Unit tests: the level of an app's output line (ac_applevel). */
#include <string.h>

#include "check_suites.h"
#include "ac_applevel.h"

static ac_applevel_t st;

static int level(const char *line)
{
    return ac_applevel_classify(&st, line);
}

START_TEST(simple_headers_and_their_indented_messages)
{
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(level("warn: Microsoft.AspNetCore.Server.Kestrel[0]"), AC_APPLEVEL_WARNING);
    ck_assert_int_eq(level("      Overriding address(es) 'http://+:80'."), AC_APPLEVEL_WARNING);
    ck_assert_int_eq(level("fail: RealApp[1]"), AC_APPLEVEL_ERR);
    ck_assert_int_eq(level("      it broke"), AC_APPLEVEL_ERR);
    ck_assert_int_eq(level("\tat Foo.Bar()"), AC_APPLEVEL_ERR);
    ck_assert_int_eq(level("crit: RealApp[2]"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level("      down"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level("info: Microsoft.Hosting.Lifetime[14]"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("      Now listening on: http://127.0.0.1:5000"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("dbug: X[0]"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("trce: X[0]"), AC_APPLEVEL_INFO);
}
END_TEST

START_TEST(a_line_not_indented_ends_the_entry)
{
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(level("fail: RealApp[1]"), AC_APPLEVEL_ERR);
    ck_assert_int_eq(level("plain text from Console.WriteLine"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("   indented, but no entry is open"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("crit: X[0]"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level(""), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("  after an empty line"), AC_APPLEVEL_INFO);
}
END_TEST

START_TEST(look_alikes_are_info)
{
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(level("warning: not .NET's"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("failed to do something"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("warn:no space"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("WARN: upper case"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("<8>not a priority"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("<4"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("{\"LogLevel\""), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("{"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("\033[1"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("warn"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("warn: "), AC_APPLEVEL_WARNING);
    ck_assert_int_eq(level("fail:"), AC_APPLEVEL_ERR);
}
END_TEST

START_TEST(colour_codes_before_the_header)
{
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(level("\033[40m\033[1m\033[33mwarn\033[39m\033[22m\033[49m: X[0]"),
                     AC_APPLEVEL_WARNING);
    ck_assert_int_eq(level("\033[41m\033[30mfail\033[39m\033[22m\033[49m: X[0]"), AC_APPLEVEL_ERR);
}
END_TEST

START_TEST(systemd_priorities)
{
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(level("<0>X[0] m"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level("<1>X[0] m"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level("<2>X[0] m"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level("<3>X[0] m"), AC_APPLEVEL_ERR);
    ck_assert_int_eq(level("<4>X[0] m"), AC_APPLEVEL_WARNING);
    ck_assert_int_eq(level("<5>X[0] m"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("<6>X[0] m"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("<7>X[0] m"), AC_APPLEVEL_INFO);
    /* one line each: an indented line after one is not its continuation */
    ck_assert_int_eq(level("  more"), AC_APPLEVEL_INFO);
}
END_TEST

START_TEST(json_lines)
{
    memset(&st, 0, sizeof(st));
    ck_assert_int_eq(level("{\"EventId\":0,\"LogLevel\":\"Warning\",\"Category\":\"X\"}"),
                     AC_APPLEVEL_WARNING);
    ck_assert_int_eq(level("{\"EventId\":0,\"LogLevel\": \"Error\",\"Category\":\"X\"}"),
                     AC_APPLEVEL_ERR);
    ck_assert_int_eq(level("{\"LogLevel\" : \"Critical\"}"), AC_APPLEVEL_CRIT);
    ck_assert_int_eq(level("{\"EventId\":14,\"LogLevel\":\"Information\"}"), AC_APPLEVEL_INFO);
    ck_assert_int_eq(level("{\"Message\":\"\\\"LogLevel\\\":\\\"Error\\\"\"}"), AC_APPLEVEL_INFO);
}
END_TEST

START_TEST(json_level_far_from_the_start_is_not_looked_for)
{
    char line[1024];
    memset(&st, 0, sizeof(st));
    memset(line, 'x', sizeof(line));
    line[0] = '{';
    strcpy(line + 600, "\"LogLevel\":\"Error\"}");
    ck_assert_int_eq(level(line), AC_APPLEVEL_INFO);
}
END_TEST

Suite *applevel_suite(void)
{
    Suite *s = suite_create("applevel");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, simple_headers_and_their_indented_messages);
    tcase_add_test(tc, a_line_not_indented_ends_the_entry);
    tcase_add_test(tc, look_alikes_are_info);
    tcase_add_test(tc, colour_codes_before_the_header);
    tcase_add_test(tc, systemd_priorities);
    tcase_add_test(tc, json_lines);
    tcase_add_test(tc, json_level_far_from_the_start_is_not_looked_for);
    suite_add_tcase(s, tc);
    return s;
}
