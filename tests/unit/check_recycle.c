/* Unit tests: AspNetCoreRecycle's parsing and decisions (ac_recycle), with
 * made-up figures and a made-up clock (struct tm). */
#include <string.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_recycle.h"

static const char *parse(const char *args, ac_recycle_t *rc)
{
    return ac_recycle_parse(test_pool, args, rc);
}

START_TEST(parses_every_limit)
{
    ac_recycle_t rc;
    ck_assert_ptr_null(parse("requests=50 time=29h memory=512 schedule=03:00,01:30", &rc));
    ck_assert_uint_eq(rc.requests, 50);
    ck_assert_uint_eq(rc.time_s, 29 * 3600);
    ck_assert_uint_eq(rc.memory_mib, 512);
    ck_assert_uint_eq(rc.nschedule, 2);
    ck_assert_uint_eq(rc.schedule[0], 90);      /* sorted */
    ck_assert_uint_eq(rc.schedule[1], 180);
    ck_assert(ac_recycle_any(&rc) && ac_recycle_valid(&rc));
}
END_TEST

START_TEST(parses_durations)
{
    static const struct { const char *arg; unsigned s; } ok[] = {
        { "time=90s", 90 }, { "time=20m", 1200 }, { "time=2d", 172800 }, { "time=0", 0 },
        { "time=01:02:03", 3723 }, { "time=00:00:03", 3 }, { "time=366.00:00:00", 366 * 86400 }, { "time=1h30m", 5400 },
    };
    ac_recycle_t rc;
    unsigned i;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        ck_assert_msg(parse(ok[i].arg, &rc) == NULL, "%s refused", ok[i].arg);
        ck_assert_uint_eq(rc.time_s, ok[i].s);
    }
}
END_TEST

START_TEST(refuses_bad_values)
{
    static const char *const bad[] = {
        "", "   ", "requests", "requests=", "requests=-1", "requests=1x", "requests=4000000001",
        "requests=99999999999999999999999", "time=90", "time=5x", "time=s", "time=367d",
        "time=1:2:3", "time=01:60:00", "time=01:00", "time=8784:00:00", "time=30m1h", "time=-5s", "memory=1.5", "memory=2000000",
        "schedule=", "schedule=3:00", "schedule=24:00", "schedule=03:60", "schedule=03:00,03:00",
        "schedule=03:00,,", "colour=red", "=5", "requests=5 requests=6", "none requests=5",
        "requests=5 none",
    };
    ac_recycle_t rc;
    unsigned i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_msg(parse(bad[i], &rc) != NULL, "'%s' accepted", bad[i]);
    }
}
END_TEST

START_TEST(none_and_zero_mean_no_recycling)
{
    ac_recycle_t rc;
    ck_assert_ptr_null(parse("none", &rc));
    ck_assert(!ac_recycle_any(&rc));
    ck_assert_ptr_null(parse("requests=0 time=0 memory=0", &rc));
    ck_assert(!ac_recycle_any(&rc));
}
END_TEST

START_TEST(too_many_times_of_day)
{
    ac_recycle_t rc;
    char *list = apr_pstrdup(test_pool, "schedule=");
    int i;
    for (i = 0; i <= AC_RECYCLE_SCHEDULE_MAX; i++) {
        list = apr_psprintf(test_pool, "%s%s%02d:%02d", list, i ? "," : "", i / 60, i % 60);
    }
    ck_assert_ptr_nonnull(parse(list, &rc));
}
END_TEST

START_TEST(valid_refuses_forged_settings)
{
    ac_recycle_t rc;
    memset(&rc, 0, sizeof(rc));
    ck_assert(ac_recycle_valid(&rc));
    rc.nschedule = AC_RECYCLE_SCHEDULE_MAX + 1;
    ck_assert(!ac_recycle_valid(&rc));
    rc.nschedule = 1;
    rc.schedule[0] = 24 * 60;
    ck_assert(!ac_recycle_valid(&rc));
    rc.nschedule = 2;
    rc.schedule[0] = 60;
    rc.schedule[1] = 60;
    ck_assert(!ac_recycle_valid(&rc));
    memset(&rc, 0, sizeof(rc));
    rc.time_s = AC_RECYCLE_TIME_MAX + 1;
    ck_assert(!ac_recycle_valid(&rc));
    memset(&rc, 0, sizeof(rc));
    rc.memory_mib = AC_RECYCLE_MEMORY_MAX + 1;
    ck_assert(!ac_recycle_valid(&rc));
}
END_TEST

START_TEST(due_at_each_limit)
{
    ac_recycle_t rc;
    char why[AC_RECYCLE_WHY_CHARS];
    ck_assert_ptr_null(parse("requests=20 time=3s memory=80", &rc));
    ck_assert(!ac_recycle_due(&rc, 19, 2, 80 * 1024, why, sizeof(why)));
    ck_assert(ac_recycle_due(&rc, 20, 0, 0, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "served 20 requests (AspNetCoreRecycle requests=20)"));
    ck_assert(ac_recycle_due(&rc, 0, 3, 0, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "time=3s"));
    ck_assert(ac_recycle_due(&rc, 0, 0, 80 * 1024 + 1, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "memory=80"));
    ck_assert_ptr_null(parse("schedule=03:00", &rc));
    ck_assert(!ac_recycle_due(&rc, 1000000, 1000000, 1u << 30, why, sizeof(why)));
}
END_TEST

static struct tm at(int yday, int hour, int min)
{
    struct tm t;
    memset(&t, 0, sizeof(t));
    t.tm_year = 126;
    t.tm_yday = yday;
    t.tm_hour = hour;
    t.tm_min = min;
    return t;
}

START_TEST(schedule_passes_once)
{
    ac_recycle_t rc;
    struct tm a, b;
    char when[6];
    ck_assert_ptr_null(parse("schedule=03:00,23:59", &rc));
    a = at(10, 2, 59);
    b = at(10, 3, 0);
    ck_assert(ac_recycle_schedule_passed(&rc, &a, &b, when));
    ck_assert_str_eq(when, "03:00");
    a = at(10, 3, 0);          /* the next check in the same minute: not again */
    ck_assert(!ac_recycle_schedule_passed(&rc, &a, &b, when));
    a = at(10, 1, 0);          /* a long sleep across it */
    b = at(10, 4, 0);
    ck_assert(ac_recycle_schedule_passed(&rc, &a, &b, when));
    a = at(10, 23, 59);        /* midnight */
    b = at(11, 0, 0);
    ck_assert(!ac_recycle_schedule_passed(&rc, &a, &b, when));
    a = at(10, 23, 58);
    ck_assert(ac_recycle_schedule_passed(&rc, &a, &b, when));
    ck_assert_str_eq(when, "23:59");
    a = at(10, 23, 0);         /* across midnight to past 03:00 */
    b = at(11, 3, 5);
    ck_assert(ac_recycle_schedule_passed(&rc, &a, &b, when));
    a = at(11, 3, 5);          /* the clock set back a day: nothing */
    b = at(10, 23, 59);
    ck_assert(!ac_recycle_schedule_passed(&rc, &a, &b, when));
}
END_TEST

Suite *recycle_suite(void)
{
    Suite *s = suite_create("recycle");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, parses_every_limit);
    tcase_add_test(tc, parses_durations);
    tcase_add_test(tc, refuses_bad_values);
    tcase_add_test(tc, none_and_zero_mean_no_recycling);
    tcase_add_test(tc, too_many_times_of_day);
    tcase_add_test(tc, valid_refuses_forged_settings);
    tcase_add_test(tc, due_at_each_limit);
    tcase_add_test(tc, schedule_passes_once);
    suite_add_tcase(s, tc);
    return s;
}
