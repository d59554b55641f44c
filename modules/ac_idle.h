/* ac_idle: when an app registered by a request is retired, and when an
 * app's processes are stopped for want of requests (AspNetCoreIdleTimeout).
 *
 * Apps of .htaccess files (and of a web.config that changed) are not in the
 * configuration the parent sends: a request registers them. Nothing says
 * when they stop being declared (the .htaccess may be deleted, or
 * AllowOverride turned off), so the supervisor retires them:
 *  - idle: no request for the app's idle timeout
 *    (AspNetCoreDynamicAppIdleTimeout; 0: never);
 *  - unconfirmed: after a new configuration (graceful or hard restart) the
 *    app is not known to be declared any more until a request for it comes;
 *    meanwhile no process of it is started, and it is retired once none
 *    runs, or after AC_IDLE_UNCONFIRMED_GRACE (or the idle timeout, if
 *    shorter) without a request.
 * Activity is what the children already publish: the sum of the slots'
 * `served` counters moving, a request in flight or waiting. Times are
 * monotonic (apr_time_t units). httpd-free.
 */
#ifndef AC_IDLE_H
#define AC_IDLE_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_time.h>

#include "ac_launch.h"

#define AC_IDLE_DEFAULT apr_time_from_sec(20 * 60)         /* IIS's idleTimeout */
#define AC_IDLE_UNCONFIRMED_GRACE apr_time_from_sec(5 * 60)
#define AC_IDLE_CHECK_INTERVAL apr_time_from_msec(500)

typedef enum {
    AC_IDLE_KEEP = 0,
    AC_IDLE_RETIRE_IDLE,          /* no request for the idle timeout */
    AC_IDLE_RETIRE_UNCONFIRMED    /* not confirmed by a request since a new configuration */
} ac_idle_verdict_e;

typedef struct {
    uint64_t activity;            /* the served counters' sum last seen */
    apr_time_t last_active;       /* the last time a request was seen */
    int unconfirmed;              /* a configuration came since; no request yet */
    apr_time_t unconfirmed_since;
} ac_idle_t;

/* Registered (or registered again) by a request: active, confirmed. */
void ac_idle_start(ac_idle_t *t, uint64_t activity, apr_time_t now);
/* A request for the app was seen (a datagram): active, confirmed. */
void ac_idle_touch(ac_idle_t *t, apr_time_t now);
/* A new configuration came: unconfirmed from now on. */
void ac_idle_unconfirm(ac_idle_t *t, apr_time_t now);
/* What the children published: the served counters' sum; `busy`: a request
 * is in flight or waiting. A change or `busy` counts as a request. */
void ac_idle_observe(ac_idle_t *t, uint64_t activity, int busy, apr_time_t now);
/* How long an unconfirmed app is kept: the grace, or the idle timeout if
 * shorter (0: no idle timeout). */
apr_interval_time_t ac_idle_grace(apr_interval_time_t idle_timeout);
/* Retire the app now? `live`: processes of it still run. `*next` is
 * shortened to when the answer may change (untouched if never). */
ac_idle_verdict_e ac_idle_verdict(const ac_idle_t *t, apr_interval_time_t idle_timeout, int live,
                                  apr_time_t now, apr_interval_time_t *next);

/* ---- AspNetCoreIdleTimeout (IIS's idleTimeout of an app pool) ----------
 * An app with no request for its idle timeout has its processes stopped;
 * the next request starts it again. The same activity as above (an
 * ac_idle_t of its own, fed by ac_idle_observe and ac_idle_touch) says when
 * the last request was. */

#define AC_IDLE_TIMEOUT_MAX_SEC ((long)AC_IDLE_TIMEOUT_MAX)   /* 30 days (ac_launch.h) */

/* A duration: "0" (never), units "20m", "90s", "1h30m", "2d" (d, h, m, s,
 * each at most once, largest first, case-insensitive), or IIS's TimeSpan
 * "00:20:00" / "1.00:00:00" (ac_parse_timespan). Surrounding whitespace
 * allowed; at most AC_IDLE_TIMEOUT_MAX_SEC. NULL and *seconds set, or a
 * message naming the value and what is allowed (allocated from `p`). */
const char *ac_idle_parse_timeout(apr_pool_t *p, const char *s, long *seconds);

/* Stop the app's processes now (no request for `timeout`; 0: never)?
 * `*next` is shortened to when the answer may change (untouched if never). */
int ac_idle_stop_due(const ac_idle_t *t, apr_interval_time_t timeout, apr_time_t now,
                     apr_interval_time_t *next);

#endif /* AC_IDLE_H */
