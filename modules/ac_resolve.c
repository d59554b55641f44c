/* ac_resolve: defaults, web.config import, virtual path and key of an app. */
#include "ac_resolve.h"
#include "ac_appstate.h"
#include "ac_identity_conf.h"
#include "ac_channel.h"
#include "ac_httpsport.h"
#include "ac_parse.h"
#include "ac_safefile.h"
#include "ac_shared.h"
#include "ac_stdoutlog.h"
#include "ac_webconfig.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_core.h>
#include <http_log.h>
#include <http_request.h>
#include <unixd.h>
#include <apr_hash.h>
#include <apr_strings.h>
#include <apr_thread_mutex.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define RECHECK_INTERVAL apr_time_from_sec(1)

extern char **environ;

static const char *document_root(server_rec *s)
{
    core_server_config *core = ap_get_core_module_config(s->module_config);
    return core ? core->ap_document_root : NULL;
}

static const char *strip_trailing_slashes(apr_pool_t *p, const char *path)
{
    apr_size_t n = strlen(path);
    if (n <= 1 || path[n - 1] != '/') {
        return path;
    }
    while (n > 1 && path[n - 1] == '/') {
        n--;
    }
    return apr_pstrmemdup(p, path, n);
}

void ac_resolve_stamp(apr_pool_t *p, const char *path, ac_file_stamp_t *st)
{
    apr_finfo_t fi;
    memset(st, 0, sizeof(*st));
    if (apr_stat(&fi, path, APR_FINFO_MTIME | APR_FINFO_SIZE | APR_FINFO_INODE, p)
        == APR_SUCCESS) {
        st->exists = 1;
        st->mtime = fi.mtime;
        st->size = fi.size;
        st->inode = fi.inode;
    }
}

int ac_resolve_same_stamp(const ac_file_stamp_t *a, const ac_file_stamp_t *b)
{
    return a->exists == b->exists && a->mtime == b->mtime && a->size == b->size
           && a->inode == b->inode;
}

/* The web.config of a scope, or NULL when it imports none. */
static const char *web_config_path(apr_pool_t *p, const ac_dir_conf_t *eff, const char *root)
{
    if (!eff->web_config) {
        return NULL;
    }
    return *eff->web_config ? eff->web_config : apr_pstrcat(p, root, "/web.config", NULL);
}

static const char *copy_or_null(apr_pool_t *p, const char *s)
{
    return s ? apr_pstrdup(p, s) : NULL;
}

/* Which scope declares the app: new settings in the same scope replace it.
 * Host-level scopes are told apart by name, port and a virtual host's
 * addresses (the http and the https host of one name are two sites), not
 * by line numbers, so that an unrelated edit of the file does not restart
 * the app. */
static const char *scope_site(apr_pool_t *p, const ac_app_scope_t *scope)
{
    server_rec *s = scope->server;
    const char *host = apr_psprintf(p, "%s:%u", s && s->server_hostname ? s->server_hostname : "",
                                    s ? (unsigned)s->port : 0);
    const server_addr_rec *a;

    for (a = s && s->is_virtual ? s->addrs : NULL; a; a = a->next) {
        host = apr_psprintf(p, "%s %s:%u", host, a->virthost ? a->virthost : "",
                            (unsigned)a->host_port);
    }
    switch (scope->kind) {
    case AC_SCOPE_HOST:
        return apr_pstrcat(p, host, " host", NULL);
    case AC_SCOPE_LOCATION:
        return apr_pstrcat(p, host, " location ", scope->path, NULL);
    default:
        return apr_pstrcat(p, "directory ", scope->path, NULL);
    }
}

/* Directive values win; then web.config's; then ANCM's defaults. */
#define PICK_INT(dir, wcv, dflt) ((dir) != AC_UNSET ? (dir) : (wc && (wcv) >= 0) ? (wcv) : (dflt))

static apr_array_header_t *pairs_then(apr_pool_t *p, const apr_array_header_t *first,
                                      const apr_array_header_t *then)
{
    apr_array_header_t *all = apr_array_make(p, 8, sizeof(ac_env_entry_t));
    const apr_array_header_t *lists[2] = { first, then };
    int l, i;
    for (l = 0; l < 2; l++) {
        for (i = 0; lists[l] && i < lists[l]->nelts; i++) {
            const ac_env_entry_t *e = &APR_ARRAY_IDX(lists[l], i, ac_env_entry_t);
            ac_env_entry_t *c = apr_array_push(all);
            c->name = apr_pstrdup(p, e->name);
            c->value = apr_pstrdup(p, e->value);
        }
    }
    return all;
}

/* A web.config that sets what the module sets itself: the app cannot run
 * as configured (500, logged), as with ANCM. */
static const char *reserved_in_web_config(apr_pool_t *p, const ac_webconfig_t *wc,
                                          const char *wc_path)
{
    int i;
    for (i = 0; wc && wc->env && i < wc->env->nelts; i++) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(wc->env, i, ac_env_entry_t);
        const char *name = ac_config_reserved_env(e->name);
        if (name) {
            return apr_psprintf(p, "%s: environmentVariable %s is set by the module for every "
                                "process and cannot be configured", wc_path, name);
        }
    }
    return NULL;
}

/* AspNetCoreHealthCheck, with the Host its probes carry: the declaring
 * server's name (what AllowedHosts lets in), else localhost. */
static ac_health_conf_t health_for(apr_pool_t *p, const ac_dir_conf_t *eff,
                                   const ac_app_scope_t *scope)
{
    ac_health_conf_t h = { NULL, NULL, 0, 0, 0 };
    const char *name = scope->server ? scope->server->server_hostname : NULL;

    if (eff->health && eff->health->path) {
        h = *eff->health;
        h.path = apr_pstrdup(p, h.path);
        h.host = apr_pstrdup(p, ac_health_host_valid(name) ? name : "localhost");
    }
    return h;
}

static const char *resolve_with(apr_pool_t *p, const ac_dir_conf_t *eff,
                                const ac_app_scope_t *scope, const char *root,
                                const char *vpath, const char *wc_path,
                                const ac_webconfig_t *wc, const char *wc_error,
                                ac_resolved_t **out)
{
    ac_resolved_t *res = apr_pcalloc(p, sizeof(*res));
    ac_launch_t *l = apr_pcalloc(p, sizeof(*l));
    apr_interval_time_t timeout;
    const char *err;

    res->index = AC_APP_NO_INDEX;
    res->web_config = copy_or_null(p, wc_path);
    res->launch = l;
    l->app_root = apr_pstrdup(p, root);
    l->virtual_path = apr_pstrdup(p, vpath);
    l->site = scope_site(p, scope);
    l->web_config = res->web_config;
    err = ac_identity_conf_resolve(p, eff, scope, l);
    l->state_dir = eff->state_dir ? apr_pstrdup(p, eff->state_dir)
                                  : ac_appstate_default_dir(p, l);
    *out = res;
    if (wc_error || err) {
        res->error = apr_pstrdup(p, wc_error ? wc_error : err);
        res->label = ac_launch_label(p, l);
        return NULL;
    }
    l->process_path = copy_or_null(p, eff->process_path ? eff->process_path
                                      : wc ? wc->process_path : NULL);
    if (!l->process_path) {
        if (wc_path) {
            res->error = apr_psprintf(p, "%s: no processPath, and no AspNetCoreProcessPath in "
                                      "the Apache configuration", wc_path);
            res->label = ac_launch_label(p, l);
            return NULL;
        }
        return apr_psprintf(p, "the app declared at %s has no AspNetCoreProcessPath: say "
                            "which program runs it (e.g. AspNetCoreProcessPath dotnet), or "
                            "import a web.config (AspNetCoreWebConfig)", scope->defined_at);
    }
    if ((err = reserved_in_web_config(p, wc, wc_path))) {
        res->error = err;
        res->label = ac_launch_label(p, l);
        return NULL;
    }
    l->arguments = apr_pstrdup(p, eff->arguments ? eff->arguments
                                  : (wc && wc->arguments) ? wc->arguments : "");
    /* web.config variables first, so that the directives' win */
    l->env = pairs_then(p, wc ? wc->env : NULL, eff->env);
    l->handler_settings = pairs_then(p, wc ? wc->handler_settings : NULL,
                                     eff->handler_settings);
    l->stdout_log_enabled = PICK_INT(eff->stdout_log_enabled,
                                     wc ? wc->stdout_log_enabled : -1, 0);
    l->stdout_log_file = apr_pstrdup(p, eff->stdout_log_file ? eff->stdout_log_file
                                        : (wc && wc->stdout_log_file) ? wc->stdout_log_file
                                        : AC_DEFAULT_STDOUT_LOG_FILE);
    l->stdout_log_max_kib = eff->stdout_log_max_kib != AC_UNSET ? eff->stdout_log_max_kib
                                                                 : (int)AC_STDOUTLOG_DEFAULT_MAX_KIB;
    l->stdout_log_keep = eff->stdout_log_keep != AC_UNSET ? eff->stdout_log_keep
                                                          : (int)AC_STDOUTLOG_DEFAULT_KEEP;
    l->startup_time_limit = PICK_INT(eff->startup_time_limit,
                                     wc ? wc->startup_time_limit : -1,
                                     AC_DEFAULT_STARTUP_TIME_LIMIT);
    l->shutdown_time_limit = PICK_INT(eff->shutdown_time_limit,
                                      wc ? wc->shutdown_time_limit : -1,
                                      AC_DEFAULT_SHUTDOWN_TIME_LIMIT);
    l->rapid_fails_per_minute = PICK_INT(eff->rapid_fails_per_minute,
                                         wc ? wc->rapid_fails_per_minute : -1,
                                         AC_DEFAULT_RAPID_FAILS);
    l->processes = PICK_INT(eff->processes, wc ? wc->processes_per_application : -1, 1);
    l->websockets = 1;      /* ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED=true: we tunnel them */
    l->https_port = ac_httpsport_for(eff, scope);
    l->idle_timeout = eff->idle_timeout != AC_UNSET ? eff->idle_timeout : 0;
    l->memory_limit_mib = eff->memory_limit > 0 ? eff->memory_limit : 0;
    l->cpu_limit_percent = eff->cpu_limit > 0 ? eff->cpu_limit : 0;
    l->max_tasks = eff->max_tasks > 0 ? eff->max_tasks : 0;
    l->health = health_for(p, eff, scope);
    if (eff->recycle) {
        l->recycle = *eff->recycle;
    }
    l->ondemand = eff->start_mode != AC_UNSET ? eff->start_mode == AC_START_ONDEMAND
                                              : scope->kind == AC_SCOPE_HTACCESS;

    timeout = eff->request_timeout != AC_UNSET ? eff->request_timeout
              : (wc && wc->request_timeout >= 0) ? wc->request_timeout
              : AC_DEFAULT_REQUEST_TIMEOUT;
    res->request_timeout = timeout;
    res->startup_wait = apr_time_from_sec(l->startup_time_limit);
    res->disable_startup_error_page = PICK_INT(eff->disable_startup_error_page,
                                               wc ? wc->disable_startup_error_page : -1, 0);
    res->max_queued = eff->max_queued != AC_UNSET ? eff->max_queued : AC_DEFAULT_MAX_QUEUED;
    res->inprocess = PICK_INT(eff->hosting_inprocess, wc ? wc->hosting_inprocess : -1, 0);
    ac_launch_key(l, p, res->key);
    res->label = ac_launch_label(p, l);
    res->error = ac_identity_conf_check(p, eff, scope, l);
    return NULL;
}

static const char *app_root_of(apr_pool_t *p, const ac_dir_conf_t *eff,
                               const ac_app_scope_t *scope, const char **root)
{
    if (eff->app_root) {
        *root = eff->app_root;
        return NULL;
    }
    switch (scope->kind) {
    case AC_SCOPE_HOST:
        *root = document_root(scope->server);
        if (!*root) {
            return apr_psprintf(p, "the app declared at %s has neither AspNetCoreAppRoot nor a "
                                "DocumentRoot", scope->defined_at);
        }
        *root = strip_trailing_slashes(p, *root);
        return NULL;
    case AC_SCOPE_DIRECTORY:
    case AC_SCOPE_HTACCESS:
        *root = strip_trailing_slashes(p, scope->path);
        return NULL;
    default:
        return apr_psprintf(p, "the app in <Location %s> declared at %s needs AspNetCoreAppRoot "
                            "(its directory)", scope->path, scope->defined_at);
    }
}

/* The httpd parent reads web.config files as root, from directories the
 * app's user may write: it reads them as Apache's User would (that user's
 * filesystem identity, so a link leads only where the User could go, and a
 * file the User may read by its mode bits), never blocking on a FIFO.
 * Children run as the User already. */
static const char *load_web_config(apr_pool_t *p, const char *path, ac_webconfig_t **wc)
{
    ac_safefile_rules_t rules;
    apr_pool_t *scratch;
    const char *why, *err;
    char *buf;
    apr_size_t len;

    if (geteuid() != 0) {
        return ac_webconfig_load(p, path, ac_env_lookup_envp, environ, wc);
    }
    if (apr_pool_create(&scratch, p) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: cannot allocate", path);
    }
    memset(&rules, 0, sizeof(rules));
    rules.check_readable = 1;
    rules.reader_uid = ap_unixd_config.user_id;
    rules.reader_gid = ap_unixd_config.group_id;
    why = ac_safefile_read_as(scratch, path, ap_unixd_config.user_id, ap_unixd_config.group_id,
                              &rules, AC_WEBCONFIG_MAX_BYTES, &buf, &len);
    if (why && !strcmp(why, "too big")) {
        err = apr_psprintf(p, "%s: more than the %d bytes a web.config may have", path,
                           AC_WEBCONFIG_MAX_BYTES);
    }
    else if (why) {
        err = apr_psprintf(p, "%s: cannot read: %s", path, why);
    }
    else {
        err = ac_webconfig_parse(p, path, buf, len, ac_env_lookup_envp, environ, wc);
    }
    apr_pool_destroy(scratch);
    return err;
}

const char *ac_resolve(apr_pool_t *p, const ac_dir_conf_t *eff, const ac_app_scope_t *scope,
                       const char *vpath, ac_resolved_t **out)
{
    const char *root, *err, *wc_path, *wc_error = NULL;
    ac_webconfig_t *wc = NULL;
    ac_file_stamp_t stamp;

    if ((err = app_root_of(p, eff, scope, &root))) {
        return err;
    }
    if (!vpath) {
        return "the virtual path of the app is not known";
    }
    wc_path = web_config_path(p, eff, root);
    if (wc_path) {
        ac_resolve_stamp(p, wc_path, &stamp);
        wc_error = load_web_config(p, wc_path, &wc);
    }
    err = resolve_with(p, eff, scope, root, vpath, wc_path, wc, wc_error, out);
    if (!err && wc_path) {
        (*out)->stamp = stamp;
    }
    return err;
}

const char *ac_resolve_virtual_path(request_rec *r, const char *dir)
{
    apr_size_t dlen, ulen, tlen;
    const char *rest, *tail;
    char *v;

    dir = strip_trailing_slashes(r->pool, dir);
    dlen = strlen(dir);
    if (!r->filename || strncmp(r->filename, dir, dlen)
        || (r->filename[dlen] && r->filename[dlen] != '/')) {
        return NULL;
    }
    rest = r->filename + dlen;
    tail = r->path_info && *r->path_info ? apr_pstrcat(r->pool, rest, r->path_info, NULL) : rest;
    ulen = strlen(r->uri);
    tlen = strlen(tail);
    if (tlen > ulen || strcmp(r->uri + ulen - tlen, tail)) {
        return NULL;
    }
    v = apr_pstrmemdup(r->pool, r->uri, ulen - tlen);
    return *v ? strip_trailing_slashes(r->pool, v) : "/";
}

/* The URL path of a <Directory> inside its host's DocumentRoot, or NULL
 * (then only a request can tell). */
const char *ac_resolve_directory_vpath(apr_pool_t *p, const ac_app_scope_t *scope)
{
    core_server_config *core = ap_get_core_module_config(scope->server->module_config);
    const char *root = core ? core->ap_document_root : NULL;
    apr_size_t n;

    if (!root) {
        return NULL;
    }
    n = strlen(root);
    while (n > 1 && root[n - 1] == '/') {
        n--;
    }
    if (strncmp(scope->path, root, n) || (scope->path[n] && scope->path[n] != '/')) {
        return NULL;
    }
    {
        char *v = apr_pstrdup(p, scope->path + n);
        apr_size_t vl = strlen(v);
        while (vl > 0 && v[vl - 1] == '/') {
            v[--vl] = '\0';
        }
        return *v ? v : "/";
    }
}

/* ---- per-child state: scopes re-resolved after their web.config changed */

/* A resolution that requests may still hold when a newer one replaces it:
 * freed when the last of them is done. */
typedef struct {
    apr_pool_t *pool;
    ac_resolved_t *resolved;
    int refs;
    int retired;
} held_t;

typedef struct {
    ac_file_stamp_t stamp;
    apr_time_t checked;
    held_t *current;             /* NULL: the startup resolution is current */
} rescan_t;

static struct {
    apr_pool_t *pool;
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;
#endif
    apr_hash_t *scopes;          /* scope pointer -> rescan_t */
} cache;

apr_status_t ac_resolve_child_init(apr_pool_t *pchild)
{
    apr_status_t rv = apr_pool_create(&cache.pool, pchild);
    if (rv != APR_SUCCESS) {
        return rv;
    }
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&cache.mutex, APR_THREAD_MUTEX_DEFAULT, pchild);
#endif
    cache.scopes = apr_hash_make(cache.pool);
    return rv;
}

static void lock(void)
{
#if APR_HAS_THREADS
    if (cache.mutex) {
        apr_thread_mutex_lock(cache.mutex);
    }
#endif
}

static void unlock(void)
{
#if APR_HAS_THREADS
    if (cache.mutex) {
        apr_thread_mutex_unlock(cache.mutex);
    }
#endif
}

static void release_locked(held_t *h)
{
    if (--h->refs == 0 && h->retired) {
        apr_pool_destroy(h->pool);
    }
}

static apr_status_t release_held(void *data)
{
    lock();
    release_locked(data);
    unlock();
    return APR_SUCCESS;
}

/* Hands `h` to the request (lock held). */
static ac_resolved_t *hold_for(request_rec *r, held_t *h)
{
    h->refs++;
    apr_pool_cleanup_register(r->pool, h, release_held, apr_pool_cleanup_null);
    return h->resolved;
}

const ac_dir_conf_t *ac_resolve_scope_conf(apr_pool_t *p, const ac_app_scope_t *scope)
{
    ac_dir_conf_t *host = ap_get_module_config(scope->server->lookup_defaults,
                                               &aspnetcore_module);
    return scope->kind == AC_SCOPE_HOST ? host : ac_dir_conf_merge(p, host, scope->conf);
}

static const char *scope_virtual_path(request_rec *r, const ac_app_scope_t *scope)
{
    switch (scope->kind) {
    case AC_SCOPE_HOST:
        return "/";
    case AC_SCOPE_LOCATION:
        return strip_trailing_slashes(r->pool, scope->path);
    default:
        return ac_resolve_virtual_path(r, scope->path);
    }
}

/* A scope of the main configuration that imports a web.config: the
 * startup resolution while the file is unchanged (looked at once a second),
 * else a new one, kept until the file changes again. */
static ac_resolved_t *recheck_static(request_rec *r, ac_app_scope_t *scope, int fresh,
                                     const char **why)
{
    apr_time_t now = apr_time_now();
    ac_file_stamp_t stamp;
    ac_resolved_t *res;
    apr_pool_t *p;
    held_t *h;
    rescan_t *rs;
    const char *err;

    if (!cache.pool) {
        return scope->resolved;
    }
    lock();
    rs = apr_hash_get(cache.scopes, &scope, sizeof(scope));
    if (!rs) {
        rs = apr_pcalloc(cache.pool, sizeof(*rs));
        rs->stamp = scope->resolved->stamp;
        apr_hash_set(cache.scopes, apr_pmemdup(cache.pool, &scope, sizeof(scope)),
                     sizeof(scope), rs);
    }
    if (fresh || now - rs->checked >= RECHECK_INTERVAL) {
        rs->checked = now;
        ac_resolve_stamp(r->pool, scope->resolved->web_config, &stamp);
        if (!ac_resolve_same_stamp(&stamp, &rs->stamp)) {
            if (apr_pool_create(&p, cache.pool) != APR_SUCCESS) {
                unlock();
                *why = "out of memory";
                return NULL;
            }
            /* the scope's own settings, as at startup: not this request's
             * merged ones (a nested section's would make it another app,
             * and hand its settings to every request of the scope) */
            err = ac_resolve(p, ac_resolve_scope_conf(p, scope), scope,
                             scope_virtual_path(r, scope), &res);
            if (err) {
                apr_pool_destroy(p);
                unlock();
                *why = apr_pstrdup(r->pool, err);
                return NULL;
            }
            ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "[%s] %s changed: %s", res->label,
                          res->web_config, res->error ? res->error : "settings reloaded");
            h = apr_pcalloc(p, sizeof(*h));
            h->pool = p;
            h->resolved = res;
            if (rs->current) {
                rs->current->retired = 1;   /* freed by its last request */
                if (!rs->current->refs) {
                    apr_pool_destroy(rs->current->pool);
                }
            }
            rs->current = h;
            rs->stamp = stamp;
        }
    }
    res = rs->current ? hold_for(r, rs->current) : scope->resolved;
    unlock();
    return res;
}

static int has_control_char(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

ac_resolved_t *ac_resolve_request(request_rec *r, const ac_dir_conf_t *d, int fresh,
                                  const char **why)
{
    ac_app_scope_t *scope = d->app;
    ac_resolved_t *res;
    const char *vpath, *err;

    *why = NULL;
    if (scope->resolved && !scope->resolved->web_config) {
        return scope->resolved;        /* the common case: nothing can have changed */
    }
    if (scope->resolved) {
        return recheck_static(r, scope, fresh, why);
    }
    /* .htaccess, or a <Directory> outside the DocumentRoot: resolved per
     * request. The virtual path comes from the configuration where it can
     * (the directory's place under the DocumentRoot), whatever URL reached
     * the directory (a regex Alias or a RewriteRule would let the client
     * choose it, and make a new app of each choice); only a directory
     * outside the DocumentRoot takes it from the request's URL. */
    vpath = ac_resolve_directory_vpath(r->pool, scope);
    if (!vpath) {
        vpath = scope_virtual_path(r, scope);
    }
    if (vpath && has_control_char(vpath)) {
        *why = apr_psprintf(r->pool, "the URL path that maps to %s has control characters "
                            "(the app declared at %s)", scope->path, scope->defined_at);
        return NULL;
    }
    if (!vpath) {
        *why = apr_psprintf(r->pool, "cannot tell which URL path maps to %s (the app declared "
                            "at %s)", scope->path, scope->defined_at);
        return NULL;
    }
    err = ac_resolve(r->pool, d, scope, vpath, &res);
    if (err) {
        *why = err;
        return NULL;
    }
    return res;
}
