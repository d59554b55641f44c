/* Unit tests: when a request-registered app is retired (ac_idle). */
#include "check_suites.h"
#include <string.h>
#include "ac_idle.h"

#define SEC(n) apr_time_from_sec(n)
#define T0 SEC(1000)         /* some monotonic time */
#define NEVER SEC(1000000)

START_TEST(an_app_with_requests_is_kept)
{
    ac_idle_t t;
    apr_interval_time_t next = NEVER;
    apr_time_t now;
    uint64_t served = 0;

    ac_idle_start(&t, served, T0);
    /* a request every 10 s for 5 minutes, with a 20 s idle timeout */
    for (now = T0; now < T0 + SEC(300); now += SEC(10)) {
        ac_idle_observe(&t, ++served, 0, now);
        ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, now + SEC(9), NULL), AC_IDLE_KEEP);
    }
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, now, &next), AC_IDLE_KEEP);
    ck_assert_int_eq(next, SEC(10));    /* last request at now - 10 s */
}
END_TEST

START_TEST(an_idle_app_is_retired_after_the_timeout)
{
    ac_idle_t t;
    apr_interval_time_t next = NEVER;

    ac_idle_start(&t, 42, T0);
    ac_idle_observe(&t, 42, 0, T0 + SEC(5));    /* nothing moved */
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, T0 + SEC(19), &next), AC_IDLE_KEEP);
    ck_assert_int_eq(next, SEC(1));
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, T0 + SEC(20), NULL), AC_IDLE_RETIRE_IDLE);
    /* with or without a process */
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 0, T0 + SEC(20), NULL), AC_IDLE_RETIRE_IDLE);
}
END_TEST

START_TEST(a_request_in_flight_or_waiting_is_activity)
{
    ac_idle_t t;

    ac_idle_start(&t, 7, T0);
    /* a long request (a WebSocket): `served` does not move, it is in flight */
    ac_idle_observe(&t, 7, 1, T0 + SEC(100));
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, T0 + SEC(110), NULL), AC_IDLE_KEEP);
    ac_idle_touch(&t, T0 + SEC(200));           /* a datagram */
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, T0 + SEC(219), NULL), AC_IDLE_KEEP);
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(20), 1, T0 + SEC(220), NULL), AC_IDLE_RETIRE_IDLE);
}
END_TEST

START_TEST(zero_never_retires_an_idle_app)
{
    ac_idle_t t;
    apr_interval_time_t next = NEVER;

    ac_idle_start(&t, 0, T0);
    ck_assert_int_eq(ac_idle_verdict(&t, 0, 1, T0 + SEC(86400 * 365), &next), AC_IDLE_KEEP);
    ck_assert_int_eq(next, NEVER);
}
END_TEST

START_TEST(unconfirmed_with_processes_waits_for_the_grace)
{
    ac_idle_t t;
    apr_interval_time_t next = NEVER;

    ac_idle_start(&t, 0, T0);
    ac_idle_unconfirm(&t, T0 + SEC(60));
    /* the grace is 5 minutes, or the idle timeout if shorter */
    ck_assert_int_eq(ac_idle_grace(0), AC_IDLE_UNCONFIRMED_GRACE);
    ck_assert_int_eq(ac_idle_grace(SEC(3600)), AC_IDLE_UNCONFIRMED_GRACE);
    ck_assert_int_eq(ac_idle_grace(SEC(2)), SEC(2));
    ck_assert_int_eq(ac_idle_verdict(&t, 0, 1, T0 + SEC(60) + SEC(299), &next), AC_IDLE_KEEP);
    ck_assert_int_eq(next, SEC(1));
    /* even with no idle timeout: an undeclared app does not live for ever */
    ck_assert_int_eq(ac_idle_verdict(&t, 0, 1, T0 + SEC(60) + SEC(300), NULL),
                     AC_IDLE_RETIRE_UNCONFIRMED);
}
END_TEST

START_TEST(unconfirmed_without_processes_goes_at_once)
{
    ac_idle_t t;

    ac_idle_start(&t, 0, T0);
    ac_idle_unconfirm(&t, T0 + SEC(1));
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(1200), 0, T0 + SEC(1), NULL),
                     AC_IDLE_RETIRE_UNCONFIRMED);
}
END_TEST

START_TEST(a_request_confirms_the_app)
{
    ac_idle_t t;

    ac_idle_start(&t, 5, T0);
    ac_idle_unconfirm(&t, T0 + SEC(1));
    ac_idle_observe(&t, 6, 0, T0 + SEC(2));     /* a child served a request */
    ck_assert(!t.unconfirmed);
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(1200), 0, T0 + SEC(1000), NULL), AC_IDLE_KEEP);
    ac_idle_unconfirm(&t, T0 + SEC(2000));
    ac_idle_touch(&t, T0 + SEC(2001));          /* a datagram */
    ck_assert(!t.unconfirmed);
    ac_idle_unconfirm(&t, T0 + SEC(3000));
    ac_idle_start(&t, 0, T0 + SEC(3001));       /* registered again */
    ck_assert(!t.unconfirmed);
    ck_assert_int_eq(ac_idle_verdict(&t, SEC(1200), 0, T0 + SEC(3002), NULL), AC_IDLE_KEEP);
}
END_TEST

/* ---- AspNetCoreIdleTimeout ---- */

START_TEST(an_idle_app_is_stopped_after_its_timeout)
{
    ac_idle_t t;
    apr_interval_time_t next = NEVER;

    ac_idle_start(&t, 3, T0);
    ac_idle_observe(&t, 4, 0, T0 + SEC(10));    /* a request was served */
    ck_assert(!ac_idle_stop_due(&t, SEC(20), T0 + SEC(29), &next));
    ck_assert_int_eq(next, SEC(1));
    ac_idle_observe(&t, 4, 0, T0 + SEC(29));    /* nothing moved */
    ck_assert(ac_idle_stop_due(&t, SEC(20), T0 + SEC(30), NULL));
    /* a long request (a download, a WebSocket) keeps it: in flight */
    ac_idle_observe(&t, 4, 1, T0 + SEC(100));
    ck_assert(!ac_idle_stop_due(&t, SEC(20), T0 + SEC(119), NULL));
    /* the request that starts it again */
    ac_idle_touch(&t, T0 + SEC(500));
    ck_assert(!ac_idle_stop_due(&t, SEC(20), T0 + SEC(519), NULL));
    ck_assert(ac_idle_stop_due(&t, SEC(20), T0 + SEC(520), NULL));
}
END_TEST

START_TEST(no_idle_timeout_never_stops)
{
    ac_idle_t t;
    apr_interval_time_t next = NEVER;

    ac_idle_start(&t, 0, T0);
    ck_assert(!ac_idle_stop_due(&t, 0, T0 + SEC(86400 * 365), &next));
    ck_assert_int_eq(next, NEVER);
}
END_TEST

START_TEST(idle_timeouts_parse)
{
    static const struct { const char *in; long sec; } good[] = {
        { "0", 0 }, { " 20m ", 1200 }, { "90s", 90 }, { "1h30m", 5400 }, { "1H30M", 5400 },
        { "2d", 172800 }, { "1d2h3m4s", 93784 }, { "00:20:00", 1200 }, { "1.00:00:00", 86400 },
        { "00:00:00", 0 }, { "30d", 2592000 }, { "720:00:00", 2592000 }, { "0s", 0 },
    };
    static const struct { const char *in; const char *says; } bad[] = {
        { "", "is empty" }, { "  ", "is empty" }, { "20", "without a unit" },
        { "90x", "other than d, h, m or s" }, { "30m1h", "out of order" },
        { "1m1m", "out of order" }, { "31d", "too long" }, { "2592001s", "too long" },
        { "720:00:01", "too long" }, { "00:60:00", "minutes" }, { "-5m", "not a duration" },
        { "m", "not a duration" }, { "1.5h", "other than d, h, m or s" },
        { "999999999s", "not a duration" },
    };
    apr_pool_t *p;
    apr_size_t i;

    apr_pool_create(&p, NULL);
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        long sec = -1;
        const char *err = ac_idle_parse_timeout(p, good[i].in, &sec);
        ck_assert_msg(!err, "'%s': %s", good[i].in, err ? err : "");
        ck_assert_int_eq(sec, good[i].sec);
    }
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        long sec = -1;
        const char *err = ac_idle_parse_timeout(p, bad[i].in, &sec);
        ck_assert_msg(err && strstr(err, bad[i].says), "'%s': %s", bad[i].in,
                      err ? err : "accepted");
        ck_assert_int_eq(sec, -1);
        /* every message says what is allowed */
        ck_assert_msg(strstr(err, "20m"), "%s", err);
    }
    apr_pool_destroy(p);
}
END_TEST

Suite *idle_suite(void)
{
    Suite *s = suite_create("idle");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, an_app_with_requests_is_kept);
    tcase_add_test(tc, an_idle_app_is_retired_after_the_timeout);
    tcase_add_test(tc, a_request_in_flight_or_waiting_is_activity);
    tcase_add_test(tc, zero_never_retires_an_idle_app);
    tcase_add_test(tc, unconfirmed_with_processes_waits_for_the_grace);
    tcase_add_test(tc, unconfirmed_without_processes_goes_at_once);
    tcase_add_test(tc, a_request_confirms_the_app);
    tcase_add_test(tc, an_idle_app_is_stopped_after_its_timeout);
    tcase_add_test(tc, no_idle_timeout_never_stops);
    tcase_add_test(tc, idle_timeouts_parse);
    suite_add_tcase(s, tc);
    return s;
}
