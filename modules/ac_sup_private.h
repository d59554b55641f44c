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
 *                    relay of the processes' output, the startup output.
 * The policies they apply live in httpd-free files with unit tests:
 * ac_backoff (restarts), ac_lines (output lines), ac_idle (retiring
 * request-registered apps), ac_shared (the writes to
 * shared memory), ac_event (the shutdown event's request).
 */
#ifndef AC_SUP_PRIVATE_H
#define AC_SUP_PRIVATE_H

#include <stdarg.h>
#include <time.h>
#include <sys/stat.h>

#include <httpd.h>

#include "ac_backoff.h"
#include "ac_debuglog.h"
#include "ac_idle.h"
#include "ac_launch.h"
#include "ac_lines.h"
#include "ac_scrub.h"
#include "ac_shared.h"
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
    int stdout_log_fd;           /* stdoutLogEnabled: its output goes there; else -1 */
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
} ac_sup_slot_t;

/* One entry of the app table, as the supervisor knows it. */
typedef struct {
    int in_use;
    int active;                  /* configured now (else retired, draining) */
    int dynamic;                 /* registered by a request (.htaccess, changed web.config) */
    int wanted;                  /* OnDemand: a request asked for it */
    ac_idle_t idle;              /* dynamic: requests seen, confirmed since the last config */
    apr_time_t idle_checked;
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
    struct stat web_config_seen; /* the imported web.config when the app was registered */
    char start_note[96];         /* why the next start happens, for its log line */
    ac_debug_conf_t debug;       /* its debug log (debugFile, debugLevel) */
    int debug_fd;                /* -1 until the first line; closed with the pool */
    int debug_broken;            /* a write failed: said once, no more tries */
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
/* Says once a second how many output lines were over the limit. */
AC_SUP_HIDDEN void ac_sup_report_dropped_output(ac_sup_app_t *a, apr_time_t now);
AC_SUP_HIDDEN void ac_sup_forget_startup_output(ac_sup_slot_t *s);
/* A failed start: its output goes to the runtime dir for the 502.5 page. */
AC_SUP_HIDDEN void ac_sup_save_startup_output(int ai, ac_sup_slot_t *s);
/* Removes an earlier app's startup output for table entry `ai`. */
AC_SUP_HIDDEN void ac_sup_remove_startup_output(int ai);

/* ---- ac_sup_procs.c ---- */
AC_SUP_HIDDEN void ac_sup_spawn_slot(int ai, int si);
AC_SUP_HIDDEN void ac_sup_stop_slot(int ai, int si, int now_please);
AC_SUP_HIDDEN void ac_sup_stop_all(int now_please);
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

/* ---- ac_sup_apps.c ---- */
/* Applies a CONFIG payload from the parent and answers it. */
AC_SUP_HIDDEN void ac_sup_apply_config(const char *payload, uint32_t len);
/* An app registered by a request's datagram. */
AC_SUP_HIDDEN void ac_sup_register(const char *blob, apr_size_t len);
AC_SUP_HIDDEN int ac_sup_any_ready(int ai);
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

#endif /* AC_SUP_PRIVATE_H */
