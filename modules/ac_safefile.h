/* ac_safefile: opening files in directories that others can write.
 *
 * The httpd parent runs as root, and Apache's User can write the module's
 * runtime directory and the apps' directories. A file opened there by root
 * could be a FIFO (open would block forever), a device, or a symbolic link to
 * a file the User may not read. Every such open goes through here: it never
 * blocks (O_NONBLOCK, then fstat), takes only regular files, refuses
 * symbolic links where asked (O_NOFOLLOW, relative to an already checked
 * directory descriptor) and checks who owns or may read the file. httpd-free.
 */
#ifndef AC_SAFEFILE_H
#define AC_SAFEFILE_H

#include <sys/types.h>
#include <apr_pools.h>

typedef struct {
    int nofollow;            /* refuse a symbolic link as the last component */
    int check_owner;         /* must be owned by `owner` */
    uid_t owner;
    int check_readable;      /* must be readable by reader_uid/reader_gid by its mode bits */
    uid_t reader_uid;
    gid_t reader_gid;
} ac_safefile_rules_t;

/* Opens `name` (relative to `dirfd`, or AT_FDCWD) read-only, close-on-exec,
 * without blocking, and checks it against `rules`: a descriptor (blocking
 * again, ready to read), or -1 with *why saying what was wrong (a static
 * string: "a symbolic link", "not a regular file", ...; errno's text when
 * open itself failed). */
int ac_safefile_open(int dirfd, const char *name, const ac_safefile_rules_t *rules,
                     const char **why);

/* Reads such a file whole into `p` (NUL-terminated): NULL, or why not.
 * A file of more than `max` bytes is refused, not cut. */
const char *ac_safefile_read(apr_pool_t *p, int dirfd, const char *name,
                             const ac_safefile_rules_t *rules, apr_size_t max,
                             char **buf, apr_size_t *len);

/* Opens a directory without following a symbolic link: a descriptor, or -1
 * with *why. */
int ac_safefile_open_dir(int dirfd, const char *name, const char **why);

/* ac_safefile_read with the filesystem identity of uid/gid (setfsuid,
 * setfsgid, no supplementary groups) for the time of the open, plus the
 * rules: for root reading a file named from a directory another user can
 * write, so that a link leads only where that user could go itself.
 * The process must be single-threaded (the httpd parent is). */
const char *ac_safefile_read_as(apr_pool_t *p, const char *path, uid_t uid, gid_t gid,
                                const ac_safefile_rules_t *rules, apr_size_t max,
                                char **buf, apr_size_t *len);

#endif /* AC_SAFEFILE_H */
