/* ac_appstate: who an app runs as, and where its state directory is.
 *
 * The one place that decides an app's user and group (the launch
 * settings' user, ac_identity_conf.h, or Apache's User and Group), the default state directory of an app
 * (AspNetCoreStateRoot, ac_statedir.h for the layout), the httpd parent's
 * part of making the directories (at post_config, as root: the root of the
 * layout, the user's directory in it, and the directories named by
 * AspNetCoreStateDirectory), and the supervisor's part at each start (the
 * app's own directory, checked, and HOME).
 */
#ifndef AC_APPSTATE_H
#define AC_APPSTATE_H

#include <httpd.h>
#include <sys/types.h>

#include "ac_launch.h"

typedef struct {
    uid_t uid;
    gid_t gid;
    const char *name;            /* the user's name (or its uid in decimal) */
} ac_app_user_t;

/* check_config, before any app is resolved: takes AspNetCoreStateRoot and
 * the name of Apache's User from this generation's configuration. */
void ac_appstate_configure(apr_pool_t *pconf, server_rec *s);

/* The user and group the processes of the app run as. `l` may be NULL
 * (what every app gets by default). */
void ac_appstate_user(const ac_launch_t *l, ac_app_user_t *u);

/* This generation's AspNetCoreStateRoot (the parent's; the supervisor gets
 * it with each configuration). */
const char *ac_appstate_root(void);

/* The default state directory of the app `l` (app_root and user set). */
const char *ac_appstate_default_dir(apr_pool_t *p, const ac_launch_t *l);

/* post_config (the real pass, before the supervisor gets the apps): makes
 * the directories only root can make. Never fails Apache: a problem is
 * logged, and the apps concerned start without their state directory. */
void ac_appstate_prepare(apr_pool_t *ptemp, server_rec *s);

/* The supervisor, before starting a process of `l`: makes the app's state
 * directory if missing (its parent exists), checks it, and returns `envp`
 * with HOME set to it unless the configuration sets HOME. NULL with *why
 * when the directory cannot be used (then HOME is left as it was). */
char **ac_appstate_spawn_env(apr_pool_t *p, const ac_launch_t *l, char **envp,
                             const char **why);

/* The groups of the app's own user (AspNetCoreUser, or its directory's
 * owner), at most `max`, or -1 for an app that runs as Apache's User. Not
 * in a forked child. */
int ac_appstate_groups(const ac_launch_t *l, gid_t *groups, int max);

/* The supervisor's file operations for the app `l` (its state directory,
 * its stdout logs) are done as the app's user between these two
 * (ac_identity.h); for an app that runs as Apache's User nothing changes.
 * Returns 0, or -1 with errno set. */
int ac_appstate_as_user_begin(const ac_launch_t *l);
void ac_appstate_as_user_end(void);

#endif /* AC_APPSTATE_H */
