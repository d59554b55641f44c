/* ac_sup_stdoutlog: the supervisor keeps an app's stdout log files within
 * AspNetCoreStdoutLogLimit (ac_stdoutlog.h): a file past the size goes on in
 * a new one, and the app's oldest files beyond the number to keep are
 * removed whenever a file is opened (a process's start, a roll).
 */
#include "ac_sup_private.h"
#include "ac_appstate.h"
#include "ac_spawn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* A file one of the app's processes writes: <base>_<stamp>_<pid>.log. */
static int written_by_a_process(void *ctx, const char *name)
{
    const ac_sup_app_t *a = ctx;
    const char *under = strrchr(name, '_');
    int si;

    if (!under || under - name < AC_STDOUTLOG_STAMP_CHARS) {
        return 0;
    }
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        const ac_sup_slot_t *s = &a->slots[si];
        if (s->stdout_log_fd >= 0 && s->pid > 0 && atol(under + 1) == (long)s->pid
            && strncmp(under - AC_STDOUTLOG_STAMP_CHARS, s->stdout_log_stamp,
                       AC_STDOUTLOG_STAMP_CHARS) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The app's files are <prefix>_*.log; those its processes write stay. */
static void prune(int ai, const char *prefix)
{
    const ac_launch_t *l = ac_sup.apps[ai].launch;
    apr_uint32_t keep = (apr_uint32_t)l->stdout_log_keep;
    unsigned removed = 0;

    if (ac_stdoutlog_prune(prefix, keep, written_by_a_process, &ac_sup.apps[ai], &removed) < 0) {
        ac_sup_app_log(ai, APLOG_WARNING, APR_FROM_OS_ERROR(errno), "cannot remove the oldest "
                       "stdout log files %s_*.log (AspNetCoreStdoutLogLimit keeps %u)", prefix,
                       (unsigned)keep);
    }
    if (removed) {
        ac_sup_app_log(ai, APLOG_INFO, 0, "removed the %u oldest stdout log file%s %s_*.log "
                       "(AspNetCoreStdoutLogLimit keeps %u)", removed, removed == 1 ? "" : "s",
                       prefix, (unsigned)keep);
    }
}

void ac_sup_stdout_log_opened(int ai, ac_sup_slot_t *s, const char *prefix, const char *name)
{
    struct stat st;

    s->stdout_log_bytes = fstat(s->stdout_log_fd, &st) == 0 ? (apr_uint64_t)st.st_size : 0;
    ac_stdoutlog_stamp_of(name, s->stdout_log_stamp);
    s->stdout_log_mid_line = 0;
    prune(ai, prefix);
}

/* The prefix of the app's files, as prepare_spawn made it: 0 if too long. */
static int log_prefix(const ac_launch_t *l, char *buf, apr_size_t size)
{
    const char *f = l->stdout_log_file;
    int n = f[0] == '/' ? apr_snprintf(buf, size, "%s", f)
                        : apr_snprintf(buf, size, "%s/%s", l->app_root, f);
    return n < (int)size - 1;
}

/* The UTC second a file made now is named by. */
static int stamp_now(char *stamp)
{
    time_t t = time(NULL);
    struct tm tm;
    return gmtime_r(&t, &tm) && strftime(stamp, AC_STDOUTLOG_STAMP_CHARS + 1, "%Y%m%d%H%M%S", &tm);
}

int ac_sup_stdout_log_roll_at(const ac_sup_app_t *a, const ac_sup_slot_t *s, const char *buf,
                              apr_size_t n, apr_size_t *head)
{
    apr_uint64_t max = (apr_uint64_t)a->launch->stdout_log_max_kib * 1024;
    char now[AC_STDOUTLOG_STAMP_CHARS + 1];
    const char *nl;

    if (!max || s->stdout_log_bytes < max || !a->launch->stdout_log_file) {
        return 0;
    }
    /* a new file is named by the second: within the same one, the output
     * stays in this file (it passes the size by at most a second's output) */
    if (!stamp_now(now) || strcmp(now, s->stdout_log_stamp) == 0) {
        return 0;
    }
    /* whole lines stay in one file; output without a newline rolls at twice
     * the size */
    *head = 0;
    if (s->stdout_log_mid_line) {
        nl = memchr(buf, '\n', n);
        if (!nl && s->stdout_log_bytes < 2 * max) {
            return 0;
        }
        *head = nl ? (apr_size_t)(nl - buf) + 1 : 0;
    }
    return 1;
}

void ac_sup_stdout_log_roll(int ai, ac_sup_slot_t *s)
{
    const ac_launch_t *l = ac_sup.apps[ai].launch;
    char prefix[4096], name[4200];
    int fd;

    if (!log_prefix(l, prefix, sizeof(prefix))) {
        return;
    }
    if (ac_appstate_as_user_begin(l) < 0) {
        return;
    }
    fd = ac_spawn_open_stdout_log(prefix, (long)s->pid, name, sizeof(name));
    if (fd < 0) {
        ac_appstate_as_user_end();
        ac_sup_app_log(ai, APLOG_WARNING, APR_FROM_OS_ERROR(errno), "cannot open a new stdout "
                       "log for process %ld past AspNetCoreStdoutLogLimit: its output goes to "
                       "the error log", (long)s->pid);
        close(s->stdout_log_fd);
        s->stdout_log_fd = -1;
        return;
    }
    close(s->stdout_log_fd);
    s->stdout_log_fd = fd;
    ac_sup_app_log(ai, APLOG_INFO, 0, "the stdout log of process %ld reached %uK "
                   "(AspNetCoreStdoutLogLimit): going on in %s", (long)s->pid,
                   (unsigned)l->stdout_log_max_kib, name);
    ac_sup_stdout_log_opened(ai, s, prefix, name);
    ac_appstate_as_user_end();
}
