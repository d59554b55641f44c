/* ac_identity_conf: AspNetCoreUser, AspNetCoreUserFromOwner and
 * AspNetCoreMinUid, and the user an app resolves to.
 *
 * The directives are of the main configuration only (no .htaccess may name a
 * user); the users are looked up when the configuration is read, so that an
 * unknown user or root fails configtest. Which user an app's processes run
 * as is decided here for the resolver (ac_resolve.c): the scope's
 * AspNetCoreUser for an app of the main configuration; for an app declared
 * in .htaccess under AspNetCoreUserFromOwner, the owner of its app root
 * after the rules of ac_ownerpolicy (the supervisor checks them again, with
 * the scopes recorded here: ac_ownerrules.h); else Apache's User.
 */
#ifndef AC_IDENTITY_CONF_H
#define AC_IDENTITY_CONF_H

#include <httpd.h>
#include <http_config.h>

#include "ac_config.h"

const char *ac_identity_conf_user(cmd_parms *cmd, void *dv, const char *user,
                                  const char *group);
const char *ac_identity_conf_from_owner(cmd_parms *cmd, void *dv, int on);
const char *ac_identity_conf_min_uid(cmd_parms *cmd, void *dv, const char *arg);

#define AC_IDENTITY_DIRECTIVES \
    AP_INIT_TAKE12("AspNetCoreUser", ac_identity_conf_user, NULL, RSRC_CONF | ACCESS_CONF, \
                   "USER [GROUP]: the user (and group) the app's processes run as; main " \
                   "configuration only, never root"), \
    AP_INIT_FLAG("AspNetCoreUserFromOwner", ac_identity_conf_from_owner, NULL, \
                 RSRC_CONF | ACCESS_CONF, "On: apps declared in .htaccess files run as the " \
                 "owner of their directory (after suexec-like checks)"), \
    AP_INIT_TAKE1("AspNetCoreMinUid", ac_identity_conf_min_uid, NULL, RSRC_CONF | ACCESS_CONF, \
                  "The lowest uid AspNetCoreUserFromOwner runs an app as (default 1000)")

/* pre_config: a new generation; ... used: does it name AspNetCoreUser, or
 * AspNetCoreUserFromOwner On, anywhere (then the supervisor keeps what
 * starting apps as other users takes)? ... owner_rules: the scopes that
 * set AspNetCoreUserFromOwner or AspNetCoreMinUid (ac_owner_rule_t). */
void ac_identity_conf_reset(apr_pool_t *pconf);
int ac_identity_conf_used(void);
const apr_array_header_t *ac_identity_conf_owner_rules(void);

/* The user the app resolved into `l` runs as, for a scope whose effective
 * configuration is `eff` (l->app_root set). Returns NULL, or why the app
 * cannot run. */
const char *ac_identity_conf_resolve(apr_pool_t *p, const ac_dir_conf_t *eff,
                                     const ac_app_scope_t *scope, ac_launch_t *l);

/* Once `l` is complete: for an app that runs as its directory's owner,
 * whether its program and environment pass ac_ownerpolicy (the child's
 * check, for a clear 500; the supervisor checks again). NULL, or why not. */
const char *ac_identity_conf_check(apr_pool_t *p, const ac_dir_conf_t *eff,
                                   const ac_app_scope_t *scope, const ac_launch_t *l);

#endif /* AC_IDENTITY_CONF_H */
