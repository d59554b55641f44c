/* ac_send: what goes to the app, for one request.
 *
 * The request head (raw target, the client's fields but hop-by-hop ones,
 * Content-Length, Expect and MS-ASPNETCORE-*; the token, the verified
 * client certificate (ac_clientcert) and X-Forwarded-* added) as iovecs for one writev, the body's mode, a small body read whole
 * first, and a larger one streamed from Apache's input filters (re-chunked
 * without a per-chunk allocation) while watching for an early answer from
 * the app. The other half of the exchange is ac_receive.
 */
#ifndef AC_SEND_H
#define AC_SEND_H

#include <httpd.h>
#include <apr_tables.h>
#include "ac_receive.h"

#define AC_BODY_PREFETCH_MAX 65536          /* bodies up to this are read whole first */

enum { AC_BODY_NONE = 0, AC_BODY_LENGTH = 1, AC_BODY_CHUNKED = 2 };

/* The request head: iovecs (struct iovec) pointing into r->pool. */
typedef struct {
    apr_array_header_t *iov;
    apr_pool_t *p;
} ac_head_t;

/* What happened while the body went out. */
typedef struct {
    int answered;                /* a final response head came before the body was all sent */
    int stopped;                 /* ... one that refuses it: the rest was not sent */
    int eos;                     /* the client's body was read to its end */
    const char *why;             /* what failed */
} ac_upload_outcome_t;

/* Does the client ask to switch this connection to WebSocket? */
int ac_wants_websocket(request_rec *r);

/* The body's mode (AC_BODY_*), and its length with AC_BODY_LENGTH. */
int ac_request_body_mode(request_rec *r, apr_off_t *length);

/* A WebSocket handshake over HTTP/2 (mod_http2's H2WebSockets): reads the
 * end of the empty body mod_http2 announces and sets *mode to AC_BODY_NONE.
 * Nothing is done over HTTP/1.1. OK, or the status to answer. */
int ac_websocket_request_body(request_rec *r, int *mode);

ac_head_t *ac_build_head(request_rec *r, const char *token, int body_mode,
                         apr_off_t body_length, int websocket);

/* A small body (Content-Length up to AC_BODY_PREFETCH_MAX) read whole from
 * the client, or NULL with *client_status set (the client's fault). */
char *ac_prefetch_body(request_rec *r, apr_off_t length, int *client_status);

/* Streams the client's body to the backend. Returns APR_SUCCESS (out says
 * whether the app answered or refused meanwhile; its head is then in resp),
 * or the client-side error in *client_status, or a backend error
 * (out->why; the response may still tell why: an early 413, say). */
apr_status_t ac_send_body(request_rec *r, ac_backend_t *b, ac_response_t *resp, int mode,
                          apr_interval_time_t timeout, int *client_status,
                          ac_upload_outcome_t *out);

#endif /* AC_SEND_H */
