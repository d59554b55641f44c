/* Unit tests: where a request whose try failed before any answer may go
 * again (ac_retry). */
#include <errno.h>
#include <string.h>

#include "check_suites.h"
#include "ac_retry.h"

#define RESET APR_FROM_OS_ERROR(ECONNRESET)
#define PIPE APR_FROM_OS_ERROR(EPIPE)

/* A try on a pooled connection that failed with rv before any answer. */
static ac_try_t failed(apr_status_t rv, int safe_method, int has_body)
{
    ac_try_t t;
    memset(&t, 0, sizeof(t));
    t.rv = rv;
    t.reused = 1;
    t.safe_method = safe_method;
    t.has_body = has_body;
    return t;
}

START_TEST(a_reset_request_without_a_body_was_never_read_whole)
{
    ac_try_t get = failed(RESET, 1, 0), del = failed(PIPE, 0, 0);

    ck_assert(ac_retry_unread(&get));
    ck_assert(ac_retry_unread(&del));
    /* closed (EOF): the app may have read it all */
    get.rv = APR_EOF;
    ck_assert(!ac_retry_unread(&get));
    /* a byte of an answer came: it ran */
    del.got_bytes = 1;
    ck_assert(!ac_retry_unread(&del));
}
END_TEST

START_TEST(a_reset_request_with_a_body_is_unread_only_if_nothing_reached_the_app)
{
    ac_try_t post = failed(RESET, 0, 1);

    ck_assert(!ac_retry_unread(&post));          /* it may have run on part of the body */
    post.never_reached = 1;
    ck_assert(ac_retry_unread(&post));
    post.never_reached = 0;
    post.left_unread = 1;                        /* closed, then reset it unread */
    ck_assert(ac_retry_unread(&post));
    post.body_started = 1;                       /* streamed: the client's body is spent */
    ck_assert(!ac_retry_unread(&post));
    post.body_started = 0;
    post.answered = 1;
    ck_assert(!ac_retry_unread(&post));
}
END_TEST

START_TEST(a_safe_method_goes_again_after_a_close_on_a_pooled_connection)
{
    ac_try_t get = failed(APR_EOF, 1, 0);

    ck_assert(ac_retry_on_new_connection(&get, ac_retry_unread(&get)));
    get.reused = 0;                              /* a new connection closed: no race */
    ck_assert(!ac_retry_on_new_connection(&get, 0));
    get.reused = 1;
    get.rv = APR_TIMEUP;                         /* it may be running still */
    ck_assert(!ac_retry_on_new_connection(&get, 0));
    get.rv = APR_EOF;
    get.got_bytes = 1;                           /* part of an answer came */
    ck_assert(!ac_retry_on_new_connection(&get, 0));
}
END_TEST

START_TEST(any_other_method_the_app_may_have_read_goes_nowhere_else)
{
    ac_try_t post = failed(APR_EOF, 0, 1), del = failed(APR_EOF, 0, 0);
    ac_try_t get_with_body = failed(APR_EOF, 1, 1);

    ck_assert(!ac_retry_on_new_connection(&post, ac_retry_unread(&post)));
    ck_assert(!ac_retry_on_new_connection(&del, ac_retry_unread(&del)));
    ck_assert(!ac_retry_on_new_connection(&get_with_body, ac_retry_unread(&get_with_body)));
    /* reset: a DELETE's head was left unread; a POST's body proves nothing */
    del.rv = RESET;
    post.rv = RESET;
    ck_assert(ac_retry_on_new_connection(&del, ac_retry_unread(&del)));
    ck_assert(!ac_retry_on_new_connection(&post, ac_retry_unread(&post)));
    /* nothing of it reached the app: any request goes again */
    post.never_reached = 1;
    ck_assert(ac_retry_on_new_connection(&post, ac_retry_unread(&post)));
}
END_TEST

START_TEST(only_an_eof_on_a_pooled_connection_is_looked_at_closer)
{
    ac_try_t post = failed(APR_EOF, 0, 1);

    /* no socket to ask (the kernel does not say): it stays a close */
    ac_retry_check_close(&post, -1, 100);
    ck_assert(APR_STATUS_IS_EOF(post.rv));
    ck_assert(!post.never_reached);
    post.rv = RESET;
    ac_retry_check_close(&post, -1, 100);
    ck_assert(APR_STATUS_IS_ECONNRESET(post.rv));
    ck_assert(!post.never_reached);
}
END_TEST

Suite *retry_suite(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, a_reset_request_without_a_body_was_never_read_whole);
    tcase_add_test(tc, a_reset_request_with_a_body_is_unread_only_if_nothing_reached_the_app);
    tcase_add_test(tc, a_safe_method_goes_again_after_a_close_on_a_pooled_connection);
    tcase_add_test(tc, any_other_method_the_app_may_have_read_goes_nowhere_else);
    tcase_add_test(tc, only_an_eof_on_a_pooled_connection_is_looked_at_closer);
    suite_add_tcase(s, tc);
    return s;
}
