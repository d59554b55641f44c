/* mod_bench_floor: Apache answering the benchmark's requests by itself.
 *
 * Used only by bench/run.sh (setup "apache_alone"): the same requests as the
 * app gets (GET /pid, GET /bytes?n=N, POST /discard), answered by a handler
 * without any backend. What Apache spends per request here is what any module
 * that forwards to the app spends at least, on top of its own work: it bounds
 * the speed-up over mod_proxy_http that a forwarding module can reach on the
 * machine the benchmark runs on. Not part of mod_aspnetcore.
 */
#include <httpd.h>
#include <http_config.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <string.h>
#include <unistd.h>

#define MAX_BYTES (16 * 1024 * 1024)
#define CHUNK 65536

static char pattern[CHUNK];

static int answer_text(request_rec *r, const char *text)
{
    ap_set_content_type(r, "text/plain");
    ap_set_content_length(r, (apr_off_t)strlen(text));
    if (!r->header_only) {
        ap_rputs(text, r);
    }
    return OK;
}

/* GET /bytes?n=N: N bytes of a fixed pattern, with Content-Length */
static int answer_bytes(request_rec *r)
{
    const char *n_arg = r->args && !strncmp(r->args, "n=", 2) ? r->args + 2 : "0";
    apr_off_t n, left;
    char *end;

    if (apr_strtoff(&n, n_arg, &end, 10) != APR_SUCCESS || *end || n < 0 || n > MAX_BYTES) {
        return HTTP_BAD_REQUEST;
    }
    ap_set_content_type(r, "application/octet-stream");
    ap_set_content_length(r, n);
    for (left = n; left > 0 && !r->header_only;) {
        apr_size_t k = left > CHUNK ? CHUNK : (apr_size_t)left;
        if (ap_rwrite(pattern, (int)k, r) < 0) {
            return OK;   /* the client went away */
        }
        left -= (apr_off_t)k;
    }
    return OK;
}

/* POST /discard: reads the body, drops it, answers its length */
static int answer_discard(request_rec *r)
{
    apr_bucket_brigade *bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_off_t total = 0;
    int seen_eos = 0;

    while (!seen_eos) {
        apr_bucket *b;
        if (ap_get_brigade(r->input_filters, bb, AP_MODE_READBYTES, APR_BLOCK_READ,
                           CHUNK) != APR_SUCCESS) {
            return HTTP_BAD_REQUEST;
        }
        for (b = APR_BRIGADE_FIRST(bb); b != APR_BRIGADE_SENTINEL(bb); b = APR_BUCKET_NEXT(b)) {
            if (APR_BUCKET_IS_EOS(b)) {
                seen_eos = 1;
            }
            else if (b->length != (apr_size_t)-1) {
                total += (apr_off_t)b->length;
            }
        }
        apr_brigade_cleanup(bb);
    }
    return answer_text(r, apr_off_t_toa(r->pool, total));
}

static int floor_handler(request_rec *r)
{
    if (!r->handler || strcmp(r->handler, "bench-floor")) {
        return DECLINED;
    }
    if (!strcmp(r->uri, "/pid")) {
        return answer_text(r, apr_ltoa(r->pool, (long)getpid()));
    }
    if (!strcmp(r->uri, "/bytes")) {
        return answer_bytes(r);
    }
    if (!strcmp(r->uri, "/discard") && r->method_number == M_POST) {
        return answer_discard(r);
    }
    return HTTP_NOT_FOUND;
}

static void register_hooks(apr_pool_t *p)
{
    (void)p;
    memset(pattern, 'x', sizeof(pattern));
    ap_hook_handler(floor_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

module AP_MODULE_DECLARE_DATA bench_floor_module = {
    STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
