/* ac_safefile: opening files in directories that others can write. */
#include "ac_safefile.h"

#include <errno.h>
#include <stdlib.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <grp.h>
#include <sys/fsuid.h>
#include <sys/stat.h>

static int readable_by(const struct stat *st, uid_t uid, gid_t gid)
{
    if (st->st_uid == uid) {
        return (st->st_mode & S_IRUSR) != 0;
    }
    if (st->st_gid == gid) {
        return (st->st_mode & S_IRGRP) != 0;
    }
    return (st->st_mode & S_IROTH) != 0;
}

int ac_safefile_open(int dirfd, const char *name, const ac_safefile_rules_t *rules,
                     const char **why)
{
    int flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (rules->nofollow ? O_NOFOLLOW : 0);
    struct stat st;
    int fd = openat(dirfd, name, flags);

    if (fd < 0) {
        *why = errno == ELOOP && rules->nofollow ? "a symbolic link (not followed)"
                                                 : strerror(errno);
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *why = strerror(errno);
    }
    else if (!S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        errno = EINVAL;
    }
    else if (rules->check_owner && st.st_uid != rules->owner) {
        *why = "owned by another user than expected";
        errno = EPERM;
    }
    else if (rules->check_readable
             && !readable_by(&st, rules->reader_uid, rules->reader_gid)) {
        *why = "not readable by Apache's User (its mode bits)";
        errno = EACCES;
    }
    else if (fcntl(fd, F_SETFL, 0) < 0) {
        *why = strerror(errno);
    }
    else {
        return fd;
    }
    {
        int saved = errno;
        close(fd);
        errno = saved;
    }
    return -1;
}

const char *ac_safefile_read(apr_pool_t *p, int dirfd, const char *name,
                             const ac_safefile_rules_t *rules, apr_size_t max,
                             char **buf, apr_size_t *len)
{
    const char *why = NULL;
    int fd = ac_safefile_open(dirfd, name, rules, &why);
    apr_size_t got = 0;
    char *b;

    if (fd < 0) {
        return why;
    }
    /* one byte more than allowed tells a file that is too big */
    b = apr_palloc(p, max + 2);
    while (got <= max) {
        ssize_t n = read(fd, b + got, max + 1 - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            why = strerror(errno);
            break;
        }
        if (n == 0) {
            break;
        }
        got += (apr_size_t)n;
    }
    close(fd);
    if (why) {
        return why;
    }
    if (got > max) {
        return "too big";
    }
    b[got] = '\0';
    *buf = b;
    *len = got;
    return NULL;
}

int ac_safefile_open_dir(int dirfd, const char *name, const char **why)
{
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        *why = errno == ELOOP || errno == ENOTDIR ? "a symbolic link or not a directory"
                                                  : strerror(errno);
    }
    return fd;
}

#define MAX_SAVED_GROUPS 256

const char *ac_safefile_read_as(apr_pool_t *p, const char *path, uid_t uid, gid_t gid,
                                const ac_safefile_rules_t *rules, apr_size_t max,
                                char **buf, apr_size_t *len)
{
    gid_t groups[MAX_SAVED_GROUPS];
    int ngroups = getgroups(MAX_SAVED_GROUPS, groups);
    uid_t old_uid;
    gid_t old_gid;
    const char *why;

    if (ngroups < 0 || setgroups(1, &gid) < 0) {
        return "cannot take Apache's User's identity to read it";
    }
    old_gid = (gid_t)setfsgid(gid);
    old_uid = (uid_t)setfsuid(uid);
    why = ac_safefile_read(p, AT_FDCWD, path, rules, max, buf, len);
    setfsuid(old_uid);
    setfsgid(old_gid);
    if (setgroups((size_t)ngroups, groups) < 0) {
        /* cannot happen for root; never go on with the wrong groups */
        abort();
    }
    return why;
}
