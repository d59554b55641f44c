/* ac_proxy: request forwarding over loopback HTTP/1.1 with pooled connections. */
#include "ac_proxy.h"
#include "ac_channel.h"
#include "ac_clientwatch.h"
#include "ac_connpool.h"
#include "ac_errpage.h"
#include "ac_http1.h"
#include "ac_receive.h"
#include "ac_registry.h"
#include "ac_resolve.h"
#include "ac_retry.h"
#include "ac_send.h"
#include "ac_shared.h"
#include "ac_sockio.h"
#include "ac_sticky.h"
#include "ac_upgrade.h"
#include "ac_verdict.h"

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

typedef struct ac_chosen {
    ac_slot_t *slot;
    unsigned app_index, slot_index;
    ac_slot_view_t view;
    int has_want;                /* the sticky-session cookie named `want` */
    ac_affinity_t want;
} chosen_t;

static apr_status_t leave_slot(void *data)
{
    ac_slot_leave(data);
    return APR_SUCCESS;
}

static int pick_ready(request_rec *r, ac_app_t *app, uint32_t nslots, chosen_t *out)
{
    uint32_t i, best_load = 0;
    int found = 0, sticky;

    for (i = 0; i < nslots; i++) {
        ac_slot_view_t v;
        uint32_t load;
        ac_slot_read(&app->slots[i], &v);
        if (v.state != AC_SLOT_READY) {
            continue;
        }
        if (ac_slot_is_suspect(&app->slots[i], v.incarnation)) {
            /* a connect to it failed: whoever listens on its port now gets no
             * request (and no token) until the supervisor has checked it */
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "process %ld is not used until the "
                          "supervisor has checked who listens on port %u", (long)v.pid, v.port);
            continue;
        }
        load = ac_slot_inflight(&app->slots[i]);
        sticky = out->has_want && i == out->want.slot && v.incarnation == out->want.incarnation;
        if (!found || load < best_load || sticky) {
            found = 1;
            best_load = load;
            out->slot = &app->slots[i];
            out->slot_index = i;
            out->view = v;
        }
        if (sticky) {
            break;      /* the process the client's sticky-session cookie names */
        }
    }
    return found;
}

/* What looking for a process came to. */
typedef enum {
    PICK_READY,                  /* a ready process is chosen */
    PICK_GONE,                   /* the app is no longer the current one (replaced) */
    PICK_OFFLINE,                /* app_offline.htm is up */
    PICK_NO_ENTRY,               /* the app has no entry in the shared table */
    PICK_START_FAILED,           /* its processes fail to start (502.5) */
    PICK_START_TIMEOUT,          /* none was ready within the startup time limit (502.5) */
    PICK_SUPERVISOR_DOWN,        /* the supervisor is being restarted (503) */
    PICK_QUEUE_FULL,             /* too many requests wait already (503) */
    PICK_UNREADABLE              /* its shared state was left mid-write by a dead supervisor (503) */
} pick_t;

#define MAX_HOPS 4                         /* successor links followed at most */
#define WAIT_SLICE apr_time_from_sec(1)    /* waiting: look at the supervisor this often */

static int supervisor_alive(const ac_shared_t *sh)
{
    return ac_verdict_supervisor_alive(sh);
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
 * successor. PICK_READY, or why there is none (out->app_index: the app that
 * failed, for its error page). */
static pick_t choose_process(request_rec *r, ac_resolved_t *decl, apr_uint32_t index,
                             chosen_t *out)
{
    ac_shared_t *sh = ac_registry_shared();
    apr_time_t deadline = apr_time_now() + decl->startup_wait;
    int asked = 0, queued = 0, hops = 0, keyed = 1;
    uint32_t asked_seen = 0;
    ac_app_t *app;

    if (!sh || index >= AC_MAX_APPS) {
        return PICK_NO_ENTRY;
    }
    app = &sh->apps[index];
    for (;;) {
        uint32_t seen = ac_word_read(&app->wake);
        ac_app_view_t v;
        apr_time_t now;

        if (!ac_app_read(app, &v)) {    /* left mid-write by a supervisor that died */
            return PICK_UNREADABLE;
        }
        if (v.state != AC_APP_ACTIVE || (keyed && memcmp(v.key, decl->key, AC_KEY_BYTES))) {
            if (v.state == AC_APP_RETIRED && v.successor >= 0 && hops++ < MAX_HOPS) {
                index = (apr_uint32_t)v.successor;     /* a newer version of the same site */
                app = &sh->apps[index];
                keyed = 0;
                asked = 0;
                continue;
            }
            return PICK_GONE;
        }
        out->app_index = index;
        if (v.offline) {
            return PICK_OFFLINE;
        }
        if (pick_ready(r, app, v.nslots, out)) {
            return PICK_READY;
        }
        if (v.predecessor >= 0) {
            ac_app_t *prev = &sh->apps[v.predecessor];
            ac_app_view_t pv;
            ac_app_read(prev, &pv);
            if (pv.state == AC_APP_ACTIVE && pick_ready(r, prev, pv.nslots, out)) {
                out->app_index = (apr_uint32_t)v.predecessor;
                return PICK_READY;
            }
        }
        if (v.failed) {
            return PICK_START_FAILED;
        }
        if (!supervisor_alive(sh)) {
            return PICK_SUPERVISOR_DOWN;
        }
        if (!queued) {
            uint32_t n = __atomic_add_fetch(&app->waiters, 1, __ATOMIC_RELAXED);
            apr_pool_cleanup_register(r->pool, &app->waiters, leave_queue,
                                      apr_pool_cleanup_null);
            queued = 1;
            if (n > (uint32_t)decl->max_queued) {
                return PICK_QUEUE_FULL;
            }
        }
        /* asked again after every change: a START the supervisor took just
         * before it saw the crash that ends an OnDemand app's wish for one */
        if (!asked || seen != asked_seen) {
            apr_status_t rv = ac_request_send(ac_registry_request_fd(), AC_REQ_START,
                                              index, 0, 0, NULL, 0);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_WARNING, rv, r,
                              "[%s] cannot reach the supervisor", decl->label);
            }
            asked = 1;
            asked_seen = seen;
        }
        now = apr_time_now();
        if (now >= deadline) {
            return PICK_START_TIMEOUT;
        }
        ac_word_wait(&app->wake, seen, deadline - now < WAIT_SLICE ? deadline - now : WAIT_SLICE);
    }
}

/* ---- the backend connection ----------------------------------------- */

static apr_status_t backend_cleanup(void *data)
{
    ac_backend_t *b = data;
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

/* A pooled connection when allowed, else a new one. Every pooled
 * connection is checked first (one recv(MSG_PEEK)): bytes waiting on an idle
 * connection are an answer to no request of ours (an app that answered
 * before reading a body and then took that body for further requests), and
 * must never reach this request's client; an app that closed it meanwhile
 * is found too. One that the app closes just as we use it fails before any
 * answer and may go again on a new connection (send_request). */
static apr_status_t backend_open(request_rec *r, ac_backend_t *b, int allow_reuse)
{
    apr_status_t rv;

    b->reusable = 0;
    b->request_sent = 0;
    b->recv_timeout = 0;
    b->fd = allow_reuse ? ac_connpool_get(connpool, b->proc->app_index, b->proc->slot_index,
                                          b->proc->view.incarnation, 1, &b->recv_timeout)
                        : -1;
    b->reused = b->fd >= 0;
    if (b->fd >= 0) {
        return APR_SUCCESS;
    }
    if (ac_slot_is_suspect(b->proc->slot, b->proc->view.incarnation)) {
        /* a connect to it failed since we picked it: whoever listens on its
         * port now is not trusted with the token until the supervisor says */
        b->fd = -1;
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "no new connection to the app's process "
                      "%ld until the supervisor has checked it", (long)b->proc->view.pid);
        return APR_ECONNREFUSED;
    }
    rv = ac_sock_connect_loopback(b->proc->view.port, CONNECT_TIMEOUT, &b->fd);
    if (rv == APR_SUCCESS) {
        /* the wait for the answer happens inside recv() (ac_read_head) */
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
        /* no child connects to that process again until the supervisor has
         * looked at it: a process that stopped listening may have left its
         * port to another local user's program */
        ac_verdict_ask(ac_registry_request_fd(), b->proc->slot, b->proc->app_index,
                       b->proc->slot_index, b->proc->view.incarnation);
    }
    return rv;
}


/* ---- the whole exchange ---------------------------------------------- */

/* One request's way through the app, and what is known of it so far. */
typedef struct {
    request_rec *r;
    const ac_dir_conf_t *d;
    ac_resolved_t *app;
    apr_uint32_t index;          /* the app's entry in the shared table */
    chosen_t *proc;
    ac_backend_t *b;
    ac_response_t resp;
    ac_head_t *head;
    char *body;                  /* a small body, read whole before sending */
    apr_off_t body_length;
    apr_interval_time_t timeout; /* requestTimeout */
    int mode;                    /* AC_BODY_* */
    int websocket;
    int body_started;            /* a body was being streamed: it cannot be sent again */
    int answered;                /* a final head came before the body was all sent */
    int body_consumed;           /* the client's body was read to its end */
    int client_status;           /* the client failed to send its body: answer this */
    int unread;                  /* every try so far was reset before the app read it */
    int never_reached;           /* the last try wrote not a byte of the request */
    const char *why;
} exchange_t;

/* The app cannot run as configured (a broken web.config, say): a 500 that
 * names the problem, unless the site has its own ErrorDocument for 500. */
static int config_error(request_rec *r, const char *label, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] configuration error: %s",
                  label ? label : "app", why);
    return ac_errpage_config(r, why);
}

/* The answer when looking for a process found none. */
static int answer_pick_status(exchange_t *x, pick_t pick)
{
    request_rec *r = x->r;
    ac_shared_t *sh = ac_registry_shared();

    switch (pick) {
    case PICK_OFFLINE:
        return ac_errpage_offline(r, x->app->launch->app_root);
    case PICK_NO_ENTRY:
        return unavailable(r, x->app->label, "is not running (no table entry)");
    case PICK_START_FAILED:
    case PICK_START_TIMEOUT:
        return ac_errpage_startup_failed(r, x->app, &sh->apps[x->proc->app_index],
                                         pick == PICK_START_TIMEOUT);
    case PICK_SUPERVISOR_DOWN:
        return unavailable(r, x->app->label, "the supervisor is being restarted");
    case PICK_QUEUE_FULL:
        return unavailable(r, x->app->label, apr_psprintf(r->pool,
                           "more than %d requests wait for a process "
                           "(AspNetCoreMaxQueuedRequests)", x->app->max_queued));
    case PICK_GONE:
        return unavailable(r, x->app->label, "is no longer registered with the supervisor");
    case PICK_UNREADABLE:
        return unavailable(r, x->app->label, "its shared state cannot be read now");
    default:
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* The answer when looking for a process found none: never OK (the offline
 * page, sent in full, is DONE), so that callers can tell a found process
 * from a request already answered. */
static int answer_pick(exchange_t *x, pick_t pick)
{
    int status = answer_pick_status(x, pick);
    return status == OK ? DONE : status;
}

/* Counts the request in the chosen process's load until it ends. */
static void enter_process(exchange_t *x)
{
    ac_slot_enter(x->proc->slot);
    apr_pool_cleanup_register(x->r->pool, x->proc->slot, leave_slot, apr_pool_cleanup_null);
}

static void leave_process(exchange_t *x)
{
    ac_slot_leave(x->proc->slot);
    apr_pool_cleanup_kill(x->r->pool, x->proc->slot, leave_slot);
}

/* The app of the request and a ready process of it. A replaced app (its
 * web.config changed, seen by another child first) is looked up afresh,
 * once. OK, or the status answered. */
static int find_process(exchange_t *x)
{
    int attempt, status;
    pick_t pick = PICK_GONE;

    for (attempt = 0; attempt < 2 && pick == PICK_GONE; attempt++) {
        x->app = ac_resolve_request(x->r, x->d, attempt > 0, &x->why);
        if (!x->app) {
            return config_error(x->r, NULL, x->why);
        }
        if (x->app->error) {
            return config_error(x->r, x->app->label, x->app->error);
        }
        status = ac_registry_index(x->r, x->app, &x->index);
        if (status != OK) {
            return status;
        }
        pick = choose_process(x->r, x->app, x->index, x->proc);
    }
    if (pick != PICK_READY) {
        return answer_pick(x, pick);
    }
    ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, x->r, "[%s] routed to process %ld on port %u",
                  x->app->label, (long)x->proc->view.pid, x->proc->view.port);
    enter_process(x);
    return OK;
}

/* The chosen process cannot take the request: another one, or wait for
 * one as at a first start (the same pick; the failed process is marked
 * suspect and is skipped). */
static pick_t choose_again(exchange_t *x)
{
    pick_t pick;

    leave_process(x);
    pick = choose_process(x->r, x->app, x->index, x->proc);
    if (pick == PICK_READY) {
        enter_process(x);
        x->head = ac_build_head(x->r, x->proc->view.token, x->mode, x->body_length,
                                x->websocket);
    }
    return pick;
}

/* A connection to the chosen process (`attempt` 0: a pooled one will do).
 * A process gone between our pick and our connect (being replaced, say) is
 * picked again, once, on the first attempt, or after a try it reset unread:
 * a process that died of the request must not pass it on to its successor.
 * OK, or the status answered. */
static int connect_process(exchange_t *x, int attempt, int *rechosen)
{
    request_rec *r = x->r;

    for (;;) {
        apr_status_t rv = backend_open(r, x->b, attempt == 0);
        pick_t pick;

        if (rv == APR_SUCCESS) {
            ap_log_rerror(APLOG_MARK, APLOG_TRACE2, 0, r, "%s connection to port %u",
                          x->b->reused ? "reused a" : "opened a new", x->proc->view.port);
            return OK;
        }
        if (!supervisor_alive(ac_registry_shared())) {
            return unavailable(r, x->app->label, "the supervisor is being restarted");
        }
        /* a retry after the app read (part of) the request goes nowhere else */
        if (*rechosen || (attempt > 0 && !x->unread)) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "[%s] cannot connect to the app's "
                          "process %ld on port %u (502.3)", x->app->label,
                          (long)x->proc->view.pid, x->proc->view.port);
            return ac_errpage_bad_gateway(r, x->app, "cannot connect to the app's process");
        }
        *rechosen = 1;
        pick = choose_again(x);
        if (pick != PICK_READY) {
            return pick == PICK_GONE ? ac_errpage_bad_gateway(r, x->app, "the app was "
                                                              "replaced meanwhile")
                                     : answer_pick(x, pick);
        }
    }
}

/* Streams the body after the head, and notes how far it got. */
static apr_status_t stream_request_body(exchange_t *x)
{
    ac_upload_outcome_t out;
    apr_status_t rv;

    x->body_started = 1;
    rv = ac_send_body(x->r, x->b, &x->resp, x->mode, x->timeout, &x->client_status, &out);
    if (x->client_status != OK) {
        return rv;
    }
    x->answered = out.answered;
    x->body_consumed = out.eos && !out.stopped;
    if (rv != APR_SUCCESS) {
        x->why = out.why;   /* a write error may still come with a response (an early 413) */
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, x->r, "[%s] %s: the connection to the "
                      "app will not be reused", x->app->label, x->why);
    }
    else if (out.stopped) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, x->r, "[%s] the app answered %d before "
                      "the whole body was sent: the rest is not sent, the connection "
                      "to the app will not be reused", x->app->label, x->resp.head.status);
    }
    else if (!x->answered) {
        x->b->request_sent = 1;
    }
    return rv;
}

/* Sends the request once on the open connection and reads the answer's
 * head: APR_SUCCESS, or why not (x->why; x->client_status when the client
 * failed to send its body). */
static apr_status_t send_once(exchange_t *x)
{
    /* writev consumes the iovecs: send a copy so a retry can resend */
    int n = x->head->iov->nelts;
    struct iovec *iov = apr_palloc(x->r->pool, sizeof(struct iovec) * (apr_size_t)(n + 1));
    apr_size_t sent;
    apr_status_t rv;

    memcpy(iov, x->head->iov->elts, sizeof(struct iovec) * (apr_size_t)n);
    if (x->body) {
        iov[n].iov_base = x->body;
        iov[n].iov_len = (apr_size_t)x->body_length;
        n++;
    }
    rv = ac_sock_writev_counted(x->b->fd, iov, n, x->timeout, &sent);
    x->why = "error writing the request";
    x->never_reached = rv != APR_SUCCESS && sent == 0;
    x->answered = 0;
    x->body_consumed = 0;
    if (rv == APR_SUCCESS && x->mode != AC_BODY_NONE && x->r->expecting_100) {
        /* Wait (briefly) for the app's go-ahead before taking the body from
         * the client: an app that refuses it (413, 401) is answered at
         * once, and the client never sends the body. */
        rv = ac_read_head(x->r, x->b, &x->resp, CONTINUE_WAIT, 1, &x->why);
        if (rv == APR_SUCCESS) {
            x->answered = 1;
        }
        else if (rv == APR_INCOMPLETE || rv == APR_TIMEUP) {
            rv = APR_SUCCESS;   /* 100 Continue, or no word: send the body */
        }
    }
    if (rv == APR_SUCCESS && x->mode != AC_BODY_NONE && !x->answered && !x->body) {
        rv = stream_request_body(x);
        if (x->client_status != OK) {
            return rv;
        }
    }
    else if (rv == APR_SUCCESS && !x->answered) {
        x->b->request_sent = 1;
        x->body_consumed = 1;
    }
    if (!x->answered && (rv == APR_SUCCESS || x->body_started)
        && !ac_clientwatch_left(x->b->client)) {
        rv = ac_read_head(x->r, x->b, &x->resp, x->timeout, 0, &x->why);
    }
    return rv;
}

/* The facts of the try that just failed with rv (ac_retry.h). HEAD is
 * M_GET to httpd. */
static ac_try_t try_facts(const exchange_t *x, apr_status_t rv)
{
    ac_try_t t;
    int m = x->r->method_number;

    memset(&t, 0, sizeof(t));
    t.rv = rv;
    t.reused = x->b->reused;
    t.safe_method = m == M_GET || m == M_OPTIONS || m == M_TRACE;
    /* bytes of a body went out: a small one with the head, or a streamed
     * one begun (one waiting for the app's 100 Continue has not) */
    t.has_body = x->body != NULL || x->body_started;
    t.body_started = x->body_started;
    t.answered = x->answered;
    t.got_bytes = x->resp.got_bytes;
    t.never_reached = x->never_reached;
    return t;
}

/* The bytes of the request's head (and small body) one try sends. */
static apr_size_t request_bytes(const exchange_t *x)
{
    const struct iovec *iov = (const struct iovec *)x->head->iov->elts;
    apr_size_t n = x->body ? (apr_size_t)x->body_length : 0;
    int i;

    for (i = 0; i < x->head->iov->nelts; i++) {
        n += iov[i].iov_len;
    }
    return n;
}

/* The process reset the request unread: is it gone (killed, crashed)? The
 * supervisor says (ac_verdict.h); a process that lives on gets no retry. */
static int process_went_away(exchange_t *x)
{
    chosen_t *p = x->proc;
    ac_verdict_e v;

    ac_verdict_ask(ac_registry_request_fd(), p->slot, p->app_index, p->slot_index,
                   p->view.incarnation);
    v = ac_verdict_wait(&ac_registry_shared()->apps[p->app_index], p->slot,
                        p->view.incarnation, CONNECT_TIMEOUT);
    ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, x->r, "process %ld reset the request unread; "
                  "verdict %d (0: gone, the request waits for another process)",
                  (long)p->view.pid, (int)v);
    return v == AC_VERDICT_GONE;
}

/* Sends the request and reads the answer's head. A request that failed on
 * a reused connection before any byte of an answer may go once more on a
 * new one (ac_retry_on_new_connection: a GET, say, or one the app cannot
 * have had; a pooled connection the app closed just as we took it counts
 * so). One the app never had (ac_retry_unread) whose process went away (it
 * died) goes, once, to another process, or waits for the new one as at a
 * first start; one the dead process may have read goes nowhere else (it
 * may be what killed it). OK (x->resp has the head), or the status
 * answered. */
static int send_request(exchange_t *x)
{
    request_rec *r = x->r;
    int attempt, rechosen = 0;
    apr_status_t rv = APR_SUCCESS;

    for (attempt = 0; attempt < 3; attempt++) {
        ac_try_t facts;
        int status;

        memset(&x->resp, 0, sizeof(x->resp));
        status = connect_process(x, attempt, &rechosen);
        if (status != OK) {
            return status;
        }
        x->client_status = OK;
        rv = send_once(x);
        if (x->client_status != OK) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, rv, r,
                          "reading the request body from the client failed");
            ac_backend_discard(x->b);
            return x->client_status;
        }
        if (rv == APR_SUCCESS) {
            return OK;
        }
        if (ac_clientwatch_left(x->b->client)) {
            ac_backend_abort(x->b);
            return ac_clientwatch_gone(r, x->app->label, "before the app answered");
        }
        facts = try_facts(x, rv);
        ac_retry_check_close(&facts, x->b->fd, request_bytes(x));
        rv = facts.rv;
        ac_backend_discard(x->b);
        /* one try the app may have read is enough to send it nowhere else */
        x->unread = (attempt == 0 || x->unread) && ac_retry_unread(&facts);
        if (attempt == 0 && ac_retry_on_new_connection(&facts, x->unread)) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r,
                          "reused connection failed (%s): retrying on a new one", x->why);
            continue;
        }
        if (x->unread && !rechosen && supervisor_alive(ac_registry_shared())
            && process_went_away(x)) {
            pick_t pick;
            rechosen = 1;
            pick = choose_again(x);
            if (pick != PICK_READY) {
                return pick == PICK_GONE ? ac_errpage_bad_gateway(r, x->app, x->why)
                                         : answer_pick(x, pick);
            }
            continue;
        }
        if (!x->resp.got_bytes && !supervisor_alive(ac_registry_shared())) {
            /* the app went down with its supervisor: back soon */
            return unavailable(r, x->app->label, "the supervisor is being restarted");
        }
        ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r, "[%s] %s (502.3)", x->app->label, x->why);
        return ac_errpage_bad_gateway(r, x->app, x->why);
    }
    return ac_errpage_bad_gateway(r, x->app, x->why);
}

/* The answer's head is in: pass it on, and its body or the tunnel. */
static int respond(exchange_t *x)
{
    request_rec *r = x->r;
    ac_body_state_t bs;
    ac_affinity_t served = { x->proc->slot_index, x->proc->view.incarnation };
    const char *why, *set_cookie = ac_sticky_cookie(r, x->d, x->app->launch->virtual_path,
                                                    x->proc->has_want ? &x->proc->want : NULL,
                                                    &served);

    if (x->resp.head.status == 101) {
        if (!x->websocket) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "[%s] the app switched protocols unasked (502.3)", x->app->label);
            ac_backend_discard(x->b);
            return ac_errpage_bad_gateway(r, x->app, "the app switched protocols unasked");
        }
        return ac_upgrade_run(r, x->d, x->b, &x->resp, set_cookie);
    }
    memset(&bs, 0, sizeof(bs));
    why = ac_apply_head(r, &x->resp, &bs);
    if (why) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] bad response: %s (502.3)",
                      x->app->label, why);
        ac_backend_discard(x->b);
        apr_table_clear(r->headers_out);
        r->status_line = NULL;
        return ac_errpage_bad_gateway(r, x->app, why);
    }
    if (set_cookie) {
        apr_table_addn(r->headers_out, "Set-Cookie", set_cookie);
    }
    if (!x->b->request_sent) {
        /* The app answered before the whole request went out (or the
         * sending failed): what it makes of the rest, if it ever reads it,
         * is not an answer for anyone else. The connection goes. */
        bs.keepalive = 0;
    }
    if (x->mode != AC_BODY_NONE && !x->body_consumed) {
        /* The rest of the client's body was not read (a client waiting for
         * 100 Continue never sends it): Apache must not take it for the
         * next request, nor wait for it. */
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    return ac_stream_body(r, x->b, &x->resp, &bs, x->timeout);
}

int ac_proxy_handle(request_rec *r, const ac_dir_conf_t *d)
{
    exchange_t *x;
    int status;

    if (!connpool) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    x = apr_pcalloc(r->pool, sizeof(*x));
    x->r = r;
    x->d = d;
    x->proc = apr_pcalloc(r->pool, sizeof(*x->proc));   /* outlives this call: cleanups */
    x->client_status = OK;
    x->proc->has_want = ac_sticky_take(r, d, &x->proc->want);
    status = find_process(x);
    if (status != OK) {
        return status == DONE ? OK : status;    /* DONE: answered already (offline) */
    }
    x->timeout = d->request_timeout != AC_UNSET ? d->request_timeout : x->app->request_timeout;
    x->b = apr_pcalloc(r->pool, sizeof(*x->b));
    x->b->fd = -1;
    x->b->proc = x->proc;
    x->b->client = ac_clientwatch_create(r);
    apr_pool_cleanup_register(r->pool, x->b, backend_cleanup, apr_pool_cleanup_null);

    x->websocket = ac_wants_websocket(r);
    if (x->websocket && !ac_upgrade_take_place(r)) {
        return unavailable(r, x->app->label, "too many WebSocket connections "
                           "(AspNetCoreMaxWebSockets)");
    }
    x->mode = ac_request_body_mode(r, &x->body_length);
    if (x->websocket && (status = ac_websocket_request_body(r, &x->mode)) != OK) {
        return status;
    }
    x->head = ac_build_head(r, x->proc->view.token, x->mode, x->body_length, x->websocket);
    if (x->mode == AC_BODY_LENGTH && x->body_length <= AC_BODY_PREFETCH_MAX
        && !r->expecting_100) {
        x->body = ac_prefetch_body(r, x->body_length, &status);
        if (!x->body) {
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r,
                          "reading the request body from the client failed");
            return status;
        }
    }
    status = send_request(x);
    if (status != OK) {
        return status == DONE ? OK : status;
    }
    status = respond(x);
    /* The app is done with it: it leaves the process's load now, not when the
     * request's pool dies (after the write to the client and the log), or the
     * client's next request would find the process still counted busy. */
    leave_process(x);
    return status;
}
