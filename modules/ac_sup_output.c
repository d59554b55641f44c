/* ac_sup_output: what the supervisor writes about an app, and what the
 * app's processes write.
 *
 * Messages about an app go to Apache's error log tagged with its label and
 * to its debug log (ANCM's debugFile/debugLevel). A process's stdout and
 * stderr come through a pipe; its pairing token is taken out (ac_scrub),
 * then it goes to its stdout log (stdoutLogEnabled) or is cut into lines
 * (ac_lines) and relayed to the error log of the app's virtual host
 * (ac_sup_logtargets.c) at the level .NET gave the line (ac_applevel:
 * warn, error, crit; the rest info), at most OUTPUT_LINES_PER_SECOND info
 * lines a second per app and as many at warn and above, counted apart so
 * that a flood of info lines does not hide a warning. What a process writes
 * before it listens is kept (the last AC_SUP_STARTUP_OUTPUT_MAX bytes); after
 * a failed start its last lines are logged at error (its last
 * FAILED_START_LOG_LINES lines, FAILED_START_LOG_BYTES at most, as ANCM
 * does) and it is saved in the runtime dir for the 502.5 page.
 */
#include "ac_sup_private.h"
#include "ac_appstate.h"
#include "ac_runtime.h"
#include "ac_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_file_info.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define OUTPUT_LINES_PER_SECOND 200
#define FAILED_START_LOG_LINES 40      /* of a failed start's output, logged at error */
#define FAILED_START_LOG_BYTES 4096    /* ... and at most this much of it (ANCM: 4 KB) */

/* ac_applevel's levels are Apache's */
_Static_assert(AC_APPLEVEL_CRIT == APLOG_CRIT && AC_APPLEVEL_ERR == APLOG_ERR
               && AC_APPLEVEL_WARNING == APLOG_WARNING && AC_APPLEVEL_INFO == APLOG_INFO,
               "ac_applevel levels are APLOG_* levels");

/* ---- logging about an app --------------------------------------------- */

apr_status_t ac_sup_close_debug_log(void *data)
{
    ac_sup_app_t *a = data;
    if (a->debug_fd >= 0) {
        close(a->debug_fd);
        a->debug_fd = -1;
    }
    return APR_SUCCESS;
}

/* The debug log cannot be written: said once in the error log, and no
 * more lines go there (the app runs on; a full disk must not stop it). */
static void debug_log_broken(ac_sup_app_t *a, int err)
{
    a->debug_broken = 1;
    ac_sup_close_debug_log(a);
    ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(err),
                 ac_sup_app_server((int)(a - ac_sup.apps)), "[%s] cannot write the debug log %s: no more lines go there until the app's "
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
static void debug_log(ac_sup_app_t *a, int aplevel, apr_status_t rv, const char *msg)
{
    ac_debug_level_e level = debug_level_of(aplevel);
    char line[AC_SUP_LOG_MESSAGE_MAX + 256], with_why[AC_SUP_LOG_MESSAGE_MAX + 128], why[120];
    apr_size_t n;
    ssize_t w;
    int e;

    if (a->debug_broken || !ac_debug_wants(&a->debug, level)) {
        return;
    }
    if (a->debug_fd < 0) {
        /* as the app's user, whatever the supervisor was doing for it */
        if (ac_appstate_as_user_begin(a->launch) < 0) {
            debug_log_broken(a, errno);
            return;
        }
        a->debug_fd = ac_debug_open(a->debug.file);
        e = errno;
        ac_appstate_as_user_end();
        if (a->debug_fd < 0) {
            debug_log_broken(a, e);
            return;
        }
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

static void app_vlog(int ai, int level, apr_status_t rv, const char *fmt, va_list ap,
                     char *msg, apr_size_t size)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_vsnprintf(msg, size, fmt, ap);
    ap_log_error(APLOG_MARK, level, rv, ac_sup_app_server(ai), "[%s] %s", a->label, msg);
    debug_log(a, level, rv, msg);
}

void ac_sup_app_log(int ai, int level, apr_status_t rv, const char *fmt, ...)
{
    char msg[AC_SUP_LOG_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    app_vlog(ai, level, rv, fmt, ap, msg, sizeof(msg));
    va_end(ap);
}

void ac_sup_app_error(int ai, apr_status_t rv, const char *fmt, ...)
{
    char msg[AC_SUP_LOG_MESSAGE_MAX];
    va_list ap;

    va_start(ap, fmt);
    app_vlog(ai, APLOG_ERR, rv, fmt, ap, msg, sizeof(msg));
    va_end(ap);
    ac_app_publish_error(ac_sup_shared_app(ai), msg);
}

/* ---- the startup output ------------------------------------------------ */

/* Keeps what a starting process writes (the last AC_SUP_STARTUP_OUTPUT_MAX
 * bytes), for the diagnostics of a failed start. */
static void keep_startup_output(ac_sup_slot_t *s, const char *line)
{
    apr_size_t n = strlen(line) + 1;
    if (n > AC_SUP_STARTUP_OUTPUT_MAX) {
        line += n - AC_SUP_STARTUP_OUTPUT_MAX;
        n = AC_SUP_STARTUP_OUTPUT_MAX;
    }
    if (!s->startup_output && !(s->startup_output = malloc(AC_SUP_STARTUP_OUTPUT_MAX))) {
        return;
    }
    if (s->startup_len + n > AC_SUP_STARTUP_OUTPUT_MAX) {
        apr_size_t drop = s->startup_len + n - AC_SUP_STARTUP_OUTPUT_MAX;
        memmove(s->startup_output, s->startup_output + drop, s->startup_len - drop);
        s->startup_len -= drop;
    }
    memcpy(s->startup_output + s->startup_len, line, n - 1);
    s->startup_output[s->startup_len + n - 1] = '\n';
    s->startup_len += n;
}

void ac_sup_forget_startup_output(ac_sup_slot_t *s)
{
    free(s->startup_output);
    s->startup_output = NULL;
    s->startup_len = 0;
}

/* Where the output of app `ai`'s last failed start is kept (ac_errpage
 * reads it): <runtime dir>/startup-<app>.log. 0 if there is no such place. */
static int startup_output_path(int ai, char *path, apr_size_t size)
{
    char name[64];
    apr_snprintf(name, sizeof(name), AC_STARTUP_LOG_FORMAT, (unsigned)ai);
    return ac_sup.args->runtime_dir
           && apr_snprintf(path, size, "%s/%s", ac_sup.args->runtime_dir, name) < (int)size - 1;
}

/* A failed start: its output goes to <runtime dir>/startup-<app>.log for
 * the error page, replacing that of an earlier failure. The file belongs
 * to Apache's User (the supervisor runs as that User), mode 0600 in a 0700
 * directory: the children, running as that User too, read it; no one else.
 * An app with a user of its own keeps it in its state directory instead. */
static void write_startup_output(const char *path, ac_sup_slot_t *s);

void ac_sup_save_startup_output(int ai, ac_sup_slot_t *s)
{
    const ac_launch_t *l = ac_sup.apps[ai].launch;
    char path[4096];

    if (l->user_source != AC_USER_APACHE) {
        /* An app of its own user: its output is its own, kept in its state
         * directory as that user (where Apache's User, so the 502.5 page,
         * cannot read it; its last lines are in the error log). */
        ac_sup_remove_startup_output(ai);
        if (!l->state_dir || apr_snprintf(path, sizeof(path), "%s/%s", l->state_dir,
                                          AC_STARTUP_LOG_OWN) >= (int)sizeof(path) - 1
            || ac_appstate_as_user_begin(l) < 0) {
            return;
        }
        write_startup_output(path, s);
        ac_appstate_as_user_end();
        return;
    }
    if (startup_output_path(ai, path, sizeof(path))) {
        write_startup_output(path, s);
    }
}

/* The output, to `path` by way of a fresh `path`.tmp (mode 0600). */
static void write_startup_output(const char *path, ac_sup_slot_t *s)
{
    char tmp[4200];
    int fd;

    apr_snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    /* a fresh file: a FIFO planted in its place would block this open */
    (void)unlink(tmp);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "cannot keep the startup output in %s", tmp);
        return;
    }
    if ((s->startup_len && write(fd, s->startup_output, s->startup_len) != (ssize_t)s->startup_len)
        || close(fd) < 0 || rename(tmp, path) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "cannot keep the startup output in %s", path);
        unlink(tmp);
    }
}

/* Where the last lines of the kept output start: at most
 * FAILED_START_LOG_LINES lines and FAILED_START_LOG_BYTES bytes, whole lines. */
static apr_size_t last_lines_start(const char *out, apr_size_t len)
{
    apr_size_t at = len, floor = len > FAILED_START_LOG_BYTES ? len - FAILED_START_LOG_BYTES : 0;
    int lines = 0;

    /* out[len - 1] is the last line's newline */
    while (at > floor && at > 0) {
        if (out[at - 1] == '\n' && at != len && ++lines >= FAILED_START_LOG_LINES) {
            return at;
        }
        at--;
    }
    if (at == 0) {
        return 0;
    }
    /* cut at the byte bound: from the next whole line */
    while (at < len && out[at - 1] != '\n') {
        at++;
    }
    return at;
}

void ac_sup_log_startup_output(int ai, ac_sup_slot_t *s)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_size_t at = s->startup_output ? last_lines_start(s->startup_output, s->startup_len) : 0;

    while (s->startup_output && at < s->startup_len) {
        const char *line = s->startup_output + at;
        const char *nl = memchr(line, '\n', s->startup_len - at);
        int n = (int)(nl ? nl - line : (const char *)s->startup_output + s->startup_len - line);
        /* at error: at Apache's default LogLevel warn, why it stopped is seen */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ac_sup_app_server(ai),
                     "[%s pid %ld] before it stopped: %.*s", a->label, (long)s->pid, n, line);
        at += (apr_size_t)n + 1;
    }
}

void ac_sup_remove_startup_output(int ai)
{
    char path[4096];
    if (startup_output_path(ai, path, sizeof(path)) && unlink(path) < 0 && errno != ENOENT) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "cannot remove %s", path);
    }
}

/* ---- the output relay -------------------------------------------------- */

void ac_sup_report_dropped_output(ac_sup_app_t *a, apr_time_t now)
{
    if (now - a->output_second < apr_time_from_sec(1)) {
        return;
    }
    if (a->output_dropped) {
        ac_sup_app_log((int)(a - ac_sup.apps), APLOG_WARNING, 0,
                       "%u lines of output not logged (more than %d a second)",
                       a->output_dropped, OUTPUT_LINES_PER_SECOND);
    }
    a->output_second = now;
    a->output_lines = 0;
    a->output_warnings = 0;
    a->output_dropped = 0;
}

typedef struct {
    ac_sup_app_t *a;
    ac_sup_slot_t *s;
} output_ctx_t;

static void log_output_line(void *ctx, const char *line)
{
    ac_sup_app_t *a = ((output_ctx_t *)ctx)->a;
    ac_sup_slot_t *s = ((output_ctx_t *)ctx)->s;

    int level = ac_applevel_classify(&s->applevel, line);
    unsigned *count;

    if (s->state == AC_SLOT_STARTING) {
        keep_startup_output(s, line);
    }
    ac_sup_report_dropped_output(a, ac_sup_mono());
    count = level <= APLOG_WARNING ? &a->output_warnings : &a->output_lines;
    if (++*count > OUTPUT_LINES_PER_SECOND) {
        a->output_dropped++;
        return;
    }
    /* as "%s": the app's bytes are never a format; httpd escapes control
     * characters itself when it writes the error log */
    ap_log_error(APLOG_MARK, level, 0, ac_sup_app_server((int)(a - ac_sup.apps)),
                 "[%s pid %ld] %s", a->label, (long)s->pid, line);
}

/* The user the supervisor (and the app) runs as, for a message. */
static void describe_user(const ac_launch_t *l, char *buf, apr_size_t size)
{
    struct passwd pw, *found = NULL;
    char pwbuf[1024];
    uid_t uid = geteuid();

    if (l->user_source != AC_USER_APACHE) {
        apr_snprintf(buf, size, "%s (uid %ld)", l->user.name, (long)l->user.uid);
        return;
    }
    if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &found) == 0 && found) {
        apr_snprintf(buf, size, "%s (uid %ld)", found->pw_name, (long)uid);
    }
    else {
        apr_snprintf(buf, size, "uid %ld", (long)uid);
    }
}

/* stdoutLogEnabled: the output goes to a file of its own, as ANCM's does;
 * when that fails, to the error log (the app runs anyway). Said at error
 * once for the app's settings (each process start would say it again). */
void ac_sup_open_stdout_log(int ai, ac_sup_slot_t *s, const char *prefix)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    char name[4096], dir[4096], user[300], why[120];
    char *slash, *clean;
    int err;

    name[0] = '\0';
    s->stdout_log_fd = ac_spawn_open_stdout_log(prefix, (long)s->pid, name, sizeof(name));
    if (s->stdout_log_fd >= 0) {
        ac_sup_stdout_log_opened(ai, s, prefix, name);
        return;
    }
    err = errno;
    if (a->stdout_log_failure_said) {
        ac_sup_app_log(ai, APLOG_DEBUG, APR_FROM_OS_ERROR(err), "cannot open the stdout log "
                       "%s_*.log: the output of process %ld goes to the error log", prefix,
                       (long)s->pid);
        return;
    }
    a->stdout_log_failure_said = 1;
    apr_cpystrn(dir, name[0] ? name : prefix, sizeof(dir));
    slash = strrchr(dir, '/');
    if (slash) {
        dir[slash == dir ? 1 : slash - dir] = '\0';
    }
    /* "/app/./logs" as "/app/logs" (once per settings: the app's pool) */
    if (apr_filepath_merge(&clean, NULL, dir, 0, a->pool) != APR_SUCCESS) {
        clean = dir;
    }
    describe_user(a->launch, user, sizeof(user));
    ac_sup_app_log(ai, APLOG_ERR, 0, "cannot create the stdout log in %s: %s for user %s; the "
                   "app's output goes to the error log instead (said once until its settings "
                   "change)", clean, apr_strerror(APR_FROM_OS_ERROR(err), why, sizeof(why)), user);
}

/* Writes to the stdout log; returns the bytes written: all of them, unless
 * the file failed (then it is closed and the rest goes to the error log). */
static apr_size_t write_stdout_log(output_ctx_t *o, const char *buf, apr_size_t n)
{
    ac_sup_slot_t *s = o->s;
    apr_size_t done = 0;

    while (s->stdout_log_fd >= 0 && done < n) {
        ssize_t w = write(s->stdout_log_fd, buf + done, n - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            ac_sup_app_log((int)(o->a - ac_sup.apps), APLOG_WARNING,
                           APR_FROM_OS_ERROR(w < 0 ? errno : ENOSPC), "cannot write the stdout "
                           "log of process %ld: its output goes to the error log", (long)s->pid);
            close(s->stdout_log_fd);
            s->stdout_log_fd = -1;
            break;
        }
        s->stdout_log_bytes += (apr_uint64_t)w;
        done += (apr_size_t)w;
        s->stdout_log_mid_line = buf[done - 1] != '\n';
    }
    return done;
}

/* Scrubbed output: to the stdout log (a new file past its size, from a line's
 * start), else cut into lines for the error log. */
static void pass_output(void *ctx, const char *buf, apr_size_t n)
{
    output_ctx_t *o = ctx;
    ac_sup_slot_t *s = o->s;
    apr_size_t head, w;

    if (s->stdout_log_fd >= 0 && n) {
        if (ac_sup_stdout_log_roll_at(o->a, s, buf, n, &head)) {
            w = write_stdout_log(o, buf, head);
            buf += w;
            n -= w;
            if (w == head) {
                ac_sup_stdout_log_roll((int)(o->a - ac_sup.apps), s);
            }
        }
        w = write_stdout_log(o, buf, n);
        buf += w;
        n -= w;
    }
    if (s->stdout_log_fd < 0 && n) {
        ac_lines_feed(&s->lines, buf, n, log_output_line, ctx);
    }
}

void ac_sup_read_output(ac_sup_app_t *a, ac_sup_slot_t *s)
{
    output_ctx_t ctx = { a, s };
    char buf[4096];
    for (;;) {
        ssize_t n = read(s->out_fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                ac_scrub_finish(&s->scrub, pass_output, &ctx);
                ac_lines_finish(&s->lines, log_output_line, &ctx);
                close(s->out_fd);
                s->out_fd = -1;
            }
            return;
        }
        /* the token out first: nothing after this sees it, whole or cut */
        ac_scrub_feed(&s->scrub, buf, (apr_size_t)n, pass_output, &ctx);
    }
}
