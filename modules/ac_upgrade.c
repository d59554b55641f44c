/* ac_upgrade: the WebSocket budget and the 101 answer, before ac_tunnel relays. */
#include "ac_upgrade.h"
#include "ac_http1.h"
#include "ac_registry.h"
#include "ac_shared.h"
#include "ac_tunnel.h"

#include <string.h>
#include <strings.h>

#include <http_log.h>
#include <http_protocol.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* The place a request holds, kept in its pool's user data so that the end
 * of the tunnel gives it back at once: under HTTP/2 the stream's pool may
 * live on until mod_http2's main connection gets round to it. */
typedef struct {
    ac_shared_t *sh;
    int held;
} tunnel_place_t;

#define TUNNEL_PLACE_KEY "aspnetcore-tunnel-place"

static apr_status_t give_back_tunnel(void *data)
{
    tunnel_place_t *place = data;

    if (place->held) {
        place->held = 0;
        __atomic_sub_fetch(&place->sh->tunnels, 1, __ATOMIC_RELAXED);
    }
    return APR_SUCCESS;
}

/* A place among AspNetCoreMaxWebSockets tunnels (all children together):
 * tunnels hold a worker for as long as they live, and must not take all. */
int ac_upgrade_take_place(request_rec *r)
{
    ac_shared_t *sh = ac_registry_shared();
    tunnel_place_t *place;
    uint32_t n;

    if (!sh) {
        return 0;
    }
    place = apr_pcalloc(r->pool, sizeof(*place));
    place->sh = sh;
    place->held = 1;
    n = __atomic_add_fetch(&sh->tunnels, 1, __ATOMIC_RELAXED);
    apr_pool_cleanup_register(r->pool, place, give_back_tunnel, apr_pool_cleanup_null);
    apr_pool_userdata_setn(place, TUNNEL_PLACE_KEY, NULL, r->pool);
    return n <= __atomic_load_n(&sh->tunnel_limit, __ATOMIC_RELAXED);
}

static void give_back_place(request_rec *r)
{
    void *place = NULL;

    if (apr_pool_userdata_get(&place, TUNNEL_PLACE_KEY, r->pool) == APR_SUCCESS && place) {
        give_back_tunnel(place);
    }
}

/* The app said 101: tell the client, then relay both ways until done. */
int ac_upgrade_run(request_rec *r, const ac_dir_conf_t *d, ac_backend_t *b, ac_response_t *resp,
                   const char *set_cookie)
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
    if (set_cookie) {
        apr_table_addn(r->headers_out, "Set-Cookie", set_cookie);
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
    ac_backend_discard(b);
    give_back_place(r);
    return DONE;
}

