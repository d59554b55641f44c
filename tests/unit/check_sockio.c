/* Unit tests of ac_sockio: the port choice (the kernel's ephemeral range
 * avoided where the configured range allows it) and the read that waits
 * inside recv(). */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "check_suites.h"
#include "ac_sockio.h"
#include "ac_tcpinfo.h"

/* Every port ac_port_pick can give for [low, high] and the ephemeral range,
 * as a count per port (r runs over two full cycles of any range here). */
static void picks(unsigned low, unsigned high, unsigned elow, unsigned ehigh, unsigned *seen)
{
    unsigned r;
    for (r = 0; r < 2 * (high - low + 1); r++) {
        unsigned port = ac_port_pick(low, high, elow, ehigh, r);
        ck_assert_uint_ge(port, low);
        ck_assert_uint_le(port, high);
        seen[port - low]++;
    }
}

START_TEST(below_the_ephemeral_range_only)
{
    unsigned seen[41] = { 0 }, p;
    picks(100, 140, 120, 200, seen);        /* 100-119 outside, 120-140 inside */
    for (p = 100; p <= 140; p++) {
        if (p < 120) {
            ck_assert_uint_gt(seen[p - 100], 0);
        }
        else {
            ck_assert_uint_eq(seen[p - 100], 0);
        }
    }
}
END_TEST

START_TEST(both_sides_of_the_ephemeral_range)
{
    unsigned seen[21] = { 0 }, p;
    picks(100, 120, 105, 114, seen);        /* 100-104 and 115-120 outside */
    for (p = 100; p <= 120; p++) {
        int outside = p < 105 || p > 114;
        ck_assert_uint_eq(seen[p - 100] > 0, outside);
    }
}
END_TEST

START_TEST(whole_range_when_all_inside_or_unknown)
{
    unsigned seen[11] = { 0 }, unknown[11] = { 0 }, p;
    picks(100, 110, 50, 200, seen);         /* all inside: every port */
    picks(100, 110, 0, 0, unknown);         /* range unknown: every port */
    for (p = 0; p < 11; p++) {
        ck_assert_uint_gt(seen[p], 0);
        ck_assert_uint_gt(unknown[p], 0);
    }
    ck_assert_uint_eq(ac_port_pick(5000, 5000, 1, 65535, 12345), 5000);
}
END_TEST

START_TEST(reads_the_kernel_range)
{
    char path[] = "/tmp/ac-ephemeral-XXXXXX";
    unsigned low = 0, high = 0;
    int fd = mkstemp(path);
    FILE *f;
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs("32768\t60999\n", f);
    fclose(f);
    ck_assert_int_eq(ac_ephemeral_range(path, &low, &high), 1);
    ck_assert_uint_eq(low, 32768);
    ck_assert_uint_eq(high, 60999);
    f = fopen(path, "w");
    fputs("60999 32768\n", f);                 /* nonsense: not used */
    fclose(f);
    ck_assert_int_eq(ac_ephemeral_range(path, &low, &high), 0);
    unlink(path);
    ck_assert_int_eq(ac_ephemeral_range(path, &low, &high), 0);
}
END_TEST

/* A connected pair in blocking mode: [0] is ours, [1] the peer's. */
static void blocking_pair(int sv[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_sock_set_blocking(sv[0]), APR_SUCCESS);
    ck_assert_int_eq(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);
}

static apr_interval_time_t rcvtimeo_of(int fd)
{
    struct timeval tv;
    socklen_t len = sizeof(tv);
    ck_assert_int_eq(getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len), 0);
    return apr_time_from_sec(tv.tv_sec) + tv.tv_usec;
}

START_TEST(read_within_times_out)
{
    int sv[2];
    char buf[16];
    apr_size_t n = 99;
    apr_interval_time_t current = 0;
    apr_time_t start;

    blocking_pair(sv);
    start = apr_time_now();
    ck_assert_int_eq(ac_sock_read_within(sv[0], buf, sizeof(buf), &n, apr_time_from_msec(60),
                                         &current), APR_TIMEUP);
    ck_assert_int_ge(apr_time_now() - start, apr_time_from_msec(50));
    ck_assert_int_lt(apr_time_now() - start, apr_time_from_sec(5));
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(current, apr_time_from_msec(60));
    ck_assert_int_eq(rcvtimeo_of(sv[0]), apr_time_from_msec(60));
    close(sv[0]); close(sv[1]);
}
END_TEST

START_TEST(read_within_reads_and_sees_eof)
{
    int sv[2];
    char buf[16];
    apr_size_t n;
    apr_interval_time_t current = 0;

    blocking_pair(sv);
    ck_assert_int_eq(write(sv[1], "hello", 5), 5);
    ck_assert_int_eq(ac_sock_read_within(sv[0], buf, sizeof(buf), &n, apr_time_from_sec(5),
                                         &current), APR_SUCCESS);
    ck_assert_uint_eq(n, 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    close(sv[1]);
    ck_assert_int_eq(ac_sock_read_within(sv[0], buf, sizeof(buf), &n, apr_time_from_sec(5),
                                         &current), APR_EOF);
    close(sv[0]);
}
END_TEST

START_TEST(read_within_sets_the_timeout_only_when_it_changes)
{
    int sv[2];
    char buf[16];
    apr_size_t n;
    apr_interval_time_t current = apr_time_from_sec(7);   /* what the caller says is set */

    blocking_pair(sv);
    ck_assert_int_eq(write(sv[1], "x", 1), 1);
    ck_assert_int_eq(ac_sock_read_within(sv[0], buf, sizeof(buf), &n, apr_time_from_sec(7),
                                         &current), APR_SUCCESS);
    ck_assert_int_eq(rcvtimeo_of(sv[0]), 0);       /* believed set: not set again */
    ck_assert_int_eq(write(sv[1], "y", 1), 1);
    ck_assert_int_eq(ac_sock_read_within(sv[0], buf, sizeof(buf), &n, apr_time_from_sec(3),
                                         &current), APR_SUCCESS);
    ck_assert_int_eq(rcvtimeo_of(sv[0]), apr_time_from_sec(3));
    ck_assert_int_eq(current, apr_time_from_sec(3));
    close(sv[0]); close(sv[1]);
}
END_TEST

START_TEST(other_reads_stay_nonblocking_on_a_blocking_socket)
{
    int sv[2];
    char buf[16];
    apr_size_t n;
    apr_time_t start;

    blocking_pair(sv);
    start = apr_time_now();
    ck_assert_int_eq(ac_sock_read(sv[0], buf, sizeof(buf), &n, 0), APR_EAGAIN);
    ck_assert_int_eq(ac_sock_wait_readable(sv[0], apr_time_from_msec(20)), APR_TIMEUP);
    ck_assert_int_lt(apr_time_now() - start, apr_time_from_sec(2));
    ck_assert_int_eq(ac_sock_idle_ok(sv[0]), 1);
    close(sv[0]); close(sv[1]);
}
END_TEST

/* The peer answers before the request is all sent: the write stops as soon
 * as fd is readable, with what is left to write. */
START_TEST(writev_watching_stops_when_the_peer_speaks)
{
    static char big[1 << 20];
    int sv[2];
    struct iovec iov[2], *at = iov;
    int n = 2;
    apr_size_t total;

    blocking_pair(sv);
    memset(big, 'b', sizeof(big));
    iov[0].iov_base = "head";
    iov[0].iov_len = 4;
    iov[1].iov_base = big;
    iov[1].iov_len = sizeof(big);
    ck_assert_int_eq(write(sv[1], "413", 3), 3);          /* answered before anything */
    ck_assert_int_eq(ac_sock_writev_watching(sv[0], &at, &n, apr_time_from_sec(5)),
                     APR_INCOMPLETE);
    ck_assert_ptr_eq(at, iov);                             /* nothing written */
    ck_assert_int_eq(n, 2);
    close(sv[0]); close(sv[1]);

    /* the peer does not read; it answers once the buffers are full */
    blocking_pair(sv);
    iov[0].iov_base = "head";
    iov[0].iov_len = 4;
    iov[1].iov_base = big;
    iov[1].iov_len = sizeof(big);
    at = iov;
    n = 2;
    {
        char c = 'x';
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            usleep(200000);
            _exit(write(sv[1], &c, 1) == 1 ? 0 : 1);
        }
        ck_assert_int_eq(ac_sock_writev_watching(sv[0], &at, &n, apr_time_from_sec(10)),
                         APR_INCOMPLETE);
        waitpid(pid, NULL, 0);
    }
    total = 0;
    {
        int i;
        for (i = 0; i < n; i++) {
            total += at[i].iov_len;
        }
    }
    ck_assert_int_gt(n, 0);                                /* stopped part way */
    ck_assert_uint_lt(total, sizeof(big) + 4);
    close(sv[0]); close(sv[1]);

    /* nobody speaks: everything goes */
    blocking_pair(sv);
    iov[0].iov_base = "head";
    iov[0].iov_len = 4;
    at = iov;
    n = 1;
    ck_assert_int_eq(ac_sock_writev_watching(sv[0], &at, &n, apr_time_from_sec(5)),
                     APR_SUCCESS);
    ck_assert_int_eq(n, 0);
    close(sv[0]); close(sv[1]);
}
END_TEST

/* A socket listening on a port the kernel picks on loopback; *sa its address. */
static int loopback_listener(struct sockaddr_in *sa)
{
    socklen_t len = sizeof(*sa);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    ck_assert_int_ge(l, 0);
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(l, (struct sockaddr *)sa, sizeof(*sa)), 0);
    ck_assert_int_eq(listen(l, 1), 0);
    ck_assert_int_eq(getsockname(l, (struct sockaddr *)sa, &len), 0);
    return l;
}

/* A connected TCP pair on loopback: sv[0] ours (the client connection as
 * the server holds it), sv[1] the client's. */
static void tcp_pair(int sv[2])
{
    struct sockaddr_in sa;
    int l = loopback_listener(&sa);

    sv[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(sv[1], 0);
    ck_assert_int_eq(connect(sv[1], (struct sockaddr *)&sa, sizeof(sa)), 0);
    sv[0] = accept(l, NULL, NULL);
    ck_assert_int_ge(sv[0], 0);
    close(l);
}

/* Waiting on the app's socket (app[0]) while watching the client's: the
 * client's bytes (a pipelined request, a TLS record) neither end the wait
 * nor are read; its FIN or reset ends it at once; the app's bytes end it. */
START_TEST(wait_watching_sees_the_client_leave_but_not_its_bytes)
{
    int app[2], cl[2];
    ac_peer_watch_t w;
    short revents = 0;
    char buf[8];
    apr_time_t start;

    blocking_pair(app);
    tcp_pair(cl);
    memset(&w, 0, sizeof(w));
    w.fd = cl[0];

    ck_assert_int_eq(write(cl[1], "GET /next", 9), 9);
    start = apr_time_now();
    ck_assert_int_eq(ac_sock_wait_watching(app[0], POLLIN, &w, apr_time_from_msec(150),
                                           &revents), APR_TIMEUP);
    ck_assert_int_ge(apr_time_now() - start, apr_time_from_msec(140));
    ck_assert_int_eq(w.left, 0);
    ck_assert_int_eq(recv(cl[0], buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT), 8);

    ck_assert_int_eq(write(app[1], "HTTP", 4), 4);
    ck_assert_int_eq(ac_sock_wait_watching(app[0], POLLIN, &w, apr_time_from_sec(5), &revents),
                     APR_SUCCESS);
    ck_assert(revents & POLLIN);
    ck_assert_int_eq(w.left, 0);

    /* a half-close (FIN), with the bytes still unread: gone, unless the client's
     * body was still coming (then it ends the body) */
    ck_assert_int_eq(read(app[0], buf, 4), 4);
    ck_assert_int_eq(shutdown(cl[1], SHUT_WR), 0);
    w.in_body = 1;
    ck_assert_int_eq(ac_sock_wait_watching(app[0], POLLIN, &w, apr_time_from_msec(100),
                                           &revents), APR_TIMEUP);
    ck_assert_int_eq(w.left, 0);
    w.in_body = 0;
    start = apr_time_now();
    ck_assert_int_eq(ac_sock_wait_watching(app[0], POLLIN, &w, apr_time_from_sec(5), &revents),
                     APR_ECONNABORTED);
    ck_assert_int_lt(apr_time_now() - start, apr_time_from_sec(1));
    ck_assert_int_eq(w.left, 1);
    close(cl[0]); close(cl[1]);

    /* a reset: gone, also while the body comes */
    tcp_pair(cl);
    w.fd = cl[0];
    w.left = 0;
    w.in_body = 1;
    {
        struct linger lg = { 1, 0 };
        ck_assert_int_eq(setsockopt(cl[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        close(cl[1]);
    }
    ck_assert_int_eq(ac_sock_wait_watching(app[0], POLLIN, &w, apr_time_from_sec(5), &revents),
                     APR_ECONNABORTED);
    ck_assert_int_eq(w.left, 1);
    close(cl[0]);
    close(app[0]); close(app[1]);
}
END_TEST

static int gone_on_third_look(void *ctx)
{
    int *looks = ctx;
    return ++*looks >= 3;
}

/* A client without a socket (an HTTP/2 stream) is asked every tick. */
START_TEST(wait_watching_asks_a_socketless_client_every_tick)
{
    int app[2], looks = 0;
    ac_peer_watch_t w;
    short revents;
    apr_time_t start;

    blocking_pair(app);
    memset(&w, 0, sizeof(w));
    w.fd = -1;
    w.tick = apr_time_from_msec(20);
    w.gone = gone_on_third_look;
    w.ctx = &looks;
    start = apr_time_now();
    ck_assert_int_eq(ac_sock_wait_watching(app[0], POLLIN, &w, apr_time_from_sec(10), &revents),
                     APR_ECONNABORTED);
    ck_assert_int_eq(looks, 3);
    ck_assert_int_ge(apr_time_now() - start, apr_time_from_msec(35));
    ck_assert_int_lt(apr_time_now() - start, apr_time_from_sec(5));
    ck_assert_int_eq(w.left, 1);
    close(app[0]); close(app[1]);
}
END_TEST

/* Writing a body the app does not read: the client leaving ends the write. */
START_TEST(writev_watching_peer_stops_when_the_client_leaves)
{
    static char big[1 << 20];
    int app[2], cl[2];
    struct iovec iov[1], *at = iov;
    int n = 1;
    ac_peer_watch_t w;

    blocking_pair(app);
    tcp_pair(cl);
    memset(&w, 0, sizeof(w));
    w.fd = cl[0];
    iov[0].iov_base = big;
    iov[0].iov_len = sizeof(big);
    {
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            usleep(200000);
            _exit(shutdown(cl[1], SHUT_WR) == 0 ? 0 : 1);
        }
        ck_assert_int_eq(ac_sock_writev_watching_peer(app[0], &at, &n, apr_time_from_sec(10),
                                                      &w), APR_ECONNABORTED);
        waitpid(pid, NULL, 0);
    }
    ck_assert_int_eq(w.left, 1);
    ck_assert_int_eq(n, 1);                                /* stopped part way */
    close(app[0]); close(app[1]); close(cl[0]); close(cl[1]);
}
END_TEST

/* The listener checks read the kernel's tables: a socket of ours listening
 * on a port is seen, as ours (our process group) and as some listener; a
 * group with no process has none; a closed one is gone; no /proc, unknown. */
START_TEST(listeners_are_found_and_told_apart)
{
    struct sockaddr_in sa;
    int fd = loopback_listener(&sa);
    unsigned port = ntohs(sa.sin_port);

    ck_assert_int_eq(ac_port_has_listener(port, "/proc"), 1);
    ck_assert_int_eq(ac_port_listener_in_group(port, getpgrp(), "/proc"), 1);
    ck_assert_int_eq(ac_port_listener_in_group(port, 0x7ffffff0, "/proc"), 0);  /* not ours */
    close(fd);
    ck_assert_int_eq(ac_port_has_listener(port, "/proc"), 0);
    ck_assert_int_eq(ac_port_listener_in_group(port, getpgrp(), "/proc"), 0);
    ck_assert_int_eq(ac_port_has_listener(port, "/nonexistent-proc"), -1);
}
END_TEST

/* EOF after our request: was the app's end closed before the request came
 * (a pooled connection's close crossing our send: the app never read it), or
 * after the app's kernel had it (it may have run it), also when the app's
 * kernel then sends a reset of its own (TCP_LINGER2 < 0, as an orphaned
 * socket under memory pressure does)? Whether the request's bytes were
 * acknowledged tells them apart. Each case on a connection that carried a
 * request and its answer before (a pooled one). */
static void used_pair(int sv[2], const char *req, size_t n)
{
    static const char answer[] = "HTTP/1.1 204 No Content\r\n\r\n";
    char buf[64];

    tcp_pair(sv);
    ck_assert_int_eq(send(sv[1], req, n, MSG_NOSIGNAL), (ssize_t)n);
    ck_assert_int_eq(recv(sv[0], buf, n, MSG_WAITALL), (ssize_t)n);
    ck_assert_int_eq(send(sv[0], answer, sizeof(answer) - 1, MSG_NOSIGNAL),
                     (ssize_t)(sizeof(answer) - 1));
    ck_assert_int_eq(recv(sv[1], buf, sizeof(answer) - 1, MSG_WAITALL),
                     (ssize_t)(sizeof(answer) - 1));
}

/* The app's close(), 20 ms after its shutdown() (part of the scenario, not
 * a wait for something to happen). */
static void *close_later(void *fd)
{
    apr_sleep(apr_time_from_msec(20));
    close(*(int *)fd);
    return NULL;
}

START_TEST(a_close_before_our_bytes_is_told_from_one_after_they_were_read)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    const size_t n = sizeof(req) - 1;
    char buf[64];
    struct pollfd pfd;
    int sv[2], no_fin_wait = -1;
    pthread_t closer;

    /* the app closes first (nothing unread: a FIN), then our request comes */
    used_pair(sv, req, n);
    ck_assert_int_eq(close(sv[0]), 0);
    pfd.fd = sv[1];
    pfd.events = POLLIN;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_int_eq(send(sv[1], req, n, MSG_NOSIGNAL), (ssize_t)n);
    ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), 0), 0);
    /* the reset follows our bytes (at once on loopback): it raises POLLERR */
    pfd.events = 0;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_msg(pfd.revents & POLLERR, "no reset after our bytes (revents %#x)", pfd.revents);
    ck_assert_msg(ac_tcp_close_after_send(sv[1], n, 0) == AC_TCP_NEVER_HAD, "a close before "
                  "our bytes came was not seen");
    close(sv[1]);

    /* the app shuts its end down (a FIN), our request comes (into its
     * receive queue), then it closes without reading it: a reset. Whether
     * its kernel had acknowledged the bytes before (a delayed ACK may not
     * have gone out; the reset's own ACK is not counted) varies: either
     * way they are not taken for read */
    used_pair(sv, req, n);
    ck_assert_int_eq(shutdown(sv[0], SHUT_WR), 0);
    pfd.fd = sv[1];
    pfd.events = POLLIN;
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
    ck_assert_int_eq(send(sv[1], req, n, MSG_NOSIGNAL), (ssize_t)n);
    pfd.fd = sv[0];
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);      /* in its receive queue */
    /* its close comes a moment after our EOF: the reset is waited for */
    ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), 0), 0);
    ck_assert_int_eq(pthread_create(&closer, NULL, close_later, &sv[0]), 0);
    ck_assert_int_ne(ac_tcp_close_after_send(sv[1], n, 5000), AC_TCP_READ);
    ck_assert_int_eq(pthread_join(closer, NULL), 0);
    close(sv[1]);

    /* the app reads our request, then closes: no reset, the app may have run it */
    used_pair(sv, req, n);
    ck_assert_int_eq(send(sv[1], req, n, MSG_NOSIGNAL), (ssize_t)n);
    ck_assert_int_eq(recv(sv[0], buf, n, MSG_WAITALL), (ssize_t)n);
    ck_assert_int_eq(close(sv[0]), 0);
    ck_assert_int_eq(recv(sv[1], buf, sizeof(buf), 0), 0);
    ck_assert_int_eq(ac_tcp_close_after_send(sv[1], n, 50), AC_TCP_READ);
    close(sv[1]);

    /* the app reads it, then its kernel closes with a FIN and a reset of its
     * own: the request was acknowledged, so never taken for one that did not
     * reach the app (it reads as left unread, or as read: the rare case
     * ac_tcpinfo.h names) */
    used_pair(sv, req, n);
    ck_assert_int_eq(send(sv[1], req, n, MSG_NOSIGNAL), (ssize_t)n);
    ck_assert_int_eq(recv(sv[0], buf, n, MSG_WAITALL), (ssize_t)n);
    ck_assert_int_eq(setsockopt(sv[0], IPPROTO_TCP, TCP_LINGER2, &no_fin_wait,
                                sizeof(no_fin_wait)), 0);
    ck_assert_int_eq(close(sv[0]), 0);
    ck_assert_int_ge(recv(sv[1], buf, sizeof(buf), 0), -1);
    pfd.fd = sv[1];
    pfd.events = 0;
    (void)poll(&pfd, 1, 200);       /* its reset, if it comes, is in by then */
    ck_assert_int_ne(ac_tcp_close_after_send(sv[1], n, 0), AC_TCP_NEVER_HAD);
    close(sv[1]);
    ck_assert_int_eq(ac_tcp_close_after_send(-1, n, 0), AC_TCP_READ);
}
END_TEST

Suite *sockio_suite(void)
{
    Suite *s = suite_create("sockio");
    TCase *tc = tcase_create("ports");
    tcase_add_test(tc, below_the_ephemeral_range_only);
    tcase_add_test(tc, both_sides_of_the_ephemeral_range);
    tcase_add_test(tc, whole_range_when_all_inside_or_unknown);
    tcase_add_test(tc, reads_the_kernel_range);
    tcase_add_test(tc, listeners_are_found_and_told_apart);
    suite_add_tcase(s, tc);
    tc = tcase_create("reads");
    tcase_add_test(tc, read_within_times_out);
    tcase_add_test(tc, read_within_reads_and_sees_eof);
    tcase_add_test(tc, read_within_sets_the_timeout_only_when_it_changes);
    tcase_add_test(tc, other_reads_stay_nonblocking_on_a_blocking_socket);
    tcase_add_test(tc, writev_watching_stops_when_the_peer_speaks);
    tcase_add_test(tc, wait_watching_sees_the_client_leave_but_not_its_bytes);
    tcase_add_test(tc, wait_watching_asks_a_socketless_client_every_tick);
    tcase_add_test(tc, writev_watching_peer_stops_when_the_client_leaves);
    tcase_add_test(tc, a_close_before_our_bytes_is_told_from_one_after_they_were_read);
    suite_add_tcase(s, tc);
    return s;
}
