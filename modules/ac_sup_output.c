/* ac_sup_output: what the supervisor writes about an app, and what the
 * app's processes write.
 *
 * Messages about an app go to Apache's error log tagged with its label and
 * to its debug log (ANCM's debugFile/debugLevel). A process's stdout and
 * stderr come through a pipe; its pairing token is taken out (ac_scrub),
 * then it goes to its stdout log (stdoutLogEnabled) or is cut into lines
 * (ac_lines) and relayed to the error log at info, at most
 * AC_SUP_OUTPUT_LINES_PER_SECOND a second per app. What a process writes
 * before it listens is kept (the last AC_SUP_STARTUP_OUTPUT_MAX bytes); after
 * a failed start it is saved in the runtime dir for the 502.5 page.
 */
#include "ac_sup_private.h"
#include "ac_runtime.h"
#include "ac_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define OUTPUT_LINES_PER_SECOND 200

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
    ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(err), ac_sup.s,
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
static void debug_log(ac_sup_app_t *a, int aplevel, apr_status_t rv, const char *msg)
{
    ac_debug_level_e level = debug_level_of(aplevel);
    char line[AC_SUP_LOG_MESSAGE_MAX + 256], with_why[AC_SUP_LOG_MESSAGE_MAX + 128], why[120];
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

static void app_vlog(int ai, int level, apr_status_t rv, const char *fmt, va_list ap,
                     char *msg, apr_size_t size)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_vsnprintf(msg, size, fmt, ap);
    ap_log_error(APLOG_MARK, level, rv, ac_sup.s, "[%s] %s", a->label, msg);
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
 * directory: the children, running as that User too, read it; no one else. */
void ac_sup_save_startup_output(int ai, ac_sup_slot_t *s)
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
                       "%u lines of output not logged (more than %d a second)", a->output_dropped,
                       OUTPUT_LINES_PER_SECOND);
    }
    a->output_second = now;
    a->output_lines = 0;
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

    if (s->state == AC_SLOT_STARTING) {
        keep_startup_output(s, line);
    }
    ac_sup_report_dropped_output(a, ac_sup_mono());
    if (++a->output_lines > OUTPUT_LINES_PER_SECOND) {
        a->output_dropped++;
        return;
    }
    /* as "%s": the app's bytes are never a format; httpd escapes control
     * characters itself when it writes the error log */
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, ac_sup.s, "[%s pid %ld] %s", a->label,
                 (long)s->pid, line);
}

/* stdoutLogEnabled: the output goes to a file of its own, as ANCM's does;
 * when that fails, to the error log (the app runs anyway). */
void ac_sup_open_stdout_log(int ai, ac_sup_slot_t *s, const char *prefix)
{
    char name[4096];

    s->stdout_log_fd = ac_spawn_open_stdout_log(prefix, (long)s->pid, name, sizeof(name));
    if (s->stdout_log_fd < 0) {
        ac_sup_app_log(ai, APLOG_WARNING, APR_FROM_OS_ERROR(errno), "cannot open the stdout "
                       "log %s_*.log: the output of process %ld goes to the error log", prefix,
                       (long)s->pid);
    }
}

/* Scrubbed output: to the stdout log, else cut into lines for the error log. */
static void pass_output(void *ctx, const char *buf, apr_size_t n)
{
    output_ctx_t *o = ctx;
    ac_sup_slot_t *s = o->s;

    while (s->stdout_log_fd >= 0 && n) {
        ssize_t w = write(s->stdout_log_fd, buf, n);
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
        buf += w;
        n -= (apr_size_t)w;
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
