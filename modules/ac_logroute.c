/* ac_logroute: the generation's error logs, for the supervisor (ac_logroute.h). */
#include "ac_logroute.h"
#include "ac_channel.h"
#include "ac_config.h"
#include "ac_logtargets.h"
#include "ac_resolve.h"

#include <string.h>

#include <http_log.h>
#include <apr_file_io.h>
#include <apr_portable.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

struct ac_logroute_t {
    apr_array_header_t *payload;
    int fds[AC_LOG_TARGETS_MAX];
    unsigned nfds;
};

/* The target of host `s`: an earlier one with the same file and level, a
 * new one, or (no room, or syslog while the main server has a file) the
 * main server's. */
static uint32_t target_of(ac_log_targets_t *t, apr_file_t **files, server_rec *s)
{
    int lv = ap_get_server_module_loglevel(s, APLOG_MODULE_INDEX);
    uint32_t level = lv < 0 ? 0 : lv > APLOG_DEBUG ? APLOG_DEBUG : (uint32_t)lv;   /* trace: debug */
    apr_os_file_t fd = -1;
    uint32_t i;

    for (i = 0; i < t->ntargets; i++) {
        if (files[i] == s->error_log && t->level[i] == level) {
            return i;
        }
    }
    if (t->ntargets >= AC_LOG_TARGETS_MAX || (!s->error_log && files[0])
        || (s->error_log && apr_os_file_get(&fd, s->error_log) != APR_SUCCESS)) {
        return 0;
    }
    files[t->ntargets] = s->error_log;
    t->level[t->ntargets] = level;
    t->fd[t->ntargets] = s->error_log ? fd : -1;
    return t->ntargets++;
}

/* The host that declared each CONFIG app (its first scope). */
static void app_hosts(ac_log_targets_t *t, server_rec *main_server,
                      const apr_array_header_t *unique, const apr_array_header_t *scopes)
{
    int i, j;

    for (i = 0; i < unique->nelts; i++) {
        const ac_resolved_t *u = APR_ARRAY_IDX(unique, i, ac_resolved_t *);
        t->app_server[i] = 0;
        for (j = 0; j < scopes->nelts; j++) {
            const ac_app_scope_t *sc = APR_ARRAY_IDX(scopes, j, ac_app_scope_t *);
            if (sc->resolved && !memcmp(sc->resolved->key, u->key, AC_KEY_BYTES)) {
                t->app_server[i] = ac_logroute_server_position(main_server, sc->server);
                break;
            }
        }
    }
}

ac_logroute_t *ac_logroute_build(apr_pool_t *pconf, server_rec *main_server,
                                 const apr_array_header_t *unique,
                                 const apr_array_header_t *scopes)
{
    ac_logroute_t *route = apr_pcalloc(pconf, sizeof(*route));
    apr_file_t *files[AC_LOG_TARGETS_MAX];
    ac_log_targets_t t;
    server_rec *s;
    uint32_t n = 0;

    memset(&t, 0, sizeof(t));
    memset(files, 0, sizeof(files));
    for (s = main_server; s; s = s->next) {
        n++;
    }
    if (n > AC_LOG_SERVERS_MAX) {
        n = AC_LOG_SERVERS_MAX;     /* the hosts beyond: the main log */
    }
    t.server_target = apr_palloc(pconf, sizeof(uint32_t) * n);
    for (s = main_server; s && t.nservers < n; s = s->next) {
        t.server_target[t.nservers++] = target_of(&t, files, s);
    }
    t.napps = (uint32_t)unique->nelts;
    t.app_server = apr_palloc(pconf, sizeof(uint32_t) * (t.napps + 1));
    app_hosts(&t, main_server, unique, scopes);
    route->payload = apr_array_make(pconf, 256, 1);
    ac_log_targets_encode(route->payload, &t, route->fds, &route->nfds);
    return route;
}

apr_status_t ac_logroute_send(const ac_logroute_t *route, int control_fd,
                              apr_interval_time_t timeout)
{
    if (!route) {
        return APR_SUCCESS;
    }
    return ac_control_write_fds(control_fd, AC_CTL_LOG_TARGETS, route->payload->elts,
                                (uint32_t)route->payload->nelts, route->fds, route->nfds,
                                timeout);
}

uint32_t ac_logroute_server_position(const server_rec *main_server, const server_rec *s)
{
    uint32_t pos = 0;
    const server_rec *at;

    for (at = main_server; at && at != s; at = at->next) {
        pos++;
    }
    return at ? pos : 0;
}
