/* ac_appstate: the app's user, its state directory, and who makes it. */
#include "ac_appstate.h"
#include "ac_config.h"
#include "ac_identity.h"
#include "ac_resolve.h"
#include "ac_statedir.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
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
    if (l && l->user_source != AC_USER_APACHE) {
        u->uid = l->user.uid;
        u->gid = l->user.gid;
        u->name = l->user.name;
        return;
    }
    if (geteuid() == 0 || ac_identity_can_switch()) {
        /* the parent (root), or a supervisor that keeps the capabilities */
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

const char *ac_appstate_default_dir(apr_pool_t *p, const ac_launch_t *l)
{
    ac_app_user_t u;
    ac_appstate_user(l, &u);
    return ac_statedir_default(p, state_root, u.name ? u.name
                               : apr_psprintf(p, "%ld", (long)u.uid), l->app_root);
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

/* The user an app of the main configuration runs as. */
static void scope_user(const ac_dir_conf_t *eff, ac_app_user_t *u)
{
    if (eff->run_as) {
        u->uid = eff->run_as->uid;
        u->gid = eff->run_as->gid;
        u->name = eff->run_as->name;
    }
    else {
        ac_appstate_user(NULL, u);
    }
}

/* <root> (root's, 0755, made with its parents) and <root>/<user> (the
 * user's, 0700), in which the supervisor makes each app's directory as
 * that user. Apps registered by requests (.htaccess) find Apache's User's
 * there too. */
static void prepare_user_dir(apr_pool_t *p, server_rec *s, const apr_array_header_t *apps,
                             const ac_app_user_t *u)
{
    const char *why;
    int fd;

    fd = ac_statedir_open_path(p, state_root, 1, &why);
    if (fd >= 0) {
        int rc = ac_statedir_claim(p, fd, u->name, apr_pstrcat(p, state_root, "/", u->name,
                                                               NULL), u->uid, u->gid, &why);
        close(fd);
        if (rc == 0) {
            return;
        }
    }
    ap_log_error(APLOG_MARK, default_dir_in_use(p, apps) ? APLOG_ERR : APLOG_WARNING, 0, s,
                 "AspNetCoreStateRoot %s: %s: apps of user %s without an "
                 "AspNetCoreStateDirectory run without a state directory (HOME is not changed; "
                 "ASP.NET Core keeps its Data Protection keys in memory)", state_root, why,
                 u->name);
}

void ac_appstate_prepare(apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_hash_t *done = apr_hash_make(ptemp), *users = apr_hash_make(ptemp);
    ac_app_user_t u;
    int i;

    ac_appstate_user(NULL, &u);
    prepare_user_dir(ptemp, s, apps, &u);
    apr_hash_set(users, u.name, APR_HASH_KEY_STRING, "");
    for (i = 0; apps && i < apps->nelts; i++) {
        const ac_app_scope_t *scope = APR_ARRAY_IDX(apps, i, ac_app_scope_t *);
        const ac_dir_conf_t *eff = ac_resolve_scope_conf(ptemp, scope);
        const char *why;
        int rc;

        if (!(eff->process_path || eff->web_config)) {
            continue;
        }
        scope_user(eff, &u);
        if (!eff->state_dir && !apr_hash_get(users, u.name, APR_HASH_KEY_STRING)) {
            apr_hash_set(users, u.name, APR_HASH_KEY_STRING, "");
            prepare_user_dir(ptemp, s, apps, &u);
        }
        if (!eff->state_dir || apr_hash_get(done, eff->state_dir, APR_HASH_KEY_STRING)) {
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
    int rc;

    *why = NULL;
    if (!l->state_dir) {
        return envp;
    }
    ac_appstate_user(l, &u);
    if (ac_appstate_as_user_begin(l) < 0) {
        *why = apr_psprintf(p, "cannot act as user %s: %s", u.name, strerror(errno));
        return NULL;
    }
    rc = ac_statedir_prepare(p, l->state_dir, 0, u.uid, u.gid, why);
    ac_appstate_as_user_end();
    if (rc < 0) {
        return NULL;
    }
    if (ac_pairs_get(l->env, "HOME")) {
        return envp;            /* the admin's HOME wins */
    }
    return ac_statedir_setenv(p, envp, "HOME", l->state_dir);
}

const char *ac_appstate_root(void)
{
    return state_root;
}

int ac_appstate_groups(const ac_launch_t *l, gid_t *groups, int max)
{
    if (!l || l->user_source == AC_USER_APACHE) {
        return -1;
    }
    return ac_identity_groups(&l->user, groups, max);
}

int ac_appstate_as_user_begin(const ac_launch_t *l)
{
    gid_t groups[AC_IDENTITY_GROUPS_MAX];
    int n;

    if (!l || l->user_source == AC_USER_APACHE) {
        if (ac_identity_fs_active()) {
            errno = EBUSY;      /* Apache's User's work inside another user's scope */
            return -1;
        }
        return 0;
    }
    n = ac_appstate_groups(l, groups, AC_IDENTITY_GROUPS_MAX);
    if (n < 1) {
        errno = ESRCH;
        return -1;
    }
    return ac_identity_fs_begin(&l->user, groups, n, SIGTERM);
}

void ac_appstate_as_user_end(void)
{
    ac_identity_fs_end(SIGTERM);     /* the supervisor dies with httpd */
}
