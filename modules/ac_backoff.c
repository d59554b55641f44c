/* ac_backoff: the rapid-fail limit and the back-off between restarts. */
#include "ac_backoff.h"

#include <string.h>

void ac_backoff_reset(ac_backoff_t *b)
{
    memset(b, 0, sizeof(*b));
}

/* The wait before the next start after `consecutive` failures in a row:
 * none after the first, then doubling from AC_BACKOFF_FIRST, capped. */
static apr_interval_time_t delay_after(unsigned consecutive)
{
    apr_interval_time_t delay;
    if (consecutive <= 1) {
        return 0;
    }
    /* 250 ms << 7 is past the cap already: a larger shift is never needed */
    delay = AC_BACKOFF_FIRST << (consecutive - 2 > 7 ? 7 : consecutive - 2);
    return delay > AC_BACKOFF_MAX ? AC_BACKOFF_MAX : delay;
}

void ac_backoff_failure(ac_backoff_t *b, apr_time_t now, unsigned limit,
                        ac_backoff_outcome_t *out)
{
    apr_time_t oldest = now;
    unsigned i;

    memset(out, 0, sizeof(*out));
    b->fails[b->nfails++ % AC_BACKOFF_RECORD] = now;
    for (i = 0; i < AC_BACKOFF_RECORD && i < b->nfails; i++) {
        if (now - b->fails[i] < AC_BACKOFF_WINDOW) {
            out->recent++;
            if (b->fails[i] < oldest) {
                oldest = b->fails[i];
            }
        }
    }
    b->consecutive++;
    out->delay = delay_after(b->consecutive);
    b->not_before = now + out->delay;
    if (out->recent > limit) {
        out->newly_tripped = !b->tripped;
        b->tripped = 1;
        b->not_before = oldest + AC_BACKOFF_WINDOW;
        out->tripped_for = b->not_before - now;
    }
}

void ac_backoff_ended_after(ac_backoff_t *b, apr_interval_time_t ran)
{
    if (ran >= AC_BACKOFF_STABLE) {
        b->consecutive = 0;
    }
}

int ac_backoff_waiting(const ac_backoff_t *b, apr_time_t now)
{
    return now < b->not_before;
}
