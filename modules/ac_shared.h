/* ac_shared: the state that the supervisor publishes to the httpd children.
 *
 * One shared-memory segment, created by the httpd parent once and kept across
 * config generations, holds a table of apps and, per app, its process slots.
 * The supervisor is the only writer of the identity fields (state, pid, port,
 * token, incarnation); it writes each app and slot under a sequence counter
 * (a seqlock) so that children read a consistent copy without any lock.
 * Children only bump atomic counters (in flight, served) and mark a process
 * they could not connect to (suspect), which the supervisor clears after its
 * check. Waiters sleep on a per-app futex word that the supervisor bumps on
 * every change. httpd-free.
 */
#ifndef AC_SHARED_H
#define AC_SHARED_H

#include <stdint.h>
#include <apr_time.h>

#include "ac_launch.h"

#define AC_MAX_APPS 64
#define AC_MAX_PROCESSES 100       /* processesPerApplication's upper bound */
#define AC_LABEL_CHARS 160
#define AC_PATH_CHARS 512          /* root and virtual path as shown on the status page */
#define AC_ERROR_CHARS 256         /* one line: the app's last error */

typedef enum {
    AC_SLOT_EMPTY = 0,     /* no process */
    AC_SLOT_STARTING,      /* spawned, not listening yet */
    AC_SLOT_READY,         /* listening: takes requests */
    AC_SLOT_STOPPING       /* draining: takes no new requests */
} ac_slot_state_e;

/* Why the app's last start failed (the 502.5 page says which). */
typedef enum {
    AC_FAIL_NONE = 0,
    AC_FAIL_SPAWN,         /* the program could not be started at all */
    AC_FAIL_EXIT,          /* it exited before it listened: fail_code is the exit code */
    AC_FAIL_SIGNAL,        /* it was killed before it listened: fail_code is the signal */
    AC_FAIL_TIMEOUT        /* it did not listen within startupTimeLimit: fail_code is the limit */
} ac_fail_e;

/* A process's health (AspNetCoreHealthCheck, ac_health.h), for the status page. */
typedef enum {
    AC_HEALTH_NONE = 0,    /* the app has no health check */
    AC_HEALTH_UNKNOWN,     /* not judged yet */
    AC_HEALTH_OK,          /* the last probe passed */
    AC_HEALTH_FAILING      /* the last probes failed: health_failures in a row */
} ac_health_state_e;

typedef enum {
    AC_APP_FREE = 0,       /* unused table entry */
    AC_APP_ACTIVE,         /* configured in the current generation */
    AC_APP_RETIRED         /* no longer configured: stopping or stopped */
} ac_app_state_e;

typedef struct {
    uint32_t seq;                       /* odd while the supervisor writes */
    uint32_t state;                     /* ac_slot_state_e */
    int32_t pid;
    uint32_t port;
    uint64_t incarnation;               /* new value for every process started here */
    int64_t started;                    /* apr_time_t */
    char token[AC_TOKEN_CHARS + 1];
    uint64_t served_base;               /* `served` when this process started: the status
                                         * page shows what the process itself served */
    /* what the process costs, read from /proc by the supervisor about once a
     * second (ac_sup_recycle.c); figures_time 0: not read yet */
    int64_t figures_time;               /* apr_time_t */
    uint32_t uid;                       /* the process's user */
    uint32_t tasks;                     /* threads of its process group */
    uint64_t rss_kib;                   /* resident memory of its process group */
    uint64_t cpu_ms;                    /* CPU time (user + system) of its process group */
    /* written by children with atomic operations */
    uint32_t inflight;
    uint64_t served;                    /* since the app's table entry was set up */
    uint64_t suspect;                   /* the incarnation a child could not connect to,
                                         * until the supervisor has checked who listens
                                         * on its port; 0: none */
    uint32_t health;                    /* ac_health_state_e (supervisor, under seq) */
    uint32_t health_failures;           /* failed probes in a row */
} ac_slot_t;

typedef struct {
    uint32_t seq;                       /* odd while the supervisor writes */
    uint32_t state;                     /* ac_app_state_e */
    unsigned char key[AC_KEY_BYTES];
    uint32_t nslots;
    uint32_t failed;                    /* nonzero: the last start failed and no slot is ready */
    uint32_t offline;                   /* app_offline.htm is in the app root */
    int32_t predecessor;                /* the version this one replaces, serving until this one
                                         * is ready; -1 none */
    int32_t successor;                  /* the version that replaced this one; -1 none */
    uint32_t wake;                      /* futex word, bumped on every change */
    uint32_t waiters;                   /* requests waiting for a process (children, atomic) */
    uint32_t restarts;                  /* processes started again after one ended unasked */
    char label[AC_LABEL_CHARS];
    /* Diagnostics (supervisor, under seq): read with ac_app_read_diag. */
    char root[AC_PATH_CHARS];           /* AspNetCoreAppRoot */
    char vpath[AC_PATH_CHARS];          /* the virtual path, ASPNETCORE_APPL_PATH */
    uint32_t fail_kind;                 /* ac_fail_e of the last failed start, kept until one
                                         * succeeds */
    int32_t fail_code;                  /* its exit code, signal, or startupTimeLimit */
    int64_t fail_time;                  /* apr_time_t */
    uint32_t tripped;                   /* rapidFailsPerMinute exceeded: no start until
                                         * tripped_until */
    int64_t tripped_until;              /* apr_time_t */
    uint32_t recent_fails;              /* failures within the last minute */
    int32_t last_exit_pid;              /* the last process of the app that ended */
    int32_t last_exit_status;           /* its exit code, or -signal */
    int64_t last_exit_time;             /* apr_time_t; 0 none yet */
    char last_error[AC_ERROR_CHARS];    /* the last error logged about the app, one line */
    uint32_t idle_stopped;              /* AspNetCoreIdleTimeout stopped it; no process runs
                                         * until a request comes */
    uint32_t idle_timeout;              /* ... after this many seconds without one */
    int64_t idle_since;                 /* apr_time_t of that stop */
    uint32_t health_replacements;       /* processes replaced for failing health checks */
    uint32_t processes;                 /* processes configured (nslots leaves room for
                                         * replacements starting: ac_sup_recycle.c) */
    uint32_t recycles;                  /* processes replaced by a rolling restart */
    int32_t last_recycle_pid;           /* the last one replaced */
    int64_t last_recycle_time;          /* apr_time_t; 0 none yet */
    char last_recycle_why[AC_ERROR_CHARS];
    ac_slot_t slots[AC_MAX_PROCESSES];
} ac_app_t;

typedef struct {
    uint32_t magic;
    uint32_t layout;                    /* sizeof-based check across module versions */
    int32_t supervisor_pid;
    uint32_t supervisor_starts;
    uint32_t table_wake;                /* futex word, bumped when an app is added or removed */
    uint32_t tunnels;                   /* WebSocket tunnels open (children, atomic) */
    uint32_t tunnel_limit;              /* AspNetCoreMaxWebSockets (parent) */
    ac_app_t apps[AC_MAX_APPS];
} ac_shared_t;

/* A consistent copy of an app's identity. */
typedef struct {
    uint32_t state;
    unsigned char key[AC_KEY_BYTES];
    uint32_t nslots;
    uint32_t failed;
    uint32_t offline;
    int32_t predecessor, successor;
} ac_app_view_t;

/* A consistent copy of an app's diagnostics (error and status pages). */
typedef struct {
    uint32_t state;
    uint32_t nslots;
    uint32_t failed, offline;
    uint32_t restarts;
    char label[AC_LABEL_CHARS];
    char root[AC_PATH_CHARS];
    char vpath[AC_PATH_CHARS];
    uint32_t fail_kind;
    int32_t fail_code;
    int64_t fail_time;
    uint32_t tripped;
    int64_t tripped_until;
    uint32_t recent_fails;
    int32_t last_exit_pid;
    int32_t last_exit_status;
    int64_t last_exit_time;
    char last_error[AC_ERROR_CHARS];
    uint32_t idle_stopped;
    uint32_t idle_timeout;
    int64_t idle_since;
    uint32_t health_replacements;
    uint32_t processes;
    uint32_t recycles;
    int32_t last_recycle_pid;
    int64_t last_recycle_time;
    char last_recycle_why[AC_ERROR_CHARS];
} ac_app_diag_t;

/* A consistent copy of a slot's identity. */
typedef struct {
    uint32_t state;
    int32_t pid;
    uint32_t port;
    uint64_t incarnation;
    char token[AC_TOKEN_CHARS + 1];
} ac_slot_view_t;

/* A consistent copy of a slot for the status page: no token, so that the
 * page cannot show it. */
typedef struct {
    uint32_t state;
    int32_t pid;
    uint32_t port;
    int64_t started;                    /* apr_time_t */
    uint64_t served_base;
    uint32_t health;                    /* ac_health_state_e */
    uint32_t health_failures;
    int64_t figures_time;               /* 0: the figures below are not known yet */
    uint32_t uid;
    uint32_t tasks;
    uint64_t rss_kib;
    uint64_t cpu_ms;
} ac_slot_diag_t;

apr_size_t ac_shared_size(void);
void ac_shared_init(ac_shared_t *sh);
int ac_shared_valid(const ac_shared_t *sh);

/* Writer side (supervisor only). A write makes the record's sequence odd,
 * writes, and makes it even again; the helpers below are each one such
 * write of the fields they name (nothing else changes). */
void ac_seq_write_begin(uint32_t *seq);
void ac_seq_write_end(uint32_t *seq);

/* The slot's process as the supervisor sees it now. */
void ac_slot_publish(ac_slot_t *slot, uint32_t state, int32_t pid, uint32_t port);
/* A process was started in the slot: STARTING, with its identity; the
 * status page counts what it serves from now on. */
void ac_slot_publish_start(ac_slot_t *slot, int32_t pid, uint32_t port, uint64_t incarnation,
                           int64_t started, const char *token);
/* What the slot's process costs (ac_procstat), read at `when`. */
void ac_slot_publish_figures(ac_slot_t *slot, uint32_t uid, uint32_t tasks, uint64_t rss_kib,
                             uint64_t cpu_ms, int64_t when);
/* No process: EMPTY, pid 0 (the rest is left for the diagnostics). */
void ac_slot_publish_empty(ac_slot_t *slot);

/* A new app in the entry: ACTIVE, its identity and diagnostics afresh, every
 * slot EMPTY with its counts at zero. `label`, `root`, `vpath` are cut to
 * their fields. */
void ac_app_publish_new(ac_app_t *app, const unsigned char key[AC_KEY_BYTES], uint32_t nslots,
                        const char *label, const char *root, const char *vpath);
void ac_app_publish_state(ac_app_t *app, uint32_t state);       /* ac_app_state_e */
/* Sets `failed`; wakes the app's waiters if it changed. */
void ac_app_publish_failed(ac_app_t *app, uint32_t failed);
/* app_offline.htm appeared (1) or went (0); a failed start is forgotten. */
void ac_app_publish_offline(ac_app_t *app, uint32_t offline);
void ac_app_publish_predecessor(ac_app_t *app, int32_t index);  /* -1 none */
void ac_app_publish_successor(ac_app_t *app, int32_t index);    /* -1 none */
/* The last error logged about the app (one line, cut to its field). */
void ac_app_publish_error(ac_app_t *app, const char *msg);
/* Why the last start failed; AC_FAIL_NONE (time 0) once a process is ready. */
void ac_app_publish_fail_reason(ac_app_t *app, ac_fail_e kind, int32_t code, int64_t when);
/* The rapid-fail state: failures within the last minute; tripped until. */
void ac_app_publish_trip(ac_app_t *app, uint32_t recent, uint32_t tripped, int64_t until);
/* The last process of the app that ended: exit code, or -signal. */
void ac_app_publish_exit(ac_app_t *app, int32_t pid, int32_t status, int64_t when);
/* AspNetCoreIdleTimeout: the app was stopped for want of requests after
 * `timeout` seconds (stopped 1, at `since`), or a request started it again
 * (0). */
void ac_app_publish_idle(ac_app_t *app, uint32_t stopped, uint32_t timeout, int64_t since);
/* How many processes the app is configured to run (the status page). */
void ac_app_publish_processes(ac_app_t *app, uint32_t processes);
/* Process `pid` was replaced by a rolling restart, for `why`: counted. */
void ac_app_publish_recycle(ac_app_t *app, int32_t pid, const char *why, int64_t when);
/* A process was started again after one ended unasked. */
void ac_app_count_restart(ac_app_t *app);
/* A process is replaced for failing its health checks. */
void ac_app_count_health_replacement(ac_app_t *app);
/* The health of the slot's process (ac_health_state_e) and its failed
 * probes in a row. */
void ac_slot_publish_health(ac_slot_t *slot, uint32_t health, uint32_t failures);

/* A new supervisor's first act on a segment a supervisor before it wrote:
 * that one may have died in the middle of a write, leaving a sequence odd
 * (every reader would give up on that record). Every odd sequence is made
 * even; such a slot's process is not trusted to be what the record says
 * (it is left for the caller to stop, as every slot of a dead supervisor
 * is) and such an app's record is taken again (adopted and rewritten, or
 * freed) like any app of a dead supervisor. Returns how many records were
 * repaired. */
int ac_shared_repair(ac_shared_t *sh);
/* Bumps the app's wake word and wakes every waiter. */
void ac_app_notify(ac_app_t *app);
/* Bumps the table's wake word (an app was added or removed). */
void ac_shared_table_notify(ac_shared_t *sh);

/* Futex words shared between processes: read, wait for a change, wake. */
uint32_t ac_word_read(const uint32_t *word);
/* Sleeps until *word differs from `seen` or `timeout` passes. */
void ac_word_wait(uint32_t *word, uint32_t seen, apr_interval_time_t timeout);
void ac_word_bump(uint32_t *word);

/* The index of the active app with this key, or -1 (an app whose record
 * cannot be read counts as not found). */
int ac_shared_find(const ac_shared_t *sh, const unsigned char key[AC_KEY_BYTES]);

/* Reader side. A reader copies the record and copies again while the
 * supervisor is writing it, for at most AC_SEQ_READ_LIMIT: a supervisor
 * that died in the middle of a write leaves the record odd until the next
 * one repairs it, and no reader may wait on that forever. Each returns 1
 * with a consistent copy, or 0 when the record could not be read in time:
 * then the copy is the fail-safe one (slot EMPTY, app FREE with no
 * predecessor or successor, empty strings), and the caller treats the app
 * or process as unavailable for now. */
#define AC_SEQ_READ_LIMIT apr_time_from_msec(100)
int ac_slot_read(const ac_slot_t *slot, ac_slot_view_t *view);
/* Copies the app's identity consistently. */
int ac_app_read(const ac_app_t *app, ac_app_view_t *view);
/* Copies the app's diagnostics consistently. */
int ac_app_read_diag(const ac_app_t *app, ac_app_diag_t *diag);
/* Copies a slot's diagnostics consistently. */
int ac_slot_read_diag(const ac_slot_t *slot, ac_slot_diag_t *diag);
/* The slot's start time (apr_time_t) and requests served; not under seq. */
int64_t ac_slot_started(const ac_slot_t *slot);
uint64_t ac_slot_served(const ac_slot_t *slot);

void ac_slot_enter(ac_slot_t *slot);      /* a request starts using the slot */
void ac_slot_leave(ac_slot_t *slot);      /* ... and is done with it */
uint32_t ac_slot_inflight(const ac_slot_t *slot);

/* A child could not connect to the slot's process `incarnation`: no new
 * connection is made to it until the supervisor has checked that the port's
 * listener is still that process (another local user may have bound the
 * port it left, and would receive the token and the requests). */
void ac_slot_mark_suspect(ac_slot_t *slot, uint64_t incarnation);
/* Is the slot's process `incarnation` waiting for that check? */
int ac_slot_is_suspect(const ac_slot_t *slot, uint64_t incarnation);
/* The check passed: new connections to `incarnation` are allowed again
 * (a mark for another incarnation is left alone). */
void ac_slot_clear_suspect(ac_slot_t *slot, uint64_t incarnation);

#endif /* AC_SHARED_H */
