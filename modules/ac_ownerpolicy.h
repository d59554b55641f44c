/* ac_ownerpolicy: may an app that an httpd child asked for run as a user other
 * than Apache's User?
 *
 * An app declared in an .htaccess (AspNetCoreUserFromOwner), or new web.config
 * settings of an app, reach the privileged supervisor from an httpd child,
 * which runs as Apache's User and may be compromised. Before starting such an
 * app as another user, the supervisor checks on its own, suexec-style, that
 * what it would start is that user's own code (or root's .NET host running
 * that user's .dll) and that nothing in the request makes it load anyone
 * else's: the app root and the program are the user's and writable by no one
 * else, every directory above them is root's or the user's and writable by no
 * one else (so Apache's User cannot swap one in between this check and the
 * start), and no environment variable that loads code from a path is set.
 * What an app declared in the main configuration runs is root's decision and
 * is not checked here.
 *
 * Everything is checked through descriptors opened one component at a time
 * from "/" (openat, O_PATH | O_NOFOLLOW: no link is followed, nothing is
 * opened for reading, so a FIFO or a device cannot block or react) and fstat;
 * every descriptor is closed on every path. No APR pool: nothing allocated
 * outlives a call (the passwd and group lookups use a heap buffer of at most
 * 1 MiB, freed before returning). Thread-safe (getpwuid_r, getgrgid_r).
 * httpd-free.
 */
#ifndef AC_OWNERPOLICY_H
#define AC_OWNERPOLICY_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    uid_t uid;               /* the user the app would run as (never 0) */
    gid_t gid;               /* its group (never 0) */
    uid_t min_uid;           /* AspNetCoreMinUid: uid below this refused; 0: no minimum */
} ac_ownerpolicy_t;

/* The owner of `dir` for AspNetCoreUserFromOwner: lstat (`dir` itself a
 * symbolic link is refused; the directories above it are checked by
 * ac_ownerpolicy_check, with `dir` as the app root), a directory, not
 * root's, the owner's passwd entry exists (getpwuid_r) and its primary group
 * exists (getgrgid_r); fills uid, gid (the passwd entry's primary group) and
 * the user name (name_len bytes; a name that does not fit is refused).
 * Returns NULL, or a sentence naming the rule broken (static or in `why`,
 * len bytes); nothing is filled in then. */
const char *ac_ownerpolicy_dir_owner(const char *dir, uid_t *uid, gid_t *gid,
                                     char *name, size_t name_len, char *why, size_t len);

/* Returns NULL when an app rooted at `app_root` (absolute), running `program`
 * (absolute, already resolved: a realpath, nothing here resolves links) with
 * `argv` (argv[0] the program, not looked at; NULL-terminated) and the
 * environment variable NAMES in `env_names` (NULL-terminated; NULL for none)
 * may run as pol->uid/gid; otherwise a sentence naming the rule broken (with
 * the path concerned), for a log line, in `why` (len bytes) or static.
 *
 * The rules (docs/security.md, "Apps under their own user"):
 *  1. uid and gid are not 0; uid >= min_uid (when min_uid is not 0).
 *  2. app_root is a directory owned by uid, not writable by its group or
 *     others (an ACL entry granting write shows in the group bits, its
 *     mask); "/" is root's; every directory between them is root's or
 *     uid's, not writable by its group or others; no component is a
 *     symbolic link.
 *  3. program is a regular file (not a link), neither setuid nor setgid, not
 *     writable by its group or others, and either
 *     a. inside app_root, owned by uid (every directory between app_root and
 *        it as app_root itself), or
 *     b. outside it, the .NET host: named "dotnet", owned by root in
 *        directories that are root's and not writable by group or others;
 *        then argv[1] names a .dll inside app_root (relative to it, or
 *        absolute under it; no "." or ".." component) that passes 3a.
 *        Nothing may come before the .dll (a host option such as exec or
 *        --additionalprobingpath); what comes after it is the app's. A
 *        relative .dll is checked relative to app_root: the process must be
 *        started with app_root as its working directory (as ANCM does).
 *  4. no name in env_names is refused by ac_ownerpolicy_env_refused.
 * The walk needs search permission on every directory (root, or
 * CAP_DAC_READ_SEARCH); call it just before the start, in the process that
 * starts the app. */
const char *ac_ownerpolicy_check(const ac_ownerpolicy_t *pol, const char *app_root,
                                 const char *program, char *const *argv,
                                 const char *const *env_names, char *why, size_t len);

/* `path` relative to `root` when it lies below it (compared by component:
 * "//" and a trailing '/' count as one), else NULL. */
const char *ac_ownerpolicy_inside(const char *root, const char *path);

/* 1 when the environment variable `name` changes what code a process loads
 * (the dynamic loader, glibc, the .NET host and runtime, OpenSSL, the
 * interpreters an app commonly starts): refused by rule 4; 0 otherwise. */
int ac_ownerpolicy_env_refused(const char *name);

#endif /* AC_OWNERPOLICY_H */
