/* ac_backoff: when an app whose processes keep failing may start again.
 *
 * The supervisor's restart policy. A failure (a start that could not run, a
 * process that died before it listened, a crash) is recorded with its time.
 * The first failure in a row restarts at once; each further one waits twice
 * as long as the one before (250 ms, 500 ms, ... up to 30 s). More than
 * rapidFailsPerMinute failures within the last minute trip the app: no start
 * until the minute that holds them has passed. A process that ran 30 s or
 * more before it ended is not part of a crash loop: the count in a row starts
 * over. Times are monotonic (apr_time_t units). httpd-free.
 */
#ifndef AC_BACKOFF_H
#define AC_BACKOFF_H

#include <apr_time.h>

#define AC_BACKOFF_RECORD 101                      /* failures remembered (> the limit's max) */
#define AC_BACKOFF_WINDOW apr_time_from_sec(60)    /* rapidFailsPerMinute's minute */
#define AC_BACKOFF_FIRST apr_time_from_msec(250)   /* the second failure in a row waits this */
#define AC_BACKOFF_MAX apr_time_from_sec(30)
#define AC_BACKOFF_STABLE apr_time_from_sec(30)    /* ran this long: not a crash loop */

typedef struct {
    apr_time_t fails[AC_BACKOFF_RECORD];   /* times of recent failures (a ring) */
    unsigned nfails;                       /* failures recorded since the last reset */
    unsigned consecutive;                  /* failures in a row */
    int tripped;                           /* over the limit: no start before not_before */
    apr_time_t not_before;                 /* no start before this */
} ac_backoff_t;

/* What one failure did. */
typedef struct {
    unsigned recent;               /* failures within the window, this one included */
    apr_interval_time_t delay;     /* the back-off it earned (when not tripped) */
    int newly_tripped;             /* it took the app past the limit */
    apr_interval_time_t tripped_for;   /* tripped: how long until the window has passed */
} ac_backoff_outcome_t;

/* Forgets every failure: a deploy starts afresh. */
void ac_backoff_reset(ac_backoff_t *b);

/* Records a failure at `now` against a limit of `limit` a minute. */
void ac_backoff_failure(ac_backoff_t *b, apr_time_t now, unsigned limit,
                        ac_backoff_outcome_t *out);

/* A process that was ready ended after running `ran`: if long enough, the
 * failures in a row start over (the failure itself is recorded apart). */
void ac_backoff_ended_after(ac_backoff_t *b, apr_interval_time_t ran);

/* The back-off in force: nonzero while no start may happen at `now`. */
int ac_backoff_waiting(const ac_backoff_t *b, apr_time_t now);

#endif /* AC_BACKOFF_H */
