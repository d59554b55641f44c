/* ac_sup_logtargets: the supervisor's error logs, one per virtual host
 * that has its own (ac_logtargets.h).
 *
 * Forked once, the supervisor would otherwise write for ever to the error
 * log it inherited: the first generation's file, renamed away by
 * logrotate. Each LOG_TARGETS message replaces the set: one server_rec
 * copy per target (its error_log over the descriptor received, its level
 * the host's LogLevel for this module); the main target also becomes the
 * supervisor's own log and its stderr. The previous set's descriptors are
 * closed with its pool.
 */
#include "ac_sup_private.h"
#include "ac_logtargets.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_portable.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

static struct {
    apr_pool_t *pool;                          /* the current set's */
    ac_log_targets_t t;
    server_rec *server[AC_LOG_TARGETS_MAX];
    int inherited_closed;                      /* the first generation's logs */
} lt;

static apr_status_t close_fd(void *data)
{
    close((int)(intptr_t)data);
    return APR_SUCCESS;
}

/* The error logs inherited at the fork: closed once (a renamed file held
 * open keeps its disk space until the supervisor ends). */
static void close_inherited(apr_file_t *now)
{
    server_rec *s;

    for (s = ac_sup.s; s; s = s->next) {
        apr_os_file_t fd;
        server_rec *earlier;
        int seen = 0;
        if (!s->error_log || s->error_log == now || apr_os_file_get(&fd, s->error_log)
            || fd <= 2) {
            continue;
        }
        for (earlier = ac_sup.s; earlier != s; earlier = earlier->next) {
            seen |= earlier->error_log == s->error_log;
        }
        if (!seen) {
            close(fd);
        }
    }
    for (s = ac_sup.s->next; s; s = s->next) {
        s->error_log = NULL;     /* closed: never written again */
    }
    lt.inherited_closed = 1;
}

/* One target's server_rec: the main server's, with its own log and level. */
static server_rec *target_server(apr_pool_t *p, uint32_t i)
{
    server_rec *c = apr_pmemdup(p, ac_sup.s, sizeof(*c));
    c->next = NULL;
    c->log.level = (int)lt.t.level[i];
    c->log.module_levels = NULL;
    c->error_log = NULL;     /* none: the main server's way (syslog) */
    if (lt.t.fd[i] >= 0) {
        apr_os_file_t fd = lt.t.fd[i];
        apr_pool_cleanup_register(p, (void *)(intptr_t)fd, close_fd, apr_pool_cleanup_null);
        if (apr_os_file_put(&c->error_log, &fd, APR_FOPEN_WRITE | APR_FOPEN_APPEND, p)) {
            c->error_log = NULL;
        }
    }
    return c;
}

/* The main server's log becomes the supervisor's own, and its stderr. */
static void use_as_own_log(apr_file_t *main_log)
{
    apr_os_file_t fd;

    if (!main_log) {
        /* ErrorLog syslog: now; what we held before may be about to close */
        if (lt.inherited_closed) {
            ac_sup.s->error_log = NULL;
        }
        return;
    }
    if (!lt.inherited_closed) {
        close_inherited(main_log);
    }
    ac_sup.s->error_log = main_log;
    /* what writes to stderr (APR, a crash report) lands there too */
    if (apr_os_file_get(&fd, main_log) == APR_SUCCESS && fd != 2 && dup2(fd, 2) < 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, APR_FROM_OS_ERROR(errno), ac_sup.s,
                     "supervisor: cannot point stderr at the error log");
    }
}

void ac_sup_take_log_targets(const char *payload, uint32_t len, int *fds, unsigned nfds)
{
    apr_pool_t *p, *old;
    ac_log_targets_t t;
    const char *err;
    unsigned i;

    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        err = "out of memory";
    }
    else if ((err = ac_log_targets_parse(p, payload, len, fds, nfds, &t)) != NULL) {
        apr_pool_destroy(p);
    }
    if (err) {
        /* the previous set, if any, stays */
        for (i = 0; i < nfds; i++) {
            close(fds[i]);
        }
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ac_sup.s, "bad log targets from httpd: %s", err);
        return;
    }
    old = lt.pool;
    lt.pool = p;
    lt.t = t;
    for (i = 0; i < lt.t.ntargets; i++) {
        lt.server[i] = target_server(p, i);
    }
    use_as_own_log(lt.server[0]->error_log);
    if (old) {
        apr_pool_destroy(old);     /* the previous generation's descriptors */
    }
}

uint32_t ac_sup_config_app_host(uint32_t nth)
{
    return lt.pool && nth < lt.t.napps ? lt.t.app_server[nth] : 0;
}

server_rec *ac_sup_app_server(int ai)
{
    if (!lt.pool || ai < 0 || ai >= AC_MAX_APPS) {
        return ac_sup.s;
    }
    /* a request-registered app's host position comes from a child: bounds-checked */
    return lt.server[ac_log_target_of_server(&lt.t, ac_sup.apps[ai].log_host)];
}
