/* ac_strays: record of running backends; cleanup after a hard kill. */
#include "ac_strays.h"
#include "ac_safefile.h"

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

static unsigned long long start_time_of(apr_pool_t *p, const char *proc_root, long pid);

int ac_strays_write(const char *path, const ac_stray_t *entries, int n)
{
    /* written by the supervisor, a child of the Apache parent that owns
     * these backends (1: that parent is gone already; nobody owns them) */
    pid_t owner = getppid();
    return ac_strays_write_owned(path, entries, n, owner > 1 ? owner : 0);
}

int ac_strays_write_owned(const char *path, const ac_stray_t *entries, int n, pid_t owner)
{
    char tmp[4096];
    unsigned long long started = 0;
    apr_pool_t *scratch;
    FILE *f;
    int i, fd, err = 0;

    if (owner > 0 && apr_pool_create(&scratch, NULL) == APR_SUCCESS) {
        started = start_time_of(scratch, "/proc", (long)owner);
        apr_pool_destroy(scratch);
    }

    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        return ENAMETOOLONG;
    }
    /* a fresh file: whatever is in its place (a FIFO would block, a link
     * would be followed) goes first */
    if (unlink(tmp) < 0 && errno != ENOENT) {
        return errno;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
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
    if (fprintf(f, "owner %ld %llu\n", (long)(started ? owner : 0), started) < 0) {
        err = errno ? errno : EIO;
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

/* Fields of /proc/<pid>/stat after the command name (which may itself
 * contain spaces and parentheses): *state (field 3), *pgrp (field 5) and
 * *started (field 22, the start time in clock ticks since boot). 0, or -1. */
static int stat_fields(apr_pool_t *p, const char *proc_root, const char *pid, char *state,
                       long *pgrp, unsigned long long *started)
{
    apr_size_t len;
    char *stat = slurp(p, apr_pstrcat(p, proc_root, "/", pid, "/stat", NULL), 4096, &len);
    char *close_paren;
    long ppid;

    if (!stat || !(close_paren = strrchr(stat, ')'))) {
        return -1;
    }
    if (sscanf(close_paren + 1, " %c %ld %ld %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u "
               "%*d %*d %*d %*d %*d %*d %llu", state, &ppid, pgrp, started) != 4) {
        return -1;
    }
    return 0;
}

static pid_t process_group(apr_pool_t *p, const char *proc_root, const char *pid)
{
    long pgrp;
    unsigned long long started;
    char state;
    return stat_fields(p, proc_root, pid, &state, &pgrp, &started) == 0 ? (pid_t)pgrp : -1;
}

/* The start time of a process that runs (not a zombie: a killed Apache
 * whose parent has not reaped it yet is gone), or 0. */
static unsigned long long start_time_of(apr_pool_t *p, const char *proc_root, long pid)
{
    long pgrp;
    unsigned long long started;
    char state;
    if (stat_fields(p, proc_root, apr_ltoa(p, pid), &state, &pgrp, &started) < 0
        || state == 'Z' || state == 'X' || state == 'x') {
        return 0;
    }
    return started;
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

/* Kills what one record names and still runs. */
static int reap_record(apr_pool_t *p, char *record, const char *proc_root)
{
    char *line, *state;
    int killed = 0;

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
    return killed;
}

/* Does the Apache parent that wrote this record still run? A record
 * without an owner line (older versions) has none. */
static int owner_runs(apr_pool_t *p, const char *record, const char *proc_root)
{
    long owner;
    unsigned long long started;

    if (sscanf(record, "owner %ld %llu", &owner, &started) != 2 || owner <= 1 || !started) {
        return 0;
    }
    return start_time_of(p, proc_root, owner) == started;
}

static int is_record_name(const char *name)
{
    apr_size_t n = strlen(AC_BACKENDS_FILE);
    apr_size_t len = strlen(name);
    if (strncmp(name, AC_BACKENDS_FILE, n)) {
        return 0;
    }
    if (len > 4 && !strcmp(name + len - 4, ".tmp")) {
        return 0;
    }
    return name[n] == '\0' || name[n] == '-';
}

int ac_strays_reap(apr_pool_t *p, int dirfd, const ac_safefile_rules_t *rules,
                   const char *proc_root, ac_strays_refusal_t *refused)
{
    int killed = 0, dupfd = dup(dirfd);
    DIR *d = dupfd >= 0 ? fdopendir(dupfd) : NULL;
    struct dirent *de;

    memset(refused, 0, sizeof(*refused));
    if (!d) {
        if (dupfd >= 0) {
            close(dupfd);
        }
        return 0;
    }
    while ((de = readdir(d))) {
        apr_pool_t *scratch;
        char *record;
        apr_size_t len;
        const char *why;

        if (!is_record_name(de->d_name) || apr_pool_create(&scratch, p) != APR_SUCCESS) {
            continue;
        }
        why = ac_safefile_read(scratch, dirfd, de->d_name, rules, MAX_RECORD_BYTES,
                               &record, &len);
        if (why) {
            /* not ours to read (a FIFO, a link, someone else's file): left
             * alone, and said once by the caller */
            if (!refused->count++) {
                refused->name = apr_pstrdup(p, de->d_name);
                refused->why = apr_pstrdup(p, why);
            }
        }
        else if (!owner_runs(scratch, record, proc_root)) {
            killed += reap_record(scratch, record, proc_root);
            unlinkat(dirfd, de->d_name, 0);
        }
        apr_pool_destroy(scratch);
    }
    closedir(d);
    return killed;
}
