/* ac_recycle: AspNetCoreRecycle (IIS periodicRestart): its settings, their
 * parsing, and the decision whether a process is due for a rolling restart
 * (by requests served, time run, resident memory, or a scheduled local
 * time that passed). The supervisor applies it (ac_sup_recycle.c).
 * httpd-free.
 */
#ifndef AC_RECYCLE_H
#define AC_RECYCLE_H

#include <time.h>
#include <apr_pools.h>

#define AC_RECYCLE_SCHEDULE_MAX 48          /* times of day in one schedule= */
#define AC_RECYCLE_REQUESTS_MAX 4000000000u
#define AC_RECYCLE_TIME_MAX (366u * 86400u) /* seconds: a year */
#define AC_RECYCLE_MEMORY_MAX (1024u * 1024u)   /* MiB: 1 TiB */
#define AC_RECYCLE_WHY_CHARS 160

typedef struct ac_recycle_t {
    unsigned requests;           /* served by one process; 0: no limit */
    unsigned time_s;             /* seconds a process runs; 0: no limit */
    unsigned memory_mib;         /* resident memory of the process and its children; 0: none */
    unsigned nschedule;
    unsigned short schedule[AC_RECYCLE_SCHEDULE_MAX];   /* minutes after local midnight,
                                                         * ascending, no duplicates */
} ac_recycle_t;

/* Parses the arguments of AspNetCoreRecycle: `requests=N`, `time=DURATION`
 * (90s, 20m, 29h, 2d, or HH:MM:SS), `memory=MiB`, `schedule=HH:MM[,HH:MM...]`,
 * each at most once, at least one; 0 for requests, time or memory is no
 * limit. `none` alone: no recycling (undoes an outer scope's). NULL, or what
 * is wrong. */
const char *ac_recycle_parse(apr_pool_t *p, const char *args, ac_recycle_t *out);

/* Is any limit set? */
int ac_recycle_any(const ac_recycle_t *rc);

/* Do the settings hold only what a configuration can give (the bytes may
 * come from any httpd child)? 1 yes. */
int ac_recycle_valid(const ac_recycle_t *rc);

/* Is a process that served `served` requests, ran `ran_s` seconds and
 * holds `rss_kib` KiB (0: not known) due for a recycle by the limits? 1
 * and why (one phrase naming the limit) in `why`, else 0. */
int ac_recycle_due(const ac_recycle_t *rc, unsigned long long served, long long ran_s,
                   unsigned long long rss_kib, char *why, apr_size_t why_len);

/* Did a scheduled time of day pass after local time `prev` up to and
 * including `now` (prev < now, less than a day apart)? 1 and the time
 * ("HH:MM") in `at`, else 0. */
int ac_recycle_schedule_passed(const ac_recycle_t *rc, const struct tm *prev,
                               const struct tm *now, char at[6]);

#endif /* AC_RECYCLE_H */
