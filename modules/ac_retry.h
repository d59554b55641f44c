/* ac_retry: whether a request whose try failed before any answer may be
 * sent again, and where: the rules of RFC 9110 9.2.2 and of what the kernel
 * says the app had. ac_proxy gathers the facts of a try; the decisions are
 * here, httpd-free, so that every case is unit-tested (check_retry.c).
 */
#ifndef AC_RETRY_H
#define AC_RETRY_H

#include <apr_errno.h>

/* What is known of one failed try of a request. */
typedef struct {
    apr_status_t rv;     /* why it failed (APR_EOF: closed; ECONNRESET, EPIPE: reset) */
    int reused;          /* it went on a pooled connection */
    int safe_method;     /* GET, HEAD, OPTIONS or TRACE (RFC 9110 9.2.1) */
    int has_body;        /* bytes of a body went with it (a small one sent with the head, or
                          * a streamed one begun; not one still waiting for 100 Continue) */
    int body_started;    /* a streamed body was being sent: it cannot be sent twice */
    int answered;        /* a final head came before the body was all sent */
    int got_bytes;       /* a byte of an answer came */
    int never_reached;   /* not a byte of it reached the app (nothing written, or
                          * closed before our bytes: AC_TCP_NEVER_HAD) */
    int left_unread;     /* the app closed with bytes of it unread (AC_TCP_LEFT_UNREAD) */
} ac_try_t;

/* A try that gave EOF on a pooled connection after we sent it
 * `request_bytes` bytes on socket fd: if the app closed the connection
 * with those bytes unread or before they reached it (its close and our
 * send crossing: EOF with a reset behind it, ac_tcp_close_after_send), the
 * try counts as reset, left unread or never reached. One the app closed
 * after it had read the request (killed while on it, or it dropped the
 * request: a FIN and no reset) stays EOF: the app may have run it. */
void ac_retry_check_close(ac_try_t *t, int fd, apr_size_t request_bytes);

/* The app never had the whole request, so it cannot have run it: reset
 * before any answer with bytes of ours unread (a request without a body:
 * its head; with a body the app may have run it without reading all of
 * the body), or not a byte of it reached the app, or it closed (a FIN)
 * and then reset bytes of it unread: a body sent with the head went in the
 * same write, and Kestrel's transport reads whatever arrives, so one that
 * left some unread had stopped reading before the request (the keep-alive
 * race: the app shut the pooled connection down as we sent). */
int ac_retry_unread(const ac_try_t *t);

/* May the request go once more, on a new connection to the same process,
 * after its first try (`unread`: ac_retry_unread of that try)? Only a try
 * on a pooled connection with no byte of an answer, not timed out, whose
 * body was not streamed; and then only a safe method without a body (the
 * keep-alive race: HTTP clients send those again, browsers and Go's do) or
 * a request the app cannot have had. Any other (a POST the app read, then
 * dropped: HttpContext.Abort(), a crash) would run twice. */
int ac_retry_on_new_connection(const ac_try_t *t, int unread);

#endif /* AC_RETRY_H */
