/* ac_sup_procs: the supervisor's processes, from spawn to reap.
 *
 * Starts a backend on a free loopback port with a fresh token, stops it
 * (the shutdown event, then SIGTERM, then SIGKILL to its group), collects
 * it when it ends and decides what that means (asked to stop, a crash, a
 * start that failed, a port another program took), applying the restart
 * policy (ac_backoff). Keeps the record of running backends (ac_strays)
 * that an Apache started after a hard kill cleans up with.
 */
#include "ac_sup_private.h"
#include "ac_event.h"
#include "ac_sockio.h"
#include "ac_spawn.h"
#include "ac_appstate.h"
#include "ac_strays.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

extern char **environ;

#define PORT_TRIES 50

/* Rewrites the record of running backends (see ac_strays.h). */
static void record_backends(void)
{
    static ac_stray_t entries[AC_MAX_APPS * AC_MAX_PROCESSES];
    int ai, si, n = 0, err;

    if (!ac_sup.args->record_path) {
        return;
    }
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            const ac_slot_t *slot = &ac_sup_shared_app(ai)->slots[si];
            if (ac_sup.apps[ai].in_use && ac_sup.apps[ai].slots[si].pid) {
                entries[n].pgid = ac_sup.apps[ai].slots[si].pid;
                memcpy(entries[n].token, slot->token, sizeof(slot->token));
                n++;
            }
        }
    }
    err = ac_strays_write(ac_sup.args->record_path, entries, n);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(err), ac_sup.s,
                     "cannot record the running backends in %s", ac_sup.args->record_path);
    }
}

void ac_sup_publish_slot(int ai, int si)
{
    ac_sup_slot_t *s = &ac_sup.apps[ai].slots[si];
    ac_slot_publish(&ac_sup_shared_app(ai)->slots[si], (uint32_t)s->state, s->pid, s->port);
}

void ac_sup_publish_trip(int ai, unsigned recent)
{
    const ac_backoff_t *b = &ac_sup.apps[ai].backoff;
    ac_app_publish_trip(ac_sup_shared_app(ai), recent, (uint32_t)b->tripped,
                        apr_time_now() + (b->not_before - ac_sup_mono()));
}

/* ---- ports and tokens -------------------------------------------------- */

static unsigned port_in_use_by_us(unsigned port)
{
    int i, j;
    for (i = 0; i < AC_MAX_APPS; i++) {
        for (j = 0; ac_sup.apps[i].in_use && j < AC_MAX_PROCESSES; j++) {
            if (ac_sup.apps[i].slots[j].pid && ac_sup.apps[i].slots[j].port == port) {
                return 1;
            }
        }
    }
    return 0;
}

static unsigned pick_port(void)
{
    int t;
    for (t = 0; t < PORT_TRIES; t++) {
        unsigned r;
        unsigned port;
        if (apr_generate_random_bytes((unsigned char *)&r, sizeof(r)) != APR_SUCCESS) {
            r = (unsigned)rand();
        }
        /* ports the kernel will not hand to outgoing connections first; the
         * whole range when those seem taken */
        port = ac_port_pick(ac_sup.port_low, ac_sup.port_high,
                            t < PORT_TRIES / 2 ? ac_sup.ephemeral_low : 0, ac_sup.ephemeral_high,
                            r);
        if (!port_in_use_by_us(port) && ac_port_is_free(port)) {
            return port;
        }
    }
    return 0;
}

static int new_token(char *out)
{
    unsigned char raw[AC_TOKEN_CHARS / 2];
    static const char hex[] = "0123456789abcdef";
    int i;
    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS) {
        return -1;
    }
    for (i = 0; i < (int)sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[AC_TOKEN_CHARS] = '\0';
    return 0;
}

/* ---- failures ---------------------------------------------------------- */

void ac_sup_record_failure(int ai, pid_t pid)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    unsigned limit = (unsigned)a->launch->rapid_fails_per_minute;
    ac_backoff_outcome_t o;

    ac_backoff_failure(&a->backoff, ac_sup_mono(), limit, &o);
    if (o.newly_tripped) {
        ac_sup_app_error(ai, 0, "%u failures within a minute (rapidFailsPerMinute %u): not "
                         "starting it again before %ld s (the last: %s %ld)", o.recent, limit,
                         (long)apr_time_sec(o.tripped_for) + 1,
                         pid ? "process" : "a start that could not run, pid", (long)pid);
    }
    else if (o.recent <= limit) {
        ac_sup_app_log(ai, APLOG_DEBUG, 0, "%u failure(s) within a minute: next start in %ld ms "
                       "at the earliest", o.recent, (long)apr_time_as_msec(o.delay));
    }
    ac_sup_publish_trip(ai, o.recent);
    if (a->backoff.tripped) {
        ac_app_publish_failed(ac_sup_shared_app(ai), 1);
    }
}

/* ---- starting ---------------------------------------------------------- */

/* A start that could not run: said, counted as a failure. */
static void spawn_failed(int ai, apr_pool_t *p, const char *msg)
{
    ac_sup_app_error(ai, 0, "%s", msg);
    ac_app_publish_fail_reason(ac_sup_shared_app(ai), AC_FAIL_SPAWN, 0, apr_time_now());
    ac_sup_record_failure(ai, 0);
    ac_app_publish_failed(ac_sup_shared_app(ai), 1);
    apr_pool_destroy(p);
}

/* The app's state directory (made if missing, checked) and HOME pointing
 * at it. One that cannot be used is said, and the process starts without
 * it (as before there were state directories: ASP.NET Core then keeps its
 * keys in memory) rather than not at all. */
static char **with_state_dir(ac_sup_app_t *a, apr_pool_t *p, char **envp)
{
    const char *why;
    char **with = ac_appstate_spawn_env(p, a->launch, envp, &why);

    if (!with) {
        /* each start would say it again */
        ac_sup_app_log((int)(a - ac_sup.apps), a->state_dir_failure_said ? APLOG_DEBUG : APLOG_ERR,
                       0, "state directory: %s: the process starts without it (HOME is not "
                       "changed)%s", why, a->launch->user_source == AC_USER_OWNER
                       ? apr_psprintf(p, "; for an app run as its directory's owner, "
                                      "<AspNetCoreStateRoot>/%s must be made by root (owned by "
                                      "that user, mode 0700)", a->launch->user.name) : "");
        a->state_dir_failure_said = 1;
        return envp;
    }
    return with;
}

/* What to run and with what: program, argv, port, token, output pipe.
 * NULL, or what is missing. */
static const char *prepare_spawn(ac_sup_app_t *a, apr_pool_t *p, ac_spawn_t *req,
                                 unsigned *port, char *token, int out[2],
                                 const char **log_prefix)
{
    const char *program, *err;
    char **argv;

    if (a->from_child && a->launch->user_source != AC_USER_APACHE) {
        /* a child's settings run as another user: checked again now (the
         * files may have changed since), and what runs is what was checked */
        err = ac_sup_identity_refusal(p, a->launch, &program);
        if (err) {
            return apr_pstrcat(p, "its settings, from a request, are refused now: ", err, NULL);
        }
    }
    else if (ac_appstate_as_user_begin(a->launch) < 0) {
        return apr_psprintf(p, "cannot act as user %s: %s", a->launch->user.name,
                            strerror(errno));
    }
    else {
        /* looked for as the app's user: its own program may be where only it can see */
        err = ac_launch_resolve_program(p, a->launch, ac_launch_path_env(a->launch,
                                                                         getenv("PATH")),
                                        &program);
        ac_appstate_as_user_end();
    }
    if (!err) {
        err = ac_launch_build_argv(p, a->launch, program, &argv);
    }
    *port = pick_port();
    if (!err && !*port) {
        err = apr_psprintf(p, "no free port in %u-%u", ac_sup.port_low, ac_sup.port_high);
    }
    if (!err && new_token(token) < 0) {
        err = "no random bytes for a token";
    }
    if (!err && pipe2(out, O_CLOEXEC) < 0) {
        err = apr_psprintf(p, "pipe: %s", strerror(errno));
    }
    if (err) {
        return err;
    }
    req->program = program;
    req->argv = argv;
    req->envp = with_state_dir(a, p, ac_launch_build_env(p, a->launch, environ, *port, token));
    req->cwd = a->launch->app_root;
    req->output_fd = out[1];
    req->cgroups = ac_sup_limits_cgroups((int)(a - ac_sup.apps), p);
    req->user = NULL;
    req->groups = NULL;
    req->ngroups = 0;
    if (a->launch->user_source != AC_USER_APACHE) {
        gid_t *groups = apr_pcalloc(p, sizeof(*groups) * AC_IDENTITY_GROUPS_MAX);
        req->user = &a->launch->user;
        req->groups = groups;
        req->ngroups = ac_appstate_groups(a->launch, groups, AC_IDENTITY_GROUPS_MAX);
        if (req->ngroups < 1 || !ac_identity_can_switch()) {
            close(out[0]);
            close(out[1]);
            return apr_psprintf(p, "the app runs as %s, and the supervisor cannot switch to "
                                "another user (Apache was not started as root, or the "
                                "supervisor started before AspNetCoreUser was configured: "
                                "restart Apache)", a->launch->user.name);
        }
    }
    *log_prefix = NULL;
    if (a->launch->stdout_log_enabled && a->launch->stdout_log_file) {
        const char *f = a->launch->stdout_log_file;
        *log_prefix = f[0] == '/' ? f : apr_pstrcat(p, a->launch->app_root, "/", f, NULL);
    }
    return NULL;
}

/* Process `pid` runs in slot `si`: STARTING, probed by the tick until it
 * listens or its startup time is up. */
static void slot_started(int ai, int si, pid_t pid, unsigned port, const char *token, int out_fd)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];

    memset(s, 0, sizeof(*s));
    s->shutdown_fd = -1;
    s->stdout_log_fd = -1;
    ac_scrub_init(&s->scrub, token);
    s->state = AC_SLOT_STARTING;
    s->pid = pid;
    s->port = port;
    s->out_fd = out_fd;
    s->spawned = ac_sup_mono();
    s->kill_at = s->spawned + apr_time_from_sec(a->launch->startup_time_limit);
    ac_slot_publish_start(&ac_sup_shared_app(ai)->slots[si], pid, port, ++ac_sup.incarnation,
                          apr_time_now(), token);
    ac_app_notify(ac_sup_shared_app(ai));
    record_backends();
}

/* One line per start; a restart says what it replaces. */
static void log_start(int ai, apr_pool_t *p, pid_t pid, unsigned port, const ac_spawn_t *req)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    const char *cmdline = req->program;
    int i;

    for (i = 1; req->argv[i]; i++) {
        cmdline = apr_pstrcat(p, cmdline, " ", req->argv[i], NULL);
    }
    ac_sup_app_log(ai, APLOG_NOTICE, 0, "started process %ld on port %u%s%s: %s%s%s%s",
                   (long)pid, port, req->user ? " as " : "", req->user ? req->user->name : "",
                   cmdline, a->start_note[0] ? " (" : "", a->start_note,
                   a->start_note[0] ? ")" : "");
    a->start_note[0] = '\0';
}

void ac_sup_spawn_slot(int ai, int si)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_pool_t *p;
    const char *err, *log_prefix = NULL;
    char token[AC_TOKEN_CHARS + 1];
    char why[512];
    int out[2];
    unsigned port = 0;
    pid_t pid;
    ac_spawn_t req;

    memset(&req, 0, sizeof(req));
    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        return;
    }
    err = prepare_spawn(a, p, &req, &port, token, out, &log_prefix);
    if (err) {
        spawn_failed(ai, p, apr_pstrcat(p, "cannot start a process: ", err, NULL));
        return;
    }
    if (ac_spawn(&req, &pid, why, sizeof(why)) != 0) {
        close(out[0]);
        close(out[1]);
        spawn_failed(ai, p, apr_pstrcat(p, "cannot start ", req.program, ": ", why, NULL));
        return;
    }
    close(out[1]);
    if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        ac_sup_app_log(ai, APLOG_WARNING, APR_FROM_OS_ERROR(errno),
                       "cannot make the output pipe non-blocking");
    }
    slot_started(ai, si, pid, port, token, out[0]);
    if (log_prefix && ac_appstate_as_user_begin(a->launch) == 0) {
        ac_sup_open_stdout_log(ai, &a->slots[si], log_prefix);
        ac_appstate_as_user_end();
    }
    log_start(ai, p, pid, port, &req);
    apr_pool_destroy(p);
}

int ac_sup_listener_is_app(int ai, const ac_sup_slot_t *s)
{
    int owner;

    /* as the app's user: /proc/<pid>/fd of another user's process is
     * closed to Apache's User. Cannot: not taken for the app's (the token
     * must not go to a stranger) */
    if (ac_appstate_as_user_begin(ac_sup.apps[ai].launch) < 0) {
        ac_sup_app_log(ai, APLOG_ERR, APR_FROM_OS_ERROR(errno), "cannot look at process %ld "
                       "as the app's user", (long)s->pid);
        return 0;
    }
    owner = ac_port_listener_in_group(s->port, s->pid, "/proc");
    ac_appstate_as_user_end();
    return owner;
}

/* ---- stopping ---------------------------------------------------------- */

/* Asks a backend to stop the way ANCM does: POST <path>/iisintegration with
 * the shutdown event and its token; the app answers 202 and stops. The
 * answer is read by the loop; no answer, another one, or no connection
 * means SIGTERM to its group. */
void ac_sup_send_shutdown_event(int ai, int si)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    ac_slot_view_t v;
    apr_pool_t *p;
    const char *req = NULL;
    apr_size_t len = 0;
    struct iovec iov;
    int fd;

    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        ac_spawn_signal_group(s->pid, SIGTERM);
        return;
    }
    if (ac_slot_read(&ac_sup_shared_app(ai)->slots[si], &v)) {
        req = ac_event_shutdown_request(p, a->launch->virtual_path, s->port, v.token, &len);
    }
    if (req && ac_sock_connect_loopback(s->port, apr_time_from_msec(100), &fd) == APR_SUCCESS) {
        iov.iov_base = (void *)req;
        iov.iov_len = len;
        if (ac_sock_writev_all(fd, &iov, 1, apr_time_from_msec(100)) == APR_SUCCESS) {
            ac_sup_app_log(ai, APLOG_DEBUG, 0, "sent the shutdown event to process %ld",
                           (long)s->pid);
            s->shutdown_fd = fd;
            s->shutdown_answer_by = ac_sup_mono() + apr_time_from_sec(1);
            apr_pool_destroy(p);
            return;
        }
        close(fd);
    }
    apr_pool_destroy(p);
    ac_sup_app_log(ai, APLOG_DEBUG, 0, "cannot send the shutdown event to process %ld: SIGTERM",
                   (long)s->pid);
    ac_spawn_signal_group(s->pid, SIGTERM);
}

/* The app answered the shutdown event (or the time to do so is up). */
void ac_sup_finish_shutdown_event(int ai, int si, int timed_out)
{
    ac_sup_slot_t *s = &ac_sup.apps[ai].slots[si];
    char buf[64];
    apr_size_t n = 0;
    int accepted = 0;

    if (!timed_out && ac_sock_read(s->shutdown_fd, buf, sizeof(buf) - 1, &n, 0) == APR_SUCCESS) {
        buf[n] = '\0';
        accepted = !strncmp(buf, "HTTP/1.1 202", 12) || !strncmp(buf, "HTTP/1.0 202", 12);
    }
    close(s->shutdown_fd);
    s->shutdown_fd = -1;
    if (!accepted) {
        ac_sup_app_log(ai, APLOG_DEBUG, 0, "process %ld did not accept the shutdown event: "
                       "SIGTERM", (long)s->pid);
        ac_spawn_signal_group(s->pid, SIGTERM);
    }
}

void ac_sup_stop_slot(int ai, int si, int now_please)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    apr_time_t now = ac_sup_mono(), limit = apr_time_from_sec(a->launch->shutdown_time_limit);

    if (!s->pid || s->state == AC_SLOT_STOPPING) {
        return;
    }
    ac_sup_app_log(ai, APLOG_DEBUG, 0, "stopping process %ld (%s; killed after %d s)",
                   (long)s->pid, now_please ? "at once" : "once its requests are done",
                   a->launch->shutdown_time_limit);
    s->state = AC_SLOT_STOPPING;
    s->term_at = now_please ? now : now + limit / 2;
    s->kill_at = now + limit;
    ac_sup_publish_slot(ai, si);
    ac_app_notify(ac_sup_shared_app(ai));
}

void ac_sup_stop_all(int now_please)
{
    int ai, si;
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; ac_sup.apps[ai].in_use && si < AC_MAX_PROCESSES; si++) {
            ac_sup_stop_slot(ai, si, now_please);
        }
    }
}

int ac_sup_live_processes(void)
{
    int ai, si, n = 0;
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; ac_sup.apps[ai].in_use && si < AC_MAX_PROCESSES; si++) {
            n += ac_sup.apps[ai].slots[si].pid != 0;
        }
    }
    return n;
}

/* Is the port's listener still the slot's process? 1 yes; 0 no, and *why
 * says who listens instead. Accepting a connection is not enough: a ready
 * process that closed its listening socket but lives on leaves its port to
 * any local user, who would then receive the token and the requests; such a
 * listener is not even connected to. */
static int still_listens(int ai, ac_sup_slot_t *s, const char **why)
{
    int fd, owner = ac_sup_listener_is_app(ai, s);

    if (owner == 0) {
        *why = ac_port_has_listener(s->port, "/proc") == 0 ? "nothing does"
                                                           : "another program does";
        return 0;
    }
    /* ours (or -1, cannot tell: trusted as the readiness probe does) */
    if (ac_sock_connect_loopback(s->port, apr_time_from_msec(100), &fd) != APR_SUCCESS) {
        *why = owner > 0 ? "it accepts no connection" : "nothing does";
        return 0;
    }
    close(fd);
    return 1;
}

void ac_sup_check_broken(int ai, int si, uint64_t incarnation)
{
    ac_sup_slot_t *s = &ac_sup.apps[ai].slots[si];
    ac_slot_t *slot = &ac_sup_shared_app(ai)->slots[si];
    const char *why;

    ac_sup_reap();  /* a process that exited is a crash, not a mystery: collect it first */
    if (s->state != AC_SLOT_READY || slot->incarnation != incarnation) {
        return;
    }
    if (ac_sup_limits_oom_pending(ai)) {
        return;     /* its memory limit killed it: the reap says so (and restarts it) */
    }
    if (still_listens(ai, s, &why)) {
        /* children connect to it again */
        if (ac_slot_is_suspect(slot, incarnation)) {
            ac_slot_clear_suspect(slot, incarnation);
            ac_app_notify(ac_sup_shared_app(ai));
        }
        return;
    }
    ac_sup_app_log(ai, APLOG_ERR, 0, "process %ld no longer listens on port %u (%s): "
                   "replacing it", (long)s->pid, s->port, why);
    ac_sup_stop_slot(ai, si, 1);
    s->kill_sent = 1;
    s->broken = 1;
    ac_spawn_signal_group(s->pid, SIGKILL);
}

/* A datagram from a child may be lost (its queue full): a slot children
 * keep away from is checked on every tick too. */
void ac_sup_check_suspects(int ai)
{
    int si;
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_slot_t *slot = &ac_sup_shared_app(ai)->slots[si];
        if (ac_sup.apps[ai].slots[si].state == AC_SLOT_READY
            && ac_slot_is_suspect(slot, slot->incarnation)) {
            ac_sup_check_broken(ai, si, slot->incarnation);
        }
    }
}

/* ---- reaping ----------------------------------------------------------- */

/* A ready process ended unasked: a crash, also when a request noticed it
 * before we did. */
static void ended_crashed(int ai, ac_sup_slot_t *s, pid_t pid, const char *how)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_interval_time_t ran = ac_sup_mono() - s->ready_at;

    ac_sup_app_error(ai, 0, "process %ld %s after %ld s: starting a new one", (long)pid, how,
                     (long)apr_time_sec(ran));
    ac_app_count_restart(ac_sup_shared_app(ai));
    ac_backoff_ended_after(&a->backoff, ran);
    apr_snprintf(a->start_note, sizeof(a->start_note), "restart: process %ld %s", (long)pid, how);
    ac_sup_record_failure(ai, pid);
    if (a->launch->ondemand) {
        a->wanted = 0;     /* like ANCM: the next request starts one */
    }
}

/* A process ended before it listened. */
static void ended_starting(int ai, ac_sup_slot_t *s, pid_t pid, int status, const char *how)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_app_t *app = ac_sup_shared_app(ai);

    if (s->failed_start) {
        /* the kill was logged as the error; this is the exit */
        ac_sup_app_log(ai, APLOG_INFO, 0, "process %ld %s after it did not listen within %d s",
                       (long)pid, how, a->launch->startup_time_limit);
        ac_app_publish_fail_reason(app, AC_FAIL_TIMEOUT, a->launch->startup_time_limit,
                                   apr_time_now());
    }
    else {
        ac_sup_app_error(ai, 0, "process %ld %s before it listened on port %u", (long)pid, how,
                         s->port);
        ac_app_publish_fail_reason(app, WIFSIGNALED(status) ? AC_FAIL_SIGNAL : AC_FAIL_EXIT,
                                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
                                   apr_time_now());
    }
    ac_sup_log_startup_output(ai, s);
    ac_sup_save_startup_output(ai, s);
    apr_snprintf(a->start_note, sizeof(a->start_note), "retry: process %ld %s while starting",
                 (long)pid, how);
    ac_sup_record_failure(ai, pid);
    ac_app_publish_failed(app, 1);
}

/* What the end of process `pid` of slot `si` means, logged and counted. */
static void judge_end(int ai, ac_sup_slot_t *s, pid_t pid, int status, const char *how)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    int was = s->state;

    if (was == AC_SLOT_STOPPING && !s->failed_start && !s->broken) {
        ac_sup_app_log(ai, APLOG_INFO, 0, "process %ld stopped (%s)", (long)pid, how);
    }
    else if (was == AC_SLOT_READY || s->broken) {
        ended_crashed(ai, s, pid, how);
    }
    else if (was == AC_SLOT_STARTING && !ac_port_is_free(s->port)
             && a->collisions < AC_SUP_MAX_COLLISIONS) {
        /* another program took the port between our check and the app's
         * bind: not the app's fault */
        a->collisions++;
        ac_sup_app_log(ai, APLOG_NOTICE, 0, "process %ld %s: port %u was taken by another "
                       "program; starting again on another port", (long)pid, how, s->port);
        apr_snprintf(a->start_note, sizeof(a->start_note), "again: port %u was taken", s->port);
    }
    else {
        ended_starting(ai, s, pid, status, how);
    }
}

/* Process `pid` of slot `si` of app `ai` ended with `status`. */
static void reaped(int ai, int si, pid_t pid, int status)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_sup_slot_t *s = &a->slots[si];
    char how[160];

    ac_app_publish_exit(ac_sup_shared_app(ai), pid,
                        WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status),
                        apr_time_now());
    if (WIFSIGNALED(status)) {
        apr_snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
    }
    else {
        apr_snprintf(how, sizeof(how), "exited with code %d", WEXITSTATUS(status));
    }
    ac_sup_limits_explain_end(ai, status, how, sizeof(how));
    if (s->out_fd >= 0) {
        ac_sup_read_output(a, s);
    }
    if (s->shutdown_fd >= 0) {
        close(s->shutdown_fd);
        s->shutdown_fd = -1;
    }
    /* Whatever the app left running in its group goes too. */
    ac_spawn_signal_group(pid, SIGKILL);
    ac_sup_health_forget(ai, si);
    judge_end(ai, s, pid, status, how);
    ac_sup_forget_startup_output(s);
    if (s->out_fd >= 0) {
        close(s->out_fd);
    }
    if (s->stdout_log_fd >= 0) {
        close(s->stdout_log_fd);
    }
    memset(s, 0, sizeof(*s));
    s->out_fd = -1;
    s->stdout_log_fd = -1;
    s->shutdown_fd = -1;
    s->state = AC_SLOT_EMPTY;
    ac_sup_publish_slot(ai, si);
    ac_app_notify(ac_sup_shared_app(ai));
    record_backends();
}

/* The slot whose process is `pid`: 1 and its place, or 0. */
static int find_process(pid_t pid, int *ai, int *si)
{
    for (*ai = 0; *ai < AC_MAX_APPS; (*ai)++) {
        for (*si = 0; ac_sup.apps[*ai].in_use && *si < AC_MAX_PROCESSES; (*si)++) {
            if (ac_sup.apps[*ai].slots[*si].pid == pid) {
                return 1;
            }
        }
    }
    return 0;
}

void ac_sup_reap(void)
{
    for (;;) {
        int status, ai, si;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;
        }
        if (find_process(pid, &ai, &si)) {
            reaped(ai, si, pid, status);
        }
    }
}

/* ---- a supervisor before us -------------------------------------------- */

void ac_sup_take_over_shared(void)
{
    int ai, si, repaired;

    /* It may have died in the middle of a write: every record readable
     * again before anything reads it (adoption below, children). */
    repaired = ac_shared_repair(ac_sup.sh);
    if (repaired) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ac_sup.s, "supervisor: %d record(s) of the "
                     "shared state were being written when the supervisor before this one "
                     "died: repaired (their processes are stopped, their apps taken again)",
                     repaired);
    }
    /* Its backends got SIGTERM from the kernel (parent-death signal); make
     * sure their groups are gone, then start afresh from the configuration
     * httpd sends. */
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        ac_app_t *app = ac_sup_shared_app(ai);
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            ac_slot_t *slot = &app->slots[si];
            if (slot->pid > 0) {
                ac_spawn_signal_group(slot->pid, SIGKILL);
                ac_slot_publish_empty(slot);
            }
            if (slot->incarnation > ac_sup.incarnation) {
                ac_sup.incarnation = slot->incarnation;
            }
        }
        if (app->state == AC_APP_RETIRED) {
            ac_app_publish_state(app, AC_APP_FREE);
        }
        ac_app_notify(app);
    }
}
