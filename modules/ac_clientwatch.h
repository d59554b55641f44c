/* ac_clientwatch: is the request's client still there while the app works?
 *
 * What the waits for the app (ac_receive: the response head and body;
 * ac_send: the request body going out) watch besides the app's socket: the
 * client connection's own socket for a FIN or a reset (never for its bytes,
 * which belong to the body, a pipelined request or a TLS record), and for an
 * HTTP/2 stream, which has no socket of its own, the stream being reset
 * (mod_http2 marks the secondary connection aborted). And what is done when
 * the client is gone: the connection is marked aborted, as mod_proxy_http
 * does, and it is logged at info.
 */
#ifndef AC_CLIENTWATCH_H
#define AC_CLIENTWATCH_H

#include <httpd.h>
#include "ac_sockio.h"

/* How often an HTTP/2 stream's connection is looked at while waiting (a stream has no
 * socket to poll; mod_http2 marks it aborted). 50 ms keeps the app's RequestAborted within
 * 100 ms while a long-poll or SSE stream over HTTP/2 wakes 20 times a second, not 40. */
#define AC_CLIENTWATCH_TICK apr_time_from_msec(50)

/* The watch for r's client, from r->pool. */
ac_peer_watch_t *ac_clientwatch_create(request_rec *r);

/* Did a wait see the client gone? (w may be NULL) */
static APR_INLINE int ac_clientwatch_left(const ac_peer_watch_t *w)
{
    return w && w->left;
}

/* The client left while the app worked on r (`during`: what was going on):
 * the connection is marked aborted and it is logged (info). Returns DONE,
 * the handler's answer: nothing more goes to the client. */
int ac_clientwatch_gone(request_rec *r, const char *label, const char *during);

#endif /* AC_CLIENTWATCH_H */
