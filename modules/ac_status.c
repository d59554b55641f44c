/* ac_status: the status page and the mod_status summary. */
#include "ac_status.h"
#include "ac_json.h"
#include "ac_registry.h"
#include "ac_shared.h"
#include "ac_version.h"
#include "ac_status_figures.h"

#include <string.h>
#include <strings.h>

#include <http_core.h>
#include <http_log.h>
#include <ap_expr.h>
#include <http_protocol.h>
#include <http_request.h>
#include <apr_strings.h>
#include <apr_time.h>
#include <mod_status.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* One process as the page shows it. */
typedef struct {
    int slot;
    ac_slot_diag_t d;
    uint64_t served;            /* by this process */
    uint32_t inflight;
} status_process_t;

/* One app (a table entry in use). */
typedef struct {
    int index;
    int unreadable;             /* its record was left mid-write (a supervisor died) */
    ac_app_diag_t d;
    int predecessor, successor; /* table indexes of the versions it replaces / was
                                 * replaced by; -1 none */
    const char *state;          /* running, starting, failed, offline, idle, stopped,
                                 * draining */
    int nprocs;
    status_process_t *procs;    /* the slots that have a process */
    int ready, starting;
    uint64_t served;            /* by every process of this entry, since it was set up */
    uint32_t inflight;
} status_app_t;

typedef struct {
    apr_time_t now;
    int have_table;             /* 0: no shared table (nothing below is known) */
    long supervisor_pid;
    uint32_t supervisor_starts;
    uint32_t tunnels, tunnel_limit;
    int napps;
    status_app_t *apps;
} status_snapshot_t;

/* AspNetCoreHealthCheck's view of a process; NULL: the app has none. */
static const char *health_text(apr_pool_t *p, const ac_slot_diag_t *d)
{
    switch (d->health) {
    case AC_HEALTH_UNKNOWN: return "unknown";
    case AC_HEALTH_OK:      return "healthy";
    case AC_HEALTH_FAILING: return apr_psprintf(p, "failing %u", (unsigned)d->health_failures);
    default:                return NULL;
    }
}

static const char *slot_state_word(uint32_t state)
{
    switch (state) {
    case AC_SLOT_STARTING: return "starting";
    case AC_SLOT_READY:    return "ready";
    case AC_SLOT_STOPPING: return "stopping";
    default:               return "empty";
    }
}

/* One word for the app, the most telling first: an app being replaced or
 * removed drains; app_offline.htm wins over the processes' state; one
 * ready process means it runs even while others restart. */
static const char *app_state_word(const status_app_t *a)
{
    if (a->unreadable) {
        return "unreadable";
    }
    if (a->d.state == AC_APP_RETIRED) {
        return "draining";
    }
    if (a->d.offline) {
        return "offline";
    }
    if (a->d.idle_stopped && !a->ready && !a->starting) {
        return "idle";      /* AspNetCoreIdleTimeout: the next request starts it */
    }
    if (a->ready) {
        return "running";
    }
    if (a->d.failed || a->d.tripped) {
        return "failed";
    }
    if (a->starting) {
        return "starting";
    }
    return "stopped";
}

static void read_app(ac_app_t *app, int index, apr_pool_t *p, status_app_t *out)
{
    ac_app_view_t view;
    uint32_t si;

    memset(out, 0, sizeof(*out));
    out->index = index;
    out->unreadable = !ac_app_read_diag(app, &out->d) | !ac_app_read(app, &view);
    out->predecessor = view.predecessor;
    out->successor = view.successor;
    out->procs = apr_pcalloc(p, sizeof(*out->procs) * (out->d.nslots ? out->d.nslots : 1));
    for (si = 0; si < out->d.nslots; si++) {
        ac_slot_t *slot = &app->slots[si];
        status_process_t *proc = &out->procs[out->nprocs];
        uint64_t served = ac_slot_served(slot);

        out->served += served;
        out->inflight += ac_slot_inflight(slot);
        ac_slot_read_diag(slot, &proc->d);
        if (proc->d.state == AC_SLOT_EMPTY) {
            continue;
        }
        proc->slot = (int)si;
        /* a request that ends between the two reads may make served lag */
        proc->served = served >= proc->d.served_base ? served - proc->d.served_base : 0;
        proc->inflight = ac_slot_inflight(slot);
        out->ready += proc->d.state == AC_SLOT_READY;
        out->starting += proc->d.state == AC_SLOT_STARTING;
        out->nprocs++;
    }
    out->state = app_state_word(out);
}

/* Everything the page shows, read once from the shared table. */
static void take_snapshot(apr_pool_t *p, status_snapshot_t *snap)
{
    ac_shared_t *sh = ac_registry_shared();
    int i;

    memset(snap, 0, sizeof(*snap));
    snap->now = apr_time_now();
    if (!sh || !ac_shared_valid(sh)) {
        return;
    }
    snap->have_table = 1;
    snap->supervisor_pid = (long)__atomic_load_n(&sh->supervisor_pid, __ATOMIC_ACQUIRE);
    snap->supervisor_starts = __atomic_load_n(&sh->supervisor_starts, __ATOMIC_RELAXED);
    snap->tunnels = __atomic_load_n(&sh->tunnels, __ATOMIC_RELAXED);
    snap->tunnel_limit = __atomic_load_n(&sh->tunnel_limit, __ATOMIC_RELAXED);
    snap->apps = apr_pcalloc(p, sizeof(*snap->apps) * AC_MAX_APPS);
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_view_t view;
        if (ac_app_read(&sh->apps[i], &view) && view.state == AC_APP_FREE) {
            continue;
        }
        read_app(&sh->apps[i], i, p, &snap->apps[snap->napps]);
        if (snap->apps[snap->napps].d.state != AC_APP_FREE       /* freed meanwhile */
            || snap->apps[snap->napps].unreadable) {
            snap->napps++;
        }
    }
}

static long seconds_between(apr_time_t from, apr_time_t to)
{
    return to > from ? (long)apr_time_sec(to - from) : 0;
}

/* ---- the words for failures ------------------------------------------ */

static const char *fail_reason_word(uint32_t kind)
{
    switch (kind) {
    case AC_FAIL_SPAWN:   return "spawn";
    case AC_FAIL_EXIT:    return "exit";
    case AC_FAIL_SIGNAL:  return "signal";
    case AC_FAIL_TIMEOUT: return "timeout";
    default:              return NULL;
    }
}

static const char *fail_text(apr_pool_t *p, const ac_app_diag_t *d)
{
    switch (d->fail_kind) {
    case AC_FAIL_SPAWN:
        return "the program could not be started";
    case AC_FAIL_EXIT:
        return apr_psprintf(p, "exited with code %d before it listened", (int)d->fail_code);
    case AC_FAIL_SIGNAL:
        return apr_psprintf(p, "was killed by signal %d before it listened", (int)d->fail_code);
    case AC_FAIL_TIMEOUT:
        return apr_psprintf(p, "did not listen within %d s (startupTimeLimit)",
                            (int)d->fail_code);
    default:
        return NULL;
    }
}

static const char *exit_text(apr_pool_t *p, const ac_app_diag_t *d)
{
    return d->last_exit_status < 0
           ? apr_psprintf(p, "killed by signal %d", (int)-d->last_exit_status)
           : apr_psprintf(p, "exit code %d", (int)d->last_exit_status);
}

/* ---- JSON ------------------------------------------------------------- */

/* Times are unix seconds (UTC); 0 (never) is null. */
static void json_time(request_rec *r, const char *name, apr_time_t t)
{
    if (t > 0) {
        ap_rprintf(r, "\"%s\": %" APR_TIME_T_FMT, name, apr_time_sec(t));
    }
    else {
        ap_rprintf(r, "\"%s\": null", name);
    }
}

static void json_process(request_rec *r, apr_time_t now, const status_process_t *proc)
{
    static const char *const health_words[] = { NULL, "unknown", "healthy", "failing" };

    ap_rprintf(r, "{\"slot\": %d, \"state\": \"%s\", \"pid\": %ld, \"port\": %u, ",
               proc->slot, slot_state_word(proc->d.state), (long)proc->d.pid,
               (unsigned)proc->d.port);
    json_time(r, "started", proc->d.started);
    ap_rprintf(r, ", \"uptime\": %ld, \"served\": %" APR_UINT64_T_FMT ", \"in_flight\": %u",
               seconds_between(proc->d.started, now), (apr_uint64_t)proc->served,
               (unsigned)proc->inflight);
    ac_status_json_process_figures(r, &proc->d);
    /* AspNetCoreHealthCheck: null without one */
    if (proc->d.health > AC_HEALTH_NONE && proc->d.health <= AC_HEALTH_FAILING) {
        ap_rprintf(r, ", \"health\": {\"state\": \"%s\", \"failures\": %u}}",
                   health_words[proc->d.health], (unsigned)proc->d.health_failures);
    }
    else {
        ap_rputs(", \"health\": null}", r);
    }
}

static void json_app(request_rec *r, apr_time_t now, const status_app_t *a)
{
    const ac_app_diag_t *d = &a->d;
    apr_pool_t *p = r->pool;
    int i;

    ap_rprintf(r, "    {\"index\": %d, \"label\": %s, \"root\": %s, \"virtual_path\": %s, "
               "\"state\": \"%s\",\n", a->index, ac_json_string(p, d->label),
               ac_json_string(p, d->root), ac_json_string(p, d->vpath), a->state);
    ap_rprintf(r, "     \"processes_configured\": %u, \"processes\": [",
               (unsigned)d->processes);
    for (i = 0; i < a->nprocs; i++) {
        ap_rputs(i ? ",\n       " : "\n       ", r);
        json_process(r, now, &a->procs[i]);
    }
    ap_rprintf(r, "],\n     \"served\": %" APR_UINT64_T_FMT ", \"in_flight\": %u, "
               "\"restarts\": %u, \"health_replacements\": %u, \"recent_failures\": %u, "
               "\"rapid_fail_tripped\": %s, ",
               (apr_uint64_t)a->served, (unsigned)a->inflight, (unsigned)d->restarts,
               (unsigned)d->health_replacements,
               (unsigned)d->recent_fails, d->tripped ? "true" : "false");
    json_time(r, "rapid_fail_until", d->tripped ? d->tripped_until : 0);
    ap_rputs(",\n     ", r);
    ac_status_json_recycles(r, d);
    ap_rputs("\"last_exit\": ", r);
    if (d->last_exit_time > 0) {
        ap_rprintf(r, "{\"pid\": %ld, ", (long)d->last_exit_pid);
        if (d->last_exit_status < 0) {
            ap_rprintf(r, "\"exit_code\": null, \"signal\": %d, ", (int)-d->last_exit_status);
        }
        else {
            ap_rprintf(r, "\"exit_code\": %d, \"signal\": null, ", (int)d->last_exit_status);
        }
        json_time(r, "time", d->last_exit_time);
        ap_rputs("}", r);
    }
    else {
        ap_rputs("null", r);
    }
    ap_rputs(",\n     \"start_failure\": ", r);
    if (fail_reason_word(d->fail_kind)) {
        ap_rprintf(r, "{\"reason\": \"%s\", \"code\": %d, \"text\": %s, ",
                   fail_reason_word(d->fail_kind), (int)d->fail_code,
                   ac_json_string(p, fail_text(p, d)));
        json_time(r, "time", d->fail_time);
        ap_rputs("}", r);
    }
    else {
        ap_rputs("null", r);
    }
    ap_rputs(",\n     \"idle_stopped\": ", r);
    if (d->idle_stopped) {
        ap_rprintf(r, "{\"idle_timeout\": %u, ", (unsigned)d->idle_timeout);
        json_time(r, "since", d->idle_since);
        ap_rputs("}", r);
    }
    else {
        ap_rputs("null", r);
    }
    ap_rprintf(r, ",\n     \"last_error\": %s, ",
               ac_json_string(p, d->last_error[0] ? d->last_error : NULL));
    ap_rputs(a->predecessor >= 0 ? apr_psprintf(p, "\"replaces\": %d, ", a->predecessor)
                                 : "\"replaces\": null, ", r);
    ap_rputs(a->successor >= 0 ? apr_psprintf(p, "\"replaced_by\": %d}", a->successor)
                               : "\"replaced_by\": null}", r);
}

static void render_json(request_rec *r, const status_snapshot_t *snap)
{
    int i;

    ap_set_content_type(r, "application/json");
    ap_rputs("{\n  ", r);
    ap_rprintf(r, "\"version\": %s,\n  ", ac_json_string(r->pool, ac_module_version));
    json_time(r, "time", snap->now);
    if (snap->have_table) {
        ap_rprintf(r, ",\n  \"supervisor\": {\"pid\": %ld, \"starts\": %u},\n"
                   "  \"websockets\": {\"open\": %u, \"limit\": %u},\n  \"apps\": [",
                   snap->supervisor_pid, (unsigned)snap->supervisor_starts,
                   (unsigned)snap->tunnels, (unsigned)snap->tunnel_limit);
    }
    else {
        ap_rputs(",\n  \"supervisor\": null,\n  \"websockets\": null,\n  \"apps\": [", r);
    }
    for (i = 0; i < snap->napps; i++) {
        ap_rputs(i ? ",\n" : "\n", r);
        json_app(r, snap->now, &snap->apps[i]);
    }
    ap_rputs("\n  ]\n}\n", r);
}

/* ---- HTML ------------------------------------------------------------- */

static const char *utc_text(apr_pool_t *p, apr_time_t t)
{
    apr_time_exp_t tm;
    apr_size_t len;
    char buf[64];

    if (t <= 0 || apr_time_exp_gmt(&tm, t) != APR_SUCCESS
        || apr_strftime(buf, &len, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) != APR_SUCCESS) {
        return "?";
    }
    return apr_pstrdup(p, buf);
}

static const char *html(apr_pool_t *p, const char *s)
{
    return ap_escape_html(p, s);
}

/* One row of an app's table; `value` is HTML already. */
static void html_row(request_rec *r, const char *name, const char *value)
{
    ap_rprintf(r, "<tr><th>%s</th><td>%s</td></tr>\n", name, value);
}

static void html_processes(request_rec *r, apr_time_t now, const status_app_t *a)
{
    int i;

    if (!a->nprocs) {
        ap_rputs("<p>No process runs.</p>\n", r);
        return;
    }
    ap_rputs("<table class=\"procs\">\n<tr><th>slot</th><th>state</th><th>pid</th>"
             "<th>port</th><th>uptime (s)</th><th>served</th><th>in flight</th>", r);
    ap_rputs(ac_status_html_figures_head(), r);
    ap_rputs("<th>health</th></tr>\n", r);
    for (i = 0; i < a->nprocs; i++) {
        const status_process_t *proc = &a->procs[i];
        const char *health = health_text(r->pool, &proc->d);
        ap_rprintf(r, "<tr><td>%d</td><td>%s</td><td>%ld</td><td>%u</td><td>%ld</td>"
                   "<td>%" APR_UINT64_T_FMT "</td><td>%u</td>%s<td>%s</td></tr>\n",
                   proc->slot, slot_state_word(proc->d.state), (long)proc->d.pid,
                   (unsigned)proc->d.port, seconds_between(proc->d.started, now),
                   (apr_uint64_t)proc->served, (unsigned)proc->inflight,
                   ac_status_html_process_figures(r->pool, &proc->d), health ? health : "-");
    }
    ap_rputs("</table>\n", r);
}

static void html_app(request_rec *r, apr_time_t now, const status_app_t *a)
{
    const ac_app_diag_t *d = &a->d;
    apr_pool_t *p = r->pool;

    ap_rprintf(r, "<h2>%s <span class=\"%s\">%s</span></h2>\n<table>\n",
               html(p, d->label), a->state, a->state);
    html_row(r, "root", html(p, d->root));
    html_row(r, "virtual path", html(p, d->vpath));
    html_row(r, "processes", apr_psprintf(p, "%d of %u (%d ready, %d starting)", a->nprocs,
                                          (unsigned)d->processes, a->ready, a->starting));
    html_row(r, "requests", apr_psprintf(p, "%" APR_UINT64_T_FMT " served, %u in flight",
                                         (apr_uint64_t)a->served, (unsigned)a->inflight));
    html_row(r, "restarts", apr_psprintf(p, "%u", (unsigned)d->restarts));
    html_row(r, "health replacements", apr_psprintf(p, "%u", (unsigned)d->health_replacements));
    html_row(r, "recycles", ac_status_html_recycles(p, d));
    /* counted when a failure happens: the minute up to the latest one */
    html_row(r, "recent failures", d->tripped
             ? apr_psprintf(p, "%u within a minute: rapid-fail limit reached, no start "
                            "before %s", (unsigned)d->recent_fails,
                            utc_text(p, d->tripped_until))
             : apr_psprintf(p, "%u within a minute", (unsigned)d->recent_fails));
    if (d->last_exit_time > 0) {
        html_row(r, "last exit", apr_psprintf(p, "pid %ld, %s, at %s", (long)d->last_exit_pid,
                                              exit_text(p, d), utc_text(p, d->last_exit_time)));
    }
    if (fail_text(p, d)) {
        html_row(r, "last failed start", apr_psprintf(p, "%s, at %s", fail_text(p, d),
                                                      utc_text(p, d->fail_time)));
    }
    if (d->idle_stopped) {
        html_row(r, "idle", apr_psprintf(p, "stopped at %s after %u s without a request "
                                         "(AspNetCoreIdleTimeout); the next request starts it",
                                         utc_text(p, d->idle_since), (unsigned)d->idle_timeout));
    }
    if (d->last_error[0]) {
        html_row(r, "last error", html(p, d->last_error));
    }
    if (a->predecessor >= 0) {
        html_row(r, "replaces", apr_psprintf(p, "app #%d until this one is ready",
                                             a->predecessor));
    }
    if (a->successor >= 0) {
        html_row(r, "replaced by", apr_psprintf(p, "app #%d", a->successor));
    }
    ap_rputs("</table>\n", r);
    html_processes(r, now, a);
}

static void render_html(request_rec *r, const status_snapshot_t *snap)
{
    int i;

    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n"
             "<title>ASP.NET Core apps</title>\n<style>\n"
             "body { font-family: sans-serif; }\n"
             "table { border-collapse: collapse; margin-bottom: 1em; }\n"
             "th, td { text-align: left; padding: 2px 10px; border-bottom: 1px solid #ddd; }\n"
             ".running { color: #080; } .failed { color: #c00; }\n"
             ".offline, .draining, .starting, .stopped, .idle { color: #860; }\n"
             "</style></head><body>\n<h1>ASP.NET Core apps</h1>\n", r);
    ap_rprintf(r, "<p>mod_aspnetcore %s. At %s. ", html(r->pool, ac_module_version),
               utc_text(r->pool, snap->now));
    if (!snap->have_table) {
        ap_rputs("The module's shared state is not available in this process.</p>\n", r);
    }
    else {
        ap_rprintf(r, "Supervisor pid %ld, started %u time(s). WebSockets open: %u of %u.</p>\n",
                   snap->supervisor_pid, (unsigned)snap->supervisor_starts,
                   (unsigned)snap->tunnels, (unsigned)snap->tunnel_limit);
        if (!snap->napps) {
            ap_rputs("<p>No app is configured.</p>\n", r);
        }
    }
    for (i = 0; i < snap->napps; i++) {
        html_app(r, snap->now, &snap->apps[i]);
    }
    ap_rputs("</body></html>\n", r);
}

/* ---- the handler ------------------------------------------------------- */

/* `?json`, alone or among other arguments (`?json=1` too). */
static int wants_json(const char *args)
{
    while (args && *args) {
        apr_size_t len = strcspn(args, "&;");
        if ((len == 4 || (len > 4 && args[4] == '=')) && !strncmp(args, "json", 4)) {
            return 1;
        }
        args += len;
        if (*args) {
            args++;
        }
    }
    return 0;
}

static int names_status_handler(request_rec *r, ap_conf_vector_t *conf)
{
    core_dir_config *c = conf ? ap_get_core_module_config(conf) : NULL;
    const char *err = NULL, *v;

    if (!c || !c->expr_handler) {
        return 0;
    }
    v = ap_expr_str_exec(r, c->expr_handler, &err);
    return !err && v && !strcasecmp(v, AC_STATUS_HANDLER);
}

/* The page shows every app of every virtual host: only the server
 * configuration may enable it, with SetHandler. Not an .htaccess (whoever
 * may write one in a directory with AllowOverride FileInfo would see the
 * other sites' apps), nor AddHandler or a RewriteRule's H= (either may come
 * from an .htaccess). */
static const char *refused_status_page(request_rec *r)
{
    const struct htaccess_result *h;

    if (!names_status_handler(r, r->per_dir_config)) {
        return "it is enabled only by SetHandler, not AddHandler or a RewriteRule";
    }
    for (h = r->htaccess; h; h = h->next) {
        if (h->htaccess && names_status_handler(r, h->htaccess)) {
            return apr_pstrcat(r->pool, "it is enabled only in the server configuration, not "
                               "in an .htaccess file (", h->dir, ")", NULL);
        }
    }
    return NULL;
}

int ac_status_handler(request_rec *r)
{
    status_snapshot_t snap;
    const char *refused;

    if (!r->handler || strcmp(r->handler, AC_STATUS_HANDLER)) {
        return DECLINED;
    }
    if ((refused = refused_status_page(r))) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "the %s page is refused: %s",
                      AC_STATUS_HANDLER, refused);
        return HTTP_FORBIDDEN;
    }
    /* HEAD is a GET without the body; allowed_methods is what Allow lists */
    r->allowed = AP_METHOD_BIT << M_GET;
    ap_allow_methods(r, REPLACE_ALLOW, "GET", "HEAD", NULL);
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "X-Content-Type-Options", "nosniff");
    take_snapshot(r->pool, &snap);
    if (wants_json(r->args)) {
        render_json(r, &snap);
    }
    else {
        render_html(r, &snap);
    }
    return OK;
}

/* ---- mod_status -------------------------------------------------------- */

int ac_status_mod_status(request_rec *r, int flags)
{
    status_snapshot_t snap;
    int i, apps = 0, failed = 0, offline = 0, idle = 0, draining = 0, ready = 0, starting = 0;
    uint64_t served = 0, inflight = 0;

    take_snapshot(r->pool, &snap);
    if (!snap.have_table) {
        return OK;
    }
    for (i = 0; i < snap.napps; i++) {
        const status_app_t *a = &snap.apps[i];
        if (a->d.state == AC_APP_RETIRED) {
            draining++;
        }
        else {
            apps++;
            failed += !strcmp(a->state, "failed");
            offline += a->d.offline != 0;
            idle += !strcmp(a->state, "idle");
        }
        ready += a->ready;
        starting += a->starting;
        served += a->served;
        inflight += a->inflight;
    }
    if (flags & AP_STATUS_SHORT) {
        ap_rprintf(r, "AspNetCoreApps: %d\nAspNetCoreAppsFailed: %d\nAspNetCoreAppsOffline: %d\n"
                   "AspNetCoreAppsIdle: %d\n"
                   "AspNetCoreAppsDraining: %d\nAspNetCoreProcessesReady: %d\n"
                   "AspNetCoreProcessesStarting: %d\n"
                   "AspNetCoreRequestsInFlight: %" APR_UINT64_T_FMT "\n"
                   "AspNetCoreRequestsServed: %" APR_UINT64_T_FMT "\n"
                   "AspNetCoreWebSockets: %u\n",
                   apps, failed, offline, idle, draining, ready, starting,
                   (apr_uint64_t)inflight, (apr_uint64_t)served, (unsigned)snap.tunnels);
        return OK;
    }
    ap_rprintf(r, "<hr />\n<h2>ASP.NET Core apps (mod_aspnetcore)</h2>\n<dl>\n"
               "<dt>%d app(s): %d failed, %d offline, %d idle; %d old version(s) draining</dt>\n"
               "<dt>%d process(es) ready, %d starting</dt>\n"
               "<dt>%" APR_UINT64_T_FMT " request(s) in flight, %" APR_UINT64_T_FMT
               " served</dt>\n<dt>%u WebSocket(s) open</dt>\n</dl>\n",
               apps, failed, offline, idle, draining, ready, starting, (apr_uint64_t)inflight,
               (apr_uint64_t)served, (unsigned)snap.tunnels);
    return OK;
}
