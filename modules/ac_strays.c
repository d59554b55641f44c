/* ac_strays: record of running backends; cleanup after a hard kill. */
#include "ac_strays.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <apr_strings.h>

#define MAX_RECORD_BYTES (256 * 1024)
#define MAX_ENVIRON_BYTES (1024 * 1024)

int ac_strays_write(const char *path, const ac_stray_t *entries, int n)
{
    char tmp[4096];
    FILE *f;
    int i, fd, err = 0;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        return ENAMETOOLONG;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        return errno;
    }
    f = fdopen(fd, "w");
    if (!f) {
        err = errno;
        close(fd);
        unlink(tmp);
        return err;
    }
    for (i = 0; i < n && !err; i++) {
        if (fprintf(f, "%ld %s\n", (long)entries[i].pgid, entries[i].token) < 0) {
            err = errno ? errno : EIO;
        }
    }
    if (fclose(f) != 0 && !err) {
        err = errno ? errno : EIO;
    }
    if (!err && rename(tmp, path) < 0) {
        err = errno;
    }
    if (err) {
        unlink(tmp);
    }
    return err;
}

/* Reads a whole small file into the pool (NUL-terminated), or NULL. */
static char *slurp(apr_pool_t *p, const char *path, apr_size_t max, apr_size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf;
    apr_size_t got = 0;

    if (fd < 0) {
        return NULL;
    }
    buf = apr_palloc(p, max + 1);
    while (got < max) {
        ssize_t n = read(fd, buf + got, max - got);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        got += (apr_size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *len = got;
    return buf;
}

/* The process group of /proc/<pid>, or -1 (field 5 of stat, after the
 * command name, which may itself contain spaces and parentheses). */
static pid_t process_group(apr_pool_t *p, const char *proc_root, const char *pid)
{
    apr_size_t len;
    char *stat = slurp(p, apr_pstrcat(p, proc_root, "/", pid, "/stat", NULL), 4096, &len);
    char *close_paren;
    long ppid, pgrp;
    char state;

    if (!stat || !(close_paren = strrchr(stat, ')'))) {
        return -1;
    }
    if (sscanf(close_paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) {
        return -1;
    }
    return (pid_t)pgrp;
}

static int environ_has(apr_pool_t *p, const char *proc_root, const char *pid,
                       const char *entry)
{
    apr_size_t len, off = 0, elen = strlen(entry);
    char *env = slurp(p, apr_pstrcat(p, proc_root, "/", pid, "/environ", NULL),
                      MAX_ENVIRON_BYTES, &len);

    while (env && off < len) {
        apr_size_t n = strlen(env + off);
        if (n == elen && !memcmp(env + off, entry, elen)) {
            return 1;
        }
        off += n + 1;
    }
    return 0;
}

int ac_strays_reap(apr_pool_t *p, const char *path, const char *proc_root)
{
    apr_size_t len;
    char *record = slurp(p, path, MAX_RECORD_BYTES, &len), *line, *state;
    int killed = 0;

    if (!record) {
        return 0;
    }
    for (line = apr_strtok(record, "\n", &state); line; line = apr_strtok(NULL, "\n", &state)) {
        char token[41];
        long pgid;
        const char *entry;
        DIR *d;
        struct dirent *de;
        int ours = 0;

        if (sscanf(line, "%ld %40s", &pgid, token) != 2 || pgid <= 1) {
            continue;
        }
        entry = apr_pstrcat(p, "ASPNETCORE_TOKEN=", token, NULL);
        d = opendir(proc_root);
        if (!d) {
            break;
        }
        /* Is any member of that group still one of ours? */
        while (!ours && (de = readdir(d))) {
            apr_pool_t *scratch;
            if (de->d_name[0] < '0' || de->d_name[0] > '9') {
                continue;
            }
            if (apr_pool_create(&scratch, p) != APR_SUCCESS) {
                break;
            }
            ours = process_group(scratch, proc_root, de->d_name) == (pid_t)pgid
                   && environ_has(scratch, proc_root, de->d_name, entry);
            apr_pool_destroy(scratch);
        }
        closedir(d);
        if (ours && kill((pid_t)-pgid, SIGKILL) == 0) {
            killed++;
        }
    }
    unlink(path);
    return killed;
}
