/* ac_tunnel: relay between the client's connection filters and a backend socket. */
#include "ac_tunnel.h"
#include "ac_sockio.h"

#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>

#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <util_filter.h>
#include <apr_portable.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define RELAY_CHUNK 65536
#define WRITE_TIMEOUT apr_time_from_sec(30)

/* Client -> backend: whatever the client's filters have now (never
 * blocking, so that TLS records already decrypted are not left behind).
 * Returns 0 while open, 1 at the client's end of stream, -1 on error. */
static int client_to_backend(conn_rec *c, apr_bucket_brigade *bb, int backend_fd,
                             apr_off_t *moved)
{
    for (;;) {
        apr_status_t rv = ap_get_brigade(c->input_filters, bb, AP_MODE_READBYTES,
                                         APR_NONBLOCK_READ, RELAY_CHUNK);
        apr_bucket *e;
        int eos = 0;

        if (APR_STATUS_IS_EAGAIN(rv)) {
            return 0;
        }
        if (rv == APR_EOF) {
            return 1;
        }
        if (rv != APR_SUCCESS) {
            return -1;
        }
        if (APR_BRIGADE_EMPTY(bb)) {
            return 0;
        }
        for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
            const char *data;
            apr_size_t len;
            struct iovec iov;
            if (APR_BUCKET_IS_EOS(e)) {
                eos = 1;
                break;
            }
            if (APR_BUCKET_IS_METADATA(e)) {
                continue;
            }
            if (apr_bucket_read(e, &data, &len, APR_BLOCK_READ) != APR_SUCCESS) {
                apr_brigade_cleanup(bb);
                return -1;
            }
            iov.iov_base = (void *)data;
            iov.iov_len = len;
            if (len && ac_sock_writev_all(backend_fd, &iov, 1, WRITE_TIMEOUT) != APR_SUCCESS) {
                apr_brigade_cleanup(bb);
                return -1;
            }
            *moved += (apr_off_t)len;
        }
        apr_brigade_cleanup(bb);
        if (eos) {
            return 1;
        }
    }
}

static int pass_to_client(conn_rec *c, apr_bucket_brigade *bb, const char *data,
                          apr_size_t len)
{
    apr_status_t rv;
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(data, len, c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    rv = ap_pass_brigade(c->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv == APR_SUCCESS && !c->aborted ? 0 : -1;
}

apr_off_t ac_tunnel_run(request_rec *r, int backend_fd, const char *early, apr_size_t early_len,
                        apr_interval_time_t idle_timeout)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *in = apr_brigade_create(r->pool, c->bucket_alloc);
    apr_bucket_brigade *out = apr_brigade_create(r->pool, c->bucket_alloc);
    char *buf = apr_palloc(r->pool, RELAY_CHUNK);
    apr_os_sock_t client_fd;
    int client_open = 1, backend_open = 1;
    apr_off_t moved = 0;

    if (apr_os_sock_get(&client_fd, ap_get_conn_socket(c)) != APR_SUCCESS) {
        return 0;
    }
    if (early_len && pass_to_client(c, out, early, early_len) < 0) {
        return 0;
    }
    moved += (apr_off_t)early_len;
    /* something may already wait in the client's filters */
    if (client_to_backend(c, in, backend_fd, &moved) != 0) {
        client_open = 0;
        shutdown(backend_fd, SHUT_WR);
    }
    while (client_open || backend_open) {
        struct pollfd pfd[2];
        int n = 0, rc, ci = -1, bi = -1;

        if (client_open) {
            pfd[n].fd = client_fd;
            pfd[n].events = POLLIN;
            ci = n++;
        }
        if (backend_open) {
            pfd[n].fd = backend_fd;
            pfd[n].events = POLLIN;
            bi = n++;
        }
        rc = poll(pfd, (nfds_t)n, idle_timeout > 0 ? (int)apr_time_as_msec(idle_timeout) : -1);
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc <= 0) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rc ? APR_FROM_OS_ERROR(errno) : 0, r,
                          "tunnel %s", rc ? "poll failed" : "idle: closing it");
            break;
        }
        if (ci >= 0 && pfd[ci].revents) {
            int st = client_to_backend(c, in, backend_fd, &moved);
            if (st != 0) {
                client_open = 0;
                if (st < 0) {
                    break;
                }
                shutdown(backend_fd, SHUT_WR);   /* the client is done talking */
            }
        }
        if (bi >= 0 && pfd[bi].revents) {
            apr_size_t got;
            apr_status_t rv = ac_sock_read(backend_fd, buf, RELAY_CHUNK, &got, 0);
            if (rv == APR_SUCCESS) {
                if (pass_to_client(c, out, buf, got) < 0) {
                    break;
                }
                moved += (apr_off_t)got;
            }
            else if (!APR_STATUS_IS_EAGAIN(rv)) {
                backend_open = 0;                  /* the app is done talking */
                if (client_open) {
                    /* nothing more will come: end the client's side too */
                    break;
                }
            }
        }
    }
    return moved;
}
