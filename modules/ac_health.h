/* ac_health: AspNetCoreHealthCheck, what it says and how its probes are judged.
 *
 * The supervisor probes each ready process of an app that has a health
 * check with `GET <virtual path><PATH>` carrying the process's pairing token
 * (ac_sup_health.c does the I/O). This file owns the rest, without httpd:
 * the directive's arguments (PATH [interval=S] [timeout=S] [failures=N]),
 * the probe's request, the verdict on an answer (a status of 5xx or 404, no
 * answer head within the timeout, a refused connection, a malformed or
 * oversized head: a failure; anything else from 200 to 499 passes), and the
 * streak of failures that ends with the process replaced.
 */
#ifndef AC_HEALTH_H
#define AC_HEALTH_H

#include <apr_pools.h>

#define AC_HEALTH_DEFAULT_INTERVAL 10      /* seconds */
#define AC_HEALTH_DEFAULT_TIMEOUT 5        /* seconds */
#define AC_HEALTH_DEFAULT_FAILURES 3
#define AC_HEALTH_INTERVAL_MAX 3600
#define AC_HEALTH_TIMEOUT_MAX 600
#define AC_HEALTH_FAILURES_MAX 100
#define AC_HEALTH_PATH_MAX 1024
#define AC_HEALTH_HOST_MAX 255
#define AC_HEALTH_HEAD_MAX 8192            /* an answer's head is read up to this */

/* The health check of an app; path NULL: none. */
typedef struct {
    const char *path;            /* "/healthz", relative to the app's virtual path */
    const char *host;            /* the Host field of the probes */
    int interval;                /* seconds between probes */
    int timeout;                 /* seconds an answer head has to come (<= interval) */
    int failures;                /* failures in a row that replace the process */
} ac_health_conf_t;

/* Parses the directive's arguments into *out (host left NULL); "Off" alone
 * gives a conf without path. NULL, or what is wrong. */
const char *ac_health_parse(apr_pool_t *p, int argc, char *const argv[],
                            ac_health_conf_t *out);

/* Is `path` usable as the probe's path: '/' first, then visible ASCII but
 * '#', at most AC_HEALTH_PATH_MAX bytes? */
int ac_health_path_valid(const char *path);

/* Is `host` usable in the Host field: letters, digits, '-', '.', '_', ':',
 * '[' and ']', 1 to AC_HEALTH_HOST_MAX bytes? */
int ac_health_host_valid(const char *host);

/* Checks what came from the serialized launch settings: NULL, or what is
 * out of range. A conf without path must have every number at 0. */
const char *ac_health_check_conf(const ac_health_conf_t *c);

/* The target the probe asks for: the virtual path ("/" or "/shop",
 * percent-encoded) without its trailing '/', then the path. */
const char *ac_health_target(apr_pool_t *p, const char *virtual_path, const char *path);

/* The whole probe request for `target`, with `token` (AC_TOKEN_CHARS hex
 * characters; else NULL is returned) and Connection: close. */
const char *ac_health_request(apr_pool_t *p, const char *target, const char *host,
                              const char *token, apr_size_t *len);

/* How a probe ended. */
typedef enum {
    AC_PROBE_PASSED = 0,
    AC_PROBE_STATUS,             /* a failing status (5xx, 404, 1xx, anything past 599) */
    AC_PROBE_TIMEOUT,            /* no complete answer head in time */
    AC_PROBE_REFUSED,            /* no connection (nothing listens, or it failed) */
    AC_PROBE_CLOSED,             /* closed before a complete answer head */
    AC_PROBE_MALFORMED,          /* not an HTTP/1.x answer head */
    AC_PROBE_TOO_BIG             /* a head over AC_HEALTH_HEAD_MAX */
} ac_probe_result_e;

/* The verdict on a status: AC_PROBE_PASSED for 200-499 except 404. */
ac_probe_result_e ac_health_judge_status(int status);

/* What the answer in buf[0..*len) (not NUL-terminated; modified) says,
 * once its head is complete: AC_PROBE_PASSED or a failure, with *status set
 * when a status line was read (else 0). -1 while more bytes are needed.
 * Interim answers (1xx but 101) are taken out of buf (*len shrinks). */
int ac_health_judge_head(apr_pool_t *p, char *buf, apr_size_t *len, int *status);

/* A few words for a failed probe, for the log: "503", "no answer within
 * 5 s", "connection refused", ... */
const char *ac_health_describe(apr_pool_t *p, ac_probe_result_e result, int status,
                               int timeout);

/* Failures in a row of one process. */
typedef struct {
    int failures;                /* in the current streak */
    int replaced;                /* the streak reached the limit: replaced */
} ac_health_streak_t;

typedef enum {
    AC_HEALTH_QUIET = 0,         /* nothing to say (a pass, or a later failure of a streak) */
    AC_HEALTH_FIRST_FAILURE,     /* a streak begins: warn once */
    AC_HEALTH_RECOVERED,         /* a pass ended a streak */
    AC_HEALTH_REPLACE            /* `limit` failures in a row: replace the process */
} ac_health_action_e;

/* One probe's outcome added to the streak. Once REPLACE is returned the
 * streak says QUIET to everything after. */
ac_health_action_e ac_health_record(ac_health_streak_t *s, int passed, int limit);

#endif /* AC_HEALTH_H */
