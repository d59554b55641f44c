/* Unit tests of ac_connpool: reuse order, incarnations, the liveness check,
 * and the closing of connections left idle too long (sweep and sweeper). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>
#include <apr_time.h>

#include "check_suites.h"
#include "ac_connpool.h"
#include "ac_shared.h"

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

/* The pool's handle: set to NULL when the pool goes (at teardown), so it
 * must outlive the test function. */
static ac_connpool_t *handle;

static ac_connpool_t *new_pool(apr_interval_time_t idle_max)
{
    ck_assert_int_eq(ac_connpool_create(&handle, test_pool, 4, idle_max), APR_SUCCESS);
    return handle;
}

/* A pool with an allocator of its own that keeps no freed memory, like an
 * httpd child's pool under MaxMemFree 1: memory freed too early is gone
 * (unmapped or back to malloc) instead of lingering in APR's free list. */
static apr_pool_t *pool_keeping_nothing(void)
{
    apr_allocator_t *alloc;
    apr_pool_t *p;

    ck_assert_int_eq(apr_allocator_create(&alloc), APR_SUCCESS);
    apr_allocator_max_free_set(alloc, 1);
    ck_assert_int_eq(apr_pool_create_ex(&p, test_pool, NULL, alloc), APR_SUCCESS);
    apr_allocator_owner_set(alloc, p);
    return p;
}

static int fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

/* Puts another open file at the number `fd` (someone else's, after we closed it). */
static void reuse_number(int fd)
{
    int other = open("/dev/null", O_RDONLY | O_CLOEXEC);

    ck_assert_int_ge(other, 0);
    if (other != fd) {
        ck_assert_int_eq(dup2(other, fd), fd);
        close(other);
    }
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

/* Defect 2.1 of issue 11: the close-all cleanup ran on the parent pool after
 * the subpool holding the idle arrays was destroyed. Here the parent keeps no
 * freed memory, as an httpd child's pool under MaxMemFree, so reading the
 * arrays after they died crashes (or is a sanitizer/valgrind error). */
START_TEST(destroying_parent_closes_idle_connections_first)
{
    apr_pool_t *p = pool_keeping_nothing();
    ac_connpool_t *cp;
    int a[2], b[2], c[2];

    ck_assert_int_eq(ac_connpool_create(&handle, p, 4, apr_time_from_sec(60)), APR_SUCCESS);
    cp = handle;
    ck_assert_int_eq(ac_connpool_start_sweeper(cp, apr_time_from_msec(1)), APR_SUCCESS);
    pair(a);
    pair(b);
    pair(c);
    ac_connpool_put(cp, 0, 0, 1, a[0], 0);
    ac_connpool_put(cp, 0, 0, 1, b[0], 0);
    ac_connpool_put(cp, AC_MAX_APPS - 1, AC_MAX_PROCESSES - 1, 5, c[0], 0);
    apr_pool_destroy(p);
    ck_assert_ptr_null(handle);
    ck_assert(peer_closed(a[1], 0));
    ck_assert(peer_closed(b[1], 0));
    ck_assert(peer_closed(c[1], 0));
    ck_assert(!fd_open(a[0]) && !fd_open(b[0]) && !fd_open(c[0]));
    close(a[1]); close(b[1]); close(c[1]);
}
END_TEST

/* Each pooled connection is closed once, by whoever holds it at the time: a
 * number closed (or handed out) earlier and reused by someone else is left
 * alone when the pool goes. */
START_TEST(numbers_closed_earlier_are_not_closed_again)
{
    apr_pool_t *p = pool_keeping_nothing();
    ac_connpool_t *cp;
    int taken[2], stale[2], dropped[2], closed[2], kept[2];

    ck_assert_int_eq(ac_connpool_create(&handle, p, 4, apr_time_from_msec(30)), APR_SUCCESS);
    cp = handle;
    pair(taken);
    pair(stale);
    pair(dropped);
    pair(closed);
    pair(kept);
    /* handed out: the caller owns it now and closes it itself */
    ac_connpool_put(cp, 0, 0, 1, taken[0], 0);
    ck_assert_int_eq(ac_connpool_get(cp, 0, 0, 1, 0, &rt), taken[0]);
    close(taken[0]);
    reuse_number(taken[0]);
    /* expired: closed by a sweep */
    ac_connpool_put(cp, 1, 0, 1, stale[0], 0);
    apr_sleep(apr_time_from_msec(50));
    ac_connpool_sweep(cp);
    ck_assert(peer_closed(stale[1], 0));
    reuse_number(stale[0]);
    /* its process was replaced: closed by the next put for that slot */
    ac_connpool_put(cp, 2, 0, 1, dropped[0], 0);
    ac_connpool_put(cp, 2, 0, 2, kept[0], 0);
    ck_assert(peer_closed(dropped[1], 0));
    reuse_number(dropped[0]);
    /* closed by an explicit close-all */
    ac_connpool_put(cp, 3, 0, 1, closed[0], 0);
    ac_connpool_close_all(cp);
    ck_assert(peer_closed(closed[1], 0));
    ck_assert(peer_closed(kept[1], 0));
    reuse_number(closed[0]);
    ck_assert(!fd_open(kept[0]));
    reuse_number(kept[0]);

    apr_pool_destroy(p);
    ck_assert_ptr_null(handle);
    /* the other owners' files at those numbers are still open */
    ck_assert(fd_open(taken[0]) && fd_open(stale[0]) && fd_open(dropped[0]));
    ck_assert(fd_open(closed[0]) && fd_open(kept[0]));
    close(taken[0]); close(stale[0]); close(dropped[0]); close(closed[0]); close(kept[0]);
    close(taken[1]); close(stale[1]); close(dropped[1]); close(closed[1]); close(kept[1]);
}
END_TEST

/* After the pool went, its holder's pointer is NULL and using it is safe: a
 * request pool destroyed after the child pool (at exit) hands its connection
 * back through it. */
START_TEST(null_pool_closes_what_it_is_given)
{
    int a[2];

    pair(a);
    ac_connpool_put(NULL, 0, 0, 1, a[0], 0);
    ck_assert(peer_closed(a[1], 0));
    ck_assert_int_eq(ac_connpool_get(NULL, 0, 0, 1, 1, &rt), -1);
    ac_connpool_close_all(NULL);
    close(a[1]);
}
END_TEST

/* The sweeper is joined before the memory it uses goes, also while it is
 * sweeping: pools made and destroyed in a row with a 1 ms sweep interval and
 * connections that expire under it. */
START_TEST(sweeper_stopped_before_its_memory_goes)
{
    int round;

    for (round = 0; round < 50; round++) {
        apr_pool_t *p = pool_keeping_nothing();
        int a[2];

        ck_assert_int_eq(ac_connpool_create(&handle, p, 2, apr_time_from_msec(1)), APR_SUCCESS);
        ck_assert_int_eq(ac_connpool_start_sweeper(handle, apr_time_from_msec(1)), APR_SUCCESS);
        pair(a);
        ac_connpool_put(handle, (unsigned)round % AC_MAX_APPS, 0, 1, a[0], 0);
        apr_sleep(round % 3 * 1000);
        apr_pool_destroy(p);
        ck_assert_ptr_null(handle);
        ck_assert(peer_closed(a[1], 0));
        ck_assert(!fd_open(a[0]));
        close(a[1]);
    }
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
    tcase_add_test(tc, destroying_parent_closes_idle_connections_first);
    tcase_add_test(tc, numbers_closed_earlier_are_not_closed_again);
    tcase_add_test(tc, null_pool_closes_what_it_is_given);
    tcase_add_test(tc, sweeper_stopped_before_its_memory_goes);
    suite_add_tcase(s, tc);
    return s;
}
