/* ac_sup_limits: the supervisor's side of the apps' cgroup limits.
 *
 * A new process joins its app's cgroups (made by the httpd parent,
 * ac_limits.c) itself, before execve (ac_spawn.c): nothing of the app runs
 * outside its limits. A process the OOM killer of its cgroup killed is said
 * to be that, not a plain crash (the restart policy is the same). An app
 * with a memory limit but no cgroup (none can be used, AspNetCoreCgroups
 * Off, or an app known only from a request) has a process whose resident
 * memory passes the limit recycled instead.
 */
#include "ac_sup_private.h"
#include "ac_cgroup.h"
#include "ac_limits.h"
#include "ac_procstat.h"

#include <signal.h>
#include <unistd.h>
#include <sys/wait.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define MEMORY_CHECK_INTERVAL apr_time_from_sec(1)
/* how long after an OOM kill a process of ours may still be unreaped */
#define OOM_REAP_GRACE apr_time_from_sec(2)

/* The missing directory of `dirs`, or NULL when every one can be joined. */
static const char *unusable_dir(apr_pool_t *p, const ac_cgroup_dirs_t *d)
{
    const char *dirs[3] = { d->memory, d->cpu, d->pids };
    int i;
    for (i = 0; i < 3; i++) {
        if (dirs[i] && access(apr_pstrcat(p, dirs[i], "/cgroup.procs", NULL), W_OK) < 0) {
            return dirs[i];
        }
    }
    return NULL;
}

static void no_cgroup(int ai, const char *why)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];

    a->no_cgroup = 1;
    a->cgroup_memory = NULL;
    if (!a->no_cgroup_said) {
        a->no_cgroup_said = 1;
        ac_sup_app_log(ai, APLOG_WARNING, 0, "no cgroup for this app (%s): %s", why,
                       a->launch->memory_limit_mib
                       ? "AspNetCoreMemoryLimit is enforced by recycling a process past that "
                         "size; CPU and process limits are not enforced"
                       : "its CPU and process limits are not enforced");
    }
}

const char *const *ac_sup_limits_cgroups(int ai, apr_pool_t *p)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    const ac_cgroup_layout_t *lay = ac_limits_layout();
    const char **list, *missing;
    ac_cgroup_limits_t lim;
    ac_cgroup_dirs_t d;
    int n = 0;

    if (!ac_limits_wanted(a->launch)) {
        return NULL;
    }
    if (!lay) {
        /* the parent said why at start-up */
        a->no_cgroup = 1;
        a->no_cgroup_said = 1;
        return NULL;
    }
    ac_limits_of(a->launch, &lim);
    ac_cgroup_app_dirs(p, lay, ac_cgroup_app_id(p, a->launch->app_root, a->launch->site,
                                                a->launch->virtual_path), &lim, &d);
    if ((missing = unusable_dir(p, &d))) {
        no_cgroup(ai, a->dynamic ? "apps declared in .htaccess get none"
                                 : apr_pstrcat(p, missing, " cannot be joined", NULL));
        return NULL;
    }
    a->no_cgroup = 0;
    list = apr_pcalloc(p, 4 * sizeof(*list));
    if (d.memory) {
        list[n++] = d.memory;
        if (!a->cgroup_memory || strcmp(a->cgroup_memory, d.memory)) {
            a->cgroup_memory = apr_pstrdup(a->pool, d.memory);
            a->oom_kills = ac_cgroup_oom_kills(d.memory);
        }
    }
    if (d.cpu) {
        list[n++] = d.cpu;
    }
    if (d.pids) {
        list[n++] = d.pids;
    }
    return list;
}

void ac_sup_limits_explain_end(int ai, int status, char *how, size_t len)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    long long kills;

    if (!a->cgroup_memory || !a->launch->memory_limit_mib) {
        return;
    }
    kills = ac_cgroup_oom_kills(a->cgroup_memory);
    if (kills > a->oom_kills && a->oom_kills >= 0) {
        a->oom_kills = kills;
        if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
            apr_snprintf(how, len, "was killed by its memory limit (AspNetCoreMemoryLimit %d "
                         "MiB)", a->launch->memory_limit_mib);
        }
    }
}

int ac_sup_limits_oom_pending(int ai)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_time_t now = ac_sup_mono();
    long long kills;

    if (!a->cgroup_memory || a->oom_kills < 0
        || (kills = ac_cgroup_oom_kills(a->cgroup_memory)) <= a->oom_kills) {
        a->oom_unreaped_since = 0;
        return 0;
    }
    if (!a->oom_unreaped_since) {
        a->oom_unreaped_since = now;
    }
    if (now - a->oom_unreaped_since < OOM_REAP_GRACE) {
        return 1;
    }
    /* no process of ours ended of it: the killer took another process in
     * the cgroup (one the app started); counted, it holds up no check */
    a->oom_kills = kills;
    a->oom_unreaped_since = 0;
    return 0;
}

void ac_sup_limits_check(int ai, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_uint64_t limit_kib;
    int si;

    if (!a->no_cgroup || !a->launch->memory_limit_mib) {
        return;
    }
    if (now - a->memory_checked < MEMORY_CHECK_INTERVAL) {
        apr_interval_time_t left = a->memory_checked + MEMORY_CHECK_INTERVAL - now;
        *sleep = left < *sleep ? left : *sleep;
        return;
    }
    a->memory_checked = now;
    if (MEMORY_CHECK_INTERVAL < *sleep) {
        *sleep = MEMORY_CHECK_INTERVAL;
    }
    limit_kib = (apr_uint64_t)a->launch->memory_limit_mib * 1024;
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_slot_t *s = &a->slots[si];
        ac_procstat_t st;
        char why[160];

        if (s->state != AC_SLOT_READY || ac_procstat_group(s->pid, "/proc", &st) < 0
            || st.rss_kib <= limit_kib) {
            continue;
        }
        apr_snprintf(why, sizeof(why), "resident memory %" APR_UINT64_T_FMT " MiB past "
                     "AspNetCoreMemoryLimit %d MiB (no cgroup)", st.rss_kib / 1024,
                     a->launch->memory_limit_mib);
        (void)ac_sup_recycle_slot(ai, si, why);
    }
}
