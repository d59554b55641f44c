/* Unit tests: when a request-registered app is retired (ac_idle). */
#include "check_suites.h"
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
    suite_add_tcase(s, tc);
    return s;
}
