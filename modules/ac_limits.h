/* ac_limits: the httpd parent's side of the apps' cgroup limits
 * (AspNetCoreMemoryLimit, AspNetCoreCpuLimit, AspNetCoreMaxProcesses).
 *
 * At post_config (the real pass, as root) it finds the cgroup hierarchy to
 * use (ac_cgroup.h), makes each app's cgroup with its limits for the apps of
 * the main configuration, removes those of apps no longer configured, and
 * says in one line when cgroups cannot be used (the memory limit then falls
 * back to recycling: ac_sup_limits.c). When Apache stops it waits for the
 * supervisor (so that the apps' processes are gone) and removes them all.
 * The supervisor, forked from the parent, reads the layout found here.
 */
#ifndef AC_LIMITS_H
#define AC_LIMITS_H

#include <httpd.h>

#include "ac_cgroup.h"
#include "ac_launch.h"

/* post_config, real pass, before the supervisor gets the apps. */
void ac_limits_prepare(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* The parent forked supervisor `pid` (v2: it goes into its leaf of the
 * subtree, from where its processes may move into the apps' cgroups). */
void ac_limits_supervisor_started(server_rec *s, pid_t pid);

/* The layout in use, or NULL when cgroups are not used (AspNetCoreCgroups
 * Off, or none usable). */
const ac_cgroup_layout_t *ac_limits_layout(void);

/* Does `l` ask for a limit? */
int ac_limits_wanted(const ac_launch_t *l);

/* The limits of `l` for ac_cgroup. */
void ac_limits_of(const ac_launch_t *l, ac_cgroup_limits_t *lim);

#endif /* AC_LIMITS_H */
