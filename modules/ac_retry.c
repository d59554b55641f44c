/* ac_retry: where a failed try of a request may go again (ac_retry.h). */
#include "ac_retry.h"
#include "ac_tcpinfo.h"

#include <errno.h>

/* How long an EOF before any answer waits for the reset that says the app
 * left bytes of ours unread: the gap between a server's shutdown() and its
 * close(). Only a try that already failed waits, at most this long. */
#define RESET_WAIT_MS 50

void ac_retry_check_close(ac_try_t *t, int fd, apr_size_t request_bytes)
{
    ac_tcp_close_e seen;

    if (!APR_STATUS_IS_EOF(t->rv) || !t->reused || t->got_bytes || t->body_started) {
        return;
    }
    seen = ac_tcp_close_after_send(fd, request_bytes, RESET_WAIT_MS);
    if (seen != AC_TCP_READ) {
        t->never_reached = seen == AC_TCP_NEVER_HAD;
        t->left_unread = seen == AC_TCP_LEFT_UNREAD;
        t->rv = APR_FROM_OS_ERROR(ECONNRESET);
    }
}

int ac_retry_unread(const ac_try_t *t)
{
    return (APR_STATUS_IS_ECONNRESET(t->rv) || APR_STATUS_IS_EPIPE(t->rv)) && !t->got_bytes
           && !t->body_started && !t->answered
           && (!t->has_body || t->never_reached || t->left_unread);
}

int ac_retry_on_new_connection(const ac_try_t *t, int unread)
{
    if (!t->reused || t->got_bytes || t->body_started || t->answered
        || APR_STATUS_IS_TIMEUP(t->rv)) {
        return 0;
    }
    return unread || (t->safe_method && !t->has_body);
}
