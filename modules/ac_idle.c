/* ac_idle: when an app registered by a request is retired, when an idle
 * app's processes stop (see ac_idle.h). */
#include "ac_idle.h"
#include "ac_parse.h"

#include <string.h>

#include <apr_lib.h>
#include <apr_strings.h>

void ac_idle_start(ac_idle_t *t, uint64_t activity, apr_time_t now)
{
    t->activity = activity;
    t->last_active = now;
    t->unconfirmed = 0;
    t->unconfirmed_since = 0;
}

void ac_idle_touch(ac_idle_t *t, apr_time_t now)
{
    t->last_active = now;
    t->unconfirmed = 0;
}

void ac_idle_unconfirm(ac_idle_t *t, apr_time_t now)
{
    t->unconfirmed = 1;
    t->unconfirmed_since = now;
}

void ac_idle_observe(ac_idle_t *t, uint64_t activity, int busy, apr_time_t now)
{
    if (busy || activity != t->activity) {
        t->activity = activity;
        ac_idle_touch(t, now);
    }
}

apr_interval_time_t ac_idle_grace(apr_interval_time_t idle_timeout)
{
    if (idle_timeout > 0 && idle_timeout < AC_IDLE_UNCONFIRMED_GRACE) {
        return idle_timeout;
    }
    return AC_IDLE_UNCONFIRMED_GRACE;
}

static void shorten(apr_interval_time_t *next, apr_interval_time_t to)
{
    if (next && *next > to) {
        *next = to < 0 ? 0 : to;
    }
}

ac_idle_verdict_e ac_idle_verdict(const ac_idle_t *t, apr_interval_time_t idle_timeout, int live,
                                  apr_time_t now, apr_interval_time_t *next)
{
    if (t->unconfirmed) {
        apr_time_t until = t->unconfirmed_since + ac_idle_grace(idle_timeout);
        if (!live || now >= until) {
            return AC_IDLE_RETIRE_UNCONFIRMED;
        }
        shorten(next, until - now);
    }
    if (idle_timeout > 0) {
        apr_time_t until = t->last_active + idle_timeout;
        if (now >= until) {
            return AC_IDLE_RETIRE_IDLE;
        }
        shorten(next, until - now);
    }
    return AC_IDLE_KEEP;
}

/* ---- AspNetCoreIdleTimeout ------------------------------------------- */

int ac_idle_stop_due(const ac_idle_t *t, apr_interval_time_t timeout, apr_time_t now,
                     apr_interval_time_t *next)
{
    apr_time_t until;

    if (timeout <= 0) {
        return 0;
    }
    until = t->last_active + timeout;
    if (now >= until) {
        return 1;
    }
    shorten(next, until - now);
    return 0;
}

const char *ac_idle_parse_timeout(apr_pool_t *p, const char *s, long *seconds)
{
    return ac_parse_duration(p, s, AC_IDLE_TIMEOUT_MAX_SEC, seconds);
}
