/* Unit tests: the restart back-off and the rapid-fail limit (ac_backoff). */
#include "check_suites.h"
#include "ac_backoff.h"

#define MS(n) apr_time_from_msec(n)
#define SEC(n) apr_time_from_sec(n)
#define T0 SEC(1000)         /* some monotonic time */

START_TEST(first_failure_restarts_at_once)
{
    ac_backoff_t b;
    ac_backoff_outcome_t o;

    ac_backoff_reset(&b);
    ac_backoff_failure(&b, T0, 10, &o);
    ck_assert_uint_eq(o.recent, 1);
    ck_assert_int_eq(o.delay, 0);
    ck_assert_int_eq(o.newly_tripped, 0);
    ck_assert_int_eq(b.tripped, 0);
    ck_assert(!ac_backoff_waiting(&b, T0));
}
END_TEST

START_TEST(failures_in_a_row_double_the_wait_up_to_the_cap)
{
    static const apr_interval_time_t want[] = {
        0, MS(250), MS(500), MS(1000), MS(2000), MS(4000), MS(8000), MS(16000),
        SEC(30), SEC(30), SEC(30)
    };
    ac_backoff_t b;
    ac_backoff_outcome_t o;
    apr_time_t now = T0;
    unsigned i;

    ac_backoff_reset(&b);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        ac_backoff_failure(&b, now, 100, &o);
        ck_assert_msg(o.delay == want[i], "failure %u: delay %ld, want %ld", i + 1,
                      (long)o.delay, (long)want[i]);
        ck_assert(ac_backoff_waiting(&b, now + o.delay - 1) || o.delay == 0);
        ck_assert(!ac_backoff_waiting(&b, now + o.delay));
        now += SEC(10);      /* spread out: never over the limit of 100 */
    }
    ck_assert_int_eq(b.tripped, 0);
}
END_TEST

START_TEST(a_long_run_starts_the_count_in_a_row_over)
{
    ac_backoff_t b;
    ac_backoff_outcome_t o;

    ac_backoff_reset(&b);
    ac_backoff_failure(&b, T0, 100, &o);
    ac_backoff_failure(&b, T0 + SEC(1), 100, &o);
    ck_assert_int_eq(o.delay, MS(250));
    ac_backoff_ended_after(&b, AC_BACKOFF_STABLE - 1);      /* not long enough */
    ac_backoff_failure(&b, T0 + SEC(2), 100, &o);
    ck_assert_int_eq(o.delay, MS(500));
    ac_backoff_ended_after(&b, AC_BACKOFF_STABLE);
    ac_backoff_failure(&b, T0 + SEC(40), 100, &o);
    ck_assert_int_eq(o.delay, 0);
    ck_assert_uint_eq(o.recent, 4);    /* the minute's count is not reset */
}
END_TEST

START_TEST(over_the_limit_trips_until_the_minute_has_passed)
{
    ac_backoff_t b;
    ac_backoff_outcome_t o;
    unsigned i;

    ac_backoff_reset(&b);
    /* limit 3: failures at T0, +1, +2 s are allowed; the 4th trips */
    for (i = 0; i < 3; i++) {
        ac_backoff_failure(&b, T0 + SEC(i), 3, &o);
        ck_assert_int_eq(o.newly_tripped, 0);
        ck_assert_int_eq(b.tripped, 0);
    }
    ac_backoff_failure(&b, T0 + SEC(3), 3, &o);
    ck_assert_uint_eq(o.recent, 4);
    ck_assert_int_eq(o.newly_tripped, 1);
    ck_assert_int_eq(b.tripped, 1);
    /* the oldest failure in the window leaves it at T0 + 60 s */
    ck_assert_int_eq(b.not_before, T0 + AC_BACKOFF_WINDOW);
    ck_assert_int_eq(o.tripped_for, AC_BACKOFF_WINDOW - SEC(3));
    ck_assert(ac_backoff_waiting(&b, T0 + SEC(59)));
    ck_assert(!ac_backoff_waiting(&b, T0 + SEC(60)));
    /* another failure while tripped: still tripped, not newly */
    ac_backoff_failure(&b, T0 + SEC(4), 3, &o);
    ck_assert_int_eq(o.newly_tripped, 0);
    ck_assert_int_eq(b.tripped, 1);
}
END_TEST

START_TEST(failures_older_than_a_minute_do_not_count)
{
    ac_backoff_t b;
    ac_backoff_outcome_t o;

    ac_backoff_reset(&b);
    ac_backoff_failure(&b, T0, 2, &o);
    ac_backoff_failure(&b, T0 + SEC(1), 2, &o);
    /* T0 is out of the window (60.5 s ago), T0 + 1 s in it */
    ac_backoff_failure(&b, T0 + SEC(60) + MS(500), 2, &o);
    ck_assert_uint_eq(o.recent, 2);
    ck_assert_int_eq(b.tripped, 0);
}
END_TEST

START_TEST(the_record_is_a_ring_of_bounded_size)
{
    ac_backoff_t b;
    ac_backoff_outcome_t o;
    unsigned i;

    ac_backoff_reset(&b);
    /* far more failures than the record holds, all within the minute */
    for (i = 0; i < 10 * AC_BACKOFF_RECORD; i++) {
        ac_backoff_failure(&b, T0 + MS(i), 1000, &o);
    }
    ck_assert_uint_eq(o.recent, AC_BACKOFF_RECORD);
    ck_assert_int_eq(b.tripped, 0);
    ck_assert_int_eq(o.delay, AC_BACKOFF_MAX);
}
END_TEST

START_TEST(reset_forgets_everything)
{
    ac_backoff_t b;
    ac_backoff_outcome_t o;
    unsigned i;

    ac_backoff_reset(&b);
    for (i = 0; i < 5; i++) {
        ac_backoff_failure(&b, T0 + SEC(i), 2, &o);
    }
    ck_assert_int_eq(b.tripped, 1);
    ac_backoff_reset(&b);
    ck_assert_int_eq(b.tripped, 0);
    ck_assert(!ac_backoff_waiting(&b, T0 + SEC(5)));
    ac_backoff_failure(&b, T0 + SEC(5), 2, &o);
    ck_assert_uint_eq(o.recent, 1);
    ck_assert_int_eq(o.delay, 0);
}
END_TEST

Suite *backoff_suite(void)
{
    Suite *s = suite_create("backoff");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, first_failure_restarts_at_once);
    tcase_add_test(tc, failures_in_a_row_double_the_wait_up_to_the_cap);
    tcase_add_test(tc, a_long_run_starts_the_count_in_a_row_over);
    tcase_add_test(tc, over_the_limit_trips_until_the_minute_has_passed);
    tcase_add_test(tc, failures_older_than_a_minute_do_not_count);
    tcase_add_test(tc, the_record_is_a_ring_of_bounded_size);
    tcase_add_test(tc, reset_forgets_everything);
    suite_add_tcase(s, tc);
    return s;
}
