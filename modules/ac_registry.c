/* ac_registry: declared apps -> launch settings -> the supervisor. */
#include "ac_registry.h"
#include "ac_channel.h"
#include "ac_config.h"
#include "ac_supervisor.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define STATE_KEY "mod_aspnetcore.process_state"
#define CONTROL_TIMEOUT apr_time_from_sec(15)
#define MAX_FORKS_PER_MINUTE 10

#define DEFAULT_STARTUP_TIME_LIMIT 120
#define DEFAULT_SHUTDOWN_TIME_LIMIT 10
#define DEFAULT_RAPID_FAILS 10
#define DEFAULT_REQUEST_TIMEOUT apr_time_from_sec(120)
#define DEFAULT_PORT_LOW 10000
#define DEFAULT_PORT_HIGH 48000

/* What outlives a config generation; allocated from the process pool. */
typedef struct {
    apr_pool_t *pool;
    apr_shm_t *shm;
    ac_shared_t *shared;
    int request_fds[2];          /* [0]: children send, [1]: supervisor receives */
    int control_fd;              /* the parent's end; -1 without a supervisor */
    apr_proc_t supervisor;       /* pid 0 without one */
    apr_time_t fork_times[MAX_FORKS_PER_MINUTE];
    unsigned forks;
    /* of the current generation (pconf) */
    apr_pool_t *pconf;
    server_rec *server;
    apr_array_header_t *payload; /* the CONFIG message last sent */
    int stop_all_sent;
} process_state_t;

/* The current generation's view; also what httpd children inherit. */
static process_state_t *state;

ac_shared_t *ac_registry_shared(void)
{
    return state ? state->shared : NULL;
}

int ac_registry_request_fd(void)
{
    return state ? state->request_fds[0] : -1;
}

static const char *document_root(server_rec *s)
{
    core_server_config *core = ap_get_core_module_config(s->module_config);
    return core ? core->ap_document_root : NULL;
}

static const char *normalize_virtual_path(apr_pool_t *p, const char *location)
{
    char *v = apr_pstrdup(p, location);
    apr_size_t n = strlen(v);
    while (n > 1 && v[n - 1] == '/') {
        v[--n] = '\0';
    }
    return v;
}

int ac_registry_resolve(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    int i;
    (void)ptemp;

    for (i = 0; apps && i < apps->nelts; i++) {
        ac_app_decl_t *app = APR_ARRAY_IDX(apps, i, ac_app_decl_t *);
        ac_dir_conf_t *host = ap_get_module_config(app->server->lookup_defaults,
                                                   &aspnetcore_module);
        ac_dir_conf_t *eff = app->location ? ac_dir_conf_merge(pconf, host, app->scope) : host;
        ac_launch_t *l = apr_pcalloc(pconf, sizeof(*l));

        if (!eff->process_path) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "The app declared at %s has no AspNetCoreProcessPath: say which "
                         "program runs it (e.g. AspNetCoreProcessPath dotnet)",
                         app->defined_at);
            return !OK;
        }
        l->process_path = eff->process_path;
        l->arguments = eff->arguments ? eff->arguments : "";
        l->app_root = eff->app_root;
        if (!l->app_root && app->location) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "The app in <Location %s> declared at %s needs AspNetCoreAppRoot "
                         "(its directory)", app->location, app->defined_at);
            return !OK;
        }
        if (!l->app_root) {
            l->app_root = document_root(app->server);
        }
        if (!l->app_root) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                         "The app declared at %s has neither AspNetCoreAppRoot nor a "
                         "DocumentRoot", app->defined_at);
            return !OK;
        }
        l->virtual_path = app->location ? normalize_virtual_path(pconf, app->location) : "/";
        l->env = eff->env ? eff->env : apr_array_make(pconf, 1, sizeof(ac_env_entry_t));
        l->processes = 1;
        l->startup_time_limit = DEFAULT_STARTUP_TIME_LIMIT;
        l->shutdown_time_limit = DEFAULT_SHUTDOWN_TIME_LIMIT;
        l->rapid_fails_per_minute = DEFAULT_RAPID_FAILS;
        l->websockets = 0;      /* no tunnel yet: tell the app so */

        app->launch = l;
        ac_launch_key(l, pconf, app->key);
        app->label = ac_launch_label(pconf, l);
        app->request_timeout = DEFAULT_REQUEST_TIMEOUT;
        app->startup_wait = apr_time_from_sec(l->startup_time_limit);
        app->index = AC_APP_NO_INDEX;
    }
    return OK;
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

static void close_control(process_state_t *st)
{
    if (st->control_fd >= 0) {
        close(st->control_fd);
        st->control_fd = -1;
    }
}

static apr_status_t start_supervisor(process_state_t *st)
{
    int ctl[2];
    pid_t pid;

    if (!may_fork(st)) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, st->server,
                     "the supervisor died %d times within a minute: not starting it again "
                     "until the next restart of Apache; apps will answer 503",
                     MAX_FORKS_PER_MINUTE);
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
        args.port_low = DEFAULT_PORT_LOW;
        args.port_high = DEFAULT_PORT_HIGH;
        ac_supervisor_run(&args);
    }
    close(ctl[1]);
    st->control_fd = ctl[0];
    st->supervisor.pid = pid;
    st->stop_all_sent = 0;
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

    rv = ac_control_write(st->control_fd, AC_CTL_CONFIG, st->payload->elts,
                          (uint32_t)st->payload->nelts, CONTROL_TIMEOUT);
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
        if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING || !st->payload) {
            break;
        }
        if (start_supervisor(st) != APR_SUCCESS) {
            break;
        }
        if (apr_pool_create(&scratch, st->pool) != APR_SUCCESS) {
            break;
        }
        if (send_config(st, scratch, &indexes,
                        *(apr_uint32_t *)st->payload->elts) != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, st->server,
                         "the new supervisor did not take the configuration");
        }
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

int ac_registry_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    apr_array_header_t *unique;
    apr_uint32_t *indexes = NULL;
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

    /* One CONFIG message: each distinct app once. */
    unique = apr_array_make(ptemp, apps->nelts + 1, sizeof(ac_app_decl_t *));
    for (i = 0; i < apps->nelts; i++) {
        ac_app_decl_t *a = APR_ARRAY_IDX(apps, i, ac_app_decl_t *);
        for (j = 0; j < unique->nelts; j++) {
            if (!memcmp(APR_ARRAY_IDX(unique, j, ac_app_decl_t *)->key, a->key, AC_KEY_BYTES)) {
                break;
            }
        }
        if (j == unique->nelts) {
            APR_ARRAY_PUSH(unique, ac_app_decl_t *) = a;
        }
    }
    if (unique->nelts > AC_MAX_APPS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%d apps are configured; at most %d can run",
                     unique->nelts, AC_MAX_APPS);
        return !OK;
    }
    st->payload = apr_array_make(pconf, 1024, 1);
    ac_config_payload_begin(st->payload, (uint32_t)unique->nelts, 0);
    for (i = 0; i < unique->nelts; i++) {
        apr_array_header_t *blob = apr_array_make(ptemp, 256, 1);
        ac_launch_serialize(APR_ARRAY_IDX(unique, i, ac_app_decl_t *)->launch, blob);
        ac_config_payload_add(st->payload, blob);
    }

    if (supervisor_alive(st)) {
        /* registered with the previous generation's pconf: register again */
        apr_proc_other_child_register(&st->supervisor, supervisor_maintenance, st, NULL, pconf);
        st->stop_all_sent = 0;
    }
    else {
        close_control(st);
        st->supervisor.pid = 0;
        if (start_supervisor(st) != APR_SUCCESS) {
            return !OK;
        }
    }
    rv = send_config(st, ptemp, &indexes, (apr_uint32_t)unique->nelts);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s,
                     "the supervisor did not take the configuration: starting a new one");
        kill_supervisor(st);
        if (start_supervisor(st) != APR_SUCCESS
            || (rv = send_config(st, ptemp, &indexes, (apr_uint32_t)unique->nelts))
               != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s,
                         "the supervisor does not answer; cannot run the apps");
            return !OK;
        }
    }
    for (i = 0; i < apps->nelts; i++) {
        ac_app_decl_t *a = APR_ARRAY_IDX(apps, i, ac_app_decl_t *);
        for (j = 0; j < unique->nelts; j++) {
            if (!memcmp(APR_ARRAY_IDX(unique, j, ac_app_decl_t *)->key, a->key, AC_KEY_BYTES)) {
                a->index = indexes[j];
                break;
            }
        }
        if (a->index == AC_APP_NO_INDEX) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "no room in the app table for %s (declared at %s)",
                         a->label, a->defined_at);
        }
    }
    return OK;
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
