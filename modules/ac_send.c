/* ac_send: the request head and body on their way to the app. */
#include "ac_send.h"
#include "ac_clientwatch.h"
#include "ac_clientcert.h"
#include "ac_http1.h"
#include "ac_sockio.h"

#include <string.h>
#include <sys/uio.h>

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define UPLOAD_READ_SIZE 65536

/* ---- the request head ------------------------------------------------ */


static void add(ac_head_t *h, const char *s, apr_size_t n)
{
    struct iovec *v = apr_array_push(h->iov);
    v->iov_base = (void *)s;
    v->iov_len = n;
}

#define ADD_LIT(h, s) add((h), (s), sizeof(s) - 1)

static void add_str(ac_head_t *h, const char *s)
{
    add(h, s, strlen(s));
}

static void add_field(ac_head_t *h, const char *name, const char *value)
{
    add_str(h, name);
    ADD_LIT(h, ": ");
    add_str(h, value);
    ADD_LIT(h, "\r\n");
}

typedef struct {
    ac_head_t *h;
    const char *connection;      /* the client's Connection field */
    const char *xff, *xfp;       /* client-sent X-Forwarded-For/-Proto */
    int has_host;
    int websocket;               /* an upgrade to WebSocket is asked for */
} copy_ctx_t;

static int copy_request_field(void *data, const char *name, const char *value)
{
    copy_ctx_t *ctx = data;

    /* Expect is answered hop by hop: we ask the app ourselves (ac_build_head) */
    if (ac_http1_is_hop_by_hop(name) || !strcasecmp(name, "Content-Length")
        || !strcasecmp(name, "Expect") || !strncasecmp(name, "MS-ASPNETCORE", 13)) {
        return 1;
    }
    if (ctx->connection && ac_http1_has_token(ctx->connection, name)) {
        return 1;
    }
    if (ctx->websocket && !strcasecmp(name, "Sec-WebSocket-Extensions")) {
        return 1;   /* compression and other extensions cannot cross the tunnel (ANCM) */
    }
    if (!strcasecmp(name, "X-Forwarded-For")) {
        ctx->xff = ctx->xff ? apr_pstrcat(ctx->h->p, ctx->xff, ", ", value, NULL) : value;
        return 1;
    }
    if (!strcasecmp(name, "X-Forwarded-Proto")) {
        ctx->xfp = ctx->xfp ? apr_pstrcat(ctx->h->p, ctx->xfp, ", ", value, NULL) : value;
        return 1;
    }
    if (!strcasecmp(name, "Host")) {
        ctx->has_host = 1;
    }
    add_field(ctx->h, name, value);
    return 1;
}

/* The request target exactly as the client sent it (origin form). */
static const char *raw_target(request_rec *r)
{
    const char *t = r->unparsed_uri;
    if (t && t[0] == '/') {
        return t;
    }
    /* absolute form (GET http://host/path): keep the raw path and query */
    if (r->parsed_uri.path) {
        return r->parsed_uri.query
            ? apr_pstrcat(r->pool, r->parsed_uri.path, "?", r->parsed_uri.query, NULL)
            : r->parsed_uri.path;
    }
    return "/";
}

static const char *client_address(request_rec *r)
{
    conn_rec *c = r->connection;
    apr_port_t port = c->client_addr ? c->client_addr->port : 0;
    if (strchr(c->client_ip, ':')) {
        return apr_psprintf(r->pool, "[%s]:%u", c->client_ip, (unsigned)port);
    }
    return apr_psprintf(r->pool, "%s:%u", c->client_ip, (unsigned)port);
}

/* Does the client ask to switch this connection to WebSocket? */
int ac_wants_websocket(request_rec *r)
{
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");
    const char *connection = apr_table_get(r->headers_in, "Connection");
    return upgrade && connection && r->proto_num >= HTTP_VERSION(1, 1)
           && r->method_number == M_GET && ac_http1_has_token(upgrade, "websocket")
           && ac_http1_has_token(connection, "upgrade");
}

ac_head_t *ac_build_head(request_rec *r, const char *token, int body_mode,
                          apr_off_t body_length, int websocket)
{
    ac_head_t *h = apr_palloc(r->pool, sizeof(*h));
    copy_ctx_t ctx;
    const char *fwd_for = client_address(r);
    const char *scheme = ap_http_scheme(r);
    const char *cert = ac_clientcert_value(r);

    h->p = r->pool;
    h->iov = apr_array_make(r->pool, 64, sizeof(struct iovec));
    add_str(h, r->method);
    ADD_LIT(h, " ");
    add_str(h, raw_target(r));
    ADD_LIT(h, " HTTP/1.1\r\n");

    memset(&ctx, 0, sizeof(ctx));
    ctx.h = h;
    ctx.connection = apr_table_get(r->headers_in, "Connection");
    ctx.websocket = websocket;
    apr_table_do(copy_request_field, &ctx, r->headers_in, NULL);
    if (websocket) {
        ADD_LIT(h, "Upgrade: websocket\r\nConnection: Upgrade\r\n");
    }
    if (!ctx.has_host) {
        add_field(h, "Host", r->hostname ? r->hostname : r->server->server_hostname);
    }
    if (body_mode == 1) {
        add_field(h, "Content-Length", apr_off_t_toa(r->pool, body_length));
    }
    else if (body_mode == 2) {
        ADD_LIT(h, "Transfer-Encoding: chunked\r\n");
    }
    if (body_mode && r->expecting_100) {
        /* the client waits for a go-ahead: let the app give it (or refuse) */
        ADD_LIT(h, "Expect: 100-continue\r\n");
    }
    add_field(h, "MS-ASPNETCORE-TOKEN", apr_pstrdup(r->pool, token));
    if (cert) {
        add_field(h, AC_CLIENTCERT_FIELD, cert);
    }
    add_field(h, "X-Forwarded-For",
              ctx.xff ? apr_pstrcat(r->pool, ctx.xff, ", ", fwd_for, NULL) : fwd_for);
    add_field(h, "X-Forwarded-Proto",
              ctx.xfp ? apr_pstrcat(r->pool, ctx.xfp, ", ", scheme, NULL) : scheme);
    ADD_LIT(h, "\r\n");
    return h;
}

/* ---- the request body ------------------------------------------------ */


int ac_request_body_mode(request_rec *r, apr_off_t *length)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    *length = 0;
    if (te) {
        return AC_BODY_CHUNKED;   /* HTTP_IN accepted it: it is chunked */
    }
    if (cl && apr_strtoff(length, cl, NULL, 10) == APR_SUCCESS && *length > 0) {
        return AC_BODY_LENGTH;
    }
    return AC_BODY_NONE;
}

/* One round of the client's body: what Apache's input filters give for one
 * read, each piece of data handed to `take`, *eos set at the end. A failure
 * is the client's (*client_status), or take's. */
typedef apr_status_t (*body_piece_fn)(void *ctx, const char *data, apr_size_t len);

static apr_status_t read_body_round(request_rec *r, apr_bucket_brigade *bb, body_piece_fn take,
                                    void *ctx, int *eos, int *client_status)
{
    apr_bucket *e;
    apr_status_t rv = ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                                     UPLOAD_READ_SIZE);
    if (rv != APR_SUCCESS) {
        *client_status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        return rv;
    }
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb); e = APR_BUCKET_NEXT(e)) {
        const char *data;
        apr_size_t len;
        if (APR_BUCKET_IS_EOS(e)) {
            *eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        rv = apr_bucket_read(e, &data, &len, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            *client_status = HTTP_BAD_REQUEST;
            return rv;
        }
        if (len && (rv = take(ctx, data, len)) != APR_SUCCESS) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

/* ---- the handshake of a WebSocket over HTTP/2 ------------------------- */

static apr_status_t refuse_data(void *ctx, const char *data, apr_size_t len)
{
    (void)ctx;
    (void)data;
    (void)len;
    return APR_EGENERAL;
}

/* With `H2WebSockets on`, mod_http2 turns the client's extended CONNECT
 * (RFC 8441) into the GET of an HTTP/1.1 handshake (Upgrade, Connection, a
 * Sec-WebSocket-Key of its own, whose Sec-WebSocket-Accept it checks in our
 * 101 before it answers the client 200). The stream stays open for the
 * tunnel, so the request says Transfer-Encoding: chunked, and mod_http2 ends
 * that body before any of the stream's data. The app gets a handshake
 * without a body (Kestrel refuses an upgrade that has one), and this reads
 * the body's end, so that the tunnel's first read is the client's first
 * WebSocket byte. A handshake with data in its body is the client's error. */
int ac_websocket_request_body(request_rec *r, int *mode)
{
    apr_bucket_brigade *bb;
    int eos = 0, client_status = OK;

    if (!r->connection->master || *mode == AC_BODY_NONE) {
        return OK;          /* HTTP/1.1: the body, if any, goes to the app as it is */
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    while (!eos) {
        apr_status_t rv = read_body_round(r, bb, refuse_data, NULL, &eos, &client_status);
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r, "a WebSocket handshake over HTTP/2 "
                          "%s", client_status == OK ? "with a request body" : "failed");
            return client_status == OK ? HTTP_BAD_REQUEST : client_status;
        }
    }
    *mode = AC_BODY_NONE;
    return OK;
}

typedef struct {
    char *body;
    apr_size_t length, got;
} prefetch_t;

static apr_status_t prefetch_piece(void *ctx, const char *data, apr_size_t len)
{
    prefetch_t *pf = ctx;
    if (len > pf->length - pf->got) {
        return APR_EGENERAL;         /* HTTP_IN never gives more than Content-Length */
    }
    memcpy(pf->body + pf->got, data, len);
    pf->got += len;
    return APR_SUCCESS;
}

/* A small body (Content-Length up to AC_BODY_PREFETCH_MAX) is read whole from
 * the client before the request goes out: it then leaves with the head in one
 * write, the app never sees a request whose body the client failed to send,
 * and it can be sent again when a pooled connection turns out dead. Returns
 * the body, or NULL with *client_status set (the client's fault). */
char *ac_prefetch_body(request_rec *r, apr_off_t length, int *client_status)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    prefetch_t pf;
    int eos = 0;

    pf.length = (apr_size_t)length;
    pf.got = 0;
    pf.body = apr_palloc(r->pool, pf.length);
    *client_status = OK;
    while (!eos) {
        apr_status_t rv = read_body_round(r, bb, prefetch_piece, &pf, &eos, client_status);
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS) {
            if (*client_status == OK) {
                *client_status = HTTP_BAD_REQUEST;
            }
            return NULL;
        }
    }
    if (pf.got != pf.length) {
        *client_status = HTTP_BAD_REQUEST;
        return NULL;
    }
    return pf.body;
}


/* Writes one round of the body, watching for the app's answer: an interim
 * one is consumed, a final 2xx lets the sending go on (the app may read the
 * body while it answers), any other final answer stops it (an app that
 * refuses a body early need not read it: sending on would only wait for
 * requestTimeout). Either way the connection is not reused afterwards. */
static apr_status_t write_round(request_rec *r, ac_backend_t *b, ac_response_t *resp,
                                struct iovec *iov, int n, apr_interval_time_t timeout,
                                ac_upload_outcome_t *out)
{
    apr_status_t rv = APR_SUCCESS;

    while (n > 0) {
        rv = out->answered ? ac_sock_writev_all(b->fd, iov, n, timeout)
                           : ac_sock_writev_watching_peer(b->fd, &iov, &n, timeout, b->client);
        if (rv != APR_INCOMPLETE) {
            break;
        }
        /* the app spoke (or closed) before the request was all sent */
        do {
            rv = ac_read_head(r, b, resp, 0, 1, &out->why);
        } while (rv == APR_INCOMPLETE);     /* a late 100 Continue: nothing to do */
        if (rv == APR_TIMEUP) {
            continue;                        /* a part of a head, or 103: send on */
        }
        if (rv != APR_SUCCESS) {
            return rv;                       /* closed, reset, malformed: out->why */
        }
        out->answered = 1;
        if (resp->head.status >= 300 || resp->head.status == 101) {
            out->stopped = 1;
            return APR_SUCCESS;
        }
    }
    if (rv != APR_SUCCESS) {
        out->why = rv == APR_TIMEUP ? "timed out writing the request body (requestTimeout)"
                 : rv == APR_ECONNABORTED && ac_clientwatch_left(b->client)
                   ? "the client went away" : "error writing the request body";
    }
    return rv;
}

#define UPLOAD_IOVS 64              /* pieces of the body written with one writev */

/* The body on its way out: up to UPLOAD_IOVS pieces as they came from the
 * input filters, and, for a chunked body, one chunk head for all of them.
 * Nothing is allocated per piece or per round: memory stays the same
 * whatever the number of chunks the client sends. */
typedef struct {
    request_rec *r;
    ac_backend_t *b;
    ac_response_t *resp;
    ac_upload_outcome_t *out;
    apr_interval_time_t timeout;
    int chunked;
    int n;                       /* iovecs in use; iov[0] is kept for a chunk head */
    apr_size_t len;              /* body bytes in them */
    struct iovec iov[UPLOAD_IOVS + 3];
    char chunk_head[24];
} upload_t;

/* Writes what is gathered (`last`: with the last chunk). */
static apr_status_t upload_flush(upload_t *up, int last)
{
    struct iovec *first = up->iov + 1;
    int n = up->n - 1;
    apr_status_t rv;

    if (up->chunked && up->len) {
        int hl = apr_snprintf(up->chunk_head, sizeof(up->chunk_head),
                              "%" APR_UINT64_T_HEX_FMT "\r\n", (apr_uint64_t)up->len);
        up->iov[0].iov_base = up->chunk_head;
        up->iov[0].iov_len = (apr_size_t)hl;
        first = up->iov;
        n++;
        up->iov[up->n].iov_base = "\r\n";
        up->iov[up->n++].iov_len = 2;
        n++;
    }
    if (up->chunked && last) {
        up->iov[up->n].iov_base = "0\r\n\r\n";
        up->iov[up->n++].iov_len = 5;
        n++;
    }
    rv = n ? write_round(up->r, up->b, up->resp, first, n, up->timeout, up->out) : APR_SUCCESS;
    up->n = 1;
    up->len = 0;
    return rv;
}

/* A piece of the body from the input filters (alive until the brigade is
 * cleaned up, which happens after the round's flush). */
static apr_status_t upload_piece(void *ctx, const char *data, apr_size_t len)
{
    upload_t *up = ctx;

    if (up->n > UPLOAD_IOVS) {
        apr_status_t rv = upload_flush(up, 0);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (up->out->stopped) {
            return APR_INCOMPLETE;   /* the app refused the body: stop reading it */
        }
    }
    up->iov[up->n].iov_base = (void *)data;
    up->iov[up->n++].iov_len = len;
    up->len += len;
    return APR_SUCCESS;
}

/* Streams the client's body to the backend. Returns APR_SUCCESS (out says
 * whether the app answered or refused meanwhile), or the client-side error
 * in *client_status (the client's fault), or a backend error (out->why; the
 * response may still tell why: an early 413, say). */
apr_status_t ac_send_body(request_rec *r, ac_backend_t *b, ac_response_t *resp, int mode,
                              apr_interval_time_t timeout, int *client_status,
                              ac_upload_outcome_t *out)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_status_t rv = APR_SUCCESS;
    upload_t up;

    up.r = r;
    up.b = b;
    up.resp = resp;
    up.out = out;
    up.timeout = timeout;
    up.chunked = mode == AC_BODY_CHUNKED;
    up.n = 1;
    up.len = 0;
    *client_status = OK;
    memset(out, 0, sizeof(*out));
    if (b->client) {
        /* a client that half-closes once its body is out has not left */
        b->client->in_body = 1;
    }
    while (!out->eos && !out->stopped) {
        rv = read_body_round(r, bb, upload_piece, &up, &out->eos, client_status);
        if (rv == APR_SUCCESS) {
            rv = upload_flush(&up, out->eos);
        }
        apr_brigade_cleanup(bb);
        if (rv != APR_SUCCESS) {
            break;
        }
    }
    if (b->client) {
        b->client->in_body = 0;
    }
    return rv == APR_INCOMPLETE && out->stopped ? APR_SUCCESS : rv;
}
