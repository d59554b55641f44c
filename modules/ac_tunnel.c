/* ac_tunnel: relay between the client's connection filters and a backend socket. */
#include "ac_tunnel.h"
#include "ac_sockio.h"

#include <errno.h>
#include <string.h>
#include <poll.h>
#include <unistd.h>
#include <sys/socket.h>

#include <http_connection.h>
#include <http_core.h>
#include <http_log.h>
#include <util_filter.h>
#include <ap_mmn.h>
#include <apr_portable.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define RELAY_CHUNK 65536
#define WRITE_TIMEOUT apr_time_from_sec(30)
#define H2_RECHECK apr_time_from_sec(1)

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

/* What to poll for the client's input. An HTTP/1.1 connection: its socket.
 * An HTTP/2 stream (a secondary connection, no socket of its own): the pipe
 * mod_http2 writes a byte to whenever the stream's input has something (data,
 * its end, a reset), drained by a read that finds nothing more; the core
 * gives it by ap_get_pollfd_from_conn (2.4.58+). Returns the descriptor, -1
 * when the client's input is closed already (*ok 1) or cannot be polled
 * (*ok 0); *is_pipe says which kind. */
static int client_pollable(conn_rec *c, int *is_pipe, int *ok)
{
    apr_os_sock_t sock_fd;
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 129)
    apr_pollfd_t pfd;
    apr_os_file_t file_fd;

    memset(&pfd, 0, sizeof(pfd));
    pfd.desc_type = APR_NO_DESC;
    *is_pipe = 0;
    *ok = 1;
    if (ap_get_pollfd_from_conn(c, &pfd, NULL) == APR_SUCCESS) {
        if (pfd.desc_type == APR_POLL_FILE && apr_os_file_get(&file_fd, pfd.desc.f) == APR_SUCCESS) {
            *is_pipe = 1;
            return file_fd;
        }
        if (pfd.desc_type == APR_POLL_SOCKET
            && apr_os_sock_get(&sock_fd, pfd.desc.s) == APR_SUCCESS) {
            return sock_fd;
        }
        if (pfd.desc_type == APR_NO_DESC) {
            return -1;      /* the stream's input is closed already */
        }
        *ok = 0;
        return -1;
    }
    if (c->master) {
        *ok = 0;            /* a secondary connection's socket is not its client's */
        return -1;
    }
#else
    *is_pipe = 0;
    *ok = !c->master;
    if (c->master) {
        return -1;
    }
#endif
    if (apr_os_sock_get(&sock_fd, ap_get_conn_socket(c)) != APR_SUCCESS) {
        *ok = 0;
        return -1;
    }
    return sock_fd;
}

/* How long the next poll may wait: until the idle deadline, and, for an
 * HTTP/2 stream, at most H2_RECHECK: when the whole client connection goes
 * away, mod_http2 aborts the stream without a byte on its pipe. */
static int poll_wait_ms(apr_time_t idle_deadline, int is_pipe)
{
    apr_interval_time_t left = H2_RECHECK;

    if (idle_deadline) {
        apr_time_t now = apr_time_now();
        left = idle_deadline > now ? idle_deadline - now : 0;
        if (is_pipe && left > H2_RECHECK) {
            left = H2_RECHECK;
        }
    }
    else if (!is_pipe) {
        return -1;
    }
    return (int)((left + 999) / 1000);
}

apr_off_t ac_tunnel_run(request_rec *r, int backend_fd, const char *early, apr_size_t early_len,
                        apr_interval_time_t idle_timeout)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *in = apr_brigade_create(r->pool, c->bucket_alloc);
    apr_bucket_brigade *out = apr_brigade_create(r->pool, c->bucket_alloc);
    char *buf = apr_palloc(r->pool, RELAY_CHUNK);
    int client_fd, is_pipe, pollable;
    int client_open = 1, backend_open = 1;
    apr_time_t idle_deadline = 0;
    apr_off_t moved = 0;

    /* mod_reqtimeout times a request's body reads (Debian: 20 s, then 500 bytes/s):
     * a tunnel's reads are no body, and a WebSocket may stay silent for longer */
    ap_remove_input_filter_byhandle(c->input_filters, "reqtimeout");
    client_fd = client_pollable(c, &is_pipe, &pollable);
    if (!pollable) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "the client's connection cannot be "
                      "polled: WebSocket closed");
        return 0;
    }
    if (early_len && pass_to_client(c, out, early, early_len) < 0) {
        return 0;
    }
    moved += (apr_off_t)early_len;
    /* something may already wait in the client's filters */
    if (client_fd < 0 || client_to_backend(c, in, backend_fd, &moved) != 0) {
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
        if (idle_timeout > 0 && !idle_deadline) {
            idle_deadline = apr_time_now() + idle_timeout;
        }
        rc = poll(pfd, (nfds_t)n, poll_wait_ms(idle_deadline, is_pipe));
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        if (rc == 0 && !c->aborted && (!idle_deadline || apr_time_now() < idle_deadline)) {
            continue;                              /* an HTTP/2 stream's periodic look */
        }
        if (rc <= 0) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rc ? APR_FROM_OS_ERROR(errno) : 0, r,
                          "tunnel %s", rc ? "poll failed"
                                          : c->aborted ? "client gone" : "idle: closing it");
            break;
        }
        idle_deadline = 0;                         /* something moved */
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
