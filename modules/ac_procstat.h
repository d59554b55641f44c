/* ac_procstat: what a backend costs, read from /proc: the resident memory
 * and CPU time of a process group (a backend and every process it started:
 * `dotnet` may fork), how many tasks it has, and when its leader started.
 * For recycling by memory, the status page and the memory limit's fallback.
 * httpd-free.
 */
#ifndef AC_PROCSTAT_H
#define AC_PROCSTAT_H

#include <sys/types.h>
#include <apr.h>

typedef struct {
    apr_uint64_t rss_kib;        /* resident memory of the group's processes, summed */
    apr_uint64_t cpu_ms;         /* user + system time of the group's processes, summed */
    unsigned processes;          /* processes in the group */
    unsigned tasks;              /* their threads */
    apr_uint64_t leader_start_ms;   /* the leader's start, ms after boot; 0 if gone */
} ac_procstat_t;

/* Sums the processes of process group `pgid` under `proc_root` ("/proc").
 * Processes that end while being read are skipped. Returns 0, or -1 with
 * errno when `proc_root` cannot be read; a group with no process left gives
 * 0 and all zeros. */
int ac_procstat_group(pid_t pgid, const char *proc_root, ac_procstat_t *out);

/* Parses one /proc/<pid>/stat line: its process group, user and system time
 * (clock ticks), thread count and start time (ticks after boot). 0 on
 * success, -1 if malformed (the command name may hold spaces and ')'). */
int ac_procstat_parse_stat(const char *line, pid_t *pgid, apr_uint64_t *utime,
                           apr_uint64_t *stime, unsigned *threads, apr_uint64_t *start);

#endif /* AC_PROCSTAT_H */
