/* ac_clientwatch: the client of a forwarded request, watched while the app works. */
#include "ac_clientwatch.h"

#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <apr_portable.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* mod_http2 sets it on a stream's connection, from the main connection's
 * thread, when the client resets the stream or the whole connection goes. */
static int connection_aborted(void *ctx)
{
    const volatile conn_rec *c = ctx;
    return c->aborted;
}

ac_peer_watch_t *ac_clientwatch_create(request_rec *r)
{
    conn_rec *c = r->connection;
    ac_peer_watch_t *w = apr_pcalloc(r->pool, sizeof(*w));
    apr_socket_t *sock;
    apr_os_sock_t fd;

    w->fd = -1;
    w->gone = connection_aborted;
    w->ctx = c;
    if (c->master) {
        /* an HTTP/2 stream: its socket is a process-wide dummy (h2_c2.c),
         * the stream's reset arrives as c->aborted */
        w->tick = AC_CLIENTWATCH_TICK;
        return w;
    }
    sock = ap_get_conn_socket(c);
    if (sock && apr_os_sock_get(&fd, sock) == APR_SUCCESS && fd >= 0) {
        w->fd = fd;
    }
    return w;
}

int ac_clientwatch_gone(request_rec *r, const char *label, const char *during)
{
    conn_rec *c = r->connection;

    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "[%s] the client went away %s: the "
                  "connection to the app is closed, so that the app's RequestAborted "
                  "fires", label ? label : "app", during);
    c->aborted = 1;
    r->no_cache = 1;
    return DONE;
}
