/* ac_statedir: every app's private, persistent state directory.
 *
 * Owns the naming scheme of the default directories and their safe
 * creation. An app's processes get HOME pointing at its state directory
 * (unless the configuration sets HOME), so that what ASP.NET Core keeps in
 * the user's home (the Data Protection key ring, in
 * $HOME/.aspnet/DataProtection-Keys) survives restarts and is shared by the
 * app's processes.
 *
 * Default layout (AspNetCoreStateRoot, default AC_DEFAULT_STATE_ROOT):
 *   <root>                 root, 0755 (made with its parents by the httpd parent)
 *   <root>/<user>          the app's user, 0700 (made by the httpd parent)
 *   <root>/<user>/<app id> the app's user, 0700 (made by the supervisor)
 * where <app id> is the app root with every character other than letters,
 * digits, '.', '_' and '-' turned into '-' (runs of them into one, the
 * leading one dropped, at most the last AC_STATEDIR_NAME_MAX characters),
 * then '-' and the first 8 hex digits of the SHA-1 of the app root itself:
 * "/srv/shop" -> "srv-shop-<8 hex>". Stable across restarts and settings
 * changes; two app roots never share a name. (Data Protection also tells
 * apps apart by their content root, so apps with one root share one key
 * ring anyway.)
 *
 * The directories sit where root and other users meet: nothing here
 * follows a symbolic link it did not have to (see ac_statedir_open_path),
 * and a directory is changed (owner, mode) only through a descriptor
 * opened with O_NOFOLLOW. httpd-free.
 */
#ifndef AC_STATEDIR_H
#define AC_STATEDIR_H

#include <sys/types.h>
#include <apr_pools.h>

#define AC_DEFAULT_STATE_ROOT "/var/lib/apache2/aspnetcore"
#define AC_STATEDIR_NAME_MAX 64      /* of the sanitised app root in an app id */

/* The app id of `app_root` (see above). */
const char *ac_statedir_app_id(apr_pool_t *p, const char *app_root);

/* <root>/<user>/<app id of app_root>. */
const char *ac_statedir_default(apr_pool_t *p, const char *root, const char *user,
                                const char *app_root);

/* Opens the directory `path` (absolute; no ".." component) and returns a
 * descriptor (O_DIRECTORY, close-on-exec), or -1 with *why (one line).
 * With `create`, missing components are made, mode 0755, owned by the
 * caller. A symbolic link on the way is followed only when the directory
 * holding it is owned by root or the caller and no one else may write it
 * (then only they could have put it there); any other is refused. */
int ac_statedir_open_path(apr_pool_t *p, const char *path, int create, const char **why);

/* Makes `name` in the directory `dirfd` (mode 0700) unless it exists and
 * opens it without following a link. It must be a directory owned by `uid`,
 * or one the caller has just made (then it is given to uid:gid); its mode
 * becomes 0700. Returns 0, or -1 with *why (one line, naming `shown`).
 * A caller that would have to give it away (uid not its own: root) makes
 * nothing in a `dirfd` others than root can write (they could swap one of
 * root's directories in between the mkdir and the chown): 1 with *why when
 * `name` is missing there (the app's user makes it itself). */
int ac_statedir_claim(apr_pool_t *p, int dirfd, const char *name, const char *shown,
                      uid_t uid, gid_t gid, const char **why);

/* ac_statedir_claim of the last component of `path` (its result), its
 * parents opened with ac_statedir_open_path(create = `create_parents`). */
int ac_statedir_prepare(apr_pool_t *p, const char *path, int create_parents,
                        uid_t uid, gid_t gid, const char **why);

/* `envp` (NULL-terminated) with NAME set to `value`: every entry for NAME
 * is left out and one NAME=value added at the end. */
char **ac_statedir_setenv(apr_pool_t *p, char **envp, const char *name, const char *value);

#endif /* AC_STATEDIR_H */
