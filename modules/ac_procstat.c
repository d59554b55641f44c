/* ac_procstat: a process group's memory and CPU time from /proc (see the header). */
#include "ac_procstat.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int ac_procstat_parse_stat(const char *line, pid_t *pgid, apr_uint64_t *utime,
                           apr_uint64_t *stime, unsigned *threads, apr_uint64_t *start)
{
    /* "pid (comm) state ppid pgrp ..." : comm may hold anything, so the
     * fields start after the LAST ')' */
    const char *p = strrchr(line, ')');
    unsigned long long f[19];
    int i;

    if (!p) {
        return -1;
    }
    for (p++; *p == ' '; p++) {
    }
    if (!*p) {
        return -1;
    }
    p++;      /* the state, one character */
    /* fields 4..22 (ppid .. starttime) as numbers; some may be negative
     * (priority, nice): read as signed then stored */
    for (i = 0; i < 19; i++) {
        char *end;
        long long v;
        while (*p == ' ') {
            p++;
        }
        errno = 0;
        v = strtoll(p, &end, 10);
        if (end == p || errno) {
            return -1;
        }
        f[i] = (unsigned long long)v;
        p = end;
    }
    /* f[0] ppid (4), f[1] pgrp (5), ..., f[10] utime (14), f[11] stime (15),
     * f[16] num_threads (20), f[18] starttime (22) */
    *pgid = (pid_t)f[1];
    *utime = f[10];
    *stime = f[11];
    *threads = (unsigned)f[16];
    *start = f[18];
    return 0;
}

/* Reads a small /proc file into `buf`; -1 if it is gone. */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0) {
        return -1;
    }
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    return 0;
}

/* The resident pages of a process, from statm's second field. */
static int rss_pages(const char *proc_root, const char *pid, apr_uint64_t *pages)
{
    char path[256], buf[256];
    unsigned long long size, resident;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s/statm", proc_root, pid) >= sizeof(path)
        || read_small(path, buf, sizeof(buf)) < 0 || sscanf(buf, "%llu %llu", &size, &resident) != 2) {
        return -1;
    }
    *pages = resident;
    return 0;
}

int ac_procstat_group(pid_t pgid, const char *proc_root, ac_procstat_t *out)
{
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    struct dirent *e;
    DIR *d;

    memset(out, 0, sizeof(*out));
    if (tick <= 0) {
        tick = 100;
    }
    if (page <= 0) {
        page = 4096;
    }
    if (!(d = opendir(proc_root))) {
        return -1;
    }
    while ((e = readdir(d))) {
        char path[256], buf[1024];
        apr_uint64_t utime, stime, start, pages;
        unsigned threads;
        pid_t group;

        if (!isdigit((unsigned char)e->d_name[0])) {
            continue;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/%s/stat", proc_root, e->d_name)
            >= sizeof(path) || read_small(path, buf, sizeof(buf)) < 0
            || ac_procstat_parse_stat(buf, &group, &utime, &stime, &threads, &start) < 0
            || group != pgid || rss_pages(proc_root, e->d_name, &pages) < 0) {
            continue;
        }
        out->processes++;
        out->tasks += threads;
        out->rss_kib += pages * (apr_uint64_t)page / 1024;
        out->cpu_ms += (utime + stime) * 1000 / (apr_uint64_t)tick;
        if (atol(e->d_name) == (long)pgid) {
            out->leader_start_ms = start * 1000 / (apr_uint64_t)tick;
        }
    }
    closedir(d);
    return 0;
}
