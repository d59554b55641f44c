/* ac_sup_identity: the supervisor's own check of the user a request's app
 * settings run as.
 *
 * Settings from the parent (the main configuration, read by root) are
 * trusted; settings an httpd child registers (an .htaccess app, or the new
 * web.config of an app) come from a process running as Apache's User that
 * may be compromised. Such settings run as Apache's User, or as another user
 * only when they replace an app of the main configuration that already runs
 * as that user at that place (AspNetCoreUser), or when the main
 * configuration has AspNetCoreUserFromOwner On for the app root and the user
 * is its owner; and then only what ac_ownerpolicy accepts: that user's own
 * program (or the .NET host with that user's .dll), no environment variable
 * that loads other code. Anything else is refused here, whatever the child
 * says.
 */
#include "ac_sup_private.h"
#include "ac_appstate.h"
#include "ac_debuglog.h"
#include "ac_ownercheck.h"
#include "ac_ownerpolicy.h"
#include "ac_ownerrules.h"
#include "ac_statedir.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

void ac_sup_identity_remember(const ac_launch_t *l)
{
    ac_launch_t *copy;

    if (!ac_sup.configured_users) {
        return;
    }
    copy = apr_pcalloc(ac_sup.rules_pool, sizeof(*copy));
    copy->site = apr_pstrdup(ac_sup.rules_pool, l->site);
    copy->virtual_path = apr_pstrdup(ac_sup.rules_pool, l->virtual_path);
    copy->app_root = apr_pstrdup(ac_sup.rules_pool, l->app_root);
    copy->web_config = l->web_config ? apr_pstrdup(ac_sup.rules_pool, l->web_config) : NULL;
    copy->state_dir = l->state_dir ? apr_pstrdup(ac_sup.rules_pool, l->state_dir) : NULL;
    copy->stdout_log_file = l->stdout_log_file ? apr_pstrdup(ac_sup.rules_pool,
                                                             l->stdout_log_file) : NULL;
    copy->user_source = l->user_source;
    copy->user = l->user;
    APR_ARRAY_PUSH(ac_sup.configured_users, ac_launch_t *) = copy;
}

static int same_or_both_null(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

/* An app the configuration declares at the same place (site, virtual path,
 * root, web.config and state directory), as the same user: remembered from
 * the last configuration, also once its entry is retired (its new settings
 * replace it). */
static const ac_launch_t *configured_as(const ac_launch_t *l)
{
    int i;

    for (i = 0; ac_sup.configured_users && i < ac_sup.configured_users->nelts; i++) {
        const ac_launch_t *c = APR_ARRAY_IDX(ac_sup.configured_users, i, ac_launch_t *);
        if (!strcmp(c->site, l->site) && !strcmp(c->virtual_path, l->virtual_path)
            && !strcmp(c->app_root, l->app_root) && c->user.uid == l->user.uid
            && c->user.gid == l->user.gid && !strcmp(c->user.name, l->user.name)
            && same_or_both_null(c->web_config, l->web_config) && c->state_dir
            && same_or_both_null(c->state_dir, l->state_dir)) {
            return c;
        }
    }
    return NULL;
}

/* An absolute path with no empty, "." or ".." component and no trailing
 * '/': what rules and checks compare as strings is what the kernel walks. */
static int canonical(const char *path)
{
    const char *c;

    if (!path || path[0] != '/' || (path[1] == '\0')) {
        return path && !strcmp(path, "/");
    }
    for (c = path; *c; c++) {
        if (c[0] == '/' && (c[1] == '/' || c[1] == '\0'
                            || (c[1] == '.' && (c[2] == '/' || c[2] == '\0'
                                                || (c[2] == '.' && (c[3] == '/' || c[3] == '\0')))))) {
            return 0;
        }
    }
    return 1;
}

/* Is `path` (absolute, or relative to the app root) inside the app root,
 * without a "." or ".." component? Files there are made as the user. */
static int inside_app_root(apr_pool_t *p, const ac_launch_t *l, const char *path)
{
    const char *full, *c;
    apr_size_t n;

    while (path[0] == '.' && path[1] == '/') {
        path += 2;              /* ANCM's "./aspnetcore-stdout" */
    }
    full = path[0] == '/' ? path : apr_pstrcat(p, l->app_root, "/", path, NULL);
    n = strlen(l->app_root);
    if (strncmp(full, l->app_root, n) || full[n] != '/') {
        return 0;
    }
    for (c = full + n; *c; c++) {
        if (c[0] == '/' && c[1] == '.' && (c[2] == '/' || c[2] == '\0'
                                           || (c[2] == '.' && (c[3] == '/' || c[3] == '\0')))) {
            return 0;
        }
    }
    return 1;
}

/* The files the supervisor makes for the app as its user: its stdout logs
 * and its debug log, inside its root (a stdout log where the configured app
 * of that place has it, root's word, is also taken). */
static const char *files_refusal(apr_pool_t *p, const ac_launch_t *l,
                                 const ac_launch_t *configured)
{
    ac_debug_conf_t debug;

    if (!canonical(l->app_root) || (l->state_dir && !canonical(l->state_dir))) {
        return apr_psprintf(p, "their app root %s or state directory %s is not a plain "
                            "absolute path", l->app_root, l->state_dir ? l->state_dir : "-");
    }
    if (l->stdout_log_file && !inside_app_root(p, l, l->stdout_log_file)
        && !(configured && same_or_both_null(configured->stdout_log_file, l->stdout_log_file))) {
        return apr_psprintf(p, "their stdout log %s is not inside the app root",
                            l->stdout_log_file);
    }
    (void)ac_debug_resolve(p, l, environ, &debug);
    if (debug.file && (!inside_app_root(p, l, debug.file) || strlen(debug.file) < 5
                       || strcmp(debug.file + strlen(debug.file) - 4, ".log"))) {
        /* it is appended to: only a .log file of the app's, never its other files */
        return apr_psprintf(p, "their debug log %s is not a .log file inside the app root",
                            debug.file);
    }
    return NULL;
}

/* ac_ownercheck_launch, as the user: what it cannot see or search it
 * cannot run. */
static const char *check_program(apr_pool_t *p, const ac_launch_t *l, uid_t min_uid,
                                 const char **program)
{
    const char *err;

    if (ac_appstate_as_user_begin(l) < 0) {
        return apr_psprintf(p, "cannot act as user %s: %s", l->user.name, strerror(errno));
    }
    err = ac_ownercheck_launch(p, l, min_uid, program);
    ac_appstate_as_user_end();
    return err;
}

/* The app's own state directory: <this configuration's state root>/<user>/
 * <app id>, nothing else (the child could name any directory of the user,
 * or one others can write). */
static int own_state_dir(apr_pool_t *p, const ac_launch_t *l)
{
    return ac_sup.state_root && l->state_dir
           && !strcmp(l->state_dir, ac_statedir_default(p, ac_sup.state_root, l->user.name,
                                                        l->app_root));
}

/* AspNetCoreUserFromOwner: on for the app root in the main configuration,
 * the user is the app root's owner, and the rules hold. */
static const char *owner_refusal(apr_pool_t *p, const ac_launch_t *l, const char **program)
{
    char name[AC_IDENTITY_NAME_MAX], why[512];
    const char *err;
    uid_t uid, min_uid;
    gid_t gid;
    int on;

    ac_ownerrules_for(ac_sup.owner_rules, l->app_root, &on, &min_uid);
    if (!on) {
        return apr_psprintf(p, "they ask for the owner of %s as the user, and the main "
                            "configuration has no AspNetCoreUserFromOwner On there",
                            l->app_root);
    }
    err = ac_ownerpolicy_dir_owner(l->app_root, &uid, &gid, name, sizeof(name), why,
                                   sizeof(why));
    if (err) {
        return apr_pstrdup(p, err);
    }
    if (uid != l->user.uid || gid != l->user.gid || strcmp(name, l->user.name)) {
        return apr_psprintf(p, "they name user %s, and %s belongs to %s", l->user.name,
                            l->app_root, name);
    }
    if (!own_state_dir(p, l)) {
        return "they name a state directory other than the app's own";
    }
    err = check_program(p, l, min_uid, program);
    return err ? apr_psprintf(p, "they would run as %s what is not that user's own: %s",
                              l->user.name, err) : NULL;
}

const char *ac_sup_identity_refusal(apr_pool_t *p, const ac_launch_t *l, const char **program)
{
    const ac_launch_t *configured;
    const char *err;

    switch (l->user_source) {
    case AC_USER_APACHE:
        return NULL;
    case AC_USER_CONFIG:
        if (!(configured = configured_as(l))) {
            return apr_psprintf(p, "they name user %s, as whom no app of the main "
                                "configuration runs at %s (%s at %s)", l->user.name, l->site,
                                l->app_root, l->virtual_path);
        }
        if ((err = files_refusal(p, l, configured))) {
            return err;
        }
        err = check_program(p, l, 0, program);
        return err ? apr_psprintf(p, "they would run as %s what is not that user's own: %s",
                                  l->user.name, err) : NULL;
    default:
        return (err = files_refusal(p, l, NULL)) ? err : owner_refusal(p, l, program);
    }
}
