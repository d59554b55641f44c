/* Unit tests: the LOG_TARGETS message (ac_logtargets) and descriptors on
 * the control channel (ac_channel). */
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>

#include <apr_strings.h>

#include "check_suites.h"
#include "ac_channel.h"
#include "ac_logtargets.h"

static ac_log_targets_t sample(uint32_t *servers, uint32_t *apps)
{
    ac_log_targets_t t;
    memset(&t, 0, sizeof(t));
    t.ntargets = 3;
    t.level[0] = 4;  t.fd[0] = 10;
    t.level[1] = 6;  t.fd[1] = -1;
    t.level[2] = 7;  t.fd[2] = 12;
    servers[0] = 0; servers[1] = 2; servers[2] = 1; servers[3] = 0;
    t.nservers = 4;
    t.server_target = servers;
    apps[0] = 3; apps[1] = 0;
    t.napps = 2;
    t.app_server = apps;
    return t;
}

START_TEST(a_message_reads_back_as_written)
{
    uint32_t servers[4], apps[2];
    ac_log_targets_t t = sample(servers, apps), back;
    apr_array_header_t *payload = apr_array_make(test_pool, 64, 1);
    int fds[AC_LOG_TARGETS_MAX];
    unsigned nfds;

    ac_log_targets_encode(payload, &t, fds, &nfds);
    ck_assert_uint_eq(nfds, 2);
    ck_assert_int_eq(fds[0], 10);
    ck_assert_int_eq(fds[1], 12);
    fds[0] = 20;     /* as received: other numbers */
    fds[1] = 22;
    ck_assert_ptr_null(ac_log_targets_parse(test_pool, payload->elts, (uint32_t)payload->nelts,
                                            fds, nfds, &back));
    ck_assert_uint_eq(back.ntargets, 3);
    ck_assert_int_eq(back.fd[0], 20);
    ck_assert_int_eq(back.fd[1], -1);
    ck_assert_int_eq(back.fd[2], 22);
    ck_assert_uint_eq(back.level[2], 7);
    ck_assert_uint_eq(ac_log_target_of_server(&back, 1), 2);
    ck_assert_uint_eq(ac_log_target_of_server(&back, 2), 1);
    /* a host the message does not know (a child's word): the main log */
    ck_assert_uint_eq(ac_log_target_of_server(&back, 4), 0);
    ck_assert_uint_eq(ac_log_target_of_server(&back, 0xFFFFFFFFu), 0);
    ck_assert_uint_eq(back.napps, 2);
    ck_assert_uint_eq(back.app_server[0], 3);
}
END_TEST

START_TEST(bad_messages_are_refused_and_leave_the_descriptors_to_the_caller)
{
    uint32_t servers[4], apps[2];
    ac_log_targets_t t = sample(servers, apps), back;
    apr_array_header_t *payload = apr_array_make(test_pool, 64, 1);
    int fds[AC_LOG_TARGETS_MAX];
    unsigned nfds, cut, i;
    char *copy;

    ac_log_targets_encode(payload, &t, fds, &nfds);
    /* too few, too many descriptors */
    ck_assert_ptr_nonnull(ac_log_targets_parse(test_pool, payload->elts,
                                               (uint32_t)payload->nelts, fds, 1, &back));
    ck_assert_ptr_nonnull(ac_log_targets_parse(test_pool, payload->elts,
                                               (uint32_t)payload->nelts, fds, 3, &back));
    for (i = 0; i < AC_LOG_TARGETS_MAX; i++) {
        ck_assert_int_eq(back.fd[i], -1);
    }
    /* every truncation */
    for (cut = 0; cut < (unsigned)payload->nelts; cut++) {
        ck_assert_ptr_nonnull(ac_log_targets_parse(test_pool, payload->elts, cut, fds, nfds,
                                                   &back));
    }
    copy = apr_pmemdup(test_pool, payload->elts, (apr_size_t)payload->nelts);
    copy[0] = 2;     /* another version */
    ck_assert_ptr_nonnull(ac_log_targets_parse(test_pool, copy, (uint32_t)payload->nelts, fds,
                                               nfds, &back));
    /* a host mapped to a target that does not exist */
    servers[1] = 3;
    payload = apr_array_make(test_pool, 64, 1);
    ac_log_targets_encode(payload, &t, fds, &nfds);
    ck_assert_ptr_nonnull(ac_log_targets_parse(test_pool, payload->elts,
                                               (uint32_t)payload->nelts, fds, nfds, &back));
    /* a level beyond debug */
    servers[1] = 2;
    t.level[1] = 8;
    payload = apr_array_make(test_pool, 64, 1);
    ac_log_targets_encode(payload, &t, fds, &nfds);
    ck_assert_ptr_nonnull(ac_log_targets_parse(test_pool, payload->elts,
                                               (uint32_t)payload->nelts, fds, nfds, &back));
}
END_TEST

START_TEST(descriptors_ride_with_a_control_frame)
{
    int sp[2], pipefd[2], got[AC_CTL_MAX_FDS];
    unsigned ngot;
    uint32_t type, len;
    char *payload;
    char buf[8];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    ck_assert_int_eq(pipe(pipefd), 0);
    /* a frame without, one with, one without: each read gets its own */
    ck_assert_int_eq(ac_control_write(sp[0], 9, "a", 1, apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_int_eq(ac_control_write_fds(sp[0], AC_CTL_LOG_TARGETS, "bc", 2, &pipefd[1], 1,
                                          apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_int_eq(ac_control_write(sp[0], 9, "d", 1, apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_int_eq(ac_control_read_fds(sp[1], test_pool, &type, &payload, &len,
                                         apr_time_from_sec(1), got, &ngot), APR_SUCCESS);
    ck_assert_uint_eq(ngot, 0);
    ck_assert_str_eq(payload, "a");
    ck_assert_int_eq(ac_control_read_fds(sp[1], test_pool, &type, &payload, &len,
                                         apr_time_from_sec(1), got, &ngot), APR_SUCCESS);
    ck_assert_uint_eq(type, AC_CTL_LOG_TARGETS);
    ck_assert_str_eq(payload, "bc");
    ck_assert_uint_eq(ngot, 1);
    ck_assert_int_ne(fcntl(got[0], F_GETFD) & FD_CLOEXEC, 0);
    /* the descriptor received writes into the same pipe */
    ck_assert_int_eq(write(got[0], "xyz", 3), 3);
    ck_assert_int_eq(read(pipefd[0], buf, sizeof(buf)), 3);
    close(got[0]);
    /* a reader that takes none closes what came */
    ck_assert_int_eq(ac_control_write_fds(sp[0], 9, "e", 1, &pipefd[1], 1, apr_time_from_sec(1)),
                     APR_SUCCESS);
    ck_assert_int_eq(ac_control_read(sp[1], test_pool, &type, &payload, &len,
                                     apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_str_eq(payload, "d");
    ck_assert_int_eq(ac_control_read(sp[1], test_pool, &type, &payload, &len,
                                     apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_str_eq(payload, "e");
    close(pipefd[1]);
    /* every write end is closed now: the read end sees the end */
    ck_assert_int_eq(read(pipefd[0], buf, sizeof(buf)), 0);
    close(pipefd[0]);
    close(sp[0]);
    ck_assert_int_eq(ac_control_read(sp[1], test_pool, &type, &payload, &len,
                                     apr_time_from_sec(1)), APR_EOF);
    close(sp[1]);
}
END_TEST

Suite *logtargets_suite(void)
{
    Suite *s = suite_create("logtargets");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, a_message_reads_back_as_written);
    tcase_add_test(tc, bad_messages_are_refused_and_leave_the_descriptors_to_the_caller);
    tcase_add_test(tc, descriptors_ride_with_a_control_frame);
    suite_add_tcase(s, tc);
    return s;
}
