/* Unit tests: waiting for the supervisor's word on a process that reset a
 * request unread (ac_verdict). The supervisor's side is played by a thread. */
#include <pthread.h>
#include <string.h>

#include "check_suites.h"
#include "ac_verdict.h"

static const char TOKEN[] = "0123456789abcdef0123456789abcdef";

static ac_shared_t *ready_slot(ac_slot_t **slot)
{
    ac_shared_t *sh = apr_palloc(test_pool, ac_shared_size());
    ac_shared_init(sh);
    *slot = &sh->apps[2].slots[1];
    ac_slot_publish_start(*slot, 4242, 9000, 7, 1000000, TOKEN);
    ac_slot_publish(*slot, AC_SLOT_READY, 4242, 9000);
    return sh;
}

typedef struct {
    ac_app_t *app;
    ac_slot_t *slot;
    int replace;                 /* 1: reaped (EMPTY); 0: still listens (mark cleared) */
} supervisor_t;

static void *supervisor(void *data)
{
    supervisor_t *sv = data;
    apr_sleep(apr_time_from_msec(50));
    if (sv->replace) {
        ac_slot_publish_empty(sv->slot);
    }
    else {
        ac_slot_clear_suspect(sv->slot, 7);
    }
    ac_app_notify(sv->app);
    return NULL;
}

static ac_verdict_e verdict_after(int replace, apr_interval_time_t *took)
{
    ac_slot_t *slot;
    ac_shared_t *sh = ready_slot(&slot);
    supervisor_t sv = { &sh->apps[2], slot, replace };
    pthread_t t;
    apr_time_t t0 = apr_time_now();
    ac_verdict_e v;

    ac_slot_mark_suspect(slot, 7);
    ck_assert_int_eq(pthread_create(&t, NULL, supervisor, &sv), 0);
    v = ac_verdict_wait(&sh->apps[2], slot, 7, apr_time_from_sec(5));
    *took = apr_time_now() - t0;
    pthread_join(t, NULL);
    return v;
}

START_TEST(a_replaced_process_is_gone_as_soon_as_the_supervisor_says)
{
    apr_interval_time_t took;
    ck_assert_int_eq(verdict_after(1, &took), AC_VERDICT_GONE);
    ck_assert_int_lt(took, apr_time_from_sec(4));      /* woken, not timed out */
}
END_TEST

START_TEST(a_process_that_still_listens_is_alive)
{
    apr_interval_time_t took;
    ck_assert_int_eq(verdict_after(0, &took), AC_VERDICT_ALIVE);
    ck_assert_int_lt(took, apr_time_from_sec(4));
}
END_TEST

START_TEST(a_newer_process_in_the_slot_means_gone)
{
    ac_slot_t *slot;
    ac_shared_t *sh = ready_slot(&slot);

    ac_slot_mark_suspect(slot, 7);
    ac_slot_publish_start(slot, 4343, 9001, 8, 2000000, TOKEN);
    ac_slot_publish(slot, AC_SLOT_READY, 4343, 9001);
    ck_assert_int_eq(ac_verdict_wait(&sh->apps[2], slot, 7, 0), AC_VERDICT_GONE);
}
END_TEST

START_TEST(no_word_in_time_is_unknown)
{
    ac_slot_t *slot;
    ac_shared_t *sh = ready_slot(&slot);

    ac_slot_mark_suspect(slot, 7);
    ck_assert_int_eq(ac_verdict_wait(&sh->apps[2], slot, 7, apr_time_from_msec(30)),
                     AC_VERDICT_UNKNOWN);
}
END_TEST

START_TEST(asking_marks_the_slot_suspect)
{
    ac_slot_t *slot;
    ready_slot(&slot);

    ac_verdict_ask(-1, slot, 2, 1, 7);      /* no supervisor to tell: the mark still holds */
    ck_assert(ac_slot_is_suspect(slot, 7));
    ck_assert(!ac_slot_is_suspect(slot, 8));
}
END_TEST

Suite *verdict_suite(void)
{
    Suite *s = suite_create("verdict");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, a_replaced_process_is_gone_as_soon_as_the_supervisor_says);
    tcase_add_test(tc, a_process_that_still_listens_is_alive);
    tcase_add_test(tc, a_newer_process_in_the_slot_means_gone);
    tcase_add_test(tc, no_word_in_time_is_unknown);
    tcase_add_test(tc, asking_marks_the_slot_suspect);
    suite_add_tcase(s, tc);
    return s;
}
