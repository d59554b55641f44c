/* ac_registry: declared apps -> launch settings -> the supervisor. */
#include "ac_registry.h"
#include "ac_channel.h"
#include "ac_appstate.h"
#include "ac_identity_conf.h"
#include "ac_config.h"
#include "ac_errpage.h"
#include "ac_logroute.h"
#include "ac_limits.h"
#include "ac_resolve.h"
#include "ac_rundir.h"
#include "ac_runtime.h"
#include "ac_safefile.h"
#include "ac_strays.h"
#include "ac_supervisor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <ap_mpm.h>
#include <unixd.h>
#include <apr_file_info.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <libxml/parser.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define STATE_KEY "mod_aspnetcore.process_state"
#define CONTROL_TIMEOUT apr_time_from_sec(15)
#define MAX_FORKS_PER_MINUTE 10
/* Once the fork budget is spent, the monitor hook tries one supervisor again
 * after this long, doubling (up to RETRY_MAX) while they keep dying within
 * a minute. A restart of Apache resets the budget and the back-off. */
#define RETRY_FIRST apr_time_from_sec(60)
#define RETRY_MAX apr_time_from_sec(960)
#define LIVED_LONG apr_time_from_sec(60)
#define REGISTER_WAIT apr_time_from_sec(5)
#define TABLE_FULL_LOG_INTERVAL apr_time_from_sec(60)
#define WEB_CONFIG_WATCH_INTERVAL apr_time_from_sec(1)


/* What outlives a config generation; allocated from the process pool. */
typedef struct {
    apr_pool_t *pool;
    apr_shm_t *shm;
    ac_shared_t *shared;
    int request_fds[2];          /* [0]: children send, [1]: supervisor receives */
    int control_fd;              /* the parent's end; -1 without a supervisor */
    apr_proc_t supervisor;       /* pid 0 without one */
    /* the fork budget (this generation): MAX_FORKS_PER_MINUTE in any minute */
    apr_time_t fork_times[MAX_FORKS_PER_MINUTE];
    unsigned forks;
    apr_time_t started_at;       /* of the current supervisor */
    apr_time_t retry_at;         /* budget spent: the next try (0: not spent) */
    apr_interval_time_t retry_backoff;
    /* of the current generation (pconf) */
    apr_pool_t *pconf;
    server_rec *server;
    apr_array_header_t *payload; /* the CONFIG message last sent */
    ac_logroute_t *log_route;    /* its error logs, sent before it */
    int stop_all_sent;
    int supervisor_caps;         /* it keeps the capabilities to start apps as other users */
    const char *runtime_dir;     /* ours, owned by the User */
    const char *record_path;     /* running backends (ac_strays), in runtime_dir */
} process_state_t;

/* The current generation's view; also what httpd children inherit. */
static process_state_t *state;

static void retry_supervisor(process_state_t *st);

ac_shared_t *ac_registry_shared(void)
{
    return state ? state->shared : NULL;
}

int ac_registry_request_fd(void)
{
    return state ? state->request_fds[0] : -1;
}

/* Resolves a scope of the main configuration in `p`: NULL with *out set (NULL
 * when the scope runs no app of its own or its URL path is known only at the
 * first request), or an error in the configuration. */
static const char *resolve_scope(apr_pool_t *p, ac_app_scope_t *scope, server_rec *s,
                                 ac_resolved_t **out)
{
    const ac_dir_conf_t *eff = ac_resolve_scope_conf(p, scope);
    const char *vpath = NULL;

    *out = NULL;
    if (!eff->process_path && !eff->web_config) {
        /* launch settings without a program: defaults for the apps declared
         * in nested scopes, not an app of its own */
        return NULL;
    }
    switch (scope->kind) {
    case AC_SCOPE_HOST:
        vpath = "/";
        break;
    case AC_SCOPE_LOCATION:
        vpath = scope->path;
        while (strlen(vpath) > 1 && vpath[strlen(vpath) - 1] == '/') {
            vpath = apr_pstrmemdup(p, vpath, strlen(vpath) - 1);
        }
        break;
    default:
        vpath = ac_resolve_directory_vpath(p, scope);
        break;
    }
    if (!vpath) {
        if (s) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                         "the app in <Directory %s> (%s) is outside the DocumentRoot: its URL "
                         "path, and so the app, is worked out at the first request",
                         scope->path, scope->defined_at);
        }
        return NULL;
    }
    return ac_resolve(p, eff, scope, vpath, out);
}

/* Each distinct runnable app of the main configuration once. */
static apr_array_header_t *unique_apps(apr_pool_t *p, int limit)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_array_header_t *unique = apr_array_make(p, apps->nelts + 1, sizeof(ac_resolved_t *));
    int i, j;

    for (i = 0; i < apps->nelts && unique->nelts < limit; i++) {
        ac_resolved_t *a = APR_ARRAY_IDX(apps, i, ac_app_scope_t *)->resolved;
        if (!a || a->error) {
            continue;
        }
        for (j = 0; j < unique->nelts; j++) {
            if (!memcmp(APR_ARRAY_IDX(unique, j, ac_resolved_t *)->key, a->key, AC_KEY_BYTES)) {
                break;
            }
        }
        if (j == unique->nelts) {
            APR_ARRAY_PUSH(unique, ac_resolved_t *) = a;
        }
    }
    return unique;
}

/* Errors found here stop `apachectl configtest` as well; whatever can
 * change between configtest and the parent's re-read (the apps' files) is
 * never fatal (see post_config). */
int ac_registry_resolve(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    int i, n;

    /* libxml2 must be set up once, before any thread uses it; children
     * inherit it from here */
    xmlInitParser();
    /* The supervisor and every app run as Apache's User and Group: as
     * with User root (refused by the supervisor too), root's group would
     * give each app every file root's group may write. */
    if (geteuid() == 0 && (ap_unixd_config.user_id == 0 || ap_unixd_config.group_id == 0)) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_aspnetcore: Apache's %s is root (%s "
                     "0): the supervisor and the apps run as Apache's User and Group, never "
                     "as root; set an unprivileged %s", ap_unixd_config.user_id == 0
                     ? "User" : "Group", ap_unixd_config.user_id == 0 ? "uid" : "gid",
                     ap_unixd_config.user_id == 0 ? "User" : "Group");
        return !OK;
    }
    for (i = 0; apps && i < apps->nelts; i++) {
        ac_app_scope_t *scope = APR_ARRAY_IDX(apps, i, ac_app_scope_t *);
        const char *err = resolve_scope(pconf, scope, s, &scope->resolved);
        if (err) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%s", err);
            return !OK;
        }
    }
    n = unique_apps(ptemp, apps->nelts)->nelts;
    if (n > AC_MAX_APPS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%d apps are configured; at most %d can run",
                     n, AC_MAX_APPS);
        return !OK;
    }
    return OK;
}

/* The parent looks at the main configuration's web.config files whenever the
 * MPM runs its monitor hook (every tenth maintenance pass: about every 10 s;
 * at most once a second whatever the MPM), so that a changed one takes effect without
 * waiting for a request: a deploy that replaces web.config behind
 * app_offline.htm comes back with the new settings although no request came
 * meanwhile. Children look on their own when requests come (they may see the
 * change first; registering the same settings twice is harmless). Children
 * forked later start from the new resolution. */
int ac_registry_monitor(apr_pool_t *p, server_rec *s)
{
    static apr_time_t last;
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_time_t now = apr_time_now();
    int i;

    if (!state || !state->shared || now - last < WEB_CONFIG_WATCH_INTERVAL) {
        return DECLINED;
    }
    last = now;
    retry_supervisor(state);
    for (i = 0; apps && i < apps->nelts; i++) {
        ac_app_scope_t *scope = APR_ARRAY_IDX(apps, i, ac_app_scope_t *);
        ac_resolved_t *old = scope->resolved, *res;
        ac_file_stamp_t stamp;
        apr_pool_t *rp;
        const char *err;

        if (!old || !old->web_config) {
            continue;
        }
        ac_resolve_stamp(p, old->web_config, &stamp);
        if (ac_resolve_same_stamp(&stamp, &old->stamp)) {
            continue;
        }
        if (apr_pool_create(&rp, state->pconf) != APR_SUCCESS) {
            continue;
        }
        err = resolve_scope(rp, scope, NULL, &res);
        if (err || !res) {
            /* cannot happen for a scope that resolved before; keep the old */
            apr_pool_destroy(rp);
            continue;
        }
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "[%s] %s changed: %s", res->label,
                     res->web_config, res->error ? res->error : "settings reloaded");
        if (!res->error && memcmp(res->key, old->key, AC_KEY_BYTES)) {
            apr_array_header_t *blob = apr_array_make(rp, 512, 1);
            apr_status_t rv;
            ac_launch_serialize(res->launch, blob);
            rv = ac_request_send(state->request_fds[0], AC_REQ_REGISTER, 0,
                                 ac_logroute_server_position(state->server, scope->server), 0,
                                 blob->elts, (apr_size_t)blob->nelts);
            if (rv != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, rv, s, "[%s] cannot register the new "
                             "settings with the supervisor; the next request will", res->label);
            }
        }
        /* children have copies of their own: the old one can go (unless it
         * is the startup resolution, which lives in pconf) */
        if (scope->resolved_pool) {
            apr_pool_destroy(scope->resolved_pool);
        }
        scope->resolved_pool = rp;
        scope->resolved = res;
    }
    return DECLINED;
}

/* What an admin must hear about the apps once the error log is open (at
 * check_config it is not yet: those lines would go to the terminal). */
static void log_app_notes(server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    int i;

    for (i = 0; apps && i < apps->nelts; i++) {
        const ac_resolved_t *res = APR_ARRAY_IDX(apps, i, ac_app_scope_t *)->resolved;
        if (!res) {
            continue;
        }
        if (res->error) {
            /* one app's broken web.config must not keep the others from starting */
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "[%s] cannot run until this is fixed: %s",
                         res->label, res->error);
        }
        else if (res->inprocess) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "[%s] hostingModel InProcess: runs out "
                         "of process (the only model on Linux)", res->label);
        }
    }
}

static process_state_t *process_state(server_rec *s)
{
    apr_pool_t *pp = s->process->pool;
    process_state_t *st = NULL;
    apr_status_t rv;

    apr_pool_userdata_get((void **)&st, STATE_KEY, pp);
    if (st) {
        return st;
    }
    st = apr_pcalloc(pp, sizeof(*st));
    st->pool = pp;
    st->control_fd = -1;
    st->request_fds[0] = st->request_fds[1] = -1;

    rv = apr_shm_create(&st->shm, ac_shared_size(), NULL, pp);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                     "cannot create the shared state segment (%" APR_SIZE_T_FMT " bytes)",
                     ac_shared_size());
        return NULL;
    }
    st->shared = apr_shm_baseaddr_get(st->shm);
    ac_shared_init(st->shared);
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, st->request_fds) < 0) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, APR_FROM_OS_ERROR(errno), s,
                     "cannot create the request channel to the supervisor");
        return NULL;
    }
    apr_pool_userdata_set(st, STATE_KEY, apr_pool_cleanup_null, pp);
    st->record_path = ac_rundir_prepare(pp, s, &st->runtime_dir);
    return st;
}

static void supervisor_maintenance(int reason, void *data, int status);

static int may_fork(process_state_t *st)
{
    apr_time_t now = apr_time_now();
    apr_time_t oldest = st->fork_times[st->forks % MAX_FORKS_PER_MINUTE];
    if (st->forks >= MAX_FORKS_PER_MINUTE && now - oldest < apr_time_from_sec(60)) {
        return 0;
    }
    st->fork_times[st->forks % MAX_FORKS_PER_MINUTE] = now;
    st->forks++;
    return 1;
}

/* A new generation (graceful or hard restart): the admin asked for a fresh
 * start, so the supervisor gets its whole budget again. */
static void reset_fork_budget(process_state_t *st)
{
    memset(st->fork_times, 0, sizeof(st->fork_times));
    st->forks = 0;
    st->retry_at = 0;
    st->retry_backoff = 0;
}

/* The budget is spent: schedule one more try after a growing back-off. */
static void budget_spent(process_state_t *st)
{
    if (st->retry_at) {
        return;         /* already scheduled and logged */
    }
    st->retry_backoff = st->retry_backoff ? st->retry_backoff * 2 : RETRY_FIRST;
    if (st->retry_backoff > RETRY_MAX) {
        st->retry_backoff = RETRY_MAX;
    }
    st->retry_at = apr_time_now() + st->retry_backoff;
    ap_log_error(APLOG_MARK, APLOG_CRIT, 0, st->server,
                 "the supervisor died %d times within a minute: not starting it again for "
                 "%" APR_TIME_T_FMT " s (or until the next graceful or restart of Apache); "
                 "apps answer 503 meanwhile", MAX_FORKS_PER_MINUTE,
                 apr_time_sec(st->retry_backoff));
}

static void close_control(process_state_t *st)
{
    if (st->control_fd >= 0) {
        close(st->control_fd);
        st->control_fd = -1;
    }
}

/* Forks the supervisor, within the fork budget (`retry`: the one try the
 * back-off allows once the budget is spent). Failing is never fatal for
 * Apache: the apps answer 503 and the monitor hook tries again. */
static apr_status_t start_supervisor(process_state_t *st, int retry)
{
    int ctl[2];
    pid_t pid;

    if (!retry && (st->retry_at || !may_fork(st))) {
        budget_spent(st);
        return APR_EGENERAL;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ctl) < 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, st->server,
                     "cannot create the control channel to the supervisor");
        return rv;
    }
    pid = fork();
    if (pid < 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        close(ctl[0]);
        close(ctl[1]);
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, st->server, "cannot fork the supervisor");
        return rv;
    }
    if (pid == 0) {
        ac_supervisor_args_t args;
        close(ctl[0]);
        memset(&args, 0, sizeof(args));
        args.server = st->server;
        args.shared = st->shared;
        args.control_fd = ctl[1];
        args.request_fd = st->request_fds[1];
        args.port_low = AC_DEFAULT_PORT_LOW;
        args.port_high = AC_DEFAULT_PORT_HIGH;
        args.record_path = st->record_path;
        args.runtime_dir = st->runtime_dir;
        args.keep_caps = ac_identity_conf_used();
        ac_supervisor_run(&args);
    }
    close(ctl[1]);
    ac_limits_supervisor_started(st->server, pid);   /* before it gets any app */
    st->control_fd = ctl[0];
    st->supervisor.pid = pid;
    st->started_at = apr_time_now();
    st->stop_all_sent = 0;
    st->supervisor_caps = ac_identity_conf_used();
    apr_proc_other_child_register(&st->supervisor, supervisor_maintenance, st, NULL, st->pconf);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, st->server, "supervisor started, pid %" APR_PID_T_FMT,
                 pid);
    return APR_SUCCESS;
}

/* Sends the generation's apps and reads back their table indexes. */
static apr_status_t send_config(process_state_t *st, apr_pool_t *ptemp,
                                apr_uint32_t **indexes, apr_uint32_t napps)
{
    uint32_t type, len;
    char *reply;
    apr_status_t rv;

    rv = ac_logroute_send(st->log_route, st->control_fd, CONTROL_TIMEOUT);
    if (rv == APR_SUCCESS) {
        rv = ac_control_write(st->control_fd, AC_CTL_CONFIG, st->payload->elts,
                              (uint32_t)st->payload->nelts, CONTROL_TIMEOUT);
    }
    if (rv == APR_SUCCESS) {
        rv = ac_control_read(st->control_fd, ptemp, &type, &reply, &len, CONTROL_TIMEOUT);
    }
    if (rv == APR_SUCCESS && (type != AC_CTL_CONFIG_ACK || len != napps * 4)) {
        rv = APR_EGENERAL;
    }
    if (rv == APR_SUCCESS) {
        *indexes = (apr_uint32_t *)reply;
    }
    return rv;
}

static void kill_supervisor(process_state_t *st)
{
    if (st->supervisor.pid > 0) {
        apr_proc_other_child_unregister(st);
        kill(st->supervisor.pid, SIGKILL);
        st->supervisor.pid = 0;
    }
    close_control(st);
}

/* Starts a supervisor and hands it the generation's apps. On failure no
 * supervisor is left (one that does not answer is killed): the apps answer
 * 503 until the monitor hook tries again. */
static apr_status_t launch_supervisor(process_state_t *st, apr_pool_t *p, int retry,
                                      apr_uint32_t **indexes)
{
    apr_uint32_t napps = *(apr_uint32_t *)st->payload->elts;
    apr_status_t rv = start_supervisor(st, retry);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    rv = send_config(st, p, indexes, napps);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, st->server,
                     "the new supervisor (pid %" APR_PID_T_FMT ") did not take the "
                     "configuration (waited at most %" APR_TIME_T_FMT " s): killed; apps "
                     "answer 503 until one does", st->supervisor.pid,
                     apr_time_sec(CONTROL_TIMEOUT));
        kill_supervisor(st);
    }
    return rv;
}

static void supervisor_maintenance(int reason, void *data, int status)
{
    process_state_t *st = data;
    apr_pool_t *scratch;
    apr_uint32_t *indexes;

    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, st->server,
                     "supervisor pid %" APR_PID_T_FMT " is gone (wait status %d)",
                     st->supervisor.pid, status);
        apr_proc_other_child_unregister(st);
        st->supervisor.pid = 0;
        close_control(st);
        if (apr_time_now() - st->started_at >= LIVED_LONG) {
            st->retry_backoff = 0;      /* it ran fine for a while */
        }
        if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING || !st->payload) {
            break;
        }
        if (apr_pool_create(&scratch, st->pool) != APR_SUCCESS) {
            break;
        }
        launch_supervisor(st, scratch, 0, &indexes);
        apr_pool_destroy(scratch);
        break;
    case APR_OC_REASON_RESTART:
        /* A stop or a hard restart: every backend stops (a graceful restart
         * does not come here and keeps them). */
        if (!st->stop_all_sent && st->control_fd >= 0) {
            st->stop_all_sent = 1;
            if (ac_control_write(st->control_fd, AC_CTL_STOP_ALL, NULL, 0,
                                 apr_time_from_sec(1)) != APR_SUCCESS) {
                ap_log_error(APLOG_MARK, APLOG_WARNING, 0, st->server,
                             "could not ask the supervisor to stop the apps");
            }
        }
        break;
    default:
        break;
    }
}

/* monitor: no supervisor runs (its fork budget was spent, it did not
 * answer, or it could not be forked): try again when the back-off allows. */
static void retry_supervisor(process_state_t *st)
{
    apr_pool_t *scratch;
    apr_uint32_t *indexes;
    int retry = st->retry_at != 0;

    if (st->supervisor.pid > 0 || !st->payload
        || ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING
        || (retry && apr_time_now() < st->retry_at)) {
        return;
    }
    if (apr_pool_create(&scratch, st->pool) != APR_SUCCESS) {
        return;
    }
    if (retry) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, st->server,
                     "trying the supervisor again after %" APR_TIME_T_FMT " s",
                     apr_time_sec(st->retry_backoff));
        st->retry_at = 0;
    }
    launch_supervisor(st, scratch, retry, &indexes);
    apr_pool_destroy(scratch);
}

static int supervisor_alive(process_state_t *st)
{
    int status;
    pid_t r;
    if (st->supervisor.pid <= 0 || st->control_fd < 0) {
        return 0;
    }
    r = waitpid(st->supervisor.pid, &status, WNOHANG);
    /* ECHILD: the MPM reaped it while no maintenance callback was registered */
    return r == 0;
}

/* Half of MaxRequestWorkers: WebSockets never take every worker. */
static int default_max_websockets(void)
{
    int daemons = 1, threads = 1;
    if (ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons) != APR_SUCCESS || daemons < 1) {
        daemons = 1;
    }
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS || threads < 1) {
        threads = 1;
    }
    return daemons * threads / 2 > 0 ? daemons * threads / 2 : 1;
}

int ac_registry_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_array_header_t *unique;
    apr_uint32_t *indexes = NULL;
    ac_server_conf_t *sconf;
    ac_config_globals_t globals;
    process_state_t *st;
    apr_status_t rv;
    int i, j;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;      /* the dry run: nothing is started yet */
    }
    st = process_state(s);
    if (!st) {
        return !OK;
    }
    state = st;
    st->pconf = pconf;
    st->server = s;
    log_app_notes(s);

    /* One CONFIG message: each distinct runnable app once (at most
     * AC_MAX_APPS: check_config refused more). */
    unique = unique_apps(ptemp, AC_MAX_APPS);
    sconf = ap_get_module_config(s->module_config, &aspnetcore_module);
    st->shared->tunnel_limit = (uint32_t)(sconf->max_websockets > 0 ? sconf->max_websockets
                                          : default_max_websockets());
    globals.port_low = sconf->port_low;
    globals.port_high = sconf->port_high;
    globals.log_level = (uint32_t)s->log.level;
    globals.module_log_level = (uint32_t)ap_get_server_module_loglevel(s, APLOG_MODULE_INDEX);
    globals.dynamic_idle = (uint32_t)apr_time_sec(sconf->dynamic_app_idle);
    st->payload = apr_array_make(pconf, 1024, 1);
    ac_config_payload_begin(st->payload, (uint32_t)unique->nelts, &globals);
    for (i = 0; i < unique->nelts; i++) {
        apr_array_header_t *blob = apr_array_make(ptemp, 256, 1);
        ac_launch_serialize(APR_ARRAY_IDX(unique, i, ac_resolved_t *)->launch, blob);
        ac_config_payload_add(st->payload, blob);
    }
    ac_config_payload_end(st->payload, ac_identity_conf_owner_rules(), ac_appstate_root());
    st->log_route = ac_logroute_build(pconf, s, unique, apps);

    reset_fork_budget(st);
    rv = APR_EGENERAL;
    if (supervisor_alive(st)) {
        /* registered with the previous generation's pconf: register again */
        apr_proc_other_child_register(&st->supervisor, supervisor_maintenance, st, NULL, pconf);
        st->stop_all_sent = 0;
        if (ac_identity_conf_used() != st->supervisor_caps) {
            /* what it keeps is fixed when it starts: it dropped for good what
             * starting apps as other users takes, or keeps it needlessly */
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "apps as other users (AspNetCoreUser, "
                         "AspNetCoreUserFromOwner) %s this configuration: the supervisor "
                         "(pid %" APR_PID_T_FMT ") is replaced by one %s; the apps restart",
                         st->supervisor_caps ? "are gone from" : "are new in",
                         st->supervisor.pid, st->supervisor_caps ? "without capabilities"
                         : "that can start them");
            kill_supervisor(st);
        }
        else if ((rv = send_config(st, ptemp, &indexes, (apr_uint32_t)unique->nelts))
                 != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "the supervisor (pid %" APR_PID_T_FMT
                         ") did not take the configuration: starting a new one",
                         st->supervisor.pid);
            kill_supervisor(st);
        }
    }
    else {
        close_control(st);
        st->supervisor.pid = 0;
    }
    if (rv != APR_SUCCESS) {
        rv = launch_supervisor(st, ptemp, 0, &indexes);
    }
    if (rv != APR_SUCCESS) {
        /* Never fatal: Apache keeps serving everything else; the apps answer
         * 503 and the monitor hook tries again. */
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, "no supervisor runs: the apps answer 503 "
                     "until one is started again");
        return OK;
    }
    for (j = 0; j < unique->nelts; j++) {
        ac_resolved_t *a = APR_ARRAY_IDX(unique, j, ac_resolved_t *);
        a->index = indexes[j];
        if (a->index == AC_APP_NO_INDEX) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "no room in the app table for %s", a->label);
        }
    }
    /* scopes that resolved to the same app share its index */
    for (i = 0; i < apps->nelts; i++) {
        ac_resolved_t *a = APR_ARRAY_IDX(apps, i, ac_app_scope_t *)->resolved;
        for (j = 0; a && !a->error && j < unique->nelts; j++) {
            ac_resolved_t *u = APR_ARRAY_IDX(unique, j, ac_resolved_t *);
            if (!memcmp(u->key, a->key, AC_KEY_BYTES)) {
                a->index = u->index;
            }
        }
    }
    return OK;
}

pid_t ac_registry_supervisor_pid(void)
{
    return state && state->supervisor.pid > 0 ? state->supervisor.pid : 0;
}

int ac_registry_wait_supervisor(apr_interval_time_t limit)
{
    apr_time_t until = apr_time_now() + limit;
    int status;

    if (!state || state->supervisor.pid <= 0) {
        return 1;
    }
    close_control(state);
    while (waitpid(state->supervisor.pid, &status, WNOHANG) == 0) {
        if (apr_time_now() >= until) {
            return 0;
        }
        apr_sleep(apr_time_from_msec(20));
    }
    return 1;
}

void ac_registry_child_init(apr_pool_t *pchild, server_rec *s)
{
    (void)pchild;
    (void)s;
    if (!state) {
        return;
    }
    /* Children talk to the supervisor only through request datagrams. */
    if (state->control_fd >= 0) {
        close(state->control_fd);
        state->control_fd = -1;
    }
    if (state->request_fds[1] >= 0) {
        close(state->request_fds[1]);
        state->request_fds[1] = -1;
    }
}

/* Is there an entry the supervisor could give a new app? (A full table
 * refuses it: the request need not wait for that.) */
static int table_has_room(const ac_shared_t *sh)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_view_t v;
        if (ac_app_read(&sh->apps[i], &v) && v.state == AC_APP_FREE) {
            return 1;
        }
    }
    return 0;
}

/* 503 at once for an app that finds the table full; said in the error log
 * at most once a minute by each child (and at debug level otherwise). */
static int table_full(request_rec *r, const ac_resolved_t *res)
{
    static apr_time_t logged_at;     /* 0: never; a race between threads logs twice */
    apr_time_t now = apr_time_now();
    apr_time_t last = __atomic_load_n(&logged_at, __ATOMIC_RELAXED);
    int level = APLOG_DEBUG;

    if (!last || now - last >= TABLE_FULL_LOG_INTERVAL) {
        __atomic_store_n(&logged_at, now, __ATOMIC_RELAXED);
        level = APLOG_ERR;
    }
    ap_log_rerror(APLOG_MARK, level, 0, r, "[%s] cannot run: the app table is full (at most %d "
                  "apps; those registered by requests go after "
                  "AspNetCoreDynamicAppIdleTimeout without one) (503)", res->label, AC_MAX_APPS);
    ac_errpage_unavailable(r, apr_psprintf(r->pool, "the server runs as many apps as it can "
                                           "(%d)", AC_MAX_APPS));
    apr_table_setn(r->err_headers_out, "Retry-After", "60");
    return HTTP_SERVICE_UNAVAILABLE;
}

int ac_registry_index(request_rec *r, ac_resolved_t *res, apr_uint32_t *index)
{
    ac_shared_t *sh = state ? state->shared : NULL;
    apr_time_t deadline;
    apr_array_header_t *blob;
    int i, sent = 0;

    if (!sh) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (res->index != AC_APP_NO_INDEX) {
        *index = res->index;
        return OK;
    }
    deadline = apr_time_now() + REGISTER_WAIT;
    for (;;) {
        uint32_t seen = ac_word_read(&sh->table_wake);
        apr_time_t now;
        i = ac_shared_find(sh, res->key);
        if (i >= 0) {
            *index = (apr_uint32_t)i;
            return OK;
        }
        if (!table_has_room(sh)) {
            return table_full(r, res);
        }
        if (!sent) {
            apr_status_t rv;
            blob = apr_array_make(r->pool, 512, 1);
            ac_launch_serialize(res->launch, blob);
            rv = ac_request_send(state->request_fds[0], AC_REQ_REGISTER, 0,
                                 ac_logroute_server_position(state->server, r->server), 0,
                                 blob->elts, (apr_size_t)blob->nelts);
            if (rv != APR_SUCCESS) {
                ap_log_rerror(APLOG_MARK, APLOG_ERR, rv, r,
                              "[%s] cannot register the app with the supervisor", res->label);
                return HTTP_SERVICE_UNAVAILABLE;
            }
            sent = 1;
        }
        now = apr_time_now();
        if (now >= deadline) {
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "[%s] the supervisor did not take the app in time (the app table "
                          "is full, or it refused the settings: its error log says)",
                          res->label);
            return HTTP_SERVICE_UNAVAILABLE;
        }
        ac_word_wait(&sh->table_wake, seen, deadline - now);
    }
}
