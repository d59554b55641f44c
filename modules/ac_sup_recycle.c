/* ac_sup_recycle: one process of an app replaced by a rolling restart, for
 * whatever reason (AspNetCoreRecycle's limits, a failing health check, the
 * memory limit where cgroups cannot hold it), and what each process costs.
 *
 * A rolling restart starts the replacement in a free slot beside the
 * process it replaces (an app has room for as many: ac_sup_app_slots); both
 * serve until the replacement is ready; then the old process is published
 * STOPPING (children pick only READY processes) and stopped gracefully once
 * its requests are done, within shutdownTimeLimit. The pair counts as one
 * of the app's processes meanwhile (ac_sup_counted_processes), so that the
 * tick starts nothing else for it. A replacement that fails to start is a
 * failed start like any (back-off, rapid-fail limit), and the old process
 * serves on; the recycle is tried again when the back-off allows.
 *
 * Once a second (AspNetCoreRecycle memory=) or every five, each process's
 * group is read from /proc (ac_procstat) and published for the status page.
 */
#include "ac_sup_private.h"
#include "ac_procstat.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define FIGURES_INTERVAL apr_time_from_sec(5)   /* the status page: a /proc scan per process */
#define FIGURES_INTERVAL_MEMORY apr_time_from_sec(1)   /* recycling by memory: checked often */
/* requests=: the served counters are looked at this often (a busy process
 * serves a few more before its replacement is on its way) */
#define REQUESTS_CHECK_INTERVAL apr_time_from_msec(100)

/* Slot `si`'s rolling restart under way: its replacement's slot, or -1. */
static int replacement_of(const ac_sup_app_t *a, int si)
{
    int r = a->slots[si].replacement - 1;
    if (r < 0 || r >= AC_MAX_PROCESSES || !a->slots[r].pid || a->slots[r].replaces != si + 1) {
        return -1;
    }
    return r;
}

int ac_sup_counted_processes(int ai)
{
    const ac_sup_app_t *a = &ac_sup.apps[ai];
    int si, n = 0;

    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        const ac_sup_slot_t *s = &a->slots[si];
        if (s->pid && !s->recycled && replacement_of(a, si) < 0) {
            n++;
        }
    }
    return n;
}

/* A free slot for a replacement, or -1. */
static int free_slot(const ac_sup_app_t *a)
{
    int si;
    for (si = 0; si < ac_sup_app_slots(a->launch); si++) {
        if (a->slots[si].state == AC_SLOT_EMPTY && !a->slots[si].pid) {
            return si;
        }
    }
    return -1;
}

int ac_sup_recycle_slot(int ai, int si, const char *why)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    int r;

    if (s->state != AC_SLOT_READY || s->recycled || replacement_of(a, si) >= 0 || !a->active
        || ac_sup.stopping || ac_sup.held || a->offline || a->idle_stopped
        || ac_backoff_waiting(&a->backoff, ac_sup_mono())) {
        return -1;
    }
    r = free_slot(a);
    if (r < 0) {
        return -1;
    }
    ac_sup_app_log(ai, APLOG_NOTICE, 0, "recycling process %ld: %s; starting its replacement",
                   (long)s->pid, why);
    apr_cpystrn(s->recycle_why, why, sizeof(s->recycle_why));
    apr_snprintf(a->start_note, sizeof(a->start_note), "to replace process %ld", (long)s->pid);
    ac_sup_spawn_slot(ai, r);
    if (!a->slots[r].pid) {
        /* said and counted as a failed start */
        a->start_note[0] = '\0';
        ac_sup_app_log(ai, APLOG_WARNING, 0, "recycling process %ld failed: its replacement "
                       "could not be started; it serves on", (long)s->pid);
        return -1;
    }
    s->replacement = r + 1;
    a->slots[r].replaces = si + 1;
    return 0;
}

/* Slot `si` is being replaced: done (the replacement is ready), failed (it
 * is gone), or still starting. 1 if the old process now drains. */
static int follow_recycle(int ai, int si)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    int r = replacement_of(a, si);

    if (r < 0) {
        if (s->state == AC_SLOT_READY) {
            ac_sup_app_log(ai, APLOG_WARNING, 0, "recycling process %ld failed: its "
                           "replacement did not start; it serves on", (long)s->pid);
        }
        s->replacement = 0;
        return 0;
    }
    if (s->state != AC_SLOT_READY) {
        /* it crashed or is stopped for another reason: the replacement is
         * simply one of the app's processes */
        s->replacement = 0;
        a->slots[r].replaces = 0;
        return 0;
    }
    if (a->slots[r].state != AC_SLOT_READY) {
        return 0;
    }
    ac_sup_app_log(ai, APLOG_NOTICE, 0, "recycled process %ld (%s): process %ld serves in its "
                   "place; %ld stops once its %u request(s) in flight are done", (long)s->pid,
                   s->recycle_why, (long)a->slots[r].pid, (long)s->pid,
                   (unsigned)ac_slot_inflight(&ac_sup_shared_app(ai)->slots[si]));
    ac_app_publish_recycle(ac_sup_shared_app(ai), s->pid, s->recycle_why, apr_time_now());
    s->replacement = 0;
    a->slots[r].replaces = 0;
    s->recycled = 1;
    ac_sup_stop_slot(ai, si, 0);
    return 1;
}

/* Reads what the process of slot `si` costs and publishes it. */
static void read_figures(int ai, int si, apr_time_t now)
{
    ac_sup_slot_t *s = &ac_sup.apps[ai].slots[si];
    ac_procstat_t ps;
    struct stat st;
    char path[32];

    s->figures_at = now;
    if (ac_procstat_group(s->pid, "/proc", &ps) != 0 || !ps.processes) {
        return;
    }
    apr_snprintf(path, sizeof(path), "/proc/%ld", (long)s->pid);
    if (stat(path, &st) != 0) {
        return;     /* it just ended */
    }
    s->rss_kib = ps.rss_kib;
    ac_slot_publish_figures(&ac_sup_shared_app(ai)->slots[si], (uint32_t)st.st_uid, ps.tasks,
                            ps.rss_kib, ps.cpu_ms, apr_time_now());
}

/* schedule=: a time of day passed since the last look: every process is
 * due, replaced one at a time. */
static void check_schedule(int ai)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    time_t wall = time(NULL);
    struct tm prev, now;
    char at[6];
    int si, n = 0;

    if (!a->launch->recycle.nschedule || wall == a->recycle_clock) {
        return;
    }
    if (!a->recycle_clock || !localtime_r(&a->recycle_clock, &prev) || !localtime_r(&wall, &now)
        || !ac_recycle_schedule_passed(&a->launch->recycle, &prev, &now, at)) {
        a->recycle_clock = wall;
        return;
    }
    a->recycle_clock = wall;
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_slot_t *s = &a->slots[si];
        if (s->state == AC_SLOT_READY && !s->recycled) {
            s->schedule_due = 1;
            n++;
        }
    }
    ac_sup_app_log(ai, APLOG_INFO, 0, "the scheduled recycle at %s (AspNetCoreRecycle "
                   "schedule=): %d process(es), one at a time", at, n);
}

/* The first ready process past a limit, replaced (one at a time). */
static void apply_limits(int ai, apr_time_t now)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    char why[AC_RECYCLE_WHY_CHARS];
    int si;

    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        if (replacement_of(a, si) >= 0) {
            return;     /* one at a time */
        }
    }
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_slot_t *s = &a->slots[si];
        const ac_slot_t *slot = &ac_sup_shared_app(ai)->slots[si];
        uint64_t served = ac_slot_served(slot), base = slot->served_base;
        int due;

        if (s->state != AC_SLOT_READY || s->recycled) {
            continue;
        }
        due = s->schedule_due;
        if (due) {
            apr_cpystrn(why, "its scheduled time passed (AspNetCoreRecycle schedule=)",
                        sizeof(why));
        }
        else {
            due = ac_recycle_due(&a->launch->recycle, served >= base ? served - base : 0,
                                 (long long)apr_time_sec(now - s->spawned), s->rss_kib, why,
                                 sizeof(why));
        }
        if (due) {
            if (ac_sup_recycle_slot(ai, si, why) == 0) {
                s->schedule_due = 0;
            }
            return;
        }
    }
}

void ac_sup_recycle_tick(int ai, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_interval_time_t every = a->launch->recycle.memory_mib ? FIGURES_INTERVAL_MEMORY
                                                               : FIGURES_INTERVAL;
    apr_interval_time_t wake = every;
    int si;

    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_slot_t *s = &a->slots[si];
        if (s->replacement && follow_recycle(ai, si)) {
            wake = AC_SUP_PROBE_INTERVAL;   /* its requests done: the shutdown event */
        }
        if (s->replaces && a->slots[s->replaces - 1].replacement != si + 1) {
            s->replaces = 0;    /* the one it was to replace went meanwhile */
        }
        if (s->pid && now - s->figures_at >= every) {
            read_figures(ai, si, now);
        }
    }
    if (a->active && ac_recycle_any(&a->launch->recycle)) {
        check_schedule(ai);
        apply_limits(ai, now);
        if (a->launch->recycle.requests && wake > REQUESTS_CHECK_INTERVAL) {
            wake = REQUESTS_CHECK_INTERVAL;
        }
    }
    if (*sleep > wake) {
        *sleep = wake;
    }
}
