/* ac_appstate: the app's user, its state directory, and who makes it. */
#include "ac_appstate.h"
#include "ac_config.h"
#include "ac_resolve.h"
#include "ac_statedir.h"

#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <unixd.h>
#include <apr_hash.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* Of the current generation (pconf), set at check_config in the parent;
 * children and the supervisor inherit them. */
static const char *state_root = AC_DEFAULT_STATE_ROOT;
static const char *user_name;

void ac_appstate_user(const ac_launch_t *l, ac_app_user_t *u)
{
    (void)l;     /* every app runs as Apache's User and Group (per-app users: issue 14) */
    if (geteuid() == 0) {
        u->uid = ap_unixd_config.user_id;
        u->gid = ap_unixd_config.group_id;
    }
    else {
        /* an Apache started by an unprivileged user: everything runs as that user */
        u->uid = geteuid();
        u->gid = getegid();
    }
    u->name = user_name;
}

void ac_appstate_configure(apr_pool_t *pconf, server_rec *s)
{
    ac_server_conf_t *c = ap_get_module_config(s->module_config, &aspnetcore_module);
    struct passwd *pw;
    ac_app_user_t u;

    state_root = c && c->state_root ? c->state_root : AC_DEFAULT_STATE_ROOT;
    ac_appstate_user(NULL, &u);
    pw = getpwuid(u.uid);        /* the parent is single-threaded here */
    if (pw && pw->pw_name && *pw->pw_name && !strchr(pw->pw_name, '/')
        && strcmp(pw->pw_name, ".") && strcmp(pw->pw_name, "..")) {
        user_name = apr_pstrdup(pconf, pw->pw_name);
    }
    else {
        user_name = apr_psprintf(pconf, "%ld", (long)u.uid);
    }
}

const char *ac_appstate_default_dir(apr_pool_t *p, const char *app_root)
{
    ac_app_user_t u;
    ac_appstate_user(NULL, &u);
    return ac_statedir_default(p, state_root, u.name ? u.name
                               : apr_psprintf(p, "%ld", (long)u.uid), app_root);
}

/* Does an app of the main configuration keep its state under the root? */
static int default_dir_in_use(apr_pool_t *p, const apr_array_header_t *apps)
{
    int i;
    for (i = 0; apps && i < apps->nelts; i++) {
        const ac_dir_conf_t *eff = ac_resolve_scope_conf(p, APR_ARRAY_IDX(apps, i,
                                                                          ac_app_scope_t *));
        if ((eff->process_path || eff->web_config) && !eff->state_dir) {
            return 1;
        }
    }
    return 0;
}

/* <root> (root's, 0755, made with its parents) and <root>/<user> (the
 * user's, 0700), in which the supervisor makes each app's directory as
 * that user. Apps registered by requests (.htaccess) find it there too. */
static void prepare_user_dir(apr_pool_t *p, server_rec *s, const apr_array_header_t *apps)
{
    ac_app_user_t u;
    const char *why;
    int fd;

    ac_appstate_user(NULL, &u);
    fd = ac_statedir_open_path(p, state_root, 1, &why);
    if (fd >= 0) {
        int rc = ac_statedir_claim(p, fd, u.name, apr_pstrcat(p, state_root, "/", u.name,
                                                              NULL), u.uid, u.gid, &why);
        close(fd);
        if (rc == 0) {
            return;
        }
    }
    ap_log_error(APLOG_MARK, default_dir_in_use(p, apps) ? APLOG_ERR : APLOG_WARNING, 0, s,
                 "AspNetCoreStateRoot %s: %s: apps without an AspNetCoreStateDirectory run "
                 "without a state directory (HOME is not changed; ASP.NET Core keeps its Data "
                 "Protection keys in memory)", state_root, why);
}

void ac_appstate_prepare(apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_hash_t *done = apr_hash_make(ptemp);
    ac_app_user_t u;
    int i;

    prepare_user_dir(ptemp, s, apps);
    ac_appstate_user(NULL, &u);
    for (i = 0; apps && i < apps->nelts; i++) {
        const ac_app_scope_t *scope = APR_ARRAY_IDX(apps, i, ac_app_scope_t *);
        const ac_dir_conf_t *eff = ac_resolve_scope_conf(ptemp, scope);
        const char *why;
        int rc;

        if (!(eff->process_path || eff->web_config) || !eff->state_dir
            || apr_hash_get(done, eff->state_dir, APR_HASH_KEY_STRING)) {
            continue;
        }
        apr_hash_set(done, eff->state_dir, APR_HASH_KEY_STRING, "");
        rc = ac_statedir_prepare(ptemp, eff->state_dir, 1, u.uid, u.gid, &why);
        if (rc < 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "AspNetCoreStateDirectory (%s): %s: the "
                         "app starts without it", scope->defined_at, why);
        }
        else if (rc > 0) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "AspNetCoreStateDirectory (%s): %s",
                         scope->defined_at, why);
        }
    }
}

char **ac_appstate_spawn_env(apr_pool_t *p, const ac_launch_t *l, char **envp,
                             const char **why)
{
    ac_app_user_t u;

    *why = NULL;
    if (!l->state_dir) {
        return envp;
    }
    ac_appstate_user(l, &u);
    if (ac_statedir_prepare(p, l->state_dir, 0, u.uid, u.gid, why) < 0) {
        return NULL;
    }
    if (ac_pairs_get(l->env, "HOME")) {
        return envp;            /* the admin's HOME wins */
    }
    return ac_statedir_setenv(p, envp, "HOME", l->state_dir);
}
