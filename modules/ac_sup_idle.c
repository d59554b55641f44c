/* ac_sup_idle: AspNetCoreIdleTimeout (IIS's idleTimeout of an app pool).
 *
 * An app whose processes get no request for its idle timeout (none
 * arrived and none is in flight or waiting: a long download or an open
 * WebSocket keeps it busy) has them stopped the way every stop goes (the
 * shutdown event first, ac_sup_stop_slot), and is then idle-stopped:
 * nothing is started for it, whatever its start mode, until a request asks
 * for a process (the AC_REQ_START datagram a child sends when it finds none
 * ready); that request waits as on a first start. The requests are what the
 * children count already (ac_sup_requests_seen: served, in flight, waiting),
 * sampled every AC_IDLE_CHECK_INTERVAL; the policy is ac_idle's. The clock
 * runs only while a process is ready: a process always gets the whole idle
 * timeout. A restart of Apache (stop-all) or app_offline.htm ends an idle
 * stop: AlwaysRunning apps start with Apache and after a deploy. Not to be confused with the retiring of apps
 * registered by requests (AspNetCoreDynamicAppIdleTimeout, ac_sup_apps.c),
 * which forgets the app; both apply to such an app.
 */
#include "ac_sup_private.h"

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

static void set_idle_stopped(int ai, int stopped)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];

    a->idle_stopped = stopped;
    ac_app_publish_idle(ac_sup_shared_app(ai), (uint32_t)stopped,
                        (uint32_t)a->launch->idle_timeout, apr_time_now());
    ac_app_notify(ac_sup_shared_app(ai));
}

/* No request for the idle timeout: every process stops gracefully. */
static void stop_idle_app(int ai)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    char pids[256];
    int si;

    ac_sup_pid_list(ai, pids, sizeof(pids));
    ac_sup_app_log(ai, APLOG_NOTICE, 0, "no request for %d s (AspNetCoreIdleTimeout): stopping "
                   "its processes (%s); the next request starts it again",
                   a->launch->idle_timeout, pids);
    set_idle_stopped(ai, 1);
    a->wanted = 0;
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_stop_slot(ai, si, 0);
    }
}

void ac_sup_idle_tick(int ai, apr_time_t now)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    uint64_t seen;
    int busy;

    if (a->idle_stopped && (ac_sup.held || a->offline)) {
        /* Apache stops or restarts, or a deploy put app_offline.htm up:
         * afterwards the app starts as its start mode says, as at any start
         * of Apache or the end of a deploy */
        set_idle_stopped(ai, 0);
        a->idle_stop_checked = 0;
        return;
    }
    if (a->launch->idle_timeout <= 0 || a->idle_stopped || !a->active || a->offline
        || a->replaced_by >= 0 || ac_sup.stopping || ac_sup.held) {
        return;
    }
    if (a->idle_stop_checked && now - a->idle_stop_checked < AC_IDLE_CHECK_INTERVAL) {
        return;
    }
    seen = ac_sup_requests_seen(ai, &busy);
    if (!a->idle_stop_checked || !ac_sup_any_ready(ai)) {
        /* the clock starts when a process is ready */
        ac_idle_start(&a->idle_stop, seen, now);
        a->idle_stop_checked = now;
        return;
    }
    a->idle_stop_checked = now;
    ac_idle_observe(&a->idle_stop, seen, busy, now);
    if (ac_idle_stop_due(&a->idle_stop, apr_time_from_sec(a->launch->idle_timeout), now, NULL)) {
        stop_idle_app(ai);
    }
}

void ac_sup_idle_requested(int ai, apr_time_t now)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];

    ac_idle_touch(&a->idle_stop, now);
    if (!a->idle_stopped) {
        return;
    }
    set_idle_stopped(ai, 0);
    ac_sup_app_log(ai, APLOG_INFO, 0, "a request after an idle stop: starting the app");
    apr_cpystrn(a->start_note, "a request after an idle stop", sizeof(a->start_note));
}
