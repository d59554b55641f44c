/* ac_ownercheck: the rules of ac_ownerpolicy applied to an app's launch
 * settings: its program looked up as it will be started, its real path, its
 * arguments and the names of its environment variables. Used by an httpd
 * child (a clear 500 for an .htaccess app under AspNetCoreUserFromOwner that
 * breaks a rule) and by the supervisor (which checks on its own, as the
 * app's user). httpd-free.
 */
#ifndef AC_OWNERCHECK_H
#define AC_OWNERCHECK_H

#include <sys/types.h>

#include <apr_pools.h>

#include "ac_launch.h"

/* NULL when the app `l` may run as l->user (uid at least `min_uid`; 0: no
 * minimum), with *checked (when not NULL) the real path of the program
 * checked: the one to execute, not the name looked up again; otherwise the
 * rule it breaks, for a log line. The program is looked up as the spawn
 * does (ac_launch_path_env). */
const char *ac_ownercheck_launch(apr_pool_t *p, const ac_launch_t *l, uid_t min_uid,
                                 const char **checked);

/* NULL when no argument of `argv` (argv[0] the program `program` runs as)
 * sets what the refused environment variables set (--contentRoot=...,
 * /hostingStartupAssemblies ..., contentRoot=...); otherwise which one does.
 * The first argument of the .NET host outside `app_root`, the app's .dll, is
 * a file name the host does not pass on to the app, not looked at (unless
 * it starts with '-'); a program named dotnet inside the app root is the
 * app's own and gets its arguments looked at. */
const char *ac_ownercheck_host_switches(apr_pool_t *p, const char *program, const char *app_root,
                                        char *const *argv);

#endif /* AC_OWNERCHECK_H */
