/* ac_statedir: the apps' state directories: names and safe creation. */
#include "ac_statedir.h"
#include "ac_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_lib.h>
#include <apr_sha1.h>
#include <apr_strings.h>

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_CLOEXEC)
#define HASH_HEX 8

const char *ac_statedir_app_id(apr_pool_t *p, const char *app_root)
{
    unsigned char digest[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t sha;
    apr_size_t n = strlen(app_root), i, out = 0;
    char *name = apr_palloc(p, n + HASH_HEX + 2);
    const char *kept;
    int dash = 1;            /* drops a leading '-' */

    for (i = 0; i < n; i++) {
        char c = app_root[i];
        if (apr_isalnum(c) || c == '.' || c == '_' || (c == '-' && !dash)) {
            name[out++] = c;
            dash = c == '-';
        }
        else if (!dash) {
            name[out++] = '-';
            dash = 1;
        }
    }
    while (out > 0 && name[out - 1] == '-') {
        out--;
    }
    name[out] = '\0';
    kept = out > AC_STATEDIR_NAME_MAX ? name + out - AC_STATEDIR_NAME_MAX : name;
    apr_sha1_init(&sha);
    apr_sha1_update_binary(&sha, (const unsigned char *)app_root, (unsigned int)n);
    apr_sha1_final(digest, &sha);
    return apr_psprintf(p, "%s%s%02x%02x%02x%02x", kept, *kept ? "-" : "", digest[0], digest[1],
                        digest[2], digest[3]);
}

const char *ac_statedir_default(apr_pool_t *p, const char *root, const char *user,
                                const char *app_root)
{
    apr_size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') {
        n--;
    }
    return apr_psprintf(p, "%.*s/%s/%s", (int)n, root, user, ac_statedir_app_id(p, app_root));
}

/* May a link in the directory `fd` be followed? Only when nobody but root
 * or the caller could have put it there. */
static int only_trusted_write(int fd)
{
    struct stat st;
    return fstat(fd, &st) == 0 && (st.st_uid == 0 || st.st_uid == geteuid())
           && !(st.st_mode & (S_IWGRP | S_IWOTH));
}

/* Opens component `name` of `shown` in the directory `cur`: -1 with *why. */
static int open_component(apr_pool_t *p, int cur, const char *name, const char *shown,
                          int create, const char **why)
{
    struct stat st;
    int fd = openat(cur, name, DIR_FLAGS | O_NOFOLLOW);

    if (fd < 0 && errno == ENOENT && create) {
        if (mkdirat(cur, name, 0755) == 0) {
            fd = openat(cur, name, DIR_FLAGS | O_NOFOLLOW);
            /* the umask must not keep the app's user out of what lies below;
             * but where others may write, what is open now may be a directory
             * of root's swapped in since the mkdir: its mode is left alone */
            if (fd >= 0 && only_trusted_write(cur) && fchmod(fd, 0755) < 0) {
                *why = apr_psprintf(p, "cannot set the mode of %s: %s", shown, strerror(errno));
                close(fd);
                return -1;
            }
        }
        else if (errno == EEXIST) {
            fd = openat(cur, name, DIR_FLAGS | O_NOFOLLOW);
        }
        else {
            *why = apr_psprintf(p, "cannot create %s: %s", shown, strerror(errno));
            return -1;
        }
    }
    if (fd >= 0) {
        return fd;
    }
    if ((errno == ELOOP || errno == ENOTDIR)
        && fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
        if (!only_trusted_write(cur)) {
            *why = apr_psprintf(p, "%s is a symbolic link in a directory others can write: "
                                "not followed", shown);
            return -1;
        }
        fd = openat(cur, name, DIR_FLAGS);
        if (fd >= 0) {
            return fd;
        }
    }
    *why = apr_psprintf(p, "cannot open %s: %s", shown,
                        errno == ENOTDIR ? "not a directory" : strerror(errno));
    return -1;
}

int ac_statedir_open_path(apr_pool_t *p, const char *path, int create, const char **why)
{
    char *copy, *name, *state;
    const char *shown = "";
    int cur;

    if (path[0] != '/') {
        *why = apr_psprintf(p, "%s is not an absolute path", path);
        return -1;
    }
    cur = open("/", DIR_FLAGS);
    if (cur < 0) {
        *why = apr_psprintf(p, "cannot open /: %s", strerror(errno));
        return -1;
    }
    copy = apr_pstrdup(p, path);
    for (name = apr_strtok(copy, "/", &state); name; name = apr_strtok(NULL, "/", &state)) {
        int next;
        if (!strcmp(name, ".")) {
            continue;
        }
        shown = apr_pstrcat(p, shown, "/", name, NULL);
        if (!strcmp(name, "..")) {
            *why = apr_psprintf(p, "%s: a path with '..' is not taken", path);
            close(cur);
            return -1;
        }
        next = open_component(p, cur, name, shown, create, why);
        close(cur);
        if (next < 0) {
            return -1;
        }
        cur = next;
    }
    return cur;
}

int ac_statedir_claim(apr_pool_t *p, int dirfd, const char *name, const char *shown,
                      uid_t uid, gid_t gid, const char **why)
{
    int made = 0, fd;
    struct stat st;

    if (uid != ac_identity_fsuid() && !only_trusted_write(dirfd)) {
        /* What root makes here it gives away through a descriptor opened
         * after the mkdir: in between, whoever may write this directory
         * could put one of root's directories in its place. So root makes
         * nothing here (the app's user does, at the start of a process). */
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT) {
            *why = apr_psprintf(p, "%s is not made by root in a directory others than root "
                                "can write (it is made by the app's user, or make it yourself, "
                                "owned by uid %ld, mode 0700)", shown, (long)uid);
            return 1;
        }
    }
    else if (mkdirat(dirfd, name, 0700) == 0) {
        made = 1;
    }
    else if (errno != EEXIST) {
        *why = apr_psprintf(p, "cannot create %s: %s", shown, strerror(errno));
        return -1;
    }
    fd = openat(dirfd, name, DIR_FLAGS | O_NOFOLLOW);
    if (fd < 0) {
        int e = errno;
        /* O_NOFOLLOW | O_DIRECTORY on a link fails with ENOTDIR */
        int link = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
        *why = apr_psprintf(p, "%s is %s", shown,
                            link ? "a symbolic link: not followed"
                            : e == ENOTDIR ? "not a directory"
                            : apr_pstrcat(p, "not usable: ", strerror(e), NULL));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        *why = apr_psprintf(p, "cannot look at %s: %s", shown, strerror(errno));
    }
    else if (st.st_uid != uid && !(made && st.st_uid == ac_identity_fsuid())) {
        *why = apr_psprintf(p, "%s is owned by uid %ld, not by the app's user (uid %ld): not "
                            "used (give it to that user, or remove it to have it made)",
                            shown, (long)st.st_uid, (long)uid);
    }
    else if (st.st_uid != uid && fchown(fd, uid, gid) < 0) {
        *why = apr_psprintf(p, "cannot give %s to uid %ld: %s", shown, (long)uid,
                            strerror(errno));
    }
    else if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0) {
        *why = apr_psprintf(p, "cannot set the mode of %s to 0700: %s", shown,
                            strerror(errno));
    }
    else {
        close(fd);
        return 0;
    }
    close(fd);
    return -1;
}

int ac_statedir_prepare(apr_pool_t *p, const char *path, int create_parents,
                        uid_t uid, gid_t gid, const char **why)
{
    const char *slash = strrchr(path, '/');
    const char *parent, *name;
    int dirfd, rc;

    if (path[0] != '/' || !slash || !slash[1]) {
        *why = apr_psprintf(p, "%s is not an absolute path to a directory", path);
        return -1;
    }
    parent = slash == path ? "/" : apr_pstrmemdup(p, path, (apr_size_t)(slash - path));
    name = slash + 1;
    if (!strcmp(name, ".") || !strcmp(name, "..")) {
        *why = apr_psprintf(p, "%s: a path ending in '.' or '..' is not taken", path);
        return -1;
    }
    dirfd = ac_statedir_open_path(p, parent, create_parents, why);
    if (dirfd < 0) {
        return -1;
    }
    rc = ac_statedir_claim(p, dirfd, name, path, uid, gid, why);
    close(dirfd);
    return rc;
}

char **ac_statedir_setenv(apr_pool_t *p, char **envp, const char *name, const char *value)
{
    apr_size_t n = strlen(name), count = 0, i, out_n = 0;
    char **out;

    while (envp && envp[count]) {
        count++;
    }
    out = apr_palloc(p, sizeof(char *) * (count + 2));
    for (i = 0; i < count; i++) {
        if (strncmp(envp[i], name, n) || envp[i][n] != '=') {
            out[out_n++] = envp[i];
        }
    }
    out[out_n++] = apr_pstrcat(p, name, "=", value, NULL);
    out[out_n] = NULL;
    return out;
}
