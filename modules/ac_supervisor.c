/* ac_supervisor: one process owning every backend of every app.
 *
 * This file is the supervisor's loop: setting the process up, the poll over
 * the control channel (the parent), the request datagrams (the children),
 * a signalfd and every backend's pipes, and the tick that drives the timers
 * (readiness probes, stop deadlines, starts). What the loop acts on lives in
 * ac_sup_apps.c, ac_sup_procs.c and ac_sup_output.c (ac_sup_private.h).
 */
#include "ac_sup_private.h"
#include "ac_identity.h"
#include "ac_channel.h"
#include "ac_sockio.h"
#include "ac_spawn.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>

#include <http_log.h>
#include <ap_listen.h>
#include <mod_unixd.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

ac_sup_t ac_sup;

/* ---- the tick ---------------------------------------------------------- */

static void shorten(apr_interval_time_t *sleep, apr_interval_time_t to)
{
    if (*sleep > to) {
        *sleep = to;
    }
}

/* A STARTING process: does it listen yet (and is it the one listening)? */
static void probe_starting(int ai, int si, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    int fd, ready = 0;

    if (ac_sock_connect_loopback(s->port, apr_time_from_msec(50), &fd) == APR_SUCCESS) {
        close(fd);
        /* the answer must come from the app, not from another program that
         * took the port (-1, cannot tell: trust it) */
        ready = ac_sup_listener_is_app(ai, s) != 0;
    }
    if (ready) {
        s->state = AC_SLOT_READY;
        s->ready_at = ac_sup_mono();
        ac_sup_forget_startup_output(s);
        ac_sup_publish_slot(ai, si);
        ac_app_publish_failed(ac_sup_shared_app(ai), 0);
        ac_app_publish_fail_reason(ac_sup_shared_app(ai), AC_FAIL_NONE, 0, 0);
        ac_app_notify(ac_sup_shared_app(ai));
        a->backoff.tripped = 0;
        a->collisions = 0;
        ac_sup_app_log(ai, APLOG_INFO, 0, "process %ld listens on port %u after %ld ms",
                       (long)s->pid, s->port, (long)apr_time_as_msec(s->ready_at - s->spawned));
        ac_sup_retire_predecessors(ai);
    }
    else if (now >= s->kill_at) {
        ac_sup_app_error(ai, 0, "process %ld did not listen on port %u within %d s "
                         "(startupTimeLimit): killing it", (long)s->pid, s->port,
                         a->launch->startup_time_limit);
        s->failed_start = 1;
        s->state = AC_SLOT_STOPPING;
        s->kill_sent = 1;
        ac_sup_publish_slot(ai, si);
        ac_spawn_signal_group(s->pid, SIGKILL);
    }
    else {
        shorten(sleep, AC_SUP_PROBE_INTERVAL);
    }
}

/* A STOPPING process: the shutdown event or SIGTERM once its requests are
 * done (or half the time is up), SIGKILL when all of it is. */
static void drive_stopping(int ai, int si, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    ac_slot_t *slot = &ac_sup_shared_app(ai)->slots[si];

    if (!s->term_sent && (now >= s->term_at || ac_slot_inflight(slot) == 0)) {
        s->term_sent = 1;
        if (s->ready_at && !ac_sup.stopping) {
            ac_sup_send_shutdown_event(ai, si);
        }
        else {
            ac_spawn_signal_group(s->pid, SIGTERM);
        }
    }
    if (s->shutdown_fd >= 0 && now >= s->shutdown_answer_by) {
        ac_sup_finish_shutdown_event(ai, si, 1);
    }
    if (now >= s->kill_at) {
        ac_sup_app_log(ai, APLOG_WARNING, 0, "process %ld did not stop within %d s "
                       "(shutdownTimeLimit): killing it", (long)s->pid,
                       a->launch->shutdown_time_limit);
        s->kill_sent = 1;
        ac_spawn_signal_group(s->pid, SIGKILL);
    }
    else {
        shorten(sleep, AC_SUP_PROBE_INTERVAL);
    }
}

/* Starts what app `ai` is missing, unless it may not start now. */
static void start_missing(int ai, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    int si, missing;

    if (!a->active || ac_sup.stopping || ac_sup.held || a->offline
        || (a->launch->ondemand && !a->wanted) || (a->dynamic && a->idle.unconfirmed)
        || a->idle_stopped) {
        return;     /* an unconfirmed or idle-stopped app waits for a request (ac_idle.h) */
    }
    if (ac_backoff_waiting(&a->backoff, now)) {
        shorten(sleep, a->backoff.not_before - now);
        return;
    }
    if (a->backoff.tripped && !ac_sup_any_ready(ai)) {
        a->backoff.tripped = 0;     /* the window has passed: try again */
        ac_sup_publish_trip(ai, 0);
        apr_cpystrn(a->start_note, "the rapid-fail minute has passed", sizeof(a->start_note));
    }
    /* any free slot: after a rolling restart the app's processes may sit in
     * the room for replacements (ac_sup_recycle.c) */
    missing = a->launch->processes - ac_sup_counted_processes(ai);
    for (si = 0; missing > 0 && si < ac_sup_app_slots(a->launch); si++) {
        if (a->slots[si].state == AC_SLOT_EMPTY) {
            missing--;
            ac_sup_spawn_slot(ai, si);
            shorten(sleep, AC_SUP_PROBE_INTERVAL);
            if (ac_backoff_waiting(&a->backoff, ac_sup_mono())) {
                break;      /* that start failed: back off */
            }
        }
    }
}

/* One app's timers. */
static void tick_app(int ai, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    int si, live = 0;

    ac_sup_report_dropped_output(a, now);
    if (a->active) {
        ac_sup_check_offline(ai, now);
    }
    ac_sup_check_suspects(ai);
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_slot_t *s = &a->slots[si];
        if (!s->pid) {
            continue;
        }
        live++;
        ac_sup_health_tick(ai, si, now, sleep);
        if (s->state == AC_SLOT_STARTING) {
            probe_starting(ai, si, now, sleep);
        }
        else if (s->state == AC_SLOT_STOPPING && !s->kill_sent) {
            drive_stopping(ai, si, now, sleep);
        }
    }
    ac_sup_recycle_tick(ai, now, sleep);
    ac_sup_check_idle(ai, live, now, sleep);
    ac_sup_idle_tick(ai, now);
    ac_sup_limits_check(ai, now, sleep);
    if (!a->active && !live) {
        ac_sup_free_app(ai);    /* retired and drained: the entry may be reused */
        return;
    }
    start_missing(ai, now, sleep);
}

/* Timers: readiness probes, stop deadlines, (re)starts. Returns how long
 * the loop may sleep. */
static apr_interval_time_t tick(void)
{
    apr_time_t now = ac_sup_mono();
    apr_interval_time_t sleep = AC_SUP_OFFLINE_CHECK_INTERVAL;
    int ai;

    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        if (ac_sup.apps[ai].in_use) {
            tick_app(ai, now, &sleep);
        }
    }
    return sleep;
}

/* ---- the parent and the children --------------------------------------- */

static void handle_control(void)
{
    apr_pool_t *p;
    uint32_t type, len;
    char *payload;
    int fds[AC_CTL_MAX_FDS];
    unsigned nfds = 0, i;
    apr_status_t rv;

    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        return;
    }
    rv = ac_control_read_fds(ac_sup.control_fd, p, &type, &payload, &len, apr_time_from_sec(5),
                             fds, &nfds);
    if (rv == APR_SUCCESS && type == AC_CTL_LOG_TARGETS) {
        ac_sup_take_log_targets(payload, len, fds, nfds);
        nfds = 0;
    }
    for (i = 0; i < nfds; i++) {
        close(fds[i]);      /* none is expected with another message */
    }
    if (rv != APR_SUCCESS) {
        if (!ac_sup.stopping) {
            ap_log_error(APLOG_MARK, rv == APR_EOF ? APLOG_INFO : APLOG_WARNING, rv, ac_sup.s,
                         "httpd is gone: stopping every app");
        }
        ac_sup.stopping = 1;
        close(ac_sup.control_fd);
        ac_sup.control_fd = -1;
        ac_sup_stop_all(1);
    }
    else if (type == AC_CTL_CONFIG) {
        ac_sup_apply_config(payload, len);
    }
    else if (type == AC_CTL_STOP_ALL) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ac_sup.s,
                     "httpd stops or restarts: stopping every app");
        ac_sup.held = 1;
        ac_sup_stop_all(1);
    }
    apr_pool_destroy(p);
}

static void handle_requests(void)
{
    static char payload[AC_REQ_MAX_PAYLOAD];
    ac_request_msg_t m;
    apr_size_t len;

    while (ac_request_recv(ac_sup.args->request_fd, &m, payload, &len) == APR_SUCCESS) {
        ac_sup_app_t *a;
        if (m.type == AC_REQ_REGISTER) {
            if (!ac_sup.stopping) {
                ac_sup_register(payload, len, m.slot);
            }
            continue;
        }
        if (m.app >= AC_MAX_APPS || !ac_sup.apps[m.app].in_use) {
            continue;
        }
        a = &ac_sup.apps[m.app];
        if (m.type == AC_REQ_START) {
            /* The tick starts what is missing (and re-tries a failed start once
             * its back-off has passed); an OnDemand app now is wanted. */
            if (!a->wanted) {
                ac_sup_app_log((int)m.app, APLOG_DEBUG, 0, "a request asks for a process");
            }
            a->wanted = 1;
            ac_sup_app_requested((int)m.app, ac_sup_mono());
        }
        else if (m.type == AC_REQ_BROKEN && m.slot < AC_MAX_PROCESSES) {
            ac_sup_check_broken((int)m.app, (int)m.slot, m.incarnation);
        }
    }
}

static void handle_signals(void)
{
    struct signalfd_siginfo si;
    while (read(ac_sup.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            ac_sup_reap();
        }
        else if (!ac_sup.stopping) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, ac_sup.s,
                         "supervisor: signal %u: stopping every app", si.ssi_signo);
            ac_sup.stopping = 1;
            ac_sup_stop_all(1);
        }
    }
}

/* ---- setup ------------------------------------------------------------- */

/* Our own process group, Apache's User, no listeners; dies with httpd.
 * With `keep_caps`, the three capabilities that starting apps as other users
 * takes stay (docs/security.md). */
static void become_unprivileged(int keep_caps)
{
    pid_t parent = getppid();

    /* Our own process group: signals httpd sends to its group (prefork
     * does on restarts) are not for us; the control channel tells us. */
    if (setpgid(0, 0) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "supervisor: setpgid");
    }
    ap_close_listeners();
    keep_caps = keep_caps && geteuid() == 0;
    if (keep_caps && ac_identity_keep_caps_begin() < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "supervisor: cannot keep the capabilities to start apps as other users");
        keep_caps = 0;
    }
    if (geteuid() == 0 && ap_unixd_setup_child() != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, ac_sup.s,
                     "supervisor: cannot switch to the User/Group of Apache");
        _exit(1);
    }
    /* Apache's User, with CAP_SETUID, CAP_SETGID and CAP_KILL only
     * (ac_identity.h) */
    if (keep_caps && ac_identity_keep_caps_end() < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "supervisor: cannot keep the capabilities to start apps as other users: "
                     "apps with AspNetCoreUser do not start");
        if (ac_identity_drop_caps() < 0) {
            _exit(1);
        }
    }
    if (geteuid() == 0 || getuid() == 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, ac_sup.s,
                     "supervisor: Apache's User is root; apps are never run as root");
        _exit(1);
    }
    /* After the switch of user, which clears it: die with httpd. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent) {
        _exit(1);
    }
    ac_identity_set_parent(parent);      /* file work as an app's user clears it too */
}

/* Signals come through a signalfd: SIGCHLD, and the ones that stop us;
 * httpd's restart signals are ignored (blocked, not read). */
static int signal_fd(void)
{
    sigset_t mask;

    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGQUIT);
    sigaddset(&mask, SIGHUP);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGWINCH);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0) {
        return -1;
    }
    sigdelset(&mask, SIGHUP);
    sigdelset(&mask, SIGUSR1);
    sigdelset(&mask, SIGWINCH);
    return signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
}

static void become_supervisor(const ac_supervisor_args_t *args)
{
    memset(&ac_sup, 0, sizeof(ac_sup));
    ac_sup.args = args;
    ac_sup.sh = args->shared;
    ac_sup.s = args->server;
    ac_sup.control_fd = args->control_fd;
    ac_sup.port_low = args->port_low;
    ac_sup.port_high = args->port_high;
    ac_sup.dynamic_idle = AC_IDLE_DEFAULT;     /* until the first configuration says */
    if (!ac_ephemeral_range("/proc/sys/net/ipv4/ip_local_port_range", &ac_sup.ephemeral_low,
                            &ac_sup.ephemeral_high)) {
        ac_sup.ephemeral_low = ac_sup.ephemeral_high = 0;
    }
    become_unprivileged(args->keep_caps);
    ac_sup.sigfd = signal_fd();
    if (ac_sup.sigfd < 0 || apr_pool_create(&ac_sup.pool, NULL) != APR_SUCCESS) {
        _exit(1);
    }
    ac_sup_take_over_shared();
    ac_sup.sh->supervisor_pid = getpid();
    ac_sup.sh->supervisor_starts++;
    ac_shared_table_notify(ac_sup.sh);
}

/* ---- the loop ---------------------------------------------------------- */

#define POLL_FIXED 3     /* signals, control channel, request datagrams */
#define POLL_MAX (POLL_FIXED + 3 * AC_MAX_APPS * AC_MAX_PROCESSES)
#define FD_OUTPUT 0
#define FD_SHUTDOWN 1
#define FD_HEALTH 2

typedef struct {
    struct pollfd fds[POLL_MAX];
    struct { int ai, si, kind; } owner[POLL_MAX];   /* of fds[POLL_FIXED...]; FD_* */
    int n;
} poll_set_t;

/* Every fd the loop waits on: ours, then each process's output pipe,
 * shutdown-event connection and health probe. */
static void build_poll_set(poll_set_t *ps)
{
    int ai, si, which;

    ps->n = 0;
    ps->fds[ps->n].fd = ac_sup.sigfd;
    ps->fds[ps->n++].events = POLLIN;
    ps->fds[ps->n].fd = ac_sup.control_fd;     /* -1 once closed: poll ignores it */
    ps->fds[ps->n++].events = POLLIN;
    ps->fds[ps->n].fd = ac_sup.args->request_fd;
    ps->fds[ps->n++].events = POLLIN;
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; ac_sup.apps[ai].in_use && si < AC_MAX_PROCESSES; si++) {
            for (which = FD_OUTPUT; which <= FD_HEALTH; which++) {
                short events = POLLIN;
                int fd = which == FD_HEALTH ? ac_sup_health_fd(ai, si, &events)
                         : which == FD_SHUTDOWN ? ac_sup.apps[ai].slots[si].shutdown_fd
                         : ac_sup.apps[ai].slots[si].out_fd;
                if (fd < 0) {
                    continue;
                }
                ps->fds[ps->n].fd = fd;
                ps->fds[ps->n].events = events;
                ps->owner[ps->n].ai = ai;
                ps->owner[ps->n].si = si;
                ps->owner[ps->n].kind = which;
                ps->n++;
            }
        }
    }
}

static void dispatch(const poll_set_t *ps)
{
    int i;

    if (ps->fds[0].revents) {
        handle_signals();
    }
    if (ps->fds[1].revents && ac_sup.control_fd >= 0) {
        handle_control();
    }
    if (ps->fds[2].revents) {
        handle_requests();
    }
    for (i = POLL_FIXED; i < ps->n; i++) {
        ac_sup_app_t *a = &ac_sup.apps[ps->owner[i].ai];
        ac_sup_slot_t *s = &a->slots[ps->owner[i].si];
        if (!ps->fds[i].revents || !a->in_use) {
            continue;
        }
        if (ps->owner[i].kind == FD_HEALTH) {
            ac_sup_health_io(ps->owner[i].ai, ps->owner[i].si, ps->fds[i].fd);
        }
        else if (ps->owner[i].kind == FD_SHUTDOWN && s->shutdown_fd == ps->fds[i].fd) {
            ac_sup_finish_shutdown_event(ps->owner[i].ai, ps->owner[i].si, 0);
        }
        else if (ps->owner[i].kind == FD_OUTPUT && s->out_fd == ps->fds[i].fd) {
            ac_sup_read_output(a, s);
        }
    }
}

void ac_supervisor_run(const ac_supervisor_args_t *args)
{
    static poll_set_t ps;

    become_supervisor(args);
    for (;;) {
        apr_interval_time_t sleep = tick();
        int rc;

        if (ac_sup.stopping && !ac_sup_live_processes()) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, ac_sup.s, "supervisor: all apps stopped");
            _exit(0);   /* never run httpd's exit handlers here */
        }
        build_poll_set(&ps);
        rc = poll(ps.fds, (nfds_t)ps.n, (int)((sleep + 999) / 1000));
        if (rc < 0) {
            if (errno != EINTR) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, APR_FROM_OS_ERROR(errno), ac_sup.s,
                             "supervisor: poll");
                apr_sleep(apr_time_from_msec(100));
            }
            continue;
        }
        dispatch(&ps);
    }
}
