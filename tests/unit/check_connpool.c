/* Unit tests of ac_connpool: reuse order, incarnations, the liveness check,
 * and the closing of connections left idle too long (sweep and sweeper). */
#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <apr_time.h>

#include "check_suites.h"
#include "ac_connpool.h"

/* A connected pair: [0] goes into the pool, [1] is the app's end. */
static void pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Has the pool's end been closed? (The app's end then reads EOF.) */
static int peer_closed(int app_end, int wait_ms)
{
    struct pollfd p = { app_end, POLLIN, 0 };
    char c;
    if (poll(&p, 1, wait_ms) != 1) {
        return 0;
    }
    return recv(app_end, &c, 1, MSG_DONTWAIT) == 0;
}

static apr_interval_time_t rt;   /* the receive timeout a get hands back */

static ac_connpool_t *new_pool(apr_interval_time_t idle_max)
{
    ac_connpool_t *cp;
    ck_assert_int_eq(ac_connpool_create(&cp, test_pool, 4, idle_max), APR_SUCCESS);
    return cp;
}

START_TEST(newest_first)
{
    ac_connpool_t *cp = new_pool(apr_time_from_sec(60));
    int a[2], b[2];
    pair(a);
    pair(b);
    ac_connpool_put(cp, 1, 2, 7, a[0], apr_time_from_sec(120));
    ac_connpool_put(cp, 1, 2, 7, b[0], 0);
    rt = -1;
    ck_assert_int_eq(ac_connpool_get(cp, 1, 2, 7, 0, &rt), b[0]);
    ck_assert_int_eq(rt, 0);
    /* each connection comes back with the receive timeout it was kept with */
    ck_assert_int_eq(ac_connpool_get(cp, 1, 2, 7, 0, &rt), a[0]);
    ck_assert_int_eq(rt, apr_time_from_sec(120));
    ck_assert_int_eq(ac_connpool_get(cp, 1, 2, 7, 0, &rt), -1);
    ck_assert_int_eq(ac_connpool_get(cp, 1, 3, 7, 0, &rt), -1);   /* another slot: none */
    close(a[0]); close(a[1]); close(b[0]); close(b[1]);
}
END_TEST

START_TEST(other_incarnation_never_reused)
{
    ac_connpool_t *cp = new_pool(apr_time_from_sec(60));
    int a[2];
    pair(a);
    ac_connpool_put(cp, 0, 0, 1, a[0], 0);
    /* the process was replaced: its connection is closed, not handed out */
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 2, 0, &rt), -1);
    ck_assert(peer_closed(a[1], 0));
    close(a[1]);
}
END_TEST

START_TEST(checked_get_skips_closed)
{
    ac_connpool_t *cp = new_pool(apr_time_from_sec(60));
    int a[2], b[2];
    pair(a);
    pair(b);
    ac_connpool_put(cp, 0, 0, 1, a[0], 0);
    ac_connpool_put(cp, 0, 0, 1, b[0], 0);
    close(b[1]);                             /* the app closed the newest one */
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 1, 1, &rt), a[0]);
    close(a[0]); close(a[1]);
}
END_TEST

START_TEST(unchecked_get_takes_newest)
{
    ac_connpool_t *cp = new_pool(apr_time_from_sec(60));
    int b[2];
    pair(b);
    ac_connpool_put(cp, 0, 0, 1, b[0], 0);
    close(b[1]);
    /* no system call: the caller retries on a new connection if it fails */
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 1, 0, &rt), b[0]);
    close(b[0]);
}
END_TEST

START_TEST(sweep_closes_only_old)
{
    ac_connpool_t *cp = new_pool(apr_time_from_msec(50));
    int old[2], young[2];
    pair(old);
    pair(young);
    ac_connpool_put(cp, 0, 0, 1, old[0], 0);
    apr_sleep(apr_time_from_msec(80));      /* old is now past idle_max */
    ac_connpool_put(cp, 0, 0, 1, young[0], 0);
    ac_connpool_sweep(cp);
    ck_assert(peer_closed(old[1], 0));
    ck_assert(!peer_closed(young[1], 0));
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 1, 0, &rt), young[0]);
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 1, 0, &rt), -1);
    close(old[1]); close(young[0]); close(young[1]);
}
END_TEST

START_TEST(get_closes_expired)
{
    ac_connpool_t *cp = new_pool(apr_time_from_msec(20));
    int a[2];
    pair(a);
    ac_connpool_put(cp, 0, 0, 1, a[0], 0);
    apr_sleep(apr_time_from_msec(40));
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 1, 0, &rt), -1);
    ck_assert(peer_closed(a[1], 0));
    close(a[1]);
}
END_TEST

START_TEST(sweeper_thread_closes_idle)
{
    apr_pool_t *p;
    ac_connpool_t *cp;
    int a[2];

    ck_assert_int_eq(apr_pool_create(&p, test_pool), APR_SUCCESS);
    ck_assert_int_eq(ac_connpool_create(&cp, p, 4, apr_time_from_msec(30)), APR_SUCCESS);
    ck_assert_int_eq(ac_connpool_start_sweeper(cp, apr_time_from_msec(10)), APR_SUCCESS);
    pair(a);
    ac_connpool_put(cp, 3, 1, 9, a[0], 0);
    /* nobody calls get: the thread closes it (bounded wait) */
    ck_assert(peer_closed(a[1], 2000));
    close(a[1]);
    /* destroying the pool stops and joins the thread */
    apr_pool_destroy(p);
}
END_TEST

START_TEST(destroy_closes_everything)
{
    apr_pool_t *p;
    ac_connpool_t *cp;
    int a[2];

    ck_assert_int_eq(apr_pool_create(&p, test_pool), APR_SUCCESS);
    ck_assert_int_eq(ac_connpool_create(&cp, p, 4, apr_time_from_sec(60)), APR_SUCCESS);
    ck_assert_int_eq(ac_connpool_start_sweeper(cp, apr_time_from_sec(5)), APR_SUCCESS);
    pair(a);
    ac_connpool_put(cp, 0, 0, 1, a[0], 0);
    apr_pool_destroy(p);                     /* must not wait for the 5 s interval */
    ck_assert(peer_closed(a[1], 0));
    close(a[1]);
}
END_TEST

Suite *connpool_suite(void)
{
    Suite *s = suite_create("connpool");
    TCase *tc = tcase_create("pool");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 3);
    tcase_add_test(tc, newest_first);
    tcase_add_test(tc, other_incarnation_never_reused);
    tcase_add_test(tc, checked_get_skips_closed);
    tcase_add_test(tc, unchecked_get_takes_newest);
    tcase_add_test(tc, sweep_closes_only_old);
    tcase_add_test(tc, get_closes_expired);
    tcase_add_test(tc, sweeper_thread_closes_idle);
    tcase_add_test(tc, destroy_closes_everything);
    suite_add_tcase(s, tc);
    return s;
}
