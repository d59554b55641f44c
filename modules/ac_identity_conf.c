/* ac_identity_conf: the identity directives, and the user an app resolves to. */
#include "ac_identity_conf.h"
#include "ac_identity.h"
#include "ac_ownercheck.h"
#include "ac_ownerpolicy.h"
#include "ac_ownerrules.h"

#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* Does this generation's configuration run any app as another user? */
static int identities_used;
/* Where it lets .htaccess apps run as their directory's owner (pconf). */
static apr_array_header_t *owner_rules;

void ac_identity_conf_reset(apr_pool_t *pconf)
{
    identities_used = 0;
    owner_rules = apr_array_make(pconf, 4, sizeof(ac_owner_rule_t));
}

const apr_array_header_t *ac_identity_conf_owner_rules(void)
{
    return owner_rules;
}

/* The scope of a directive, for the supervisor: a <Directory> by its path,
 * the server and virtual hosts as "/". */
static const char *record_owner_rule(cmd_parms *cmd, int on, long min_uid)
{
    const char *err = ap_check_cmd_context(cmd, NOT_IN_LOCATION | NOT_IN_FILES);
    const ap_directive_t *section = cmd->directive ? cmd->directive->parent : NULL;
    const char *why;

    if (err) {
        return err;
    }
    /* the section itself, through the ones that only choose what is read */
    while (section && (!strncasecmp(section->directive, "<IfModule", 9)
                       || !strncasecmp(section->directive, "<IfDefine", 9)
                       || !strncasecmp(section->directive, "<IfVersion", 10)
                       || !strncasecmp(section->directive, "<IfFile", 7)
                       || !strncasecmp(section->directive, "<IfDirective", 12)
                       || !strncasecmp(section->directive, "<IfSection", 10))) {
        section = section->parent;
    }
    /* in <Directory ~ re> and <DirectoryMatch> cmd->path is the expression */
    if (cmd->path && (!section || strcasecmp(section->directive, "<Directory")
                      || !section->args || section->args[0] == '~')) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": only in the server configuration, a "
                           "<VirtualHost> or a <Directory> given by its absolute path (no "
                           "wildcard or regular expression: the supervisor looks app roots up "
                           "by path)", NULL);
    }
    why = ac_ownerrules_set(owner_rules, cmd->pool, cmd->path ? cmd->path : "/", on, min_uid);
    return why ? apr_pstrcat(cmd->pool, cmd->cmd->name, ": only in the server configuration, "
                             "a <VirtualHost> or ", why, NULL) : NULL;
}

const char *ac_identity_conf_from_owner(cmd_parms *cmd, void *dv, int on)
{
    ac_dir_conf_t *d = dv;
    const char *err = record_owner_rule(cmd, on, -1);

    if (err) {
        return err;
    }
    d->user_from_owner = on;
    identities_used |= on;
    return NULL;
}

const char *ac_identity_conf_min_uid(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    char *end;
    apr_int64_t v = apr_strtoi64(arg, &end, 10);
    const char *err;

    if (*arg < '0' || *arg > '9' || *end || v < 1 || v > AC_MIN_UID_MAX) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a uid from 1 to %ld", cmd->cmd->name,
                            arg, AC_MIN_UID_MAX);
    }
    err = record_owner_rule(cmd, -1, (long)v);
    if (err) {
        return err;
    }
    d->min_uid = (long)v;
    return NULL;
}

int ac_identity_conf_used(void)
{
    return identities_used;
}

const char *ac_identity_conf_user(cmd_parms *cmd, void *dv, const char *user,
                                  const char *group)
{
    ac_dir_conf_t *d = dv;
    ac_identity_t *id = apr_pcalloc(cmd->pool, sizeof(*id));
    char why[256];

    if (ac_identity_lookup(user, group, id, why, sizeof(why))) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", why, NULL);
    }
    d->run_as = id;
    identities_used = 1;
    return NULL;
}

const char *ac_identity_conf_resolve(apr_pool_t *p, const ac_dir_conf_t *eff,
                                     const ac_app_scope_t *scope, ac_launch_t *l)
{
    memset(&l->user, 0, sizeof(l->user));
    l->user_source = AC_USER_APACHE;
    if (scope->kind == AC_SCOPE_HTACCESS) {
        if (eff->user_from_owner == 1) {
            char why[512];
            const char *err = ac_ownerpolicy_dir_owner(l->app_root, &l->user.uid, &l->user.gid,
                                                       l->user.name, sizeof(l->user.name), why,
                                                       sizeof(why));
            if (err) {
                return apr_psprintf(p, "the app declared in %s cannot run as the owner of %s "
                                    "(AspNetCoreUserFromOwner): %s", scope->defined_at,
                                    l->app_root, err);
            }
            l->user_source = AC_USER_OWNER;
            return NULL;
        }
        if (eff->run_as) {
            /* The supervisor cannot tell which <Directory> named the user for a
             * request's app: it would be a child's word. */
            return apr_psprintf(p, "the app declared in %s: AspNetCoreUser %s applies to apps "
                                "the main configuration declares, not to .htaccess apps",
                                scope->defined_at, eff->run_as->name);
        }
        return NULL;
    }
    if (eff->run_as) {
        l->user_source = AC_USER_CONFIG;
        l->user = *eff->run_as;
    }
    return NULL;
}

const char *ac_identity_conf_check(apr_pool_t *p, const ac_dir_conf_t *eff,
                                   const ac_app_scope_t *scope, const ac_launch_t *l)
{
    const char *err;

    if (l->user_source != AC_USER_OWNER) {
        return NULL;
    }
    err = ac_ownercheck_launch(p, l, (uid_t)(eff->min_uid >= 0 ? eff->min_uid
                                                               : AC_DEFAULT_MIN_UID), NULL);
    return err ? apr_psprintf(p, "the app declared in %s cannot run as %s "
                              "(AspNetCoreUserFromOwner): %s", scope->defined_at, l->user.name,
                              err) : NULL;
}
