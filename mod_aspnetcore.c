/* mod_aspnetcore: runs ASP.NET Core apps behind Apache httpd, the way the
 * ASP.NET Core Module does for IIS (out of process).
 *
 * Glue only: the module record, the directive table and the hooks. The
 * parts live under modules/ (see docs/architecture.md).
 */
#include <httpd.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <http_request.h>
#include <mpm_common.h>
#include <apr_strings.h>
#include <mod_status.h>

#include "mod_aspnetcore.h"
#include "ac_appstate.h"
#include "ac_limits.h"
#include "ac_config.h"
#include "ac_httpsport.h"
#include "ac_proxy.h"
#include "ac_registry.h"
#include "ac_resolve.h"
#include "ac_status.h"
#include "ac_version.h"


static int ac_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    ac_config_reset(pconf);
    return OK;
}

static int ac_check_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                           server_rec *s)
{
    (void)plog;
    ac_config_scan_sections(ap_conftree);
    ac_appstate_configure(pconf, s);
    return ac_registry_resolve(pconf, ptemp, s);
}

/* The version in the error log once, at the first generation (the process
 * pool outlives the restarts; this module's statics do not). */
static void log_version_once(server_rec *s)
{
    void *said = NULL;
    apr_pool_userdata_get(&said, "aspnetcore-version-logged", s->process->pool);
    if (!said) {
        apr_pool_userdata_set((void *)1, "aspnetcore-version-logged", apr_pool_cleanup_null,
                              s->process->pool);
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "mod_aspnetcore/%s configured",
                     ac_module_version);
    }
}

static int ac_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                          server_rec *s)
{
    (void)plog;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG) {
        log_version_once(s);
        /* after open_logs (the listeners' protocols) and mod_ssl's post_config,
         * before the apps go to the supervisor */
        ac_httpsport_derive(ptemp, s);
        /* before the supervisor gets the apps: it starts some at once */
        ac_appstate_prepare(ptemp, s);
        /* the apps' cgroups, before their first process starts */
        ac_limits_prepare(pconf, ptemp, s);
    }
    return ac_registry_post_config(pconf, ptemp, s);
}

static int ac_monitor(apr_pool_t *p, server_rec *s)
{
    return ac_registry_monitor(p, s);
}

static void ac_child_init(apr_pool_t *pchild, server_rec *s)
{
    ac_registry_child_init(pchild, s);
    ac_proxy_child_init(pchild, s);
    if (ac_resolve_child_init(pchild) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "cannot set up the web.config cache");
    }
}

/* A request for an app declared at server, <VirtualHost> or <Location> level
 * names no file: like mod_proxy's, it skips the core's filesystem walk (a
 * stat per path segment, an .htaccess open per directory where AllowOverride
 * allows them). The <Location> walk done here is the one the core runs next
 * anyway (it finds its result cached). */
static int ac_map_to_storage(request_rec *r)
{
    ac_dir_conf_t *d;

    if (r->proxyreq || !r->uri || r->uri[0] != '/' || ap_location_walk(r) != OK) {
        return DECLINED;
    }
    d = ap_get_module_config(r->per_dir_config, &aspnetcore_module);
    if (!ac_config_maps_without_walk(d)) {
        return DECLINED;
    }
    r->filename = apr_pstrcat(r->pool, "aspnetcore:", r->uri, NULL);
    return OK;
}

/* A request in a scope that runs an app goes to the app, unless that scope
 * says AspNetCore Off. Decided here, before mod_dir and friends look at it.
 * Launch settings without a program (AspNetCoreProcessPath, or a web.config
 * to take it from) are only defaults: no app runs there. */
static int ac_fixups(request_rec *r)
{
    ac_dir_conf_t *d = ap_get_module_config(r->per_dir_config, &aspnetcore_module);
    if (r->handler && !strcmp(r->handler, AC_STATUS_HANDLER)) {
        return DECLINED;    /* SetHandler aspnetcore-status wins, also inside an app */
    }
    if (d && d->app && d->enabled != 0 && (d->process_path || d->web_config)) {
        r->handler = AC_HANDLER;
    }
    return DECLINED;
}

static int ac_handler(request_rec *r)
{
    ac_dir_conf_t *d;

    if (!r->handler || strcmp(r->handler, AC_HANDLER)) {
        return DECLINED;
    }
    d = ap_get_module_config(r->per_dir_config, &aspnetcore_module);
    if (!d || !d->app || !(d->process_path || d->web_config)) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "SetHandler aspnetcore in a scope without an app (no AspNetCoreProcessPath)");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return ac_proxy_handle(r, d);
}

static void ac_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(ac_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(ac_check_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(ac_post_config, NULL, NULL, APR_HOOK_LAST);
    ap_hook_child_init(ac_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_monitor(ac_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    /* after mod_http's TRACE handling (MIDDLE), before the core's walk (REALLY_LAST) */
    ap_hook_map_to_storage(ac_map_to_storage, NULL, NULL, APR_HOOK_LAST);
    ap_hook_fixups(ac_fixups, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_handler(ac_handler, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_handler(ac_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    APR_OPTIONAL_HOOK(ap, status_hook, ac_status_mod_status, NULL, NULL, APR_HOOK_MIDDLE);
}

AP_DECLARE_MODULE(aspnetcore) = {
    STANDARD20_MODULE_STUFF,
    ac_dir_conf_create,
    ac_dir_conf_merge,
    ac_server_conf_create,
    NULL,
    ac_directives,
    ac_register_hooks,
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    AP_MODULE_FLAG_NONE
#endif
};
