/* ac_sup_private: the supervisor's own types and the state its files share.
 *
 * The supervisor (ac_supervisor.h) is one single-threaded process; its
 * state is one struct, `ac_sup`, shared by its files:
 *   ac_supervisor.c  the loop, the control channel, request datagrams,
 *                    signals, and the tick (probes, deadlines, starts);
 *   ac_sup_apps.c    the app table: configurations, reloads, new versions,
 *                    app_offline.htm and web.config watching, retiring
 *                    request-registered apps (idle, no longer declared);
 *   ac_sup_procs.c   processes: spawn, stop, the shutdown event, reaping,
 *                    ports, tokens, the record of running backends;
 *   ac_sup_output.c  logging about an app (error log and debug log), the
 *                    relay of the processes' output, the startup output;
 *   ac_sup_idle.c    AspNetCoreIdleTimeout: an app without requests stops
 *                    until the next one;
 *   ac_sup_logtargets.c  the error logs of the generation (one per virtual
 *                    host with its own), where each app's lines go;
 *   ac_sup_health.c  health probes (AspNetCoreHealthCheck);
 *   ac_sup_recycle.c rolling restarts of one process (AspNetCoreRecycle and
 *                    others), what each process costs (ac_procstat).
 * The policies they apply live in httpd-free files with unit tests:
 * ac_backoff (restarts), ac_lines (output lines), ac_recycle (recycling), ac_idle
 * (retiring request-registered apps, idle stops), ac_shared (the writes to
 * shared memory), ac_event (the shutdown event's request).
 */
#ifndef AC_SUP_PRIVATE_H
#define AC_SUP_PRIVATE_H

#include <stdarg.h>
#include <time.h>
#include <sys/stat.h>

#include <httpd.h>

#include "ac_applevel.h"
#include "ac_backoff.h"
#include "ac_debuglog.h"
#include "ac_idle.h"
#include "ac_launch.h"
#include "ac_lines.h"
#include "ac_recycle.h"
#include "ac_scrub.h"
#include "ac_shared.h"
#include "ac_stdoutlog.h"
#include "ac_supervisor.h"

#define AC_SUP_PROBE_INTERVAL apr_time_from_msec(20)
#define AC_SUP_OFFLINE_CHECK_INTERVAL apr_time_from_msec(500)
/* for the new settings after a deploy: the parent looks every ~10 s (monitor hook) */
#define AC_SUP_WEB_CONFIG_GRACE apr_time_from_sec(15)
#define AC_SUP_MAX_COLLISIONS 5            /* port collisions in a row, not the app's fault */
#define AC_SUP_STARTUP_OUTPUT_MAX 30000    /* kept of what a starting process writes */
#define AC_SUP_LOG_MESSAGE_MAX 4096        /* one message about an app, as logged */

/* One process slot of an app, as the supervisor knows it. */
typedef struct {
    int state;                   /* ac_slot_state_e, as published */
    pid_t pid;
    unsigned port;
    int out_fd;                  /* the backend's stdout+stderr; -1 when closed */
    ac_scrub_t scrub;            /* its output without its token */
    ac_lines_t lines;            /* its output, cut into lines */
    ac_applevel_t applevel;      /* the level of its .NET log entry going on */
    int stdout_log_fd;           /* stdoutLogEnabled: its output goes there; else -1 */
    apr_uint64_t stdout_log_bytes;   /* in that file (AspNetCoreStdoutLogLimit) */
    char stdout_log_stamp[AC_STDOUTLOG_STAMP_CHARS + 1];   /* that file's name's time */
    int stdout_log_mid_line;     /* the last byte written there was not a newline */
    apr_time_t spawned;          /* monotonic */
    apr_time_t ready_at;         /* monotonic, 0 until ready */
    apr_time_t term_at;          /* STOPPING: when SIGTERM goes out */
    apr_time_t kill_at;          /* STARTING/STOPPING: when SIGKILL goes out */
    int term_sent, kill_sent;
    int failed_start;            /* killed for not listening in time */
    int broken;                  /* killed for no longer taking connections: a crash */
    int shutdown_fd;             /* the shutdown event's connection, -1 when none */
    apr_time_t shutdown_answer_by;
    char *startup_output;        /* the last AC_SUP_STARTUP_OUTPUT_MAX bytes it wrote
                                  * while starting (malloc) */
    apr_size_t startup_len;
    /* a rolling restart (ac_sup_recycle.c); slot numbers + 1, 0: none */
    int replacement;             /* the slot whose process starts in this one's place */
    int replaces;                /* the slot whose process this one starts to replace */
    int recycled;                /* replaced: draining, not one of the app's processes */
    int schedule_due;            /* AspNetCoreRecycle schedule= passed: recycled in turn */
    char recycle_why[AC_RECYCLE_WHY_CHARS];
    apr_time_t figures_at;       /* monotonic: when /proc was last read for it */
    apr_uint64_t rss_kib;        /* as read then */
} ac_sup_slot_t;

/* One entry of the app table, as the supervisor knows it. */
typedef struct {
    int in_use;
    int active;                  /* configured now (else retired, draining) */
    int dynamic;                 /* registered by a request (.htaccess, changed web.config) */
    int from_child;              /* its settings came from an httpd child (also when they
                                  * replace a configured app's): checked at each start when
                                  * it runs as another user than Apache's (ac_sup_identity) */
    int wanted;                  /* OnDemand: a request asked for it */
    ac_idle_t idle;              /* dynamic: requests seen, confirmed since the last config */
    apr_time_t idle_checked;
    ac_idle_t idle_stop;         /* AspNetCoreIdleTimeout: requests seen (ac_sup_idle.c) */
    apr_time_t idle_stop_checked;    /* 0: the clock starts at the next look */
    int idle_stopped;            /* stopped for want of requests: nothing starts until one
                                  * comes */
    apr_pool_t *pool;
    ac_launch_t *launch;
    const char *label;
    unsigned char key[AC_KEY_BYTES];
    ac_sup_slot_t slots[AC_MAX_PROCESSES];
    ac_backoff_t backoff;        /* failures, back-off, rapid-fail trip */
    unsigned collisions;         /* port collisions in a row */
    int replaced_by;             /* index of the newer version it serves for until ready; -1 */
    int offline;                 /* app_offline.htm is there: no process runs */
    apr_time_t offline_checked;
    apr_time_t output_second;
    unsigned output_lines, output_dropped;
    unsigned output_warnings;    /* lines at warn and above this second: counted apart */
    struct stat web_config_seen; /* the imported web.config when the app was registered */
    char start_note[96];         /* why the next start happens, for its log line */
    time_t recycle_clock;        /* AspNetCoreRecycle schedule=: the wall clock last looked at */
    ac_debug_conf_t debug;       /* its debug log (debugFile, debugLevel) */
    int debug_fd;                /* -1 until the first line; closed with the pool */
    int debug_broken;            /* a write failed: said once, no more tries */
    int stdout_log_failure_said; /* the stdout log could not be created: said once */
    int state_dir_failure_said;  /* the state directory could not be used: said at error
                                  * once, then at debug, until the settings change */
    uint32_t log_host;           /* the declaring host's position in the server list:
                                  * its error log and LogLevel (ac_sup_logtargets.c) */
    /* cgroup limits (ac_sup_limits.c) */
    const char *cgroup_memory;   /* the memory cgroup its processes join (a->pool); NULL */
    long long oom_kills;         /* that cgroup's OOM kills already accounted for */
    apr_time_t oom_unreaped_since;   /* monotonic: a kill counted, no process reaped of it */
    int no_cgroup;               /* a limit is set but the app has no cgroup: memory recycles */
    int no_cgroup_said;
    apr_time_t memory_checked;   /* no_cgroup: its processes' memory, last looked at */
} ac_sup_app_t;

typedef struct {
    const ac_supervisor_args_t *args;
    ac_shared_t *sh;
    server_rec *s;
    apr_pool_t *pool;
    ac_sup_app_t apps[AC_MAX_APPS];
    uint64_t incarnation;
    int sigfd;
    int control_fd;
    int stopping;                /* httpd is gone: stop all, then exit */
    int held;                    /* stop-all received: start nothing until new config */
    apr_interval_time_t dynamic_idle;   /* AspNetCoreDynamicAppIdleTimeout; 0: never */
    int table_full_said;         /* the table's being full was logged (once until an entry
                                  * frees) */
    unsigned port_low, port_high;
    unsigned ephemeral_low, ephemeral_high;   /* the kernel's; 0 when unknown */
    apr_pool_t *rules_pool;      /* what follows, replaced with each configuration */
    apr_array_header_t *owner_rules;    /* AspNetCoreUserFromOwner (ac_ownerrules.h); NULL:
                                         * none */
    const char *state_root;      /* the configuration's AspNetCoreStateRoot; NULL: unknown */
    apr_array_header_t *configured_users;   /* ac_launch_t copies: the apps of the
                                             * configuration with an AspNetCoreUser, whose
                                             * places settings from a child may take */
} ac_sup_t;

/* The supervisor's state (defined in ac_supervisor.c). Hidden: httpd loads
 * modules with their symbols global. */
extern ac_sup_t ac_sup __attribute__((visibility("hidden")));

static inline apr_time_t ac_sup_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return apr_time_from_sec(ts.tv_sec) + ts.tv_nsec / 1000;
}

static inline ac_app_t *ac_sup_shared_app(int i)
{
    return &ac_sup.sh->apps[i];
}

#define AC_SUP_HIDDEN __attribute__((visibility("hidden")))

/* The slots children look at for an app of `l`: its processes and room for
 * as many replacements starting beside them (rolling restarts). */
static inline int ac_sup_app_slots(const ac_launch_t *l)
{
    return l->processes * 2 < AC_MAX_PROCESSES ? l->processes * 2 : AC_MAX_PROCESSES;
}

/* ---- ac_sup_output.c ---- */
/* Logs a message about app `ai`, tagged with its label, in Apache's error
 * log (as LogLevel aspnetcore:... selects) and in the app's debug log. */
AC_SUP_HIDDEN void ac_sup_app_log(int ai, int level, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The same at APLOG_ERR, kept as the app's last error for the status page. */
AC_SUP_HIDDEN void ac_sup_app_error(int ai, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
AC_SUP_HIDDEN apr_status_t ac_sup_close_debug_log(void *app);
/* Relays what process `s` of app `a` wrote; closes the pipe at its end. */
AC_SUP_HIDDEN void ac_sup_read_output(ac_sup_app_t *a, ac_sup_slot_t *s);
/* stdoutLogEnabled: the process's output goes to <prefix>_<time>_<pid>.log
 * (written by the supervisor, so that its token is taken out). */
AC_SUP_HIDDEN void ac_sup_open_stdout_log(int ai, ac_sup_slot_t *s, const char *prefix);
/* ac_sup_stdoutlog.c: a stdout log file was opened as `name`: its size and
 * time are noted and the app's oldest files beyond its limit removed. */
AC_SUP_HIDDEN void ac_sup_stdout_log_opened(int ai, ac_sup_slot_t *s, const char *prefix,
                                            const char *name);
/* Output `buf` is about to be written to the stdout log: 1 if the file is
 * past its size and the rest of the output goes to a new one (from the start
 * of a line: *head bytes first finish the current line in this file, then
 * ac_sup_stdout_log_roll); 0 if it all goes to the current file. */
AC_SUP_HIDDEN int ac_sup_stdout_log_roll_at(const ac_sup_app_t *a, const ac_sup_slot_t *s,
                                            const char *buf, apr_size_t n, apr_size_t *head);
/* Closes the stdout log file and opens a new one (or none, said once: the
 * output goes to the error log). */
AC_SUP_HIDDEN void ac_sup_stdout_log_roll(int ai, ac_sup_slot_t *s);
/* Says once a second how many output lines were over the limit. */
AC_SUP_HIDDEN void ac_sup_report_dropped_output(ac_sup_app_t *a, apr_time_t now);
AC_SUP_HIDDEN void ac_sup_forget_startup_output(ac_sup_slot_t *s);
/* A failed start: its output goes to the runtime dir for the 502.5 page. */
AC_SUP_HIDDEN void ac_sup_save_startup_output(int ai, ac_sup_slot_t *s);
/* A failed start: the last lines of its output in the error log, at error. */
AC_SUP_HIDDEN void ac_sup_log_startup_output(int ai, ac_sup_slot_t *s);
/* Removes an earlier app's startup output for table entry `ai`. */
AC_SUP_HIDDEN void ac_sup_remove_startup_output(int ai);

/* ---- ac_sup_logtargets.c ---- */
/* A LOG_TARGETS message (with its descriptors, which it takes). */
AC_SUP_HIDDEN void ac_sup_take_log_targets(const char *payload, uint32_t len, int *fds,
                                           unsigned nfds);
/* The host of the `nth` app of a CONFIG message, as the LOG_TARGETS
 * before it says (0, the main server, when none did). */
AC_SUP_HIDDEN uint32_t ac_sup_config_app_host(uint32_t nth);
/* The server_rec the lines about app `ai` are logged with. */
AC_SUP_HIDDEN server_rec *ac_sup_app_server(int ai);

/* ---- ac_sup_procs.c ---- */
AC_SUP_HIDDEN void ac_sup_spawn_slot(int ai, int si);
AC_SUP_HIDDEN void ac_sup_stop_slot(int ai, int si, int now_please);
AC_SUP_HIDDEN void ac_sup_stop_all(int now_please);
/* ac_sup_recycle.c: replaces READY process `si` of app `ai` by a rolling
 * restart (a new process is started; once it is ready the old one takes no
 * new request and stops gracefully when its requests are done). `why` (e.g.
 * "served 50 requests (AspNetCoreRecycle requests=50)") goes into the one log
 * line and the status page. 0 if the replacement began; -1 if not (the slot
 * is not READY or already being replaced, no room for another process, the
 * app is stopping or offline, a back-off after a failed start runs, or the
 * replacement could not be spawned: said and counted as a failed start). */
AC_SUP_HIDDEN int ac_sup_recycle_slot(int ai, int si, const char *why);
/* The tick's part: finishes the rolling restarts under way (the replacement
 * is ready: the old process drains; it failed: the old one serves on),
 * applies AspNetCoreRecycle, reads what each process costs. */
AC_SUP_HIDDEN void ac_sup_recycle_tick(int ai, apr_time_t now, apr_interval_time_t *sleep);
/* The app's processes as processesPerApplication counts them: a process
 * being replaced and its replacement are one; a replaced one draining is
 * none. */
AC_SUP_HIDDEN int ac_sup_counted_processes(int ai);
AC_SUP_HIDDEN int ac_sup_live_processes(void);
AC_SUP_HIDDEN void ac_sup_send_shutdown_event(int ai, int si);
AC_SUP_HIDDEN void ac_sup_finish_shutdown_event(int ai, int si, int timed_out);
/* Collects every process that ended. */
AC_SUP_HIDDEN void ac_sup_reap(void);
/* A failure of app `ai` (`pid`, 0 if none ran): back-off, rapid-fail limit. */
AC_SUP_HIDDEN void ac_sup_record_failure(int ai, pid_t pid);
/* The rapid-fail state, published for the status page. */
AC_SUP_HIDDEN void ac_sup_publish_trip(int ai, unsigned recent);
/* The slot's state, pid and port, published. */
AC_SUP_HIDDEN void ac_sup_publish_slot(int ai, int si);
/* A request found process `si` of app `ai` not answering: check, replace. */
AC_SUP_HIDDEN void ac_sup_check_broken(int ai, int si, uint64_t incarnation);
/* Checks every ready slot a child marked suspect (its datagram may be lost). */
AC_SUP_HIDDEN void ac_sup_check_suspects(int ai);
/* Takes the shared table a supervisor before us left. */
AC_SUP_HIDDEN void ac_sup_take_over_shared(void);

/* ---- ac_sup_limits.c ---- */
/* The cgroup directories (NULL-terminated) a new process of app `ai` joins
 * (in `p`), or NULL: no limit, or no cgroup (said once; the memory limit is
 * then checked by ac_sup_limits_check). */
AC_SUP_HIDDEN const char *const *ac_sup_limits_cgroups(int ai, apr_pool_t *p);
/* A process of app `ai` ended with `status`: killed by the OOM killer of
 * its cgroup, `how` says so ("was killed by its memory limit (...)"). */
AC_SUP_HIDDEN void ac_sup_limits_explain_end(int ai, int status, char *how, size_t len);
/* Has the OOM killer of app `ai`'s cgroup killed a process not yet reaped? */
AC_SUP_HIDDEN int ac_sup_limits_oom_pending(int ai);
/* An app without a cgroup: a process past its memory limit is recycled
 * (looked at once a second). */
AC_SUP_HIDDEN void ac_sup_limits_check(int ai, apr_time_t now, apr_interval_time_t *sleep);
/* ---- ac_sup_health.c (AspNetCoreHealthCheck) ---- */
/* Process `si` of app `ai` (one with a pid): a probe started when due,
 * failed when its time is up, dropped when the process is not READY. */
AC_SUP_HIDDEN void ac_sup_health_tick(int ai, int si, apr_time_t now,
                                      apr_interval_time_t *sleep);
/* The probe's socket for the loop's poll and what it waits for; -1: none. */
AC_SUP_HIDDEN int ac_sup_health_fd(int ai, int si, short *events);
/* The loop saw the probe's socket `fd` ready. */
AC_SUP_HIDDEN void ac_sup_health_io(int ai, int si, int fd);
/* The process of slot `si` ended: its probing is forgotten. */
AC_SUP_HIDDEN void ac_sup_health_forget(int ai, int si);

/* ---- ac_sup_apps.c ---- */
/* Applies a CONFIG payload from the parent and answers it. */
AC_SUP_HIDDEN void ac_sup_apply_config(const char *payload, uint32_t len);
/* An app registered by a request's datagram. */
AC_SUP_HIDDEN void ac_sup_register(const char *blob, apr_size_t len, uint32_t host);
AC_SUP_HIDDEN int ac_sup_any_ready(int ai);
/* The pids of app `ai`'s processes that are not stopping, "4711, 4712", into
 * `pids` (cut short to fit); returns its length. */
AC_SUP_HIDDEN apr_size_t ac_sup_pid_list(int ai, char *pids, apr_size_t size);
/* An app of the configuration with an AspNetCoreUser: its place and user
 * are remembered until the next configuration (ac_sup_identity.c). */
AC_SUP_HIDDEN void ac_sup_identity_remember(const ac_launch_t *l);
/* NULL when settings registered by an httpd child may run as the user
 * they name (ac_sup_identity.c), with *program (when not NULL) the real
 * path of the program checked, which is the one to execute; otherwise why
 * not, for a log line. */
AC_SUP_HIDDEN const char *ac_sup_identity_refusal(apr_pool_t *p, const ac_launch_t *l,
                                                  const char **program);
/* Is the listener of the slot's port the slot's process group? 1 yes, 0
 * no, -1 cannot tell (ac_port_listener_in_group, looked at as the app's
 * user). */
AC_SUP_HIDDEN int ac_sup_listener_is_app(int ai, const ac_sup_slot_t *s);
/* App `ai` has a ready process: the versions it replaces stop serving. */
AC_SUP_HIDDEN void ac_sup_retire_predecessors(int ai);
/* app_offline.htm: looked at twice a second. */
AC_SUP_HIDDEN void ac_sup_check_offline(int ai, apr_time_t now);
/* A request-registered app: retired when idle or no longer declared. */
AC_SUP_HIDDEN void ac_sup_check_idle(int ai, int live, apr_time_t now,
                                     apr_interval_time_t *sleep);
/* A request for app `ai` came (a datagram). */
AC_SUP_HIDDEN void ac_sup_app_requested(int ai, apr_time_t now);
/* A retired app with no process left: its entry is freed. */
AC_SUP_HIDDEN void ac_sup_free_app(int ai);
/* What the children published about app `ai`'s requests: the sum of the
 * served counters; *busy: one is in flight or waiting. */
AC_SUP_HIDDEN uint64_t ac_sup_requests_seen(int ai, int *busy);

/* ---- ac_sup_idle.c ---- */
/* AspNetCoreIdleTimeout: stops app `ai`'s processes once it has had no
 * request for that long (then nothing starts until a request comes). */
AC_SUP_HIDDEN void ac_sup_idle_tick(int ai, apr_time_t now);
/* A request asks for a process of app `ai` (a datagram): an idle stop ends. */
AC_SUP_HIDDEN void ac_sup_idle_requested(int ai, apr_time_t now);

#endif /* AC_SUP_PRIVATE_H */
