/* ac_nss: passwd and group entries, by name or by id, through the *_r calls
 * of the name service switch into a heap buffer that grows on ERANGE up to
 * a bound: one way for AspNetCoreUser's lookups (ac_identity) and for the
 * owner of an app root (ac_ownerpolicy). httpd-free.
 */
#ifndef AC_NSS_H
#define AC_NSS_H

#include <grp.h>
#include <pwd.h>
#include <sys/types.h>

#define AC_NSS_BUF_FIRST 1024
#define AC_NSS_BUF_MAX (1024 * 1024)

/* The passwd entry of `name`, or of `uid` when name is NULL, into *pw; its
 * strings live in *buf (NULL at first; the caller frees it, also after a
 * failure). 0; ENOENT when there is no such entry; E2BIG when the entry
 * does not fit in AC_NSS_BUF_MAX bytes; another errno on failure, as the
 * call gave it (ESRCH, EBADF, EPERM: getpwnam_r(3) says they may mean "no
 * such entry" too, or a name service that failed: the caller decides). */
int ac_nss_user(const char *name, uid_t uid, struct passwd *pw, char **buf);

/* The same for the group entry of `name`, or of `gid` when name is NULL. */
int ac_nss_group(const char *name, gid_t gid, struct group *gr, char **buf);

#endif /* AC_NSS_H */
