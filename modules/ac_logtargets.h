/* ac_logtargets: the LOG_TARGETS message, which tells the supervisor where
 * the lines about each app go.
 *
 * The supervisor is forked once and kept across graceful restarts: the
 * error logs it inherited are the first generation's (renamed away by
 * logrotate, or a piped logger that was replaced). Before each CONFIG the
 * parent sends the generation's error logs: the main server's (target 0)
 * and that of every virtual host with an ErrorLog of its own, each once,
 * with the level that host's LogLevel sets for this module; the targets of
 * the hosts in the order of the server list (a request-registered app names
 * its host by that position); and the host of each CONFIG app. A target's
 * file descriptor comes with the frame (SCM_RIGHTS); a target without one
 * (ErrorLog syslog:) logs the way the main server does. httpd-free.
 *
 * Payload, host byte order, 32-bit words: version, ntargets, then per
 * target (level, has_fd), nservers, the target of each server, napps, the
 * server position of each CONFIG app. The descriptors, in the order of the
 * targets that have one.
 */
#ifndef AC_LOGTARGETS_H
#define AC_LOGTARGETS_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_tables.h>

#define AC_LOG_TARGETS_VERSION 1
#define AC_LOG_TARGETS_MAX 64          /* error logs handed over; hosts beyond share the main */
#define AC_LOG_SERVERS_MAX 65536       /* hosts mapped; beyond: the main log */
#define AC_LOG_APPS_MAX 65536

typedef struct {
    uint32_t ntargets;                 /* >= 1: target 0 is the main server's */
    uint32_t level[AC_LOG_TARGETS_MAX];  /* APLOG_* (0-7; higher is more) */
    int fd[AC_LOG_TARGETS_MAX];        /* -1: none (syslog, or not open) */
    uint32_t nservers;
    uint32_t *server_target;           /* [nservers] */
    uint32_t napps;
    uint32_t *app_server;              /* [napps]: position of the host that declared it */
} ac_log_targets_t;

/* The payload of `t`; its descriptors (in order) in fds/nfds. */
void ac_log_targets_encode(apr_array_header_t *payload, const ac_log_targets_t *t,
                           int *fds, unsigned *nfds);
/* Reads a payload and the descriptors that came with it into `t` (arrays
 * from `p`). NULL, or what is wrong: then `t` holds no descriptor and the
 * caller still owns (closes) `fds`. */
const char *ac_log_targets_parse(apr_pool_t *p, const char *payload, uint32_t len,
                                 const int *fds, unsigned nfds, ac_log_targets_t *t);
/* The target of the host at position `server` (out of range, or unknown:
 * 0, the main server's). */
uint32_t ac_log_target_of_server(const ac_log_targets_t *t, uint32_t server);

#endif /* AC_LOGTARGETS_H */
