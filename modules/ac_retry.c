/* ac_retry: where a failed try of a request may go again (ac_retry.h). */
#include "ac_retry.h"
#include "ac_tcpinfo.h"

#include <errno.h>

void ac_retry_check_close(ac_try_t *t, int fd, apr_size_t request_bytes)
{
    if (APR_STATUS_IS_EOF(t->rv) && t->reused && !t->got_bytes && !t->body_started
        && ac_tcp_closed_before_bytes(fd, request_bytes)) {
        t->never_reached = 1;
        t->rv = APR_FROM_OS_ERROR(ECONNRESET);
    }
}

int ac_retry_unread(const ac_try_t *t)
{
    return (APR_STATUS_IS_ECONNRESET(t->rv) || APR_STATUS_IS_EPIPE(t->rv)) && !t->got_bytes
           && !t->body_started && !t->answered && (!t->has_body || t->never_reached);
}

int ac_retry_on_new_connection(const ac_try_t *t, int unread)
{
    if (!t->reused || t->got_bytes || t->body_started || t->answered
        || APR_STATUS_IS_TIMEUP(t->rv)) {
        return 0;
    }
    return unread || (t->safe_method && !t->has_body);
}
