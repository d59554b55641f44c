/* ac_receive: what comes back from the app, for one request.
 *
 * The connection to the app's process as the request path holds it (and
 * the rule for reusing it), the response head (read with the body bytes
 * behind it, interim 1xx answers consumed and bounded, parsed strictly by
 * ac_http1), the body's framing, and streaming the body to the client
 * through the output filters, with bounded memory and flushes when the app
 * pauses. The other half of the exchange is ac_send.
 */
#ifndef AC_RECEIVE_H
#define AC_RECEIVE_H

#include <httpd.h>
#include <unistd.h>
#include "ac_http1.h"
#include "ac_sockio.h"

struct ac_chosen;                /* the process (ac_proxy.c) */

/* A connection to an app's process, for one request. */
typedef struct {
    int fd;
    int reused;
    int request_sent;            /* the whole request went out before any final answer */
    int reusable;                /* ... and then a complete response came in */
    apr_interval_time_t recv_timeout;   /* set on fd (SO_RCVTIMEO); 0: none */
    ac_peer_watch_t *client;     /* watched while waiting on the app; NULL: nobody */
    struct ac_chosen *proc;
} ac_backend_t;

/* Closes the connection: it is never reused. */
static APR_INLINE void ac_backend_discard(ac_backend_t *b)
{
    b->reusable = 0;
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
}

/* Closes the connection with a reset, the client being gone: the app
 * learns of it at once, also when it is not reading (a body it left
 * unread fills the socket's buffers; an orderly close would wait behind
 * it). */
static APR_INLINE void ac_backend_abort(ac_backend_t *b)
{
    b->reusable = 0;
    if (b->fd >= 0) {
        ac_sock_abort(b->fd);
        b->fd = -1;
    }
}

typedef struct {
    char *buf;
    apr_size_t size, len;        /* bytes in buf */
    apr_size_t head_len;         /* length of the final head, once complete */
    int got_bytes;               /* any byte of a response arrived */
    int drained;                 /* the last read took all there was */
    int interim;                 /* interim (1xx) responses consumed */
    ac_response_head_t head;
} ac_response_t;

enum { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

/* How the response body is framed, and what is left of it. */
typedef struct {
    int framing;
    apr_off_t remaining;         /* FRAME_LENGTH */
    ac_chunked_t chunked;
    int keepalive;               /* the app lets us reuse the connection */
} ac_body_state_t;

/* Reads until a final (or 101) response head is complete: APR_SUCCESS.
 * With `until_continue`, a 100 Continue ends the wait too: APR_INCOMPLETE.
 * Else APR_TIMEUP, APR_EOF, APR_ECONNABORTED (the client left: b->client),
 * another error, with *why. Bytes after a head stay in resp->buf for the
 * next call. */
apr_status_t ac_read_head(request_rec *r, ac_backend_t *b, ac_response_t *resp,
                          apr_interval_time_t timeout, int until_continue, const char **why);

/* Copies the response head into r and works out the body's framing.
 * Returns NULL or why the head is unacceptable. */
const char *ac_apply_head(request_rec *r, ac_response_t *resp, ac_body_state_t *bs);

/* Streams the body to the client; the connection goes back to the pool
 * only if the whole request went out and the whole response came in.
 * Returns OK (also when the client went away). */
int ac_stream_body(request_rec *r, ac_backend_t *b, ac_response_t *resp, ac_body_state_t *bs,
                   apr_interval_time_t timeout);

#endif /* AC_RECEIVE_H */
