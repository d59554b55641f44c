/* ac_receive: the app's response, from its head to the client. */
#include "ac_receive.h"
#include "ac_clientwatch.h"
#include "ac_sockio.h"

#include <poll.h>

#include <string.h>

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_filter.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define HEAD_MAX 65536                      /* a longer response head is refused (502) */
#define RESPONSE_BUF_SIZE (65536 + 8192)    /* the first read: a 64 KiB body and its head */
#define MAX_RESPONSE_FIELDS 200
#define MAX_INTERIM_RESPONSES 100           /* more 1xx before the final answer: 502 */
#define BODY_READ_SIZE 65536
#define BODY_PASS_AT (2 * BODY_READ_SIZE)   /* body bytes held before handing them on */
#define COALESCE_LENGTH_WAIT 5000           /* µs: waited for the rest of a Content-Length body */
#define COALESCE_STREAM_WAIT 1000           /* µs: ... and for the next part of another body */
#define WATCH_AFTER 50000   /* µs an answer is waited for in recv() alone, before the client is watched too */

/* ---- the response ---------------------------------------------------- */

/* Waits up to `wait` for the app's next bytes and reads them, watching the
 * client (b->client) meanwhile: APR_ECONNABORTED when it left. Most answers
 * come within WATCH_AFTER: they are waited for inside recv() alone, one
 * system call, as before; a later one is waited for by poll() on both
 * sockets. A client that leaves in the first WATCH_AFTER is seen at its end. */
static apr_status_t read_watching(ac_backend_t *b, char *buf, apr_size_t len, apr_size_t *n,
                                  apr_interval_time_t wait)
{
    apr_time_t deadline;
    apr_status_t rv;
    short revents;

    if (!b->client || (wait >= 0 && wait <= WATCH_AFTER)) {
        return ac_sock_read_within(b->fd, buf, len, n, wait, &b->recv_timeout);
    }
    deadline = wait > 0 ? apr_time_now() + wait : 0;     /* 0: for ever */
    rv = ac_sock_read_within(b->fd, buf, len, n, WATCH_AFTER, &b->recv_timeout);
    if (rv != APR_TIMEUP) {
        return rv;
    }
    wait = deadline ? deadline - apr_time_now() : -1;
    rv = !deadline || wait > 0 ? ac_sock_wait_watching(b->fd, POLLIN, b->client, wait, &revents)
                               : APR_TIMEUP;
    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = ac_sock_read(b->fd, buf, len, n, 0);
    return rv == APR_EAGAIN ? APR_TIMEUP : rv;
}

/* Reads until a final (or 101) response head is complete: APR_SUCCESS.
 * With `until_continue`, a 100 Continue ends the wait too: APR_INCOMPLETE.
 * Bytes after a head stay in the buffer for the next call. `timeout` bounds
 * the whole call, however the app spreads its bytes and interim responses
 * over it; at most MAX_INTERIM_RESPONSES interim ones are taken (an app
 * that sends 1xx for ever would hold the worker for ever). */
apr_status_t ac_read_head(request_rec *r, ac_backend_t *b, ac_response_t *resp,
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
           : read_watching(b, resp->buf + resp->len, resp->size - resp->len, &n, wait);
        if (rv == APR_ECONNABORTED && ac_clientwatch_left(b->client)) {
            *why = "the client went away";
            return rv;
        }
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



/* Copies the response head into r and works out the body's framing.
 * Returns NULL or why the head is unacceptable. */
const char *ac_apply_head(request_rec *r, ac_response_t *resp, ac_body_state_t *bs)
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
static const char *frame_body(ac_body_state_t *bs, char *data, apr_size_t len,
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
static apr_status_t read_more(request_rec *r, ac_backend_t *b, apr_bucket_brigade *bb,
                              collect_t *col, const ac_body_state_t *bs, int *drained,
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
            {
                short revents;
                rv = ac_sock_wait_watching(b->fd, POLLIN, b->client, timeout, &revents);
            }
            if (rv == APR_ECONNABORTED && ac_clientwatch_left(b->client)) {
                return rv;
            }
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
int ac_stream_body(request_rec *r, ac_backend_t *b, ac_response_t *resp, ac_body_state_t *bs,
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
        ac_backend_discard(b);
    }
    collect_close(&col, bb);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(c->bucket_alloc));
    hand_on(r, bb, &col, 0);
    return OK;

broken:
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "the app's response broke off: %s", why);
    ac_backend_discard(b);
    collect_close(&col, bb);
    signal_broken(r, bb);
    return OK;

client_gone:
    if (ac_clientwatch_left(b->client)) {
        /* seen while waiting for the app's next bytes: the app may be at
         * work for a while yet */
        ac_clientwatch_gone(r, NULL, "while the app sent its response");
        ac_backend_abort(b);
    }
    else {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, "client went away during the response");
    }
    ac_backend_discard(b);
    collect_close(&col, bb);
    apr_brigade_cleanup(bb);
    return OK;
}
