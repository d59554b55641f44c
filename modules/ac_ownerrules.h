/* ac_ownerrules: where the main configuration lets apps declared in
 * .htaccess files run as their directory's owner.
 *
 * The parent records each scope that sets AspNetCoreUserFromOwner or
 * AspNetCoreMinUid (a <Directory> by its path, the server and virtual hosts
 * as "/"), and sends the list with each configuration; the supervisor, which
 * cannot take an httpd child's word for it, looks an app root up in it. The
 * supervisor cannot tell virtual hosts apart: settings of several scopes at
 * one path are folded (On wins over Off, the highest minimum uid wins), and a
 * longer path overrides a shorter one, as <Directory> sections merge.
 * httpd-free.
 */
#ifndef AC_OWNERRULES_H
#define AC_OWNERRULES_H

#include <sys/types.h>

#include <apr_pools.h>
#include <apr_tables.h>

#define AC_OWNER_RULES_MAX 1024
#define AC_OWNER_RULE_PATH_MAX 4096
#define AC_DEFAULT_MIN_UID 1000
#define AC_MIN_UID_MAX 2147483647L

typedef struct {
    const char *dir;             /* absolute, no trailing '/' unless it is "/" */
    int on;                      /* AspNetCoreUserFromOwner: 1 On, 0 Off, -1 not set here */
    long min_uid;                /* AspNetCoreMinUid: -1 not set here */
} ac_owner_rule_t;

/* Adds one scope's settings (on and min_uid as above) for `dir`, folded
 * into an entry for the same path. Returns NULL, or why `dir` cannot be a
 * rule's path (a pattern, a relative path). `rules` holds ac_owner_rule_t. */
const char *ac_ownerrules_set(apr_array_header_t *rules, apr_pool_t *p, const char *dir,
                              int on, long min_uid);

/* Appends the rules and the configuration's AspNetCoreStateRoot (the
 * supervisor, forked once, checks state directories against the current
 * one) to a CONFIG payload (ac_channel.h). */
void ac_ownerrules_serialize(const apr_array_header_t *rules, const char *state_root,
                             apr_array_header_t *out);

/* Reads what ac_ownerrules_serialize wrote from *buf (at most up to `end`),
 * moving *buf past it. NULL, or what is wrong with it. */
const char *ac_ownerrules_parse(apr_pool_t *p, const char **buf, const char *end,
                                apr_array_header_t **rules, const char **state_root);

/* For an app rooted at `app_root`: is AspNetCoreUserFromOwner On there, and
 * the lowest uid it may run as (AC_DEFAULT_MIN_UID unless set). */
void ac_ownerrules_for(const apr_array_header_t *rules, const char *app_root, int *on,
                       uid_t *min_uid);

#endif /* AC_OWNERRULES_H */
