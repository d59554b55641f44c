/* ac_sup_health: the supervisor's health probes (AspNetCoreHealthCheck).
 *
 * Every ready process of an app with a health check gets `GET <virtual
 * path><PATH>` with its pairing token every `interval` seconds, on a new
 * connection closed after the answer's head (never pooled; the body is
 * not read). The probes never block the loop, which serves every app: the
 * connect, the write and the reads are non-blocking and driven by the
 * loop's poll (ac_sup_health_fd, ac_sup_health_io) and its tick
 * (ac_sup_health_tick: start when due, fail when the timeout is up). At
 * most one probe per process is in flight. What counts as a failure and
 * when a process is replaced is ac_health's; the replacement is
 * ac_sup_recycle_slot's (a stop and a new start when it cannot).
 */
#include "ac_sup_private.h"
#include "ac_health.h"
#include "ac_sockio.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

typedef enum { PROBE_IDLE = 0, PROBE_CONNECTING, PROBE_SENDING, PROBE_READING } probe_phase_e;

/* One process's probing. */
typedef struct {
    uint64_t incarnation;        /* the process it is about; 0: none yet */
    ac_health_streak_t streak;
    apr_time_t next_at;          /* monotonic: the next probe */
    /* the probe in flight (pool non-NULL) */
    apr_pool_t *pool;
    int fd;
    probe_phase_e phase;
    apr_time_t deadline;
    const char *target;          /* for the log: GET <target> */
    const char *req;
    apr_size_t req_len, sent;
    char *buf;                   /* AC_HEALTH_HEAD_MAX bytes */
    apr_size_t got;
} probe_t;

static probe_t probes[AC_MAX_APPS][AC_MAX_PROCESSES];
/* the key of the app whose 404 hint was logged, per table entry (said once per app) */
static unsigned char hint_said[AC_MAX_APPS][AC_KEY_BYTES];

static void shorten(apr_interval_time_t *sleep, apr_interval_time_t to)
{
    if (*sleep > to) {
        *sleep = to > 0 ? to : 0;
    }
}

/* The probe in flight, if any, is dropped (no verdict). */
static void end_probe(probe_t *pr)
{
    if (pr->pool) {     /* fd is the probe's only while it has a pool */
        if (pr->fd >= 0) {
            close(pr->fd);
        }
        apr_pool_destroy(pr->pool);
    }
    pr->fd = -1;
    pr->pool = NULL;
    pr->phase = PROBE_IDLE;
}

void ac_sup_health_forget(int ai, int si)
{
    probe_t *pr = &probes[ai][si];
    end_probe(pr);
    memset(pr, 0, sizeof(*pr));
    pr->fd = -1;
}

static void publish(int ai, int si, uint32_t health, int failures)
{
    ac_slot_publish_health(&ac_sup_shared_app(ai)->slots[si], health, (uint32_t)failures);
}

/* `failures` in a row: the process goes. A recycle that cannot begin (no
 * room for a second process) leaves a graceful stop, after which the tick
 * starts a new one; a process that does not stop is killed after
 * shutdownTimeLimit like any other. */
static void replace(int ai, int si, const char *why)
{
    ac_sup_slot_t *s = &ac_sup.apps[ai].slots[si];

    ac_sup_app_error(ai, 0, "process %ld %s: replacing it", (long)s->pid, why);
    ac_app_count_health_replacement(ac_sup_shared_app(ai));
    if (ac_sup_recycle_slot(ai, si, why) != 0 && s->state == AC_SLOT_READY
        && !ac_sup.stopping) {
        ac_sup_stop_slot(ai, si, 0);
    }
}

/* The probe of process `si` ended with `result`: judged, logged, counted.
 * The words for the log live in a pool of their own: a replacement may
 * collect processes, which forgets their probes (and their pools). */
static void finish(int ai, int si, ac_probe_result_e result, int status)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    const ac_health_conf_t *h = &a->launch->health;
    probe_t *pr = &probes[ai][si];
    long pid = (long)a->slots[si].pid;
    int passed = result == AC_PROBE_PASSED;
    apr_pool_t *p;
    const char *target, *what;
    ac_health_action_e action;

    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        end_probe(pr);
        return;
    }
    target = apr_pstrdup(p, pr->target);
    what = apr_psprintf(p, "GET %s: %s", target,
                        ac_health_describe(p, result, status, h->timeout));
    action = ac_health_record(&pr->streak, passed, h->failures);

    publish(ai, si, passed ? AC_HEALTH_OK : AC_HEALTH_FAILING, pr->streak.failures);
    if (status == 404 && memcmp(hint_said[ai], a->key, AC_KEY_BYTES)) {
        memcpy(hint_said[ai], a->key, AC_KEY_BYTES);
        ac_sup_app_log(ai, APLOG_WARNING, 0, "health check GET %s answered 404: is %s the path "
                       "the app maps its health checks to (MapHealthChecks)? A 404 counts as "
                       "a failure", target, h->path);
    }
    switch (action) {
    case AC_HEALTH_FIRST_FAILURE:
        ac_sup_app_log(ai, APLOG_WARNING, 0, "process %ld failed a health check (%s); it is "
                       "replaced after %d failures in a row", pid, what, h->failures);
        break;
    case AC_HEALTH_RECOVERED:
        ac_sup_app_log(ai, APLOG_NOTICE, 0, "process %ld passes its health check again",
                       pid);
        break;
    case AC_HEALTH_REPLACE:
        replace(ai, si, apr_psprintf(p, "failed %d health check%s in a row (%s)",
                                     pr->streak.failures, pr->streak.failures > 1 ? "s" : "",
                                     what));
        break;
    default:
        if (!passed) {
            ac_sup_app_log(ai, APLOG_DEBUG, 0, "process %ld failed health check %d of %d in "
                           "a row (%s)", pid, pr->streak.failures, h->failures, what);
        }
        break;
    }
    end_probe(&probes[ai][si]);
    apr_pool_destroy(p);
}

/* Moves the probe on as far as it goes without waiting. */
static void progress(int ai, int si)
{
    probe_t *pr = &probes[ai][si];

    if (pr->phase == PROBE_CONNECTING) {
        int err = 0;
        socklen_t len = sizeof(err);
        struct pollfd pfd = { pr->fd, POLLOUT, 0 };
        if (poll(&pfd, 1, 0) == 0) {
            return;
        }
        if (getsockopt(pr->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
            finish(ai, si, AC_PROBE_REFUSED, 0);
            return;
        }
        pr->phase = PROBE_SENDING;
    }
    while (pr->phase == PROBE_SENDING) {
        ssize_t n = send(pr->fd, pr->req + pr->sent, pr->req_len - pr->sent,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                finish(ai, si, AC_PROBE_CLOSED, 0);
            }
            return;
        }
        pr->sent += (apr_size_t)n;
        if (pr->sent == pr->req_len) {
            pr->phase = PROBE_READING;
        }
    }
    /* one read per wake-up: an app that keeps sending (interim heads without
     * end) must not hold the loop, which checks the timeout and serves
     * every other app between two reads */
    if (pr->phase == PROBE_READING) {
        int status, verdict;
        ssize_t n = recv(pr->fd, pr->buf + pr->got, AC_HEALTH_HEAD_MAX - pr->got,
                         MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            return;
        }
        if (n <= 0) {
            finish(ai, si, AC_PROBE_CLOSED, 0);
            return;
        }
        pr->got += (apr_size_t)n;
        verdict = ac_health_judge_head(pr->pool, pr->buf, &pr->got, &status);
        if (verdict >= 0) {
            finish(ai, si, (ac_probe_result_e)verdict, status);
            return;
        }
    }
}

/* A probe of process `si` begins: a non-blocking connect to its port. */
static void begin_probe(int ai, int si, apr_time_t now)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    probe_t *pr = &probes[ai][si];
    struct sockaddr_in sa;
    ac_slot_view_t v;

    pr->next_at = now + apr_time_from_sec(a->launch->health.interval);
    /* The token goes only to the process itself: one that closed its
     * listener leaves its port to any local user. Such a process is broken
     * (killed and replaced at once, without the shutdown event, which would
     * carry the token too); -1, cannot tell: trusted, as the readiness probe
     * does. */
    if (ac_sup_listener_is_app(ai, &a->slots[si]) == 0) {
        ac_sup_check_broken(ai, si, pr->incarnation);
        return;
    }
    if (apr_pool_create(&pr->pool, ac_sup.pool) != APR_SUCCESS) {
        pr->pool = NULL;
        return;
    }
    pr->target = ac_health_target(pr->pool, a->launch->virtual_path, a->launch->health.path);
    pr->req = ac_slot_read(&ac_sup_shared_app(ai)->slots[si], &v)
              ? ac_health_request(pr->pool, pr->target, a->launch->health.host, v.token,
                                  &pr->req_len)
              : NULL;
    pr->fd = pr->req ? socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0) : -1;
    if (pr->fd < 0) {
        if (pr->req) {
            ac_sup_app_log(ai, APLOG_WARNING, APR_FROM_OS_ERROR(errno), "health check: socket");
        }
        end_probe(pr);      /* no verdict: it is not the process's fault */
        return;
    }
    pr->buf = apr_palloc(pr->pool, AC_HEALTH_HEAD_MAX);
    pr->got = pr->sent = 0;
    pr->deadline = now + apr_time_from_sec(a->launch->health.timeout);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)a->slots[si].port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(pr->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        pr->phase = PROBE_SENDING;
    }
    else if (errno == EINPROGRESS) {
        pr->phase = PROBE_CONNECTING;
    }
    else {
        finish(ai, si, AC_PROBE_REFUSED, 0);
        return;
    }
    progress(ai, si);
}

void ac_sup_health_tick(int ai, int si, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    const ac_health_conf_t *h = &a->launch->health;
    probe_t *pr = &probes[ai][si];
    uint64_t incarnation = ac_sup_shared_app(ai)->slots[si].incarnation;

    if (!h->path || a->slots[si].state != AC_SLOT_READY || ac_sup.stopping) {
        end_probe(pr);      /* a process that stops is not probed */
        return;
    }
    if (pr->incarnation != incarnation) {
        /* a process newly ready: its first probe one interval from now */
        ac_sup_health_forget(ai, si);
        pr->incarnation = incarnation;
        pr->next_at = now + apr_time_from_sec(h->interval);
        publish(ai, si, AC_HEALTH_UNKNOWN, 0);
    }
    if (pr->streak.replaced) {
        return;             /* being replaced: no more probes */
    }
    if (!pr->pool && now >= pr->next_at) {
        begin_probe(ai, si, now);
    }
    if (pr->pool && now >= pr->deadline) {
        finish(ai, si, AC_PROBE_TIMEOUT, 0);
    }
    if (pr->streak.replaced) {
        return;
    }
    shorten(sleep, (pr->pool ? pr->deadline : pr->next_at) - now);
}

int ac_sup_health_fd(int ai, int si, short *events)
{
    const probe_t *pr = &probes[ai][si];

    if (!pr->pool || pr->fd < 0) {
        return -1;
    }
    *events = pr->phase == PROBE_READING ? POLLIN : POLLOUT;
    return pr->fd;
}

void ac_sup_health_io(int ai, int si, int fd)
{
    probe_t *pr = &probes[ai][si];

    if (pr->pool && pr->fd == fd && ac_sup.apps[ai].slots[si].state == AC_SLOT_READY) {
        progress(ai, si);
    }
}
