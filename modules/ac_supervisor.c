/* ac_supervisor: one process owning every backend of every app. */
#include "ac_supervisor.h"
#include "ac_channel.h"
#include "ac_debuglog.h"
#include "ac_launch.h"
#include "ac_sockio.h"
#include "ac_spawn.h"
#include "ac_strays.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <http_log.h>
#include <ap_listen.h>
#include <mod_unixd.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

extern char **environ;

#define PROBE_INTERVAL apr_time_from_msec(20)
#define MAX_BACKOFF apr_time_from_sec(30)
#define FIRST_BACKOFF apr_time_from_msec(250)
#define STABLE_AFTER apr_time_from_sec(30)   /* ready this long: not a crash loop */
#define OUTPUT_LINE_MAX 2048
#define OUTPUT_LINES_PER_SECOND 200
#define PORT_TRIES 50
#define MAX_FAIL_RECORD 101
#define MAX_COLLISIONS 5
#define STARTUP_OUTPUT_MAX 30000
#define WEB_CONFIG_GRACE apr_time_from_sec(15)  /* for the new settings after a deploy: the
                                                  * parent looks every ~10 s (monitor hook) */
#define LOG_MESSAGE_MAX 4096         /* one message about an app, as logged */

typedef struct {
    int state;                   /* ac_slot_state_e, as published */
    pid_t pid;
    unsigned port;
    int out_fd;                  /* the backend's stdout+stderr; -1 when closed */
    char line[OUTPUT_LINE_MAX];
    apr_size_t line_len;
    apr_time_t spawned;          /* monotonic */
    apr_time_t ready_at;         /* monotonic, 0 until ready */
    apr_time_t term_at;          /* STOPPING: when SIGTERM goes out */
    apr_time_t kill_at;          /* STARTING/STOPPING: when SIGKILL goes out */
    int term_sent, kill_sent;
    int failed_start;            /* killed for not listening in time */
    int broken;                  /* killed for no longer taking connections: a crash */
    int shutdown_fd;             /* the shutdown event's connection, -1 when none */
    apr_time_t shutdown_answer_by;
    char *startup_output;        /* the last STARTUP_OUTPUT_MAX bytes it wrote while starting */
    apr_size_t startup_len;
} sup_slot_t;

typedef struct {
    int in_use;
    int active;                  /* configured now (else retired, draining) */
    int dynamic;                 /* registered by a request (.htaccess, changed web.config) */
    int wanted;                  /* OnDemand: a request asked for it */
    apr_pool_t *pool;
    ac_launch_t *launch;
    const char *label;
    unsigned char key[AC_KEY_BYTES];
    sup_slot_t slots[AC_MAX_PROCESSES];
    apr_time_t fails[MAX_FAIL_RECORD];   /* monotonic times of recent failures */
    unsigned nfails;
    unsigned consecutive;
    unsigned collisions;         /* port collisions in a row */
    int replaced_by;             /* index of the newer version it serves for until ready; -1 */
    int offline;                 /* app_offline.htm is there: no process runs */
    apr_time_t offline_checked;
    apr_time_t not_before;       /* back-off: no start before this */
    int tripped;                 /* over rapidFailsPerMinute */
    apr_time_t output_second;
    unsigned output_lines, output_dropped;
    struct stat web_config_seen; /* the imported web.config when the app was registered */
    char start_note[96];         /* why the next start happens, for its log line */
    ac_debug_conf_t debug;       /* its debug log (debugFile, debugLevel) */
    int debug_fd;                /* -1 until the first line; closed with the pool */
    int debug_broken;            /* a write failed: said once, no more tries */
} sup_app_t;

static struct {
    const ac_supervisor_args_t *args;
    ac_shared_t *sh;
    server_rec *s;
    apr_pool_t *pool;
    sup_app_t apps[AC_MAX_APPS];
    uint64_t incarnation;
    int sigfd;
    int control_fd;
    int stopping;                /* httpd is gone: stop all, then exit */
    int held;                    /* stop-all received: start nothing until new config */
    unsigned port_low, port_high;
    unsigned ephemeral_low, ephemeral_high;   /* the kernel's; 0 when unknown */
} sup;

static apr_time_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return apr_time_from_sec(ts.tv_sec) + ts.tv_nsec / 1000;
}

static ac_app_t *shared_app(int i)
{
    return &sup.sh->apps[i];
}

/* Rewrites the record of running backends (see ac_strays.h). */
static void record_backends(void)
{
    static ac_stray_t entries[AC_MAX_APPS * AC_MAX_PROCESSES];
    int ai, si, n = 0, err;

    if (!sup.args->record_path) {
        return;
    }
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            const ac_slot_t *slot = &shared_app(ai)->slots[si];
            if (sup.apps[ai].in_use && sup.apps[ai].slots[si].pid) {
                entries[n].pgid = sup.apps[ai].slots[si].pid;
                memcpy(entries[n].token, slot->token, sizeof(slot->token));
                n++;
            }
        }
    }
    err = ac_strays_write(sup.args->record_path, entries, n);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(err), sup.s,
                     "cannot record the running backends in %s", sup.args->record_path);
    }
}

static void publish_slot(int ai, int si)
{
    sup_app_t *a = &sup.apps[ai];
    sup_slot_t *s = &a->slots[si];
    ac_slot_t *slot = &shared_app(ai)->slots[si];

    ac_seq_write_begin(&slot->seq);
    slot->state = (uint32_t)s->state;
    slot->pid = s->pid;
    slot->port = s->port;
    ac_seq_write_end(&slot->seq);
}

static void publish_failed(int ai, int failed)
{
    ac_app_t *app = shared_app(ai);
    if (app->failed == (uint32_t)failed) {
        return;
    }
    ac_seq_write_begin(&app->seq);
    app->failed = (uint32_t)failed;
    ac_seq_write_end(&app->seq);
    ac_app_notify(app);
}

/* ---- diagnostics for the error and status pages ---------------------- */

/* ---- logging about an app --------------------------------------------- */

static apr_status_t close_debug_log(void *data)
{
    sup_app_t *a = data;
    if (a->debug_fd >= 0) {
        close(a->debug_fd);
        a->debug_fd = -1;
    }
    return APR_SUCCESS;
}

/* The debug log cannot be written: said once in the error log, and no
 * more lines go there (the app runs on; a full disk must not stop it). */
static void debug_log_broken(sup_app_t *a, int err)
{
    a->debug_broken = 1;
    close_debug_log(a);
    ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(err), sup.s,
                 "[%s] cannot write the debug log %s: no more lines go there until the app's "
                 "settings change", a->label, a->debug.file);
}

static ac_debug_level_e debug_level_of(int aplevel)
{
    if (aplevel <= APLOG_ERR) {
        return AC_DEBUG_ERROR;
    }
    if (aplevel == APLOG_WARNING) {
        return AC_DEBUG_WARNING;
    }
    return aplevel <= APLOG_INFO ? AC_DEBUG_INFO : AC_DEBUG_TRACE;
}

/* Appends a message about the app to its debug log, if it has one that
 * takes this level. */
static void debug_log(sup_app_t *a, int aplevel, apr_status_t rv, const char *msg)
{
    ac_debug_level_e level = debug_level_of(aplevel);
    char line[LOG_MESSAGE_MAX + 256], with_why[LOG_MESSAGE_MAX + 128], why[120];
    apr_size_t n;
    ssize_t w;

    if (a->debug_broken || !ac_debug_wants(&a->debug, level)) {
        return;
    }
    if (a->debug_fd < 0 && (a->debug_fd = ac_debug_open(a->debug.file)) < 0) {
        debug_log_broken(a, errno);
        return;
    }
    if (rv != APR_SUCCESS) {
        apr_snprintf(with_why, sizeof(with_why), "%s: %s", msg, apr_strerror(rv, why, sizeof(why)));
        msg = with_why;
    }
    n = ac_debug_format(line, sizeof(line), apr_time_now(), level, (long)getpid(), msg);
    w = write(a->debug_fd, line, n);
    if (w != (ssize_t)n) {
        debug_log_broken(a, w < 0 ? errno : ENOSPC);
    }
}

/* Logs a message about app `ai`, tagged with its label, in Apache's error
 * log (as LogLevel aspnetcore:... selects) and in the app's debug log (as
 * its debugLevel selects). */
static void app_vlog(int ai, int level, apr_status_t rv, const char *fmt, va_list ap,
                     char *msg, apr_size_t size)
{
    sup_app_t *a = &sup.apps[ai];
    apr_vsnprintf(msg, size, fmt, ap);
    ap_log_error(APLOG_MARK, level, rv, sup.s, "[%s] %s", a->label, msg);
    debug_log(a, level, rv, msg);
}

static void app_log(int ai, int level, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void app_log(int ai, int level, apr_status_t rv, const char *fmt, ...)
{
    char msg[LOG_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    app_vlog(ai, level, rv, fmt, ap, msg, sizeof(msg));
    va_end(ap);
}

/* Logs an error about app `ai` and keeps it, one line, as the app's last
 * error for the status page. */
static void app_error(int ai, apr_status_t rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void app_error(int ai, apr_status_t rv, const char *fmt, ...)
{
    ac_app_t *app = shared_app(ai);
    char msg[LOG_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    app_vlog(ai, APLOG_ERR, rv, fmt, ap, msg, sizeof(msg));
    va_end(ap);
    ac_seq_write_begin(&app->seq);
    apr_cpystrn(app->last_error, msg, sizeof(app->last_error));
    ac_seq_write_end(&app->seq);
}

/* Why the last start failed; AC_FAIL_NONE once a process is ready. */
static void publish_fail_reason(int ai, ac_fail_e kind, int code)
{
    ac_app_t *app = shared_app(ai);
    ac_seq_write_begin(&app->seq);
    app->fail_kind = (uint32_t)kind;
    app->fail_code = code;
    app->fail_time = kind == AC_FAIL_NONE ? 0 : apr_time_now();
    ac_seq_write_end(&app->seq);
}

/* The rapid-fail state: failures within the last minute, and whether they
 * stopped the app from starting until the window passes. */
static void publish_trip(int ai, unsigned recent)
{
    sup_app_t *a = &sup.apps[ai];
    ac_app_t *app = shared_app(ai);
    ac_seq_write_begin(&app->seq);
    app->recent_fails = recent;
    app->tripped = (uint32_t)a->tripped;
    app->tripped_until = a->tripped ? apr_time_now() + (a->not_before - mono()) : 0;
    ac_seq_write_end(&app->seq);
}

static void publish_exit(int ai, pid_t pid, int status)
{
    ac_app_t *app = shared_app(ai);
    ac_seq_write_begin(&app->seq);
    app->last_exit_pid = pid;
    app->last_exit_status = WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
    app->last_exit_time = apr_time_now();
    ac_seq_write_end(&app->seq);
}

/* ---- backend output ------------------------------------------------- */

/* Keeps what a starting process writes (the last STARTUP_OUTPUT_MAX bytes),
 * for the diagnostics of a failed start. */
static void keep_startup_output(sup_slot_t *s, const char *line)
{
    apr_size_t n = strlen(line) + 1;
    if (n > STARTUP_OUTPUT_MAX) {
        line += n - STARTUP_OUTPUT_MAX;
        n = STARTUP_OUTPUT_MAX;
    }
    if (!s->startup_output && !(s->startup_output = malloc(STARTUP_OUTPUT_MAX))) {
        return;
    }
    if (s->startup_len + n > STARTUP_OUTPUT_MAX) {
        apr_size_t drop = s->startup_len + n - STARTUP_OUTPUT_MAX;
        memmove(s->startup_output, s->startup_output + drop, s->startup_len - drop);
        s->startup_len -= drop;
    }
    memcpy(s->startup_output + s->startup_len, line, n - 1);
    s->startup_output[s->startup_len + n - 1] = '\n';
    s->startup_len += n;
}

static void forget_startup_output(sup_slot_t *s)
{
    free(s->startup_output);
    s->startup_output = NULL;
    s->startup_len = 0;
}

/* Where the output of app `ai`'s last failed start is kept (ac_errpage
 * reads it): <runtime dir>/startup-<app>.log. 0 if there is no such place. */
static int startup_output_path(int ai, char *path, apr_size_t size)
{
    return sup.args->runtime_dir
           && apr_snprintf(path, size, "%s/startup-%d.log", sup.args->runtime_dir, ai)
              < (int)size - 1;
}

/* A failed start: its output goes to <runtime dir>/startup-<app>.log for
 * the error page, replacing that of an earlier failure. The file belongs
 * to Apache's User (the supervisor runs as that User), mode 0600 in a 0700
 * directory: the children, running as that User too, read it; no one else. */
static void save_startup_output(int ai, sup_slot_t *s)
{
    char path[4096], tmp[4200];
    int fd;

    if (!startup_output_path(ai, path, sizeof(path))) {
        return;
    }
    apr_snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* a fresh file: a FIFO planted in its place would block this open */
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), sup.s,
                     "cannot keep the startup output in %s", tmp);
        return;
    }
    if ((s->startup_len && write(fd, s->startup_output, s->startup_len) != (ssize_t)s->startup_len)
        || close(fd) < 0 || rename(tmp, path) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), sup.s,
                     "cannot keep the startup output in %s", path);
        unlink(tmp);
    }
}

static void report_dropped_output(sup_app_t *a, apr_time_t now)
{
    if (now - a->output_second < apr_time_from_sec(1)) {
        return;
    }
    if (a->output_dropped) {
        app_log((int)(a - sup.apps), APLOG_WARNING, 0,
                "%u lines of output not logged (more than %d a second)", a->output_dropped,
                OUTPUT_LINES_PER_SECOND);
    }
    a->output_second = now;
    a->output_lines = 0;
    a->output_dropped = 0;
}

static void log_output_line(sup_app_t *a, sup_slot_t *s, const char *line)
{
    if (s->state == AC_SLOT_STARTING) {
        keep_startup_output(s, line);
    }
    report_dropped_output(a, mono());
    if (++a->output_lines > OUTPUT_LINES_PER_SECOND) {
        a->output_dropped++;
        return;
    }
    /* as "%s": the app's bytes are never a format; httpd escapes control
     * characters itself when it writes the error log */
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, sup.s, "[%s pid %ld] %s", a->label,
                 (long)s->pid, line);
}

static void read_output(sup_app_t *a, sup_slot_t *s)
{
    char buf[4096];
    for (;;) {
        ssize_t n = read(s->out_fd, buf, sizeof(buf));
        ssize_t i;
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                if (s->line_len) {
                    s->line[s->line_len] = '\0';
                    log_output_line(a, s, s->line);
                    s->line_len = 0;
                }
                close(s->out_fd);
                s->out_fd = -1;
            }
            return;
        }
        for (i = 0; i < n; i++) {
            if (buf[i] == '\n' || s->line_len == sizeof(s->line) - 1) {
                if (s->line_len && s->line[s->line_len - 1] == '\r') {
                    s->line_len--;
                }
                s->line[s->line_len] = '\0';
                log_output_line(a, s, s->line);
                s->line_len = 0;
                if (buf[i] == '\n') {
                    continue;
                }
            }
            s->line[s->line_len++] = buf[i] ? buf[i] : '?';
        }
    }
}

/* ---- starting and stopping ------------------------------------------ */

static unsigned port_in_use_by_us(unsigned port)
{
    int i, j;
    for (i = 0; i < AC_MAX_APPS; i++) {
        for (j = 0; sup.apps[i].in_use && j < AC_MAX_PROCESSES; j++) {
            if (sup.apps[i].slots[j].pid && sup.apps[i].slots[j].port == port) {
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
        port = ac_port_pick(sup.port_low, sup.port_high,
                            t < PORT_TRIES / 2 ? sup.ephemeral_low : 0, sup.ephemeral_high, r);
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

/* A start failed or a process crashed (`pid`, 0 if none ran): back off,
 * and past rapidFailsPerMinute stop starting it for the rest of the minute. */
static void record_failure(int ai, pid_t pid)
{
    sup_app_t *a = &sup.apps[ai];
    apr_time_t now = mono(), window = apr_time_from_sec(60), delay;
    unsigned i, recent = 0, limit = (unsigned)a->launch->rapid_fails_per_minute;
    apr_time_t oldest = now;

    a->fails[a->nfails++ % MAX_FAIL_RECORD] = now;
    for (i = 0; i < MAX_FAIL_RECORD && i < a->nfails; i++) {
        if (now - a->fails[i] < window) {
            recent++;
            if (a->fails[i] < oldest) {
                oldest = a->fails[i];
            }
        }
    }
    a->consecutive++;
    delay = a->consecutive <= 1 ? 0 : FIRST_BACKOFF << (a->consecutive - 2 > 7 ? 7 : a->consecutive - 2);
    if (delay > MAX_BACKOFF) {
        delay = MAX_BACKOFF;
    }
    a->not_before = now + delay;
    if (recent > limit) {
        if (!a->tripped) {
            app_error(ai, 0, "%u failures within a minute (rapidFailsPerMinute %u): not "
                      "starting it again before %ld s (the last: %s %ld)", recent, limit,
                      (long)apr_time_sec(oldest + window - now) + 1,
                      pid ? "process" : "a start that could not run, pid", (long)pid);
        }
        a->tripped = 1;
        a->not_before = oldest + window;
    }
    else {
        app_log(ai, APLOG_DEBUG, 0, "%u failure(s) within a minute: next start in %ld ms at the "
                "earliest", recent, (long)apr_time_as_msec(delay));
    }
    publish_trip(ai, recent);
    if (a->tripped) {
        publish_failed(ai, 1);
    }
}

static void spawn_slot(int ai, int si)
{
    sup_app_t *a = &sup.apps[ai];
    sup_slot_t *s = &a->slots[si];
    ac_slot_t *slot = &shared_app(ai)->slots[si];
    apr_pool_t *p;
    const char *program, *err, *path_env = getenv("PATH");
    char token[AC_TOKEN_CHARS + 1];
    char **argv, **envp;
    char why[512];
    int out[2], i;
    unsigned port;
    pid_t pid;
    ac_spawn_t req;

    if (apr_pool_create(&p, sup.pool) != APR_SUCCESS) {
        return;
    }
    for (i = 0; i < a->launch->env->nelts; i++) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(a->launch->env, i, ac_env_entry_t);
        if (!strcmp(e->name, "PATH")) {
            path_env = e->value;
        }
    }
    err = ac_launch_resolve_program(p, a->launch, path_env, &program);
    if (!err) {
        err = ac_launch_build_argv(p, a->launch, program, &argv);
    }
    port = pick_port();
    if (!err && !port) {
        err = apr_psprintf(p, "no free port in %u-%u", sup.port_low, sup.port_high);
    }
    if (!err && new_token(token) < 0) {
        err = "no random bytes for a token";
    }
    if (!err && pipe2(out, O_CLOEXEC) < 0) {
        err = apr_psprintf(p, "pipe: %s", strerror(errno));
    }
    if (err) {
        app_error(ai, 0, "cannot start a process: %s", err);
        publish_fail_reason(ai, AC_FAIL_SPAWN, 0);
        record_failure(ai, 0);
        publish_failed(ai, 1);
        apr_pool_destroy(p);
        return;
    }
    envp = ac_launch_build_env(p, a->launch, environ, port, token);
    req.program = program;
    req.argv = argv;
    req.envp = envp;
    req.cwd = a->launch->app_root;
    req.output_fd = out[1];
    req.log_prefix = NULL;
    if (a->launch->stdout_log_enabled && a->launch->stdout_log_file) {
        const char *f = a->launch->stdout_log_file;
        req.log_prefix = f[0] == '/' ? f : apr_pstrcat(p, a->launch->app_root, "/", f, NULL);
    }
    if (ac_spawn(&req, &pid, why, sizeof(why)) != 0) {
        close(out[0]);
        close(out[1]);
        app_error(ai, 0, "cannot start %s: %s", program, why);
        publish_fail_reason(ai, AC_FAIL_SPAWN, 0);
        record_failure(ai, 0);
        publish_failed(ai, 1);
        apr_pool_destroy(p);
        return;
    }
    close(out[1]);
    if (fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        app_log(ai, APLOG_WARNING, APR_FROM_OS_ERROR(errno),
                "cannot make the output pipe non-blocking");
    }
    memset(s, 0, sizeof(*s));
    s->shutdown_fd = -1;
    s->state = AC_SLOT_STARTING;
    s->pid = pid;
    s->port = port;
    s->out_fd = out[0];
    s->spawned = mono();
    s->kill_at = s->spawned + apr_time_from_sec(a->launch->startup_time_limit);

    ac_seq_write_begin(&slot->seq);
    slot->state = AC_SLOT_STARTING;
    slot->pid = pid;
    slot->port = port;
    slot->incarnation = ++sup.incarnation;
    slot->started = apr_time_now();
    memcpy(slot->token, token, sizeof(slot->token));
    slot->served_base = ac_slot_served(slot);   /* status page: served by this process */
    ac_seq_write_end(&slot->seq);
    ac_app_notify(shared_app(ai));
    record_backends();

    {
        const char *cmdline = program;
        for (i = 1; argv[i]; i++) {
            cmdline = apr_pstrcat(p, cmdline, " ", argv[i], NULL);
        }
        /* one line per start; a restart says what it replaces */
        app_log(ai, APLOG_NOTICE, 0, "started process %ld on port %u: %s%s%s%s", (long)pid,
                port, cmdline, a->start_note[0] ? " (" : "", a->start_note,
                a->start_note[0] ? ")" : "");
        a->start_note[0] = '\0';
    }
    apr_pool_destroy(p);
}

/* Asks a backend to stop the way ANCM does: POST <path>/iisintegration with
 * the shutdown event and its token; the app answers 202 and stops. The
 * answer is read by the loop; no answer, another one, or no connection
 * means SIGTERM to its group. */
static void send_shutdown_event(int ai, int si)
{
    sup_app_t *a = &sup.apps[ai];
    sup_slot_t *s = &a->slots[si];
    ac_slot_view_t v;
    const char *vp = a->launch->virtual_path;
    char req[512];
    struct iovec iov;
    int fd, n;

    ac_slot_read(&shared_app(ai)->slots[si], &v);
    n = apr_snprintf(req, sizeof(req),
                     "POST %s/iisintegration HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n"
                     "MS-ASPNETCORE-TOKEN: %s\r\nMS-ASPNETCORE-EVENT: shutdown\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n",
                     strcmp(vp, "/") ? vp : "", s->port, v.token);
    if (n > 0 && n < (int)sizeof(req)
        && ac_sock_connect_loopback(s->port, apr_time_from_msec(100), &fd) == APR_SUCCESS) {
        iov.iov_base = req;
        iov.iov_len = (size_t)n;
        if (ac_sock_writev_all(fd, &iov, 1, apr_time_from_msec(100)) == APR_SUCCESS) {
            app_log(ai, APLOG_DEBUG, 0, "sent the shutdown event to process %ld", (long)s->pid);
            s->shutdown_fd = fd;
            s->shutdown_answer_by = mono() + apr_time_from_sec(1);
            return;
        }
        close(fd);
    }
    app_log(ai, APLOG_DEBUG, 0, "cannot send the shutdown event to process %ld: SIGTERM",
            (long)s->pid);
    ac_spawn_signal_group(s->pid, SIGTERM);
}

/* The app answered the shutdown event (or the time to do so is up). */
static void finish_shutdown_event(int ai, int si, int timed_out)
{
    sup_slot_t *s = &sup.apps[ai].slots[si];
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
        app_log(ai, APLOG_DEBUG, 0, "process %ld did not accept the shutdown event: SIGTERM",
                (long)s->pid);
        ac_spawn_signal_group(s->pid, SIGTERM);
    }
}

static void stop_slot(int ai, int si, int now_please)
{
    sup_app_t *a = &sup.apps[ai];
    sup_slot_t *s = &a->slots[si];
    apr_time_t now = mono(), limit = apr_time_from_sec(a->launch->shutdown_time_limit);

    if (!s->pid || s->state == AC_SLOT_STOPPING) {
        return;
    }
    app_log(ai, APLOG_DEBUG, 0, "stopping process %ld (%s; killed after %d s)", (long)s->pid,
            now_please ? "at once" : "once its requests are done",
            a->launch->shutdown_time_limit);
    s->state = AC_SLOT_STOPPING;
    s->term_at = now_please ? now : now + limit / 2;
    s->kill_at = now + limit;
    publish_slot(ai, si);
    ac_app_notify(shared_app(ai));
}

static void reap(void)
{
    for (;;) {
        int status, ai, si, found = 0;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;
        }
        for (ai = 0; ai < AC_MAX_APPS && !found; ai++) {
            sup_app_t *a = &sup.apps[ai];
            for (si = 0; a->in_use && si < AC_MAX_PROCESSES; si++) {
                sup_slot_t *s = &a->slots[si];
                char how[64];
                int was;
                if (s->pid != pid) {
                    continue;
                }
                found = 1;
                publish_exit(ai, pid, status);
                if (WIFSIGNALED(status)) {
                    apr_snprintf(how, sizeof(how), "was killed by signal %d", WTERMSIG(status));
                }
                else {
                    apr_snprintf(how, sizeof(how), "exited with code %d", WEXITSTATUS(status));
                }
                if (s->out_fd >= 0) {
                    read_output(a, s);
                }
                if (s->shutdown_fd >= 0) {
                    close(s->shutdown_fd);
                    s->shutdown_fd = -1;
                }
                /* Whatever the app left running in its group goes too. */
                ac_spawn_signal_group(pid, SIGKILL);
                was = s->state;
                if (was == AC_SLOT_STOPPING && !s->failed_start && !s->broken) {
                    app_log(ai, APLOG_INFO, 0, "process %ld stopped (%s)", (long)pid, how);
                }
                else if (was == AC_SLOT_READY || s->broken) {
                    /* a crash, also when a request noticed it before we did */
                    app_error(ai, 0, "process %ld %s after %ld s: starting a new one",
                              (long)pid, how, (long)apr_time_sec(mono() - s->ready_at));
                    {
                        ac_app_t *app = shared_app(ai);
                        ac_seq_write_begin(&app->seq);
                        app->restarts++;
                        ac_seq_write_end(&app->seq);
                    }
                    if (mono() - s->ready_at >= STABLE_AFTER) {
                        a->consecutive = 0;
                    }
                    apr_snprintf(a->start_note, sizeof(a->start_note),
                                 "restart: process %ld %s", (long)pid, how);
                    record_failure(ai, pid);
                    if (a->launch->ondemand) {
                        a->wanted = 0;     /* like ANCM: the next request starts one */
                    }
                }
                else if (was == AC_SLOT_STARTING && !ac_port_is_free(s->port)
                         && a->collisions < MAX_COLLISIONS) {
                    /* another program took the port between our check and the
                     * app's bind: not the app's fault */
                    a->collisions++;
                    app_log(ai, APLOG_NOTICE, 0, "process %ld %s: port %u was taken by another "
                            "program; starting again on another port", (long)pid, how, s->port);
                    apr_snprintf(a->start_note, sizeof(a->start_note),
                                 "again: port %u was taken", s->port);
                }
                else {
                    if (s->failed_start) {
                        /* the kill was logged as the error; this is the exit */
                        app_log(ai, APLOG_INFO, 0, "process %ld %s after it did not listen within "
                                "%d s", (long)pid, how, a->launch->startup_time_limit);
                        publish_fail_reason(ai, AC_FAIL_TIMEOUT, a->launch->startup_time_limit);
                    }
                    else {
                        app_error(ai, 0, "process %ld %s before it listened on port %u",
                                  (long)pid, how, s->port);
                        publish_fail_reason(ai, WIFSIGNALED(status) ? AC_FAIL_SIGNAL : AC_FAIL_EXIT,
                                            WIFSIGNALED(status) ? WTERMSIG(status)
                                                                : WEXITSTATUS(status));
                    }
                    save_startup_output(ai, s);
                    apr_snprintf(a->start_note, sizeof(a->start_note),
                                 "retry: process %ld %s while starting", (long)pid, how);
                    record_failure(ai, pid);
                    publish_failed(ai, 1);
                }
                forget_startup_output(s);
                if (s->out_fd >= 0) {
                    close(s->out_fd);
                }
                memset(s, 0, sizeof(*s));
                s->out_fd = -1;
                s->shutdown_fd = -1;
                s->state = AC_SLOT_EMPTY;
                publish_slot(ai, si);
                ac_app_notify(shared_app(ai));
                record_backends();
                break;
            }
        }
    }
}

static int any_ready(int ai)
{
    int i;
    for (i = 0; i < AC_MAX_PROCESSES; i++) {
        if (sup.apps[ai].slots[i].state == AC_SLOT_READY) {
            return 1;
        }
    }
    return 0;
}

static void retire_predecessors(int ai);
static void stop_slot(int ai, int si, int now_please);

#define OFFLINE_CHECK_INTERVAL apr_time_from_msec(500)

/* Did the app's imported web.config change since the app was registered? */
static int web_config_changed(sup_app_t *a)
{
    struct stat now;
    if (!a->launch->web_config) {
        return 0;
    }
    if (stat(a->launch->web_config, &now) < 0) {
        memset(&now, 0, sizeof(now));
    }
    return now.st_ino != a->web_config_seen.st_ino || now.st_size != a->web_config_seen.st_size
           || now.st_mtim.tv_sec != a->web_config_seen.st_mtim.tv_sec
           || now.st_mtim.tv_nsec != a->web_config_seen.st_mtim.tv_nsec;
}

/* app_offline.htm (ANCM): while it is in the app root the app runs no
 * process and every request gets the file (children serve it). Looked at
 * twice a second. Published before the processes are stopped, so that no
 * request is sent to a stopping app in between. */
static void check_offline(int ai, apr_time_t now)
{
    sup_app_t *a = &sup.apps[ai];
    ac_app_t *app = shared_app(ai);
    char path[4096];
    int present, si;

    if (now - a->offline_checked < OFFLINE_CHECK_INTERVAL) {
        return;
    }
    a->offline_checked = now;
    if (apr_snprintf(path, sizeof(path), "%s/app_offline.htm", a->launch->app_root)
        >= (int)sizeof(path) - 1) {
        return;
    }
    present = access(path, F_OK) == 0;
    if (present == a->offline) {
        return;
    }
    a->offline = present;
    ac_seq_write_begin(&app->seq);
    app->offline = (uint32_t)present;
    app->failed = 0;
    ac_seq_write_end(&app->seq);
    ac_app_notify(app);
    /* a deploy starts afresh: no back-off, no rapid-fail count */
    a->nfails = 0;
    a->consecutive = 0;
    a->tripped = 0;
    a->not_before = 0;
    publish_trip(ai, 0);
    if (present) {
        char pids[256];
        apr_size_t n = 0;
        pids[0] = '\0';
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            if (a->slots[si].pid && a->slots[si].state != AC_SLOT_STOPPING
                && n < sizeof(pids) - 24) {
                n += (apr_size_t)apr_snprintf(pids + n, sizeof(pids) - n, "%s%ld",
                                              n ? ", " : "", (long)a->slots[si].pid);
            }
        }
        app_log(ai, APLOG_NOTICE, 0, "%s: appeared, stopping the app (%s%s)", path,
                n ? "process " : "no process runs", pids);
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            stop_slot(ai, si, 0);
        }
        a->wanted = 0;
    }
    else {
        app_log(ai, APLOG_NOTICE, 0, "%s: removed, the app starts again (%s)", path,
                a->launch->ondemand ? "with the next request" : "now");
        apr_cpystrn(a->start_note, "app_offline.htm was removed", sizeof(a->start_note));
        if (web_config_changed(a)) {
            /* A deploy replaced web.config too: its settings (registered by
             * the parent or a request) replace this app; do not start the old
             * settings meanwhile. If none come (a broken file), start these. */
            a->not_before = mono() + WEB_CONFIG_GRACE;
            app_log(ai, APLOG_INFO, 0, "%s changed while the app was offline: waiting up to "
                    "%ld s for its new settings", a->launch->web_config,
                    (long)apr_time_sec(WEB_CONFIG_GRACE));
        }
    }
}

/* Timers: readiness probes, stop deadlines, (re)starts. Returns how long
 * the loop may sleep. */
static apr_interval_time_t tick(void)
{
    apr_time_t now = mono();
    apr_interval_time_t sleep = OFFLINE_CHECK_INTERVAL;
    int ai, si;

    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        sup_app_t *a = &sup.apps[ai];
        int live = 0;
        if (!a->in_use) {
            continue;
        }
        report_dropped_output(a, now);
        if (a->active) {
            check_offline(ai, now);
        }
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            sup_slot_t *s = &a->slots[si];
            if (!s->pid) {
                continue;
            }
            live++;
            if (s->state == AC_SLOT_STARTING) {
                int fd, ready = 0;
                if (ac_sock_connect_loopback(s->port, apr_time_from_msec(50), &fd) == APR_SUCCESS) {
                    close(fd);
                    /* the answer must come from the app, not from another
                     * program that took the port (-1, cannot tell: trust it) */
                    ready = ac_port_listener_in_group(s->port, s->pid, "/proc") != 0;
                }
                if (ready) {
                    s->state = AC_SLOT_READY;
                    s->ready_at = mono();
                    forget_startup_output(s);
                    publish_slot(ai, si);
                    publish_failed(ai, 0);
                    publish_fail_reason(ai, AC_FAIL_NONE, 0);
                    ac_app_notify(shared_app(ai));
                    a->tripped = 0;
                    a->collisions = 0;
                    app_log(ai, APLOG_INFO, 0, "process %ld listens on port %u after %ld ms",
                            (long)s->pid, s->port,
                            (long)apr_time_as_msec(s->ready_at - s->spawned));
                    retire_predecessors(ai);
                }
                else if (now >= s->kill_at) {
                    app_error(ai, 0, "process %ld did not listen on port %u within %d s "
                              "(startupTimeLimit): killing it", (long)s->pid, s->port,
                              a->launch->startup_time_limit);
                    s->failed_start = 1;
                    s->state = AC_SLOT_STOPPING;
                    s->kill_sent = 1;
                    publish_slot(ai, si);
                    ac_spawn_signal_group(s->pid, SIGKILL);
                }
                else if (sleep > PROBE_INTERVAL) {
                    sleep = PROBE_INTERVAL;
                }
            }
            else if (s->state == AC_SLOT_STOPPING && !s->kill_sent) {
                ac_slot_t *slot = &shared_app(ai)->slots[si];
                if (!s->term_sent && (now >= s->term_at || ac_slot_inflight(slot) == 0)) {
                    s->term_sent = 1;
                    if (s->ready_at && !sup.stopping) {
                        send_shutdown_event(ai, si);
                    }
                    else {
                        ac_spawn_signal_group(s->pid, SIGTERM);
                    }
                }
                if (s->shutdown_fd >= 0 && now >= s->shutdown_answer_by) {
                    finish_shutdown_event(ai, si, 1);
                }
                if (now >= s->kill_at) {
                    app_log(ai, APLOG_WARNING, 0, "process %ld did not stop within %d s "
                            "(shutdownTimeLimit): killing it", (long)s->pid,
                            a->launch->shutdown_time_limit);
                    s->kill_sent = 1;
                    ac_spawn_signal_group(s->pid, SIGKILL);
                }
                else if (sleep > PROBE_INTERVAL) {
                    sleep = PROBE_INTERVAL;
                }
            }
        }
        if (!a->active && !live) {
            /* retired and drained: the table entry may be reused */
            ac_app_t *app = shared_app(ai);
            app_log(ai, APLOG_INFO, 0, "removed");
            ac_seq_write_begin(&app->seq);
            app->state = AC_APP_FREE;
            ac_seq_write_end(&app->seq);
            ac_app_notify(app);
            ac_shared_table_notify(sup.sh);
            apr_pool_destroy(a->pool);
            memset(a, 0, sizeof(*a));
            continue;
        }
        if (!a->active || sup.stopping || sup.held || a->offline
            || (a->launch->ondemand && !a->wanted)) {
            continue;
        }
        if (now < a->not_before) {
            if (sleep > a->not_before - now) {
                sleep = a->not_before - now;
            }
            continue;
        }
        if (a->tripped && !any_ready(ai)) {
            a->tripped = 0;     /* the window has passed: try again */
            publish_trip(ai, 0);
            apr_cpystrn(a->start_note, "the rapid-fail minute has passed", sizeof(a->start_note));
        }
        for (si = 0; si < a->launch->processes && si < AC_MAX_PROCESSES; si++) {
            if (a->slots[si].state == AC_SLOT_EMPTY) {
                spawn_slot(ai, si);
                if (sleep > PROBE_INTERVAL) {
                    sleep = PROBE_INTERVAL;
                }
                if (mono() < a->not_before) {
                    break;      /* that start failed: back off */
                }
            }
        }
    }
    return sleep;
}

static int live_processes(void)
{
    int ai, si, n = 0;
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; sup.apps[ai].in_use && si < AC_MAX_PROCESSES; si++) {
            n += sup.apps[ai].slots[si].pid != 0;
        }
    }
    return n;
}

static void stop_all(int now_please)
{
    int ai, si;
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        for (si = 0; sup.apps[ai].in_use && si < AC_MAX_PROCESSES; si++) {
            stop_slot(ai, si, now_please);
        }
    }
}

/* ---- configuration --------------------------------------------------- */

static int find_app(const unsigned char *key)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        if (sup.apps[i].in_use && !memcmp(sup.apps[i].key, key, AC_KEY_BYTES)) {
            return i;
        }
    }
    return -1;
}

/* An app a supervisor before us ran (active in the table, not ours yet). */
static int adoptable_app(const unsigned char *key)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_view_t v;
        if (sup.apps[i].in_use) {
            continue;
        }
        ac_app_read(shared_app(i), &v);
        if (v.state == AC_APP_ACTIVE && !memcmp(v.key, key, AC_KEY_BYTES)) {
            return i;
        }
    }
    return -1;
}

static int allocate_app(void)
{
    int i;
    /* entries never used first, so that a stale index in an old child
     * cannot land on a new app */
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_t *app = shared_app(i);
        if (!sup.apps[i].in_use && app->state == AC_APP_FREE && !app->seq) {
            return i;
        }
    }
    for (i = 0; i < AC_MAX_APPS; i++) {
        if (!sup.apps[i].in_use && shared_app(i)->state == AC_APP_FREE) {
            return i;
        }
    }
    return -1;
}

static void retire_app(int i, const char *why)
{
    sup_app_t *a = &sup.apps[i];
    int si;

    app_log(i, APLOG_INFO, 0, "%s: stopping it", why);
    a->active = 0;
    ac_seq_write_begin(&shared_app(i)->seq);
    shared_app(i)->state = AC_APP_RETIRED;
    ac_seq_write_end(&shared_app(i)->seq);
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        stop_slot(i, si, 0);
    }
    ac_app_notify(shared_app(i));
    ac_shared_table_notify(sup.sh);
}

/* App `ai` has a ready process: the versions it replaces stop serving. */
static void retire_predecessors(int ai)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        if (sup.apps[i].in_use && sup.apps[i].active && sup.apps[i].replaced_by == ai) {
            retire_app(i, "replaced, and the new version is ready");
        }
    }
    if (shared_app(ai)->predecessor >= 0) {
        ac_seq_write_begin(&shared_app(ai)->seq);
        shared_app(ai)->predecessor = -1;
        ac_seq_write_end(&shared_app(ai)->seq);
        ac_app_notify(shared_app(ai));
    }
}

/* Apps declared by the same scope for the same path are versions of one
 * site: a new version replaces the old one. */
static int same_site(const ac_launch_t *a, const ac_launch_t *b)
{
    return !strcmp(a->site, b->site) && !strcmp(a->virtual_path, b->virtual_path);
}

/* Makes the app with these settings active (adding it if new). Returns its
 * index, or AC_APP_NO_INDEX. */
/* What a configuration did to an app, for the summary of a reload. */
typedef enum { ACT_FAILED = 0, ACT_KEPT, ACT_ADDED, ACT_CHANGED } activation_e;

static uint32_t activate(const char *blob, apr_size_t len, int dynamic, int *seen,
                         activation_e *outcome)
{
    apr_pool_t *p;
    ac_launch_t *l;
    unsigned char key[AC_KEY_BYTES];
    const char *err;
    int i, si, adopted;
    ac_app_t *app;
    sup_app_t *a;
    activation_e ignored;

    if (!outcome) {
        outcome = &ignored;
    }
    *outcome = ACT_FAILED;
    if (apr_pool_create(&p, sup.pool) != APR_SUCCESS) {
        return AC_APP_NO_INDEX;
    }
    err = ac_launch_deserialize(p, blob, len, &l);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, sup.s, "bad app settings from httpd: %s", err);
        apr_pool_destroy(p);
        return AC_APP_NO_INDEX;
    }
    ac_launch_key(l, p, key);
    i = find_app(key);
    if (i >= 0) {
        if (seen) {
            seen[i] = 1;
        }
        if (!dynamic) {
            sup.apps[i].dynamic = 0;    /* now part of the configuration */
        }
        if (!sup.apps[i].active) {
            /* configured again while it was draining: keep it */
            sup.apps[i].active = 1;
            ac_seq_write_begin(&shared_app(i)->seq);
            shared_app(i)->state = AC_APP_ACTIVE;
            ac_seq_write_end(&shared_app(i)->seq);
            ac_shared_table_notify(sup.sh);
        }
        apr_pool_destroy(p);
        *outcome = ACT_KEPT;
        return (uint32_t)i;
    }
    /* a supervisor before us ran it: children know it by that index */
    i = adoptable_app(key);
    adopted = i >= 0;
    if (i < 0) {
        i = allocate_app();
    }
    if (i < 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, sup.s, "no room for %s: at most %d apps",
                     ac_launch_label(p, l), AC_MAX_APPS);
        apr_pool_destroy(p);
        return AC_APP_NO_INDEX;
    }
    a = &sup.apps[i];
    memset(a, 0, sizeof(*a));
    a->in_use = 1;
    a->active = 1;
    a->dynamic = dynamic;
    a->pool = p;
    a->launch = l;
    a->label = ac_launch_label(p, l);
    memcpy(a->key, key, AC_KEY_BYTES);
    a->replaced_by = -1;
    if (!l->web_config || stat(l->web_config, &a->web_config_seen) < 0) {
        memset(&a->web_config_seen, 0, sizeof(a->web_config_seen));
    }
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        a->slots[si].out_fd = -1;
        a->slots[si].shutdown_fd = -1;
    }
    a->debug_fd = -1;
    apr_pool_cleanup_register(p, a, close_debug_log, apr_pool_cleanup_null);
    if (seen) {
        seen[i] = 1;
    }
    if (!adopted) {
        /* the startup output of an app that had this entry before is not ours */
        char path[4096];
        if (startup_output_path(i, path, sizeof(path)) && unlink(path) < 0 && errno != ENOENT) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), sup.s,
                         "cannot remove %s", path);
        }
    }

    app = shared_app(i);
    ac_seq_write_begin(&app->seq);
    app->state = AC_APP_ACTIVE;
    memcpy(app->key, key, AC_KEY_BYTES);
    app->nslots = (uint32_t)l->processes;
    app->failed = 0;
    app->offline = 0;       /* the entry may have been an offline app's: looked at anew */
    app->predecessor = -1;
    app->successor = -1;
    apr_cpystrn(app->label, a->label, sizeof(app->label));
    apr_cpystrn(app->root, l->app_root ? l->app_root : "", sizeof(app->root));
    apr_cpystrn(app->vpath, l->virtual_path ? l->virtual_path : "/", sizeof(app->vpath));
    app->fail_kind = AC_FAIL_NONE;
    app->fail_code = 0;
    app->fail_time = 0;
    app->tripped = 0;
    app->tripped_until = 0;
    app->recent_fails = 0;
    app->restarts = 0;
    app->last_exit_pid = 0;
    app->last_exit_status = 0;
    app->last_exit_time = 0;
    app->last_error[0] = '\0';
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_slot_t *slot = &app->slots[si];
        ac_seq_write_begin(&slot->seq);
        slot->state = AC_SLOT_EMPTY;
        slot->pid = 0;
        slot->port = 0;
        /* status page: counts start afresh for a new entry (no child uses a
         * freed entry's slots any more) */
        __atomic_store_n(&slot->served, 0, __ATOMIC_RELAXED);
        slot->served_base = 0;
        ac_seq_write_end(&slot->seq);
    }
    ac_seq_write_end(&app->seq);
    ac_app_notify(app);
    {
        /* first, so that the debug log has the app from its first line */
        const char *warning = ac_debug_resolve(p, l, environ, &a->debug);
        if (warning) {
            app_log(i, APLOG_WARNING, 0, "debug log settings: %s", warning);
        }
        if (a->debug.file && a->debug.spec.level != AC_DEBUG_OFF) {
            app_log(i, APLOG_INFO, 0, "debug log: %s, level %s", a->debug.file,
                    ac_debug_level_name(a->debug.spec.level));
        }
    }
    app_log(i, APLOG_INFO, 0, "%s: %s %s, %d process(es), %s",
            dynamic ? "registered by a request" : "configured", l->process_path,
            l->arguments, l->processes, l->ondemand ? "OnDemand" : "AlwaysRunning");
    *outcome = ACT_ADDED;

    /* An older version of the same site steps down: at once if it has no
     * ready process, else once this one has (a rolling restart). */
    for (si = 0; si < AC_MAX_APPS; si++) {
        if (si == i || !sup.apps[si].in_use || !sup.apps[si].active
            || !same_site(sup.apps[si].launch, l)) {
            continue;
        }
        *outcome = ACT_CHANGED;
        if (!any_ready(si)) {
            retire_app(si, "replaced by new settings");
            continue;
        }
        app_log(si, APLOG_INFO, 0, "replaced by new settings: serving until the new version "
                "is ready");
        sup.apps[si].replaced_by = i;
        ac_seq_write_begin(&shared_app(si)->seq);
        shared_app(si)->successor = i;
        ac_seq_write_end(&shared_app(si)->seq);
        ac_seq_write_begin(&app->seq);
        app->predecessor = si;
        ac_seq_write_end(&app->seq);
    }
    ac_shared_table_notify(sup.sh);
    return (uint32_t)i;
}

static void apply_config(const char *payload, uint32_t len)
{
    apr_pool_t *p;
    apr_array_header_t *blobs;
    ac_config_globals_t globals;
    uint32_t *reply;
    int seen[AC_MAX_APPS];
    unsigned counts[ACT_CHANGED + 1] = { 0 }, removed = 0;
    const char *err;
    int i;

    if (apr_pool_create(&p, sup.pool) != APR_SUCCESS) {
        return;
    }
    memset(seen, 0, sizeof(seen));
    err = ac_config_payload_parse(p, payload, len, &globals, &blobs);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, sup.s, "bad configuration from httpd: %s", err);
        blobs = apr_array_make(p, 1, sizeof(apr_array_header_t *));
    }
    else if (globals.port_low >= 1 && globals.port_low <= globals.port_high
             && globals.port_high <= 65535) {
        sup.port_low = globals.port_low;
        sup.port_high = globals.port_high;
    }
    if (!err && globals.log_level <= APLOG_LEVELMASK
        && globals.module_log_level <= APLOG_LEVELMASK) {
        /* forked once, we keep the LogLevel of that generation unless told */
        sup.s->log.level = (int)globals.log_level;
        ap_set_module_loglevel(sup.pool, &sup.s->log, APLOG_MODULE_INDEX,
                               (int)globals.module_log_level);
    }
    reply = apr_pcalloc(p, sizeof(uint32_t) * (apr_size_t)(blobs->nelts + 1));
    for (i = 0; i < blobs->nelts; i++) {
        apr_array_header_t *blob = APR_ARRAY_IDX(blobs, i, apr_array_header_t *);
        activation_e outcome;
        reply[i] = activate(blob->elts, (apr_size_t)blob->nelts, 0, seen, &outcome);
        counts[outcome]++;
    }
    for (i = 0; i < AC_MAX_APPS; i++) {
        sup_app_t *a = &sup.apps[i];
        if (a->in_use && a->active && !a->dynamic && !seen[i] && a->replaced_by < 0) {
            retire_app(i, "no longer configured");
            removed++;
        }
        else if (!a->in_use && shared_app(i)->state == AC_APP_ACTIVE) {
            /* Registered by requests with a supervisor before us, whose
             * settings died with it: freed, so that the children, finding it
             * gone, register it again. */
            ac_seq_write_begin(&shared_app(i)->seq);
            shared_app(i)->state = AC_APP_FREE;
            ac_seq_write_end(&shared_app(i)->seq);
            ac_app_notify(shared_app(i));
            ac_shared_table_notify(sup.sh);
        }
    }
    sup.held = 0;
    /* one line per configuration httpd sends (start, graceful, hard restart) */
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, sup.s, "configuration applied: %u app(s) kept, "
                 "%u added, %u changed, %u removed%s", counts[ACT_KEPT], counts[ACT_ADDED],
                 counts[ACT_CHANGED], removed,
                 counts[ACT_FAILED] ? " (some could not be taken: see above)" : "");
    if (ac_control_write(sup.control_fd, AC_CTL_CONFIG_ACK, reply,
                         (uint32_t)(sizeof(uint32_t) * (apr_size_t)blobs->nelts),
                         apr_time_from_sec(5)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, sup.s, "could not answer httpd");
    }
    apr_pool_destroy(p);
}

static void handle_control(void)
{
    apr_pool_t *p;
    uint32_t type, len;
    char *payload;
    apr_status_t rv;

    if (apr_pool_create(&p, sup.pool) != APR_SUCCESS) {
        return;
    }
    rv = ac_control_read(sup.control_fd, p, &type, &payload, &len, apr_time_from_sec(5));
    if (rv != APR_SUCCESS) {
        if (!sup.stopping) {
            ap_log_error(APLOG_MARK, rv == APR_EOF ? APLOG_INFO : APLOG_WARNING, rv, sup.s,
                         "httpd is gone: stopping every app");
        }
        sup.stopping = 1;
        close(sup.control_fd);
        sup.control_fd = -1;
        stop_all(1);
    }
    else if (type == AC_CTL_CONFIG) {
        apply_config(payload, len);
    }
    else if (type == AC_CTL_STOP_ALL) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, sup.s, "httpd stops or restarts: stopping every app");
        sup.held = 1;
        stop_all(1);
    }
    apr_pool_destroy(p);
}

static void handle_requests(void)
{
    static char payload[AC_REQ_MAX_PAYLOAD];
    ac_request_msg_t m;
    apr_size_t len;

    while (ac_request_recv(sup.args->request_fd, &m, payload, &len) == APR_SUCCESS) {
        sup_app_t *a;
        sup_slot_t *s;
        int fd;
        if (m.type == AC_REQ_REGISTER) {
            if (!sup.stopping) {
                activate(payload, len, 1, NULL, NULL);
            }
            continue;
        }
        if (m.app >= AC_MAX_APPS || !sup.apps[m.app].in_use) {
            continue;
        }
        a = &sup.apps[m.app];
        if (m.type == AC_REQ_START) {
            /* The tick starts what is missing (and re-tries a failed start once
             * its back-off has passed); an OnDemand app now is wanted. */
            if (!a->wanted) {
                app_log((int)m.app, APLOG_DEBUG, 0, "a request asks for a process");
            }
            a->wanted = 1;
            continue;
        }
        if (m.type != AC_REQ_BROKEN || m.slot >= AC_MAX_PROCESSES) {
            continue;
        }
        reap();     /* a process that exited is a crash, not a mystery: collect it first */
        s = &a->slots[m.slot];
        if (s->state != AC_SLOT_READY
            || shared_app((int)m.app)->slots[m.slot].incarnation != m.incarnation) {
            continue;
        }
        if (ac_sock_connect_loopback(s->port, apr_time_from_msec(100), &fd) == APR_SUCCESS) {
            close(fd);
            continue;
        }
        app_log((int)m.app, APLOG_ERR, 0, "process %ld no longer accepts connections on port %u: "
                "replacing it", (long)s->pid, s->port);
        stop_slot((int)m.app, (int)m.slot, 1);
        s->kill_sent = 1;
        s->broken = 1;
        ac_spawn_signal_group(s->pid, SIGKILL);
    }
}

/* ---- setup ------------------------------------------------------------ */

static void become_supervisor(const ac_supervisor_args_t *args)
{
    sigset_t mask;
    pid_t parent = getppid();
    int ai, si;

    memset(&sup, 0, sizeof(sup));
    sup.args = args;
    sup.sh = args->shared;
    sup.s = args->server;
    sup.control_fd = args->control_fd;
    sup.port_low = args->port_low;
    sup.port_high = args->port_high;
    if (!ac_ephemeral_range("/proc/sys/net/ipv4/ip_local_port_range", &sup.ephemeral_low,
                            &sup.ephemeral_high)) {
        sup.ephemeral_low = sup.ephemeral_high = 0;
    }

    /* Our own process group: signals httpd sends to its group (prefork
     * does on restarts) are not for us; the control channel tells us. */
    if (setpgid(0, 0) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), sup.s,
                     "supervisor: setpgid");
    }
    ap_close_listeners();
    if (geteuid() == 0 && ap_unixd_setup_child() != 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sup.s,
                     "supervisor: cannot switch to the User/Group of Apache");
        _exit(1);
    }
    if (geteuid() == 0 || getuid() == 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, sup.s,
                     "supervisor: Apache's User is root; apps are never run as root");
        _exit(1);
    }
    /* After the switch of user, which clears it: die with httpd. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent) {
        _exit(1);
    }
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
        _exit(1);
    }
    sigdelset(&mask, SIGHUP);
    sigdelset(&mask, SIGUSR1);
    sigdelset(&mask, SIGWINCH);
    sup.sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sup.sigfd < 0 || apr_pool_create(&sup.pool, NULL) != APR_SUCCESS) {
        _exit(1);
    }

    /* A supervisor before us died: its backends got SIGTERM from the kernel
     * (parent-death signal); make sure their groups are gone, then start
     * afresh from the configuration httpd sends. */
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        ac_app_t *app = shared_app(ai);
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            ac_slot_t *slot = &app->slots[si];
            if (slot->pid > 0) {
                ac_spawn_signal_group(slot->pid, SIGKILL);
                ac_seq_write_begin(&slot->seq);
                slot->state = AC_SLOT_EMPTY;
                slot->pid = 0;
                ac_seq_write_end(&slot->seq);
            }
            if (slot->incarnation > sup.incarnation) {
                sup.incarnation = slot->incarnation;
            }
        }
        if (app->state == AC_APP_RETIRED) {
            ac_seq_write_begin(&app->seq);
            app->state = AC_APP_FREE;
            ac_seq_write_end(&app->seq);
        }
        ac_app_notify(app);
    }
    sup.sh->supervisor_pid = getpid();
    sup.sh->supervisor_starts++;
    ac_shared_table_notify(sup.sh);
}

static void handle_signals(void)
{
    struct signalfd_siginfo si;
    while (read(sup.sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
            reap();
        }
        else if (!sup.stopping) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, sup.s,
                         "supervisor: signal %u: stopping every app", si.ssi_signo);
            sup.stopping = 1;
            stop_all(1);
        }
    }
}

void ac_supervisor_run(const ac_supervisor_args_t *args)
{
    static struct pollfd fds[3 + 2 * AC_MAX_APPS * AC_MAX_PROCESSES];
    static struct { int ai, si, shutdown; } owner[3 + 2 * AC_MAX_APPS * AC_MAX_PROCESSES];

    become_supervisor(args);
    for (;;) {
        apr_interval_time_t sleep = tick();
        int n = 0, ai, si, i, rc;

        if (sup.stopping && !live_processes()) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, sup.s, "supervisor: all apps stopped");
            _exit(0);   /* never run httpd's exit handlers here */
        }
        fds[n].fd = sup.sigfd;
        fds[n++].events = POLLIN;
        fds[n].fd = sup.control_fd;     /* -1 once closed: poll ignores it */
        fds[n++].events = POLLIN;
        fds[n].fd = args->request_fd;
        fds[n++].events = POLLIN;
        for (ai = 0; ai < AC_MAX_APPS; ai++) {
            for (si = 0; sup.apps[ai].in_use && si < AC_MAX_PROCESSES; si++) {
                int which, fd;
                for (which = 0; which < 2; which++) {
                    fd = which ? sup.apps[ai].slots[si].shutdown_fd
                               : sup.apps[ai].slots[si].out_fd;
                    if (fd < 0) {
                        continue;
                    }
                    fds[n].fd = fd;
                    fds[n].events = POLLIN;
                    owner[n].ai = ai;
                    owner[n].si = si;
                    owner[n].shutdown = which;
                    n++;
                }
            }
        }
        rc = poll(fds, (nfds_t)n, (int)((sleep + 999) / 1000));
        if (rc < 0) {
            if (errno != EINTR) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, APR_FROM_OS_ERROR(errno), sup.s,
                             "supervisor: poll");
                apr_sleep(apr_time_from_msec(100));
            }
            continue;
        }
        if (fds[0].revents) {
            handle_signals();
        }
        if (fds[1].revents && sup.control_fd >= 0) {
            handle_control();
        }
        if (fds[2].revents) {
            handle_requests();
        }
        for (i = 3; i < n; i++) {
            if (fds[i].revents) {
                sup_app_t *a = &sup.apps[owner[i].ai];
                sup_slot_t *s = &a->slots[owner[i].si];
                if (!a->in_use) {
                    continue;
                }
                if (owner[i].shutdown && s->shutdown_fd == fds[i].fd) {
                    finish_shutdown_event(owner[i].ai, owner[i].si, 0);
                }
                else if (!owner[i].shutdown && s->out_fd == fds[i].fd) {
                    read_output(a, s);
                }
            }
        }
    }
}
