/* ac_identity: the user an app's processes run as, and the privilege it
 * takes to give them that user.
 *
 * Owns the look-up of a user and group by name (AspNetCoreUser), the
 * supplementary groups of a user, the capabilities the supervisor keeps when
 * apps run as other users than Apache's (CAP_SETUID and CAP_SETGID to start
 * them and to look at their files and /proc entries as their user, CAP_KILL
 * to stop them; nothing else, and only when the configuration asks for it), the
 * switch of a spawned process to its user (after which it holds no
 * capability), and a scope in which the supervisor's file operations are
 * done as an app's user (setfsuid), so that the app's state directory and
 * stdout logs are the app's and no link its user plants can make the
 * supervisor write where that user could not. httpd-free.
 */
#ifndef AC_IDENTITY_H
#define AC_IDENTITY_H

#include <stddef.h>
#include <sys/types.h>

#define AC_IDENTITY_NAME_MAX 64
#define AC_IDENTITY_GROUPS_MAX 64

/* Where an app's user comes from. */
typedef enum {
    AC_USER_APACHE = 0,          /* Apache's User and Group (the default) */
    AC_USER_CONFIG = 1,          /* AspNetCoreUser in the main configuration */
    AC_USER_OWNER = 2            /* the app directory's owner (reserved: AspNetCoreUserFromOwner
                                  * is to come; the supervisor refuses it today) */
} ac_user_source_e;

typedef struct ac_identity_t {
    uid_t uid;
    gid_t gid;
    char name[AC_IDENTITY_NAME_MAX];
} ac_identity_t;

/* Looks `user` up (a name, or #uid as in Apache's User), and `group` (a
 * name or #gid; NULL: the user's primary group). Fills `id`. Returns NULL,
 * or a sentence in `why` (len bytes): unknown user or group, or root (uid 0
 * or gid 0: apps never run as root). */
const char *ac_identity_lookup(const char *user, const char *group, ac_identity_t *id,
                               char *why, size_t len);

/* The groups `id` belongs to (its group first, then those the group
 * database gives its name, when that name is this user's), at most `max`,
 * never gid 0. Returns how many, or -1. Not for a forked child (NSS may
 * allocate): call it before fork. */
int ac_identity_groups(const ac_identity_t *id, gid_t *groups, int max);

/* The supervisor, as root, before it becomes Apache's User: the bounding
 * set cut down to the three capabilities, and those kept across the switch
 * (PR_SET_KEEPCAPS). Returns 0 or -1. */
int ac_identity_keep_caps_begin(void);

/* ... after the switch: the three capabilities, effective and permitted, and
 * nothing else (inheritable and ambient empty). Returns 0 or -1 with errno
 * set. */
int ac_identity_keep_caps_end(void);

/* Every capability set of this thread emptied (ambient too). Safe after
 * fork. Returns 0, or -1 with errno set. */
int ac_identity_drop_caps(void);

/* Does this process hold what starting an app as another user takes? */
int ac_identity_can_switch(void);

/* A forked child, before execve: becomes `id` with `groups` (n of them),
 * holding no capability. Safe after fork (no allocation). Returns 0, or -1
 * with errno set; a switch that left uid or gid 0 is an error (EPERM). */
int ac_identity_become(const ac_identity_t *id, const gid_t *groups, int n);

/* File operations as `id` (fsuid, fsgid, its groups) until
 * ac_identity_fs_end(). When this process cannot switch, or already is
 * `id`, nothing changes. A scope may be entered again for the same user
 * (the outermost end puts the ids back); for another user it fails (EBUSY).
 * Returns 0 or -1 with errno set (then nothing changed). A change of fsuid
 * clears the parent-death signal: begin (on failure) and end set
 * `pdeath_signal` again (0: none), and send it to this process if the
 * parent named by ac_identity_set_parent is gone. */
int ac_identity_fs_begin(const ac_identity_t *id, const gid_t *groups, int n,
                         int pdeath_signal);
void ac_identity_fs_end(int pdeath_signal);
void ac_identity_set_parent(pid_t parent);
int ac_identity_fs_active(void);

/* The user this process's file operations are done as (the effective
 * user, unless within ac_identity_fs_begin). */
uid_t ac_identity_fsuid(void);

#endif /* AC_IDENTITY_H */
