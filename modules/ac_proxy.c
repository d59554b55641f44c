/* ac_proxy: request forwarding over loopback HTTP/1.1 with pooled connections. */
#include "ac_proxy.h"
#include "ac_channel.h"
#include "ac_connpool.h"
#include "ac_errpage.h"
#include "ac_http1.h"
#include "ac_registry.h"
#include "ac_resolve.h"
#include "ac_shared.h"
#include "ac_sockio.h"
#include "ac_tunnel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <ap_mpm.h>
#include <mod_core.h>
#include <util_filter.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define CONNECT_TIMEOUT apr_time_from_sec(3)
#define HEAD_MAX 65536                      /* a longer response head is refused (502) */
#define RESPONSE_BUF_SIZE (65536 + 8192)    /* the first read: a 64 KiB body and its head */
#define MAX_RESPONSE_FIELDS 200
#define MAX_INTERIM_RESPONSES 100           /* more 1xx before the final answer: 502 */
#define BODY_READ_SIZE 65536
#define BODY_PASS_AT (2 * BODY_READ_SIZE)   /* body bytes held before handing them on */
#define COALESCE_LENGTH_WAIT 5000           /* µs: waited for the rest of a Content-Length body */
#define COALESCE_STREAM_WAIT 1000           /* µs: ... and for the next part of another body */
#define UPLOAD_READ_SIZE 65536
#define BODY_PREFETCH_MAX 65536             /* bodies up to this are read whole first */
#define CONTINUE_WAIT apr_time_from_sec(1)  /* for the app's 100 Continue */
#define SWEEP_MAX apr_time_from_sec(5)      /* idle connections are looked at this often */

static ac_connpool_t *connpool;

apr_status_t ac_proxy_child_init(apr_pool_t *pchild, server_rec *s)
{
    ac_server_conf_t *sconf = ap_get_module_config(s->module_config, &aspnetcore_module);
    apr_interval_time_t idle = apr_time_from_sec(sconf->backend_idle);
    int threads = 1;
    apr_status_t rv;

    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 1) {
        threads = 1;
    }
    rv = ac_connpool_create(&connpool, pchild, threads, idle);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, "cannot create the backend connection pool");
        return rv;
    }
    /* Idle connections are closed by us before the app closes them, also in
     * a child that gets no more requests (a connection the app closed first
     * would sit in CLOSE_WAIT here until the child ends). */
    rv = ac_connpool_start_sweeper(connpool, idle / 4 < SWEEP_MAX ? idle / 4 : SWEEP_MAX);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, "cannot start the thread that closes "
                     "idle connections to the apps; they are closed when next looked at");
    }
    return APR_SUCCESS;
}

/* ---- choosing a process --------------------------------------------- */

typedef struct {
    ac_slot_t *slot;
    unsigned app_index, slot_index;
    ac_slot_view_t view;
} chosen_t;

static apr_status_t leave_slot(void *data)
{
    ac_slot_leave(data);
    return APR_SUCCESS;
}

static int pick_ready(ac_app_t *app, uint32_t nslots, chosen_t *out)
{
    uint32_t i, best_load = 0;
    int found = 0;

    for (i = 0; i < nslots; i++) {
        ac_slot_view_t v;
        uint32_t load;
        ac_slot_read(&app->slots[i], &v);
        if (v.state != AC_SLOT_READY) {
            continue;
        }
        load = ac_slot_inflight(&app->slots[i]);
        if (!found || load < best_load) {
            found = 1;
            best_load = load;
            out->slot = &app->slots[i];
            out->slot_index = i;
            out->view = v;
        }
    }
    return found;
}

#define APP_GONE (-2)
#define APP_OFFLINE (-3)
#define MAX_HOPS 4                         /* successor links followed at most */
#define WAIT_SLICE apr_time_from_sec(1)    /* waiting: look at the supervisor this often */

/* Is the supervisor alive? A killed one stays a zombie until the parent
 * reaps it (up to a second), so the process state counts, not just the pid. */
static int supervisor_alive(const ac_shared_t *sh)
{
    pid_t pid = (pid_t)__atomic_load_n(&sh->supervisor_pid, __ATOMIC_ACQUIRE);
    char path[64], stat[256], *paren;
    int fd;
    ssize_t n;

    if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM)) {
        return 0;
    }
    apr_snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 1;       /* no /proc to ask: trust the signal check */
    }
    n = read(fd, stat, sizeof(stat) - 1);
    close(fd);
    if (n <= 0) {
        return 1;
    }
    stat[n] = '\0';
    paren = strrchr(stat, ')');
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

static int unavailable(request_rec *r, const char *label, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] %s (503)", label, why);
    return ac_errpage_unavailable(r, why);
}

static apr_status_t leave_queue(void *data)
{
    __atomic_sub_fetch((uint32_t *)data, 1, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

/* Finds a ready process, asking the supervisor to start one and waiting for
 * it when there is none. While a new version of the app starts, the one it
 * replaces serves; a request that holds a replaced version follows it to its
 * successor. Returns OK, APP_GONE when the app is no longer current, or the
 * HTTP status to answer with. */
static int choose_process(request_rec *r, ac_resolved_t *decl, apr_uint32_t index,
                          chosen_t *out)
{
    ac_shared_t *sh = ac_registry_shared();
    apr_time_t deadline = apr_time_now() + decl->startup_wait;
    int asked = 0, queued = 0, hops = 0, keyed = 1;
    ac_app_t *app;

    if (!sh || index >= AC_MAX_APPS) {
        return unavailable(r, decl->label, "is not running (no table entry)");
    }
    app = &sh->apps[index];
    for (;;) {
        uint32_t seen = ac_word_read(&app->wake);
        ac_app_view_t v;
        apr_time_t now;

        ac_app_read(app, &v);
        if (v.state != AC_APP_ACTIVE || (keyed && memcmp(v.key, decl->key, AC_KEY_BYTES))) {
            if (v.state == AC_APP_RETIRED && v.successor >= 0 && hops++ < MAX_HOPS) {
                index = (apr_uint32_t)v.successor;     /* a newer version of the same site */
                app = &sh->apps[index];
                keyed = 0;
                asked = 0;
                continue;
            }
            return APP_GONE;
        }
        out->app_index = index;
        if (v.offline) {
            return APP_OFFLINE;
        }
        if (pick_ready(app, v.nslots, out)) {
            return OK;
        }
        if (v.predecessor >= 0) {
            ac_app_t *prev = &sh->apps[v.predecessor];
            ac_app_view_t pv;
            ac_app_read(prev, &pv);
            if (pv.state == AC_APP_ACTIVE && pick_ready(prev, pv.nslots, out)) {
                out->app_index = (apr_uint32_t)v.predecessor;
                return OK;
            }
        }
        if (v.failed) {
            return ac_errpage_startup_failed(r, decl, app, 0);
        }
        if (!supervisor_alive(sh)) {
            return unavailable(r, decl->label, "the supervisor is being restarted");
        }
        if (!queued) {
            uint32_t n = __atomic_add_fetch(&app->waiters, 1, __ATOMIC_RELAXED);
            apr_pool_cleanup_register(r->pool, &app->waiters, leave_queue,
                                      apr_pool_cleanup_null);
            queued = 1;
            if (n > (uint32_t)decl->max_queued) {
                return unavailable(r, decl->label, apr_psprintf(r->pool,
                                   "more than %d requests wait for a process "
                                   "(AspNetCoreMaxQueuedRequests)", decl->max_queued));
            }
        }
        if (!asked) {
            apr_status_t rv = ac_request_send(ac_registry_request_fd(), AC_REQ_START,
                                              index, 0, 0, NULL, 0);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r,
                              "[%s] cannot reach the supervisor", decl->label);
            }
            asked = 1;
        }
        now = apr_time_now();
        if (now >= deadline) {
            return ac_errpage_startup_failed(r, decl, app, 1);
        }
        ac_word_wait(&app->wake, seen, deadline - now < WAIT_SLICE ? deadline - now : WAIT_SLICE);
    }
}

/* ---- the backend connection ----------------------------------------- */

typedef struct {
    int fd;
    int reused;
    int request_sent;            /* the whole request went out before any final answer */
    int reusable;                /* ... and then a complete response came in */
    apr_interval_time_t recv_timeout;   /* set on fd (SO_RCVTIMEO); 0: none */
    chosen_t *proc;
} backend_t;

typedef struct {
    char *buf;
    apr_size_t size, len;        /* bytes in buf */
    apr_size_t head_len;         /* length of the final head, once complete */
    int got_bytes;               /* any byte of a response arrived */
    int drained;                 /* the last read took all there was */
    int interim;                 /* interim (1xx) responses consumed */
    ac_response_head_t head;
} response_t;

static apr_status_t read_head(request_rec *r, backend_t *b, response_t *resp,
                              apr_interval_time_t timeout, int until_continue,
                              const char **why);

static apr_status_t backend_cleanup(void *data)
{
    backend_t *b = data;
    if (b->fd >= 0) {
        if (b->reusable) {
            ac_connpool_put(connpool, b->proc->app_index, b->proc->slot_index,
                            b->proc->view.incarnation, b->fd, b->recv_timeout);
        }
        else {
            close(b->fd);
        }
        b->fd = -1;
    }
    return APR_SUCCESS;
}

/* A pooled connection when allowed, else a new one. A request without a body
 * takes a pooled connection unchecked: if the app closed it meanwhile, the
 * request fails before any answer and is sent again on a new connection
 * (ac_proxy_handle), which is cheaper than a check on every request. A body
 * cannot be sent twice, so then the connection is checked first. */
static apr_status_t backend_open(request_rec *r, backend_t *b, int allow_reuse, int has_body)
{
    apr_status_t rv;

    b->reusable = 0;
    b->request_sent = 0;
    b->recv_timeout = 0;
    b->fd = allow_reuse ? ac_connpool_get(connpool, b->proc->app_index, b->proc->slot_index,
                                          b->proc->view.incarnation, has_body, &b->recv_timeout)
                        : -1;
    b->reused = b->fd >= 0;
    if (b->fd >= 0) {
        return APR_SUCCESS;
    }
    rv = ac_sock_connect_loopback(b->proc->view.port, CONNECT_TIMEOUT, &b->fd);
    if (rv == APR_SUCCESS) {
        /* the wait for the answer happens inside recv() (read_head) */
        rv = ac_sock_set_blocking(b->fd);
        if (rv != APR_SUCCESS) {
            close(b->fd);
            b->fd = -1;
            /* logged by the caller, as a failed connect: the process is not at fault */
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "cannot put the connection to the "
                          "app in blocking mode");
            return rv;
        }
    }
    if (rv != APR_SUCCESS) {
        b->fd = -1;
        /* logged by the caller once it knows what it answers */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r,
                      "cannot connect to the app's process %ld on port %u",
                      (long)b->proc->view.pid, b->proc->view.port);
        /* let the supervisor look at that process */
        ac_request_send(ac_registry_request_fd(), AC_REQ_BROKEN, b->proc->app_index,
                        b->proc->slot_index, b->proc->view.incarnation, NULL, 0);
    }
    return rv;
}

static void backend_discard(backend_t *b)
{
    b->reusable = 0;
    if (b->fd >= 0) {
        close(b->fd);
        b->fd = -1;
    }
}

/* ---- the request head ------------------------------------------------ */

typedef struct {
    apr_array_header_t *iov;
    apr_pool_t *p;
} head_t;

static void add(head_t *h, const char *s, apr_size_t n)
{
    struct iovec *v = apr_array_push(h->iov);
    v->iov_base = (void *)s;
    v->iov_len = n;
}

#define ADD_LIT(h, s) add((h), (s), sizeof(s) - 1)

static void add_str(head_t *h, const char *s)
{
    add(h, s, strlen(s));
}

static void add_field(head_t *h, const char *name, const char *value)
{
    add_str(h, name);
    ADD_LIT(h, ": ");
    add_str(h, value);
    ADD_LIT(h, "\r\n");
}

typedef struct {
    head_t *h;
    const char *connection;      /* the client's Connection field */
    const char *xff, *xfp;       /* client-sent X-Forwarded-For/-Proto */
    int has_host;
    int websocket;               /* an upgrade to WebSocket is asked for */
} copy_ctx_t;

static int copy_request_field(void *data, const char *name, const char *value)
{
    copy_ctx_t *ctx = data;

    /* Expect is answered hop by hop: we ask the app ourselves (build_head) */
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
static int wants_websocket(request_rec *r)
{
    const char *upgrade = apr_table_get(r->headers_in, "Upgrade");
    const char *connection = apr_table_get(r->headers_in, "Connection");
    return upgrade && connection && r->proto_num >= HTTP_VERSION(1, 1)
           && r->method_number == M_GET && ac_http1_has_token(upgrade, "websocket")
           && ac_http1_has_token(connection, "upgrade");
}

static head_t *build_head(request_rec *r, const chosen_t *proc, int body_mode,
                          apr_off_t body_length, int websocket)
{
    head_t *h = apr_palloc(r->pool, sizeof(*h));
    copy_ctx_t ctx;
    const char *fwd_for = client_address(r);
    const char *scheme = ap_http_scheme(r);

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
    add_field(h, "MS-ASPNETCORE-TOKEN", apr_pstrdup(r->pool, proc->view.token));
    add_field(h, "X-Forwarded-For",
              ctx.xff ? apr_pstrcat(r->pool, ctx.xff, ", ", fwd_for, NULL) : fwd_for);
    add_field(h, "X-Forwarded-Proto",
              ctx.xfp ? apr_pstrcat(r->pool, ctx.xfp, ", ", scheme, NULL) : scheme);
    ADD_LIT(h, "\r\n");
    return h;
}

/* ---- the request body ------------------------------------------------ */

enum { BODY_NONE = 0, BODY_LENGTH = 1, BODY_CHUNKED = 2 };

static int request_body_mode(request_rec *r, apr_off_t *length)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    *length = 0;
    if (te) {
        return BODY_CHUNKED;   /* HTTP_IN accepted it: it is chunked */
    }
    if (cl && apr_strtoff(length, cl, NULL, 10) == APR_SUCCESS && *length > 0) {
        return BODY_LENGTH;
    }
    return BODY_NONE;
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

/* A small body (Content-Length up to BODY_PREFETCH_MAX) is read whole from
 * the client before the request goes out: it then leaves with the head in one
 * write, the app never sees a request whose body the client failed to send,
 * and it can be sent again when a pooled connection turns out dead. Returns
 * the body, or NULL with *client_status set (the client's fault). */
static char *prefetch_body(request_rec *r, apr_off_t length, int *client_status)
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

/* What happened while the body went out. */
typedef struct {
    int answered;                /* a final response head came before the body was all sent */
    int stopped;                 /* ... one that refuses it: the rest was not sent */
    int eos;                     /* the client's body was read to its end */
    const char *why;             /* what failed */
} upload_outcome_t;

/* Writes one round of the body, watching for the app's answer: an interim
 * one is consumed, a final 2xx lets the sending go on (the app may read the
 * body while it answers), any other final answer stops it (an app that
 * refuses a body early need not read it: sending on would only wait for
 * requestTimeout). Either way the connection is not reused afterwards. */
static apr_status_t write_round(request_rec *r, backend_t *b, response_t *resp,
                                struct iovec *iov, int n, apr_interval_time_t timeout,
                                upload_outcome_t *out)
{
    apr_status_t rv = APR_SUCCESS;

    while (n > 0) {
        rv = out->answered ? ac_sock_writev_all(b->fd, iov, n, timeout)
                           : ac_sock_writev_watching(b->fd, &iov, &n, timeout);
        if (rv != APR_INCOMPLETE) {
            break;
        }
        /* the app spoke (or closed) before the request was all sent */
        do {
            rv = read_head(r, b, resp, 0, 1, &out->why);
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
                                    : "error writing the request body";
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
    backend_t *b;
    response_t *resp;
    upload_outcome_t *out;
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
static apr_status_t send_body(request_rec *r, backend_t *b, response_t *resp, int mode,
                              apr_interval_time_t timeout, int *client_status,
                              upload_outcome_t *out)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_status_t rv = APR_SUCCESS;
    upload_t up;

    up.r = r;
    up.b = b;
    up.resp = resp;
    up.out = out;
    up.timeout = timeout;
    up.chunked = mode == BODY_CHUNKED;
    up.n = 1;
    up.len = 0;
    *client_status = OK;
    memset(out, 0, sizeof(*out));
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
    return rv == APR_INCOMPLETE && out->stopped ? APR_SUCCESS : rv;
}

/* ---- the response ---------------------------------------------------- */

/* Reads until a final (or 101) response head is complete: APR_SUCCESS.
 * With `until_continue`, a 100 Continue ends the wait too: APR_INCOMPLETE.
 * Bytes after a head stay in the buffer for the next call. `timeout` bounds
 * the whole call, however the app spreads its bytes and interim responses
 * over it; at most MAX_INTERIM_RESPONSES interim ones are taken (an app
 * that sends 1xx for ever would hold the worker for ever). */
static apr_status_t read_head(request_rec *r, backend_t *b, response_t *resp,
                              apr_interval_time_t timeout, int until_continue,
                              const char **why)
{
    apr_size_t scanned = 0;
    apr_time_t deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    apr_interval_time_t wait = timeout;

    if (!resp->buf) {
        /* One buffer for the head and the body bytes that come with it: a
         * response with a body of up to 64 KiB is read with one system call.
         * From r->pool: the block goes back to the connection's allocator,
         * which keeps it for the next request (as it keeps the 64 KiB body
         * buffers); malloc() and free() instead cost the kernel's trimming
         * and refaulting of that memory, measured at ~0.25 page faults and
         * 0.2 madvise() per request. */
        resp->buf = apr_palloc(r->pool, RESPONSE_BUF_SIZE);
        resp->size = RESPONSE_BUF_SIZE;
        resp->len = 0;
    }
    for (;;) {
        apr_size_t n, head_len;
        apr_status_t rv;

        head_len = resp->len ? ac_http1_head_length(resp->buf, resp->len, &scanned) : 0;
        if (head_len > HEAD_MAX || (!head_len && resp->len >= HEAD_MAX)) {
            *why = "response head larger than 64 KiB";
            return APR_EGENERAL;
        }
        if (head_len) {
            *why = ac_http1_parse_response(r->pool, resp->buf, head_len, MAX_RESPONSE_FIELDS,
                                           &resp->head);
            if (*why) {
                return APR_EGENERAL;
            }
            if (resp->head.status >= 200 || resp->head.status == 101) {
                resp->head_len = head_len;
                return APR_SUCCESS;
            }
            /* an interim response (100 Continue, 103 Early Hints): consumed here */
            if (++resp->interim > MAX_INTERIM_RESPONSES) {
                *why = "more than 100 interim (1xx) responses";
                return APR_EGENERAL;
            }
            memmove(resp->buf, resp->buf + head_len, resp->len - head_len);
            resp->len -= head_len;
            scanned = 0;
            if (until_continue && resp->head.status == 100) {
                return APR_INCOMPLETE;
            }
            continue;
        }
        /* The request went out just now: the answer is not there yet. The
         * wait is inside recv() itself, one system call rather than a poll()
         * and a recv(). */
        rv = deadline && wait < 0 ? APR_TIMEUP
           : ac_sock_read_within(b->fd, resp->buf + resp->len, resp->size - resp->len, &n,
                                 wait, &b->recv_timeout);
        if (rv == APR_TIMEUP) {
            *why = "timed out waiting for the response (requestTimeout)";
            return rv;
        }
        if (rv != APR_SUCCESS) {
            *why = rv == APR_EOF ? "the app closed the connection without a response"
                                 : "error reading the response";
            return rv;
        }
        resp->got_bytes = 1;
        /* a read shorter than asked for took what there was (TCP) */
        resp->drained = n < resp->size - resp->len;
        resp->len += n;
        if (deadline) {
            /* the next wait gets what is left (the first one, the usual
             * only one, gets the whole timeout: the socket keeps it set) */
            wait = deadline - apr_time_now();
            wait = wait > 0 ? wait : -1;
        }
    }
}

enum { FRAME_NONE, FRAME_LENGTH, FRAME_CHUNKED, FRAME_CLOSE };

typedef struct {
    int framing;
    apr_off_t remaining;         /* FRAME_LENGTH */
    ac_chunked_t chunked;
    int keepalive;               /* the app lets us reuse the connection */
} body_state_t;

/* Copies the response head into r and works out the body's framing.
 * Returns NULL or why the head is unacceptable. */
static const char *apply_head(request_rec *r, response_t *resp, body_state_t *bs)
{
    ac_response_head_t *h = &resp->head;
    const char *connection = NULL, *te = NULL, *cl = NULL;
    int i;

    for (i = 0; i < h->headers->nelts; i++) {
        ac_header_t *f = &APR_ARRAY_IDX(h->headers, i, ac_header_t);
        if (!strcasecmp(f->name, "Connection")) {
            connection = connection ? apr_pstrcat(r->pool, connection, ",", f->value, NULL)
                                    : f->value;
        }
        else if (!strcasecmp(f->name, "Transfer-Encoding")) {
            te = te ? apr_pstrcat(r->pool, te, ",", f->value, NULL) : f->value;
        }
        else if (!strcasecmp(f->name, "Content-Length")) {
            if (cl && strcmp(cl, f->value)) {
                return "conflicting Content-Length fields";
            }
            cl = f->value;
        }
    }
    bs->keepalive = h->minor >= 1 && !(connection && ac_http1_has_token(connection, "close"));

    if (r->header_only || h->status == 204 || h->status == 304 || h->status < 200) {
        bs->framing = FRAME_NONE;
    }
    else if (te) {
        /* chunked must be the last coding; anything else we cannot frame */
        const char *last = strrchr(te, ',');
        last = last ? last + 1 : te;
        while (*last == ' ' || *last == '\t') {
            last++;
        }
        if (strncasecmp(last, "chunked", 7) || (last[7] && last[7] != ' ' && last[7] != '\t')) {
            return "unsupported Transfer-Encoding in the response";
        }
        if (ac_http1_has_token(te, "chunked") && strcasecmp(te, "chunked")) {
            return "unsupported Transfer-Encoding in the response";
        }
        bs->framing = FRAME_CHUNKED;
        ac_chunked_init(&bs->chunked);
        if (cl) {
            bs->keepalive = 0;   /* both: chunked wins, connection is suspect */
        }
    }
    else if (cl) {
        char *end;
        if (!apr_isdigit(*cl) || apr_strtoff(&bs->remaining, cl, &end, 10) != APR_SUCCESS
            || *end || bs->remaining < 0) {
            return "invalid Content-Length in the response";
        }
        bs->framing = bs->remaining ? FRAME_LENGTH : FRAME_NONE;
    }
    else {
        bs->framing = FRAME_CLOSE;
        bs->keepalive = 0;
    }

    r->status = h->status;
    if (*h->reason) {
        r->status_line = apr_psprintf(r->pool, "%03d %s", h->status, h->reason);
    }
    for (i = 0; i < h->headers->nelts; i++) {
        ac_header_t *f = &APR_ARRAY_IDX(h->headers, i, ac_header_t);
        if (ac_http1_is_hop_by_hop(f->name)
            || (connection && ac_http1_has_token(connection, f->name))
            || !strcasecmp(f->name, "Date") || !strcasecmp(f->name, "Server")) {
            continue;  /* hop-by-hop; Apache writes its own Date and Server */
        }
        if (!strcasecmp(f->name, "Content-Type")) {
            ap_set_content_type(r, f->value);
        }
        else if (!strcasecmp(f->name, "Content-Length")) {
            if (bs->framing == FRAME_LENGTH || r->header_only) {
                apr_table_setn(r->headers_out, "Content-Length", f->value);
            }
        }
        else {
            apr_table_addn(r->headers_out, f->name, f->value);
        }
    }
    return NULL;
}

/* Turns freshly read bytes into body bytes (in place). Returns NULL or why
 * the body is malformed; *done once the body is complete. */
static const char *frame_body(body_state_t *bs, char *data, apr_size_t len,
                              apr_size_t *body_len, int *done)
{
    *done = 0;
    switch (bs->framing) {
    case FRAME_LENGTH:
        if ((apr_off_t)len >= bs->remaining) {
            if ((apr_off_t)len > bs->remaining) {
                bs->keepalive = 0;   /* bytes beyond the body: do not trust the stream */
            }
            len = (apr_size_t)bs->remaining;
            *done = 1;
        }
        bs->remaining -= (apr_off_t)len;
        *body_len = len;
        return NULL;
    case FRAME_CHUNKED: {
        apr_size_t consumed;
        const char *err = ac_chunked_decode(&bs->chunked, data, len, &consumed, body_len);
        if (err) {
            return err;
        }
        if (ac_chunked_done(&bs->chunked)) {
            if (consumed < len) {
                bs->keepalive = 0;
            }
            *done = 1;
        }
        return NULL;
    }
    case FRAME_CLOSE:
        *body_len = len;
        return NULL;
    default:
        *body_len = 0;
        *done = 1;
        return NULL;
    }
}

/* The backend failed after the response started: make the client see a
 * broken response (connection closed, no final chunk), never a complete one. */
static void signal_broken(request_rec *r, apr_bucket_brigade *bb)
{
    conn_rec *c = r->connection;
    apr_brigade_cleanup(bb);
    r->no_cache = 1;
    APR_BRIGADE_INSERT_TAIL(bb, ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL, c->pool,
                                                       c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
}

/* The buffer the body is read into. Body bytes collect in it (decoded in
 * place) until it is nearly full or handed on; then it becomes one heap
 * bucket. So every bucket held carries nearly a buffer's worth of bytes
 * however small the app's writes are, and the memory held stays in
 * proportion to the bytes held (a bucket per read would pin 64 KiB per
 * byte for an app that writes a byte at a time). */
typedef struct {
    char *buf;                   /* NULL: none yet */
    apr_size_t fill;             /* body bytes in buf */
    apr_bucket_alloc_t *ba;
} collect_t;

#define COLLECT_MIN_ROOM 4096    /* less room left than this: the buffer is closed */

/* Room in the buffer (one is made when there is none), at *at. */
static apr_size_t collect_room(collect_t *col, char **at)
{
    if (!col->buf) {
        col->buf = apr_bucket_alloc(BODY_READ_SIZE, col->ba);
        col->fill = 0;
    }
    *at = col->buf + col->fill;
    return BODY_READ_SIZE - col->fill;
}

/* The buffer's bytes become a bucket at the end of bb. */
static void collect_close(collect_t *col, apr_bucket_brigade *bb)
{
    if (!col->buf) {
        return;
    }
    if (col->fill) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_heap_create(col->buf, col->fill,
                                                           apr_bucket_free, col->ba));
    }
    else {
        apr_bucket_free(col->buf);
    }
    col->buf = NULL;
    col->fill = 0;
}

/* Hands what is collected to the output filters, with a flush bucket if
 * asked. Returns 0 when the client went away. */
static int hand_on(request_rec *r, apr_bucket_brigade *bb, collect_t *col, int flush)
{
    conn_rec *c = r->connection;
    apr_status_t rv;

    collect_close(col, bb);
    if (flush) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(c->bucket_alloc));
    }
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv == APR_SUCCESS && !c->aborted;
}

/* Reads the next bytes of the body into the collecting buffer: at once when
 * they are there; else, after a moment's wait for them, hands on what is
 * held (flushed) and waits up to `timeout`. *n bytes read at *at. */
static apr_status_t read_more(request_rec *r, backend_t *b, apr_bucket_brigade *bb,
                              collect_t *col, const body_state_t *bs, int *drained,
                              int *unflushed, apr_off_t *held, char **at, apr_size_t *n,
                              apr_interval_time_t timeout)
{
    apr_size_t room = collect_room(col, at);
    apr_status_t rv = *drained ? APR_EAGAIN : ac_sock_read(b->fd, *at, room, n, 0);

    if (rv == APR_EAGAIN) {
        /* the app paused: wait a moment for more, then send what is held */
        rv = !*unflushed ? APR_TIMEUP
           : ac_sock_wait_readable(b->fd, bs->framing == FRAME_LENGTH ? COALESCE_LENGTH_WAIT
                                                                      : COALESCE_STREAM_WAIT);
        if (rv == APR_TIMEUP) {
            if (*unflushed && !hand_on(r, bb, col, 1)) {
                return APR_ECONNABORTED;
            }
            *unflushed = 0;
            *held = 0;
            rv = ac_sock_wait_readable(b->fd, timeout);
        }
        if (rv == APR_SUCCESS) {
            room = collect_room(col, at);
            rv = ac_sock_read(b->fd, *at, room, n, timeout);
        }
    }
    if (rv == APR_SUCCESS) {
        *drained = *n < room;    /* a shorter read took all there was (TCP) */
    }
    return rv;
}

/* Streams the body to the client. Returns OK (also when the client went
 * away: nothing more to say to it).
 *
 * Bytes are handed on when the body is complete, when 128 KiB are held, or
 * when the app pauses: then with a flush, so that a streamed response
 * (server-sent events, progress) reaches the client at once, but only after
 * a moment's wait for the app's next write. An app's response often comes in
 * a few writes in quick succession (a 64 KiB answer of Kestrel's, under load,
 * usually arrives as 65,647 bytes and then 25):
 * without the wait the client would get two writes where one does, and a
 * loaded server would spend a wake-up and two system calls more on it. The
 * rest of a Content-Length body is waited for longer (5 ms) than the next
 * part of a chunked or close-delimited one (1 ms), which is more likely a
 * stream whose parts should go out as they come. */
static int stream_body(request_rec *r, backend_t *b, response_t *resp, body_state_t *bs,
                       apr_interval_time_t timeout)
{
    conn_rec *c = r->connection;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, c->bucket_alloc);
    collect_t col = { NULL, 0, c->bucket_alloc };
    const char *why = NULL;
    int done = bs->framing == FRAME_NONE;
    int unflushed = 1;           /* the head, at first: not sent yet */
    int drained = resp->drained; /* so the next read would find nothing */
    apr_off_t held = 0;
    apr_size_t body_len;
    apr_status_t rv;

    /* body bytes that came with the head (resp->buf lives as long as r) */
    if (!done && resp->len > resp->head_len) {
        why = frame_body(bs, resp->buf + resp->head_len, resp->len - resp->head_len,
                         &body_len, &done);
        if (why) {
            goto broken;
        }
        if (body_len) {
            APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(resp->buf + resp->head_len,
                                                                    body_len, c->bucket_alloc));
        }
        held += (apr_off_t)body_len;
    }
    else if (done && resp->len > resp->head_len) {
        bs->keepalive = 0;   /* bytes after a body-less response */
    }
    while (!done) {
        char *at;
        apr_size_t n = 0;

        if (held >= BODY_PASS_AT) {
            if (!hand_on(r, bb, &col, 0)) {
                goto client_gone;
            }
            held = 0;
        }
        rv = read_more(r, b, bb, &col, bs, &drained, &unflushed, &held, &at, &n, timeout);
        if (rv == APR_ECONNABORTED) {
            goto client_gone;
        }
        if (rv == APR_EOF && bs->framing == FRAME_CLOSE) {
            break;
        }
        if (rv != APR_SUCCESS) {
            why = rv == APR_TIMEUP ? "timed out reading the response body (requestTimeout)"
                : rv == APR_EOF ? "the app closed the connection before the body was complete"
                : "error reading the response body";
            goto broken;
        }
        why = frame_body(bs, at, n, &body_len, &done);     /* in place, at the buffer's end */
        if (why) {
            goto broken;
        }
        col.fill += body_len;
        held += (apr_off_t)body_len;
        if (BODY_READ_SIZE - col.fill < COLLECT_MIN_ROOM) {
            collect_close(&col, bb);
        }
        unflushed = 1;
    }
    /* reused only when the whole request went out and the whole response
     * came in, with nothing after it */
    b->reusable = bs->keepalive && b->request_sent;
    if (!b->reusable) {
        backend_discard(b);
    }
    collect_close(&col, bb);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    hand_on(r, bb, &col, 0);
    return OK;

broken:
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "the app's response broke off: %s", why);
    backend_discard(b);
    collect_close(&col, bb);
    signal_broken(r, bb);
    return OK;

client_gone:
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "client went away during the response");
    backend_discard(b);
    collect_close(&col, bb);
    apr_brigade_cleanup(bb);
    return OK;
}

/* ---- app_offline.htm -------------------------------------------------- */

#define OFFLINE_MAX_BYTES (16 * 1024 * 1024)

/* The app is offline for a deploy: 503 with the bytes of its app_offline.htm
 * (ANCM), never cached, and a hint to come back soon. */
static int serve_offline(request_rec *r, const ac_resolved_t *app)
{
    const char *path = apr_pstrcat(r->pool, app->launch->app_root, "/app_offline.htm", NULL);
    apr_bucket_brigade *bb;
    apr_file_t *f;
    apr_finfo_t fi;

    r->status = HTTP_SERVICE_UNAVAILABLE;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Retry-After", "5");
    ap_set_content_type(r, "text/html");
    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f) != APR_SUCCESS
        || fi.filetype != APR_REG || fi.size > OFFLINE_MAX_BYTES) {
        /* removed just now, or not a sensible page: a plain 503 */
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_set_content_length(r, fi.size);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, f, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}

/* ---- WebSockets ------------------------------------------------------- */

static apr_status_t give_back_tunnel(void *data)
{
    __atomic_sub_fetch(&((ac_shared_t *)data)->tunnels, 1, __ATOMIC_RELAXED);
    return APR_SUCCESS;
}

/* A place among AspNetCoreMaxWebSockets tunnels (all children together):
 * tunnels hold a worker for as long as they live, and must not take all. */
static int take_tunnel(request_rec *r)
{
    ac_shared_t *sh = ac_registry_shared();
    uint32_t n;

    if (!sh) {
        return 0;
    }
    n = __atomic_add_fetch(&sh->tunnels, 1, __ATOMIC_RELAXED);
    apr_pool_cleanup_register(r->pool, sh, give_back_tunnel, apr_pool_cleanup_null);
    return n <= __atomic_load_n(&sh->tunnel_limit, __ATOMIC_RELAXED);
}

/* The app said 101: tell the client, then relay both ways until done. */
static int run_websocket(request_rec *r, const ac_dir_conf_t *d, backend_t *b,
                         response_t *resp)
{
    conn_rec *c = r->connection;
    apr_interval_time_t idle = apr_time_from_sec(d->websocket_idle != AC_UNSET
                                                 ? d->websocket_idle
                                                 : AC_DEFAULT_WEBSOCKET_IDLE);
    apr_off_t moved;
    int i;

    apr_table_clear(r->headers_out);
    for (i = 0; i < resp->head.headers->nelts; i++) {
        ac_header_t *f = &APR_ARRAY_IDX(resp->head.headers, i, ac_header_t);
        if (!ac_http1_is_hop_by_hop(f->name) && strcasecmp(f->name, "Sec-WebSocket-Extensions")
            && strcasecmp(f->name, "Date") && strcasecmp(f->name, "Server")) {
            apr_table_addn(r->headers_out, f->name, f->value);
        }
    }
    apr_table_setn(r->headers_out, "Upgrade", "websocket");
    apr_table_setn(r->headers_out, "Connection", "Upgrade");
    r->status = HTTP_SWITCHING_PROTOCOLS;
    r->status_line = "101 Switching Protocols";
    ap_send_interim_response(r, 1);

    /* From here on the connection is a tunnel: nothing HTTP may be written
     * to it any more, and it is not kept alive afterwards. */
    r->output_filters = r->proto_output_filters = c->output_filters;
    r->input_filters = r->proto_input_filters = c->input_filters;
    c->keepalive = AP_CONN_CLOSE;
    moved = ac_tunnel_run(r, b->fd, resp->buf + resp->head_len, resp->len - resp->head_len,
                          idle > 0 ? idle : -1);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "WebSocket closed after %" APR_OFF_T_FMT
                  " bytes", moved);
    backend_discard(b);
    return DONE;
}

/* ---- the whole exchange ---------------------------------------------- */

/* The app cannot run as configured (a broken web.config, say): a 500 that
 * names the problem, unless the site has its own ErrorDocument for 500. */
static int config_error(request_rec *r, const char *label, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] configuration error: %s",
                  label ? label : "app", why);
    return ac_errpage_config(r, why);
}

int ac_proxy_handle(request_rec *r, const ac_dir_conf_t *d)
{
    chosen_t *proc = apr_pcalloc(r->pool, sizeof(*proc));   /* outlives this call: cleanups */
    ac_resolved_t *app;
    apr_uint32_t index;
    backend_t *b;
    response_t resp;
    body_state_t bs;
    head_t *head;
    apr_off_t body_length;
    apr_interval_time_t request_timeout;
    int mode, status, attempt, body_started = 0, answered = 0, websocket, rechosen = 0;
    int body_consumed = 0;
    const char *why = NULL;
    char *body = NULL;           /* a small body, read whole before sending */
    apr_status_t rv = APR_SUCCESS;

    if (!connpool) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    for (attempt = 0;; attempt++) {
        /* a second look forces a fresh one: the app was replaced (its
         * web.config changed, seen by another child first) */
        app = ac_resolve_request(r, d, attempt > 0, &why);
        if (!app) {
            return config_error(r, NULL, why);
        }
        if (app->error) {
            return config_error(r, app->label, app->error);
        }
        status = ac_registry_index(r, app, &index);
        if (status == OK) {
            status = choose_process(r, app, index, proc);
        }
        if (status == APP_OFFLINE) {
            return serve_offline(r, app);
        }
        if (status != APP_GONE) {
            break;
        }
        if (attempt > 0) {
            return unavailable(r, app->label, "is no longer registered with the supervisor");
        }
    }
    if (status != OK) {
        return status;
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "[%s] routed to process %ld on port %u",
                  app->label, (long)proc->view.pid, proc->view.port);
    request_timeout = d->request_timeout != AC_UNSET ? d->request_timeout : app->request_timeout;
    ac_slot_enter(proc->slot);
    apr_pool_cleanup_register(r->pool, proc->slot, leave_slot, apr_pool_cleanup_null);

    b = apr_pcalloc(r->pool, sizeof(*b));
    b->fd = -1;
    b->proc = proc;
    apr_pool_cleanup_register(r->pool, b, backend_cleanup, apr_pool_cleanup_null);

    websocket = wants_websocket(r);
    if (websocket && !take_tunnel(r)) {
        return unavailable(r, app->label, "too many WebSocket connections "
                           "(AspNetCoreMaxWebSockets)");
    }
    mode = request_body_mode(r, &body_length);
    head = build_head(r, proc, mode, body_length, websocket);
    if (mode == BODY_LENGTH && body_length <= BODY_PREFETCH_MAX && !r->expecting_100) {
        int client_status;
        body = prefetch_body(r, body_length, &client_status);
        if (!body) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          "reading the request body from the client failed");
            return client_status;
        }
    }

    for (attempt = 0; attempt < 2; attempt++) {
        int client_status = OK;
        memset(&resp, 0, sizeof(resp));
        rv = backend_open(r, b, attempt == 0, mode != BODY_NONE && !body);
        if (rv != APR_SUCCESS) {
            if (!supervisor_alive(ac_registry_shared())) {
                return unavailable(r, app->label, "the supervisor is being restarted");
            }
            /* On a retry (the request was sent once already) only the same
             * process may be asked again: a process that died of the request
             * must not pass it on to its successor. */
            if (rechosen || attempt > 0) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "[%s] cannot connect to the app's "
                              "process %ld on port %u (502.3)", app->label,
                              (long)proc->view.pid, proc->view.port);
                return ac_errpage_bad_gateway(r, app, "cannot connect to the app's process");
            }
            /* That process went away between our pick and our connect (it
             * was being replaced, say): pick again, once. */
            rechosen = 1;
            ac_slot_leave(proc->slot);
            apr_pool_cleanup_kill(r->pool, proc->slot, leave_slot);
            status = choose_process(r, app, index, proc);
            if (status == APP_OFFLINE) {
                return serve_offline(r, app);
            }
            if (status != OK) {
                return status == APP_GONE
                       ? ac_errpage_bad_gateway(r, app, "the app was replaced meanwhile") : status;
            }
            ac_slot_enter(proc->slot);
            apr_pool_cleanup_register(r->pool, proc->slot, leave_slot, apr_pool_cleanup_null);
            head = build_head(r, proc, mode, body_length, websocket);
            attempt--;
            continue;
        }
        ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r, "%s connection to port %u",
                      b->reused ? "reused a" : "opened a new", proc->view.port);
        {
            /* writev consumes the iovecs: send a copy so a retry can resend */
            int n = head->iov->nelts;
            struct iovec *iov = apr_palloc(r->pool, sizeof(struct iovec) * (apr_size_t)(n + 1));
            memcpy(iov, head->iov->elts, sizeof(struct iovec) * (apr_size_t)n);
            if (body) {
                iov[n].iov_base = body;
                iov[n].iov_len = (apr_size_t)body_length;
                n++;
            }
            rv = ac_sock_writev_all(b->fd, iov, n, request_timeout);
            why = "error writing the request";
        }
        answered = 0;
        body_consumed = 0;
        if (rv == APR_SUCCESS && mode != BODY_NONE && r->expecting_100) {
            /* Wait (briefly) for the app's go-ahead before taking the body from
             * the client: an app that refuses it (413, 401) is answered at
             * once, and the client never sends the body. */
            rv = read_head(r, b, &resp, CONTINUE_WAIT, 1, &why);
            if (rv == APR_SUCCESS) {
                answered = 1;
            }
            else if (rv == APR_INCOMPLETE || rv == APR_TIMEUP) {
                rv = APR_SUCCESS;   /* 100 Continue, or no word: send the body */
            }
        }
        if (rv == APR_SUCCESS && mode != BODY_NONE && !answered && !body) {
            upload_outcome_t out;
            body_started = 1;
            rv = send_body(r, b, &resp, mode, request_timeout, &client_status, &out);
            if (client_status != OK) {
                ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                              "reading the request body from the client failed");
                backend_discard(b);
                return client_status;
            }
            answered = out.answered;
            body_consumed = out.eos && !out.stopped;
            if (rv != APR_SUCCESS) {
                why = out.why;   /* a write error may still come with a response (an early 413) */
                ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "[%s] %s: the connection to the "
                              "app will not be reused", app->label, why);
            }
            else if (out.stopped) {
                ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "[%s] the app answered %d before "
                              "the whole body was sent: the rest is not sent, the connection "
                              "to the app will not be reused", app->label, resp.head.status);
            }
            else if (!answered) {
                b->request_sent = 1;
            }
        }
        else if (rv == APR_SUCCESS && !answered) {
            b->request_sent = 1;
            body_consumed = 1;
        }
        if (!answered && (rv == APR_SUCCESS || body_started)) {
            rv = read_head(r, b, &resp, request_timeout, 0, &why);
        }
        if (rv == APR_SUCCESS) {
            break;
        }
        backend_discard(b);
        /* A kept-alive connection the app closed just as we used it: safe to
         * try once more on a new one, as long as no body was consumed. */
        if (b->reused && !resp.got_bytes && rv != APR_TIMEUP && !body_started) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r,
                          "reused connection failed (%s): retrying on a new one", why);
            continue;
        }
        if (!resp.got_bytes && !supervisor_alive(ac_registry_shared())) {
            /* the app went down with its supervisor: back soon */
            return unavailable(r, app->label, "the supervisor is being restarted");
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "[%s] %s (502.3)", app->label, why);
        return ac_errpage_bad_gateway(r, app, why);
    }
    if (rv != APR_SUCCESS) {
        return ac_errpage_bad_gateway(r, app, why);
    }
    if (resp.head.status == 101) {
        if (!websocket) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "[%s] the app switched protocols unasked (502.3)", app->label);
            backend_discard(b);
            return ac_errpage_bad_gateway(r, app, "the app switched protocols unasked");
        }
        return run_websocket(r, d, b, &resp);
    }
    memset(&bs, 0, sizeof(bs));
    why = apply_head(r, &resp, &bs);
    if (!why && !b->request_sent) {
        /* The app answered before the whole request went out (or the
         * sending failed): what it makes of the rest, if it ever reads it,
         * is not an answer for anyone else. The connection goes. */
        bs.keepalive = 0;
    }
    if (!why && mode != BODY_NONE && !body_consumed) {
        /* The rest of the client's body was not read (a client waiting for
         * 100 Continue never sends it): Apache must not take it for the
         * next request, nor wait for it. */
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    if (why) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] bad response: %s (502.3)",
                      app->label, why);
        backend_discard(b);
        apr_table_clear(r->headers_out);
        r->status_line = NULL;
        return ac_errpage_bad_gateway(r, app, why);
    }
    return stream_body(r, b, &resp, &bs, request_timeout);
}
