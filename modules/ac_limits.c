/* ac_limits: the apps' cgroups, made and removed by the httpd parent. */
#include "ac_limits.h"
#include "ac_appstate.h"
#include "ac_config.h"
#include "ac_registry.h"
#include "ac_resolve.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <http_main.h>
#include <http_core.h>
#include <ap_mpm.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define STOP_WAIT_EXTRA apr_time_from_sec(3)

/* Found once per Apache (the hierarchy does not change under it) and kept
 * in the process pool's userdata: this module's statics start again at
 * each generation (httpd loads it again), and a detection at each one
 * would take the process pool, which no restart clears, a little further
 * every time. */
#define DETECTED_KEY "aspnetcore-cgroup-layout"
typedef struct {
    ac_cgroup_layout_t *layout;
    const char *unusable;
} detected_t;

static ac_cgroup_layout_t *layout;
static const char *unusable;     /* why none can be used */
static int enabled;              /* AspNetCoreCgroups of this generation */
static pid_t parent_pid;
static apr_interval_time_t stop_wait;   /* the longest shutdown limit of a limited app */

const ac_cgroup_layout_t *ac_limits_layout(void)
{
    return enabled ? layout : NULL;
}

int ac_limits_wanted(const ac_launch_t *l)
{
    return l->memory_limit_mib || l->cpu_limit_percent || l->max_tasks;
}

void ac_limits_of(const ac_launch_t *l, ac_cgroup_limits_t *lim)
{
    lim->memory_mib = l->memory_limit_mib;
    lim->cpu_percent = l->cpu_limit_percent;
    lim->tasks = l->max_tasks;
}

static void detect(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    detected_t *d = NULL;
    ac_cgroup_layout_t *lay;

    apr_pool_userdata_get((void **)&d, DETECTED_KEY, pp);
    if (d) {
        layout = d->layout;
        unusable = d->unusable;
        return;
    }
    d = apr_pcalloc(pp, sizeof(*d));
    apr_pool_userdata_set(d, DETECTED_KEY, apr_pool_cleanup_null, pp);
    if (geteuid() != 0) {
        unusable = d->unusable = "Apache does not run as root, and only root may make cgroups";
        return;
    }
    lay = apr_pcalloc(pp, sizeof(*lay));
    if (ac_cgroup_detect(pp, "/proc/self/mountinfo", "/proc/self/cgroup", lay, &unusable) == 0) {
        layout = d->layout = lay;
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "app limits: cgroup v%d (memory in %s)",
                     lay->version, lay->memory);
    }
    d->unusable = unusable;
}

/* The apps of this generation that ask for limits, each once. */
static apr_array_header_t *limited_apps(apr_pool_t *p)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_array_header_t *out = apr_array_make(p, 8, sizeof(const ac_launch_t *));
    int i;

    for (i = 0; apps && i < apps->nelts; i++) {
        const ac_resolved_t *res = APR_ARRAY_IDX(apps, i, ac_app_scope_t *)->resolved;
        if (res && !res->error && ac_limits_wanted(res->launch)) {
            APR_ARRAY_PUSH(out, const ac_launch_t *) = res->launch;
        }
    }
    return out;
}

/* An app whose cgroup could not be made gets none (no half-made one). */
static void drop_app(apr_pool_t *p, const char *id)
{
    ac_cgroup_limits_t all = { 1, 1, 1 };
    ac_cgroup_dirs_t d;
    ac_cgroup_app_dirs(p, layout, id, &all, &d);
    if (d.pids) {
        (void)rmdir(d.pids);
    }
    if (d.cpu) {
        (void)rmdir(d.cpu);
    }
    if (d.memory) {
        (void)rmdir(d.memory);
    }
}

/* Makes the cgroups of `apps`; returns the ids kept (NULL-terminated). */
static const char **make_all(apr_pool_t *p, server_rec *s, apr_array_header_t *apps)
{
    const char **keep = apr_pcalloc(p, sizeof(*keep) * (size_t)(apps->nelts + 1));
    int i, n = 0;

    for (i = 0; i < apps->nelts; i++) {
        const ac_launch_t *l = APR_ARRAY_IDX(apps, i, const ac_launch_t *);
        const char *id = ac_cgroup_app_id(p, l->app_root, l->site, l->virtual_path), *why;
        ac_cgroup_limits_t lim;
        ac_app_user_t u;

        ac_limits_of(l, &lim);
        /* cgroup.procs is the supervisor's (Apache's User): the new process
         * joins before it becomes the app's user, so the app cannot move
         * itself or others between cgroups */
        ac_appstate_user(NULL, &u);
        if (ac_cgroup_prepare(p, layout, id, &lim, u.uid, u.gid, &why) < 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "[%s] cannot make the app's cgroup: %s: "
                         "%s", ac_launch_label(p, l), why, l->memory_limit_mib
                         ? "AspNetCoreMemoryLimit falls back to recycling a process at that "
                           "size; CPU and process limits are not enforced"
                         : "its CPU and process limits are not enforced");
            drop_app(p, id);
            continue;
        }
        keep[n++] = id;
        if (apr_time_from_sec(l->shutdown_time_limit) > stop_wait) {
            stop_wait = apr_time_from_sec(l->shutdown_time_limit);
        }
    }
    return keep;
}

void ac_limits_supervisor_started(server_rec *s, pid_t pid)
{
    apr_pool_t *p;
    const char *why;

    if (!enabled || !layout || layout->version != 2
        || apr_pool_create(&p, s->process->pool) != APR_SUCCESS) {
        return;
    }
    if (ac_cgroup_adopt_supervisor(p, layout, pid, &why) < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "app limits: cannot move the supervisor into "
                     "its cgroup (%s): the apps' processes cannot join their cgroups", why);
    }
    apr_pool_destroy(p);
}

/* Apache stops: once the supervisor is gone (and with it every app's
 * process), the cgroups go too. */
static apr_status_t remove_at_stop(void *data)
{
    (void)data;
    if (getpid() != parent_pid || ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING
        || !layout) {
        return APR_SUCCESS;
    }
    ac_registry_wait_supervisor(stop_wait + STOP_WAIT_EXTRA);
    if (ac_cgroup_sweep(layout, NULL) > 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, NULL, "app limits: some cgroups under %s "
                     "still hold processes and were left", layout->memory);
    }
    return APR_SUCCESS;
}

void ac_limits_prepare(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    ac_server_conf_t *sconf = ap_get_module_config(s->module_config, &aspnetcore_module);
    apr_array_header_t *apps = limited_apps(ptemp);
    const char **keep = NULL;

    enabled = sconf->cgroups != 0;
    parent_pid = getpid();
    stop_wait = 0;
    if (enabled) {
        detect(s);
    }
    if (apps->nelts && (!enabled || !layout)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "app limits: %s: AspNetCoreMemoryLimit "
                     "is enforced by recycling a process past that size; AspNetCoreCpuLimit "
                     "and AspNetCoreMaxProcesses are not enforced", !enabled
                     ? "AspNetCoreCgroups Off" : apr_pstrcat(ptemp, "no cgroup can be used (",
                                                             unusable, ")", NULL));
    }
    if (layout && enabled) {
        keep = make_all(ptemp, s, apps);
        if (*keep && ac_registry_supervisor_pid()) {
            /* one that ran before any app had limits */
            ac_limits_supervisor_started(s, ac_registry_supervisor_pid());
        }
    }
    if (layout) {
        /* apps no longer configured (all of them with AspNetCoreCgroups Off) */
        (void)ac_cgroup_sweep(layout, keep && *keep ? keep : NULL);
        /* also for what a busy cgroup of an earlier generation left */
        if ((keep && *keep) || access(layout->memory, F_OK) == 0) {
            apr_pool_cleanup_register(pconf, NULL, remove_at_stop, apr_pool_cleanup_null);
        }
    }
}
