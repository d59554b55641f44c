/* ac_config: AspNetCore* directives and the merging of per-directory config. */
#include "ac_config.h"
#include "ac_identity_conf.h"
#include "ac_cgroup.h"
#include "ac_affinity.h"
#include "ac_channel.h"
#include "ac_httpsport.h"
#include "ac_idle.h"
#include "ac_parse.h"
#include "ac_shared.h"
#include "ac_stdoutlog.h"

#include <string.h>
#include <http_log.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* Scopes of the main configuration that declare an app, in reading order.
 * Reset at pre_config; lives in pconf like the sections themselves. */
static apr_array_header_t *declared_apps;

/* Does a <Directory> or <Files> section use one of our directives? Then
 * requests must get the filesystem walk that applies those sections. */
static int file_sections_have_ours;

void ac_config_reset(apr_pool_t *pconf)
{
    declared_apps = apr_array_make(pconf, 8, sizeof(ac_app_scope_t *));
    file_sections_have_ours = 0;
    ac_identity_conf_reset(pconf);
}

static int uses_our_directives(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (!strncasecmp(d->directive, "AspNetCore", 10)
            || (d->first_child && uses_our_directives(d->first_child))) {
            return 1;
        }
    }
    return 0;
}

static int is_file_section(const char *name)
{
    return !strcasecmp(name, "<Directory") || !strcasecmp(name, "<DirectoryMatch")
           || !strcasecmp(name, "<Files") || !strcasecmp(name, "<FilesMatch");
}

static int file_section_with_ours(const ap_directive_t *d)
{
    for (; d; d = d->next) {
        if (d->first_child && (is_file_section(d->directive)
                               ? uses_our_directives(d->first_child)
                               : file_section_with_ours(d->first_child))) {
            return 1;
        }
    }
    return 0;
}

void ac_config_scan_sections(const ap_directive_t *tree)
{
    file_sections_have_ours = file_section_with_ours(tree);
}

int ac_config_maps_without_walk(const ac_dir_conf_t *d)
{
    return d && d->app && d->enabled != 0 && (d->process_path || d->web_config)
           && (d->app->kind == AC_SCOPE_HOST || d->app->kind == AC_SCOPE_LOCATION)
           && !file_sections_have_ours;
}

apr_array_header_t *ac_config_declared_apps(void)
{
    return declared_apps;
}

void *ac_dir_conf_create(apr_pool_t *p, char *dir)
{
    ac_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));
    (void)dir;
    d->enabled = AC_UNSET;
    d->stdout_log_enabled = AC_UNSET;
    d->stdout_log_max_kib = AC_UNSET;
    d->stdout_log_keep = AC_UNSET;
    d->startup_time_limit = AC_UNSET;
    d->shutdown_time_limit = AC_UNSET;
    d->rapid_fails_per_minute = AC_UNSET;
    d->processes = AC_UNSET;
    d->start_mode = AC_UNSET;
    d->hosting_inprocess = AC_UNSET;
    d->forward_windows_auth = AC_UNSET;
    d->request_timeout = AC_UNSET;
    d->disable_startup_error_page = AC_UNSET;
    d->max_queued = AC_UNSET;
    d->websocket_idle = AC_UNSET;
    d->sticky = AC_UNSET;
    d->https_port = AC_UNSET;
    d->idle_timeout = AC_UNSET;
    d->memory_limit = AC_UNSET;
    d->cpu_limit = AC_UNSET;
    d->max_tasks = AC_UNSET;
    d->user_from_owner = AC_UNSET;
    d->min_uid = AC_UNSET;
    return d;
}

#define MERGE_PTR(f) (add->f ? add->f : base->f)
#define MERGE_INT(f) (add->f != AC_UNSET ? add->f : base->f)

static apr_array_header_t *merge_list(apr_pool_t *p, apr_array_header_t *base,
                                      apr_array_header_t *add)
{
    if (base && add) {
        return apr_array_append(p, base, add);
    }
    return add ? add : base;
}

void *ac_dir_conf_merge(apr_pool_t *p, void *basev, void *addv)
{
    const ac_dir_conf_t *base = basev, *add = addv;
    ac_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = MERGE_INT(enabled);
    d->process_path = MERGE_PTR(process_path);
    d->arguments = MERGE_PTR(arguments);
    d->app_root = MERGE_PTR(app_root);
    d->env = merge_list(p, base->env, add->env);
    d->stdout_log_enabled = MERGE_INT(stdout_log_enabled);
    d->stdout_log_file = MERGE_PTR(stdout_log_file);
    d->stdout_log_max_kib = MERGE_INT(stdout_log_max_kib);
    d->stdout_log_keep = MERGE_INT(stdout_log_keep);
    d->startup_time_limit = MERGE_INT(startup_time_limit);
    d->shutdown_time_limit = MERGE_INT(shutdown_time_limit);
    d->rapid_fails_per_minute = MERGE_INT(rapid_fails_per_minute);
    d->processes = MERGE_INT(processes);
    d->start_mode = MERGE_INT(start_mode);
    d->hosting_inprocess = MERGE_INT(hosting_inprocess);
    d->forward_windows_auth = MERGE_INT(forward_windows_auth);
    d->handler_settings = merge_list(p, base->handler_settings, add->handler_settings);
    d->web_config = MERGE_PTR(web_config);
    d->state_dir = MERGE_PTR(state_dir);
    d->request_timeout = MERGE_INT(request_timeout);
    d->disable_startup_error_page = MERGE_INT(disable_startup_error_page);
    d->max_queued = MERGE_INT(max_queued);
    d->websocket_idle = MERGE_INT(websocket_idle);
    d->sticky = MERGE_INT(sticky);
    d->sticky_cookie = MERGE_PTR(sticky_cookie);
    d->https_port = MERGE_INT(https_port);
    d->idle_timeout = MERGE_INT(idle_timeout);
    d->memory_limit = MERGE_INT(memory_limit);
    d->cpu_limit = MERGE_INT(cpu_limit);
    d->max_tasks = MERGE_INT(max_tasks);
    d->health = MERGE_PTR(health);
    d->recycle = MERGE_PTR(recycle);
    d->run_as = MERGE_PTR(run_as);
    d->user_from_owner = MERGE_INT(user_from_owner);
    d->min_uid = MERGE_INT(min_uid);
    d->app = MERGE_PTR(app);
    return d;
}

void *ac_server_conf_create(apr_pool_t *p, server_rec *s)
{
    ac_server_conf_t *c = apr_pcalloc(p, sizeof(*c));
    (void)s;
    c->port_low = AC_DEFAULT_PORT_LOW;
    c->port_high = AC_DEFAULT_PORT_HIGH;
    c->backend_idle = AC_DEFAULT_BACKEND_IDLE;
    c->dynamic_app_idle = AC_DEFAULT_DYNAMIC_APP_IDLE;
    c->cgroups = AC_UNSET;
    return c;
}

/* ---- where a directive stands ---------------------------------------- */

static int in_htaccess(cmd_parms *cmd)
{
    return !(cmd->override & (ACCESS_CONF | RSRC_CONF));
}

/* The section a directive stands in ("<Location", "<Directory", ...), or
 * NULL at server or virtual host level. Conditional sections do not count. */
static const char *enclosing_section(cmd_parms *cmd)
{
    static const char *const transparent[] = {
        "<VirtualHost", "<IfModule", "<IfDefine", "<If", "<ElseIf", "<Else", "<IfVersion",
        "<IfFile", "<IfDirective", "<IfSection", "<Macro", NULL
    };
    const ap_directive_t *d;
    for (d = cmd->directive ? cmd->directive->parent : NULL; d; d = d->parent) {
        int i, skip = 0;
        for (i = 0; transparent[i]; i++) {
            if (!strcasecmp(d->directive, transparent[i])) {
                skip = 1;
                break;
            }
        }
        if (!skip) {
            return d->directive;
        }
    }
    return NULL;
}

/* Called by every directive that shapes how the app is launched: makes the
 * scope declare an app, once. */
static const char *declare_app(cmd_parms *cmd, ac_dir_conf_t *d)
{
    ac_app_scope_t *app;
    ac_scope_kind_e kind;
    const char *section = NULL;

    if (in_htaccess(cmd)) {
        kind = AC_SCOPE_HTACCESS;
    }
    else {
        section = enclosing_section(cmd);
        if (!section) {
            kind = AC_SCOPE_HOST;
        }
        else if (!strcasecmp(section, "<Location") && cmd->path && cmd->path[0] == '/') {
            kind = AC_SCOPE_LOCATION;
        }
        else if (!strcasecmp(section, "<Directory") && cmd->path && cmd->path[0] == '/'
                 && !strchr(cmd->path, '*') && !strchr(cmd->path, '?')
                 && !strchr(cmd->path, '[')) {
            kind = AC_SCOPE_DIRECTORY;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: an app is declared at server level, in "
                                "<VirtualHost>, <Location /path>, <Directory /dir> or "
                                ".htaccess; not in %s> (nor with wildcards or regular "
                                "expressions)", cmd->cmd->name, section);
        }
    }
    if (d->app && d->app->conf == d) {
        return NULL;
    }
    app = apr_pcalloc(cmd->pool, sizeof(*app));
    app->kind = kind;
    app->conf = d;
    app->server = cmd->server;
    app->path = cmd->path ? apr_pstrdup(cmd->pool, cmd->path) : NULL;
    app->defined_at = cmd->directive
        ? apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num)
        : (cmd->config_file ? cmd->config_file->name : "(unknown)");
    d->app = app;
    if (kind != AC_SCOPE_HTACCESS) {
        APR_ARRAY_PUSH(declared_apps, ac_app_scope_t *) = app;
    }
    return NULL;
}

/* ---- launch directives ------------------------------------------------- */

static const char *set_process_path(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    if (!*arg) {
        return "AspNetCoreProcessPath: the path must not be empty";
    }
    d->process_path = arg;
    return declare_app(cmd, d);
}

static const char *set_arguments(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    char **argv;
    if (apr_tokenize_to_argv(arg, &argv, cmd->temp_pool) != APR_SUCCESS) {
        return apr_psprintf(cmd->pool, "AspNetCoreArguments: cannot split '%s' into arguments",
                            arg);
    }
    d->arguments = arg;
    return declare_app(cmd, d);
}

static int valid_env_name(const char *name)
{
    const char *c;
    if (!*name || apr_isdigit(*name)) {
        return 0;
    }
    for (c = name; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '.' && *c != '-') {
            return 0;
        }
    }
    return 1;
}

/* What the module itself gives every process (ANCM reserves the same):
 * a configured value would break the token check, the port the process
 * must listen on, or the app's path base. Compared ignoring case, as
 * ANCM (and web.config) do. */
const char *ac_config_reserved_env(const char *name)
{
    static const char *const reserved[] = {
        "ASPNETCORE_TOKEN", "ASPNETCORE_PORT", "ASPNETCORE_APPL_PATH", NULL
    };
    int i;
    for (i = 0; reserved[i]; i++) {
        if (!strcasecmp(name, reserved[i])) {
            return reserved[i];
        }
    }
    return NULL;
}

static apr_array_header_t *add_pair(apr_pool_t *p, apr_array_header_t *list,
                                    const char *name, const char *value)
{
    ac_env_entry_t *e;
    if (!list) {
        list = apr_array_make(p, 4, sizeof(ac_env_entry_t));
    }
    e = apr_array_push(list);
    e->name = name;
    e->value = value;
    return list;
}

static const char *set_env(cmd_parms *cmd, void *dv, const char *name, const char *value)
{
    ac_dir_conf_t *d = dv;
    if (!valid_env_name(name)) {
        return apr_psprintf(cmd->pool, "AspNetCoreEnvironmentVariable: '%s' is not a valid "
                            "variable name (letters, digits, '_', '.', '-'; not starting "
                            "with a digit)", name);
    }
    if (ac_config_reserved_env(name)) {
        return apr_psprintf(cmd->pool, "AspNetCoreEnvironmentVariable: %s is set by the module "
                            "for every process (as ANCM does) and cannot be configured", name);
    }
    d->env = add_pair(cmd->pool, d->env, name, value);
    return declare_app(cmd, d);
}

static const char *set_handler_setting(cmd_parms *cmd, void *dv, const char *name,
                                       const char *value)
{
    ac_dir_conf_t *d = dv;
    if (!*name) {
        return "AspNetCoreHandlerSetting: the name must not be empty";
    }
    d->handler_settings = add_pair(cmd->pool, d->handler_settings, name, value);
    return declare_app(cmd, d);
}

static const char *set_app_root(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    const char *path;
    apr_finfo_t fi;

    if (in_htaccess(cmd)) {
        /* relative to the .htaccess directory, and never above it */
        if (apr_filepath_merge((char **)&path, cmd->path, arg,
                               APR_FILEPATH_SECUREROOT | APR_FILEPATH_NOTABOVEROOT,
                               cmd->pool) != APR_SUCCESS) {
            return apr_psprintf(cmd->pool, "AspNetCoreAppRoot: '%s' is outside %s", arg,
                                cmd->path);
        }
    }
    else {
        path = ap_server_root_relative(cmd->pool, arg);
        if (!path) {
            return apr_psprintf(cmd->pool, "AspNetCoreAppRoot: invalid path '%s'", arg);
        }
    }
    /* Like a missing DocumentRoot in a <VirtualHost>: a warning, never an
     * error. The parent reads the configuration again at a graceful restart,
     * after `apachectl graceful`'s configtest: a directory renamed away by a
     * deploy in between must not stop Apache. The app answers 502.5 until
     * the directory is back. */
    if ((apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
         || fi.filetype != APR_DIR) && !in_htaccess(cmd)) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, cmd->server, "AspNetCoreAppRoot: '%s' "
                     "is not a directory (%s:%d): the app answers 502.5 until it is", path,
                     cmd->directive ? cmd->directive->filename : "?",
                     cmd->directive ? cmd->directive->line_num : 0);
    }
    d->app_root = path;
    return declare_app(cmd, d);
}

static const char *set_web_config(cmd_parms *cmd, void *dv, const char *args)
{
    ac_dir_conf_t *d = dv;
    const char *arg = ap_getword_conf(cmd->temp_pool, &args);

    if (*args) {
        return apr_psprintf(cmd->pool, "AspNetCoreWebConfig: takes at most one file, not '%s %s'",
                            arg, args);
    }
    if (!*arg) {
        d->web_config = "";     /* <app root>/web.config */
    }
    else if (in_htaccess(cmd)) {
        if (apr_filepath_merge((char **)&d->web_config, cmd->path, arg,
                               APR_FILEPATH_SECUREROOT | APR_FILEPATH_NOTABOVEROOT,
                               cmd->pool) != APR_SUCCESS) {
            return apr_psprintf(cmd->pool, "AspNetCoreWebConfig: '%s' is outside %s", arg,
                                cmd->path);
        }
    }
    else {
        d->web_config = ap_server_root_relative(cmd->pool, arg);
        if (!d->web_config) {
            return apr_psprintf(cmd->pool, "AspNetCoreWebConfig: invalid path '%s'", arg);
        }
    }
    return declare_app(cmd, d);
}

static const char *set_stdout_log_file(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    if (!*arg) {
        return "AspNetCoreStdoutLogFile: the path must not be empty";
    }
    d->stdout_log_file = arg;    /* relative to the app root, like ANCM */
    return declare_app(cmd, d);
}

static const char *set_stdout_log_enabled(cmd_parms *cmd, void *dv, int flag)
{
    ac_dir_conf_t *d = dv;
    d->stdout_log_enabled = flag;
    return declare_app(cmd, d);
}

/* AspNetCoreStdoutLogLimit SIZE [FILES] (ac_stdoutlog.h) */
static const char *set_stdout_log_limit(cmd_parms *cmd, void *dv, const char *size,
                                        const char *files)
{
    ac_dir_conf_t *d = dv;
    apr_uint32_t kib, keep = AC_STDOUTLOG_DEFAULT_KEEP;
    const char *err = ac_stdoutlog_parse_size(size, &kib);

    if (err) {
        return apr_psprintf(cmd->pool, "%s: size '%s': %s", cmd->cmd->name, size, err);
    }
    if (files && (err = ac_stdoutlog_parse_keep(files, &keep))) {
        return apr_psprintf(cmd->pool, "%s: files '%s': %s", cmd->cmd->name, files, err);
    }
    d->stdout_log_max_kib = (int)kib;
    d->stdout_log_keep = (int)keep;
    return declare_app(cmd, d);
}

/* AspNetCoreRecycle [requests=N] [time=DURATION] [memory=MiB] [schedule=HH:MM,...] */
static const char *set_recycle(cmd_parms *cmd, void *dv, const char *args)
{
    ac_dir_conf_t *d = dv;
    ac_recycle_t *rc = apr_pcalloc(cmd->pool, sizeof(*rc));
    const char *err = ac_recycle_parse(cmd->pool, args, rc);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreRecycle: ", err, NULL);
    }
    d->recycle = rc;
    return declare_app(cmd, d);
}

static const char *set_https_port(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    const char *err = ac_httpsport_parse(cmd->pool, arg, &d->https_port);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreHttpsPort: ", err, NULL);
    }
    return declare_app(cmd, d);
}

/* AspNetCoreHealthCheck PATH [interval=S] [timeout=S] [failures=N] | Off (ac_health.h) */
static const char *set_health_check(cmd_parms *cmd, void *dv, int argc, char *const argv[])
{
    ac_dir_conf_t *d = dv;
    ac_health_conf_t *h = apr_pcalloc(cmd->pool, sizeof(*h));
    const char *err = ac_health_parse(cmd->pool, argc, argv, h);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreHealthCheck: ", err, NULL);
    }
    d->health = h;
    return declare_app(cmd, d);
}

/* An absolute directory for the app's state, from the main configuration
 * only (a .htaccess author does not choose where Apache's root makes and
 * hands over a directory). */
static const char *check_state_path(cmd_parms *cmd, const char *arg, const char **out)
{
    const char *path = ap_server_root_relative(cmd->pool, arg);
    const char *c;

    if (!*arg || !path) {
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'", cmd->cmd->name, arg);
    }
    for (c = path; *c; c++) {
        if (c[0] == '/' && c[1] == '.' && c[2] == '.' && (c[3] == '/' || !c[3])) {
            return apr_psprintf(cmd->pool, "%s: '%s' has a '..' component: give the "
                                "directory's own path", cmd->cmd->name, path);
        }
    }
    while (strlen(path) > 1 && path[strlen(path) - 1] == '/') {
        path = apr_pstrmemdup(cmd->pool, path, strlen(path) - 1);
    }
    if (!strcmp(path, "/")) {
        return apr_psprintf(cmd->pool, "%s: not the root directory", cmd->cmd->name);
    }
    *out = path;
    return NULL;
}

static const char *set_state_dir(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    const char *err = check_state_path(cmd, arg, &d->state_dir);
    return err ? err : declare_app(cmd, d);
}

/* Whole-number directives: the offset of the field and its range. */
typedef struct {
    apr_size_t offset;
    long min, max;
    int declares;                /* part of how the app is launched */
} int_directive_t;

static const int_directive_t startup_limit = {
    APR_OFFSETOF(ac_dir_conf_t, startup_time_limit), 0, 3600, 1 };
static const int_directive_t shutdown_limit = {
    APR_OFFSETOF(ac_dir_conf_t, shutdown_time_limit), 0, 600, 1 };
static const int_directive_t rapid_fails = {
    APR_OFFSETOF(ac_dir_conf_t, rapid_fails_per_minute), 0, 100, 1 };
static const int_directive_t processes = {
    APR_OFFSETOF(ac_dir_conf_t, processes), 1, AC_MAX_PROCESSES, 1 };
static const int_directive_t max_queued = {
    APR_OFFSETOF(ac_dir_conf_t, max_queued), 0, AC_MAX_QUEUED_LIMIT, 0 };
static const int_directive_t websocket_idle = {
    APR_OFFSETOF(ac_dir_conf_t, websocket_idle), 0, 86400, 0 };
/* cgroup limits (ac_cgroup.h): main configuration only (never .htaccess:
 * only root can make the cgroups, at startup) */
static const int_directive_t memory_limit = {
    APR_OFFSETOF(ac_dir_conf_t, memory_limit), 0, AC_CGROUP_MEMORY_MAX_MIB, 0 };
static const int_directive_t cpu_limit = {
    APR_OFFSETOF(ac_dir_conf_t, cpu_limit), 0, AC_CGROUP_CPU_MAX_PERCENT, 0 };
static const int_directive_t max_tasks = {
    APR_OFFSETOF(ac_dir_conf_t, max_tasks), 0, AC_CGROUP_TASKS_MAX, 0 };

static const char *set_int(cmd_parms *cmd, void *dv, const char *arg)
{
    const int_directive_t *spec = cmd->info;
    long v;
    const char *err = ac_parse_int_range(cmd->pool, arg, spec->min, spec->max, &v);
    if (err) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
    }
    *(int *)((char *)dv + spec->offset) = (int)v;
    return spec->declares ? declare_app(cmd, dv) : NULL;
}

static const char *set_hosting_model(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    int inprocess;
    const char *err = ac_parse_hosting_model(cmd->pool, arg, &inprocess);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreHostingModel: ", err, NULL);
    }
    d->hosting_inprocess = inprocess;
    return NULL;
}

static const char *set_start_mode(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    int always;
    const char *err = ac_parse_start_mode(cmd->pool, arg, &always);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreStartMode: ", err, NULL);
    }
    d->start_mode = always ? AC_START_ALWAYS : AC_START_ONDEMAND;
    return NULL;
}

/* AspNetCoreIdleTimeout: a default for the apps of the scope and below (it
 * declares no app, like AspNetCoreStartMode), so one line at server level
 * can give every app its idle timeout. */
static const char *set_idle_timeout(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    long seconds;
    const char *err = ac_idle_parse_timeout(cmd->pool, arg, &seconds);

    if (err) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
    }
    d->idle_timeout = (int)seconds;
    return NULL;
}

/* ---- request directives ------------------------------------------------ */

static const char *set_request_timeout(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    apr_interval_time_t t;
    const char *err = ac_parse_timespan(cmd->pool, arg, AC_REQUEST_TIMEOUT_MAX, &t);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreRequestTimeout: ", err, NULL);
    }
    d->request_timeout = t;
    return NULL;
}

/* ---- server-wide ------------------------------------------------------- */

/* A server-wide number: like set_int, on the server's own configuration. */
static const char *set_server_int(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_server_conf_t *c = ap_get_module_config(cmd->server->module_config, &aspnetcore_module);
    const int_directive_t *spec = cmd->info;
    long v;
    const char *err;
    (void)dv;
    if (cmd->server->is_virtual) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name,
                           ": server-wide only (not in <VirtualHost>)", NULL);
    }
    err = ac_parse_int_range(cmd->pool, arg, spec->min, spec->max, &v);
    if (err) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", err, NULL);
    }
    *(int *)((char *)c + spec->offset) = (int)v;
    return NULL;
}

static const int_directive_t max_websockets = {
    APR_OFFSETOF(ac_server_conf_t, max_websockets), 1, 1000000, 0 };
static const int_directive_t backend_idle = {
    APR_OFFSETOF(ac_server_conf_t, backend_idle), 1, 3600, 0 };

/* Apps registered by requests (.htaccess) that get none for this long are
 * retired (ac_idle.h); "hh:mm:ss" like IIS's idleTimeout. */
static const char *set_dynamic_app_idle(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_server_conf_t *c = ap_get_module_config(cmd->server->module_config, &aspnetcore_module);
    apr_interval_time_t t;
    const char *err;
    (void)dv;
    if (cmd->server->is_virtual) {
        return "AspNetCoreDynamicAppIdleTimeout: server-wide only (not in <VirtualHost>)";
    }
    err = ac_parse_timespan(cmd->pool, arg, AC_DYNAMIC_APP_IDLE_MAX, &t);
    if (err) {
        return apr_pstrcat(cmd->pool, "AspNetCoreDynamicAppIdleTimeout: ", err, NULL);
    }
    c->dynamic_app_idle = t;
    return NULL;
}

static const char *set_state_root(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_server_conf_t *c = ap_get_module_config(cmd->server->module_config, &aspnetcore_module);
    (void)dv;
    if (cmd->server->is_virtual) {
        return "AspNetCoreStateRoot: server-wide only (not in <VirtualHost>)";
    }
    return check_state_path(cmd, arg, &c->state_root);
}

static const char *set_cgroups(cmd_parms *cmd, void *dv, int on)
{
    ac_server_conf_t *c = ap_get_module_config(cmd->server->module_config, &aspnetcore_module);
    (void)dv;
    if (cmd->server->is_virtual) {
        return "AspNetCoreCgroups: server-wide only (not in <VirtualHost>)";
    }
    c->cgroups = on;
    return NULL;
}

static const char *set_port_range(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_server_conf_t *c = ap_get_module_config(cmd->server->module_config, &aspnetcore_module);
    const char *err;
    (void)dv;
    if (cmd->server->is_virtual) {
        return "AspNetCorePortRange: server-wide only (not in <VirtualHost>)";
    }
    err = ac_parse_port_range(cmd->pool, arg, &c->port_low, &c->port_high);
    return err ? apr_pstrcat(cmd->pool, "AspNetCorePortRange: ", err, NULL) : NULL;
}

/* Which .htaccess files may use what (AllowOverride): what decides the
 * program and its environment needs Options (like ExecCGI); forwarding on or
 * off and timeouts need FileInfo. AllowOverrideList can open single ones. */
#define LAUNCH_CTX (RSRC_CONF | ACCESS_CONF | OR_OPTIONS)
#define REQUEST_CTX (RSRC_CONF | ACCESS_CONF | OR_FILEINFO)

static const char *set_sticky_cookie(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    if (!ac_affinity_name_valid(arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a cookie name (1 to %d letters, "
                            "digits and !#$%%&'*+-.^_`|~)", cmd->cmd->name, arg,
                            AC_AFFINITY_NAME_MAX);
    }
    d->sticky_cookie = arg;
    return NULL;
}

const command_rec ac_directives[] = {
    AP_INIT_TAKE1("AspNetCoreProcessPath", set_process_path, NULL, LAUNCH_CTX,
                  "The program that runs the app (e.g. dotnet, or the app's own executable)"),
    AP_INIT_TAKE1("AspNetCoreArguments", set_arguments, NULL, LAUNCH_CTX,
                  "Arguments for the program, quoted like a shell command line"),
    AP_INIT_TAKE2("AspNetCoreEnvironmentVariable", set_env, NULL, LAUNCH_CTX,
                  "NAME VALUE: an environment variable for the app's processes"),
    AP_INIT_TAKE1("AspNetCoreAppRoot", set_app_root, NULL, LAUNCH_CTX,
                  "The app's directory (working directory of its processes)"),
    AP_INIT_RAW_ARGS("AspNetCoreWebConfig", set_web_config, NULL, LAUNCH_CTX,
                     "Import the app's settings from a web.config (default: <app root>/web.config)"),
    AP_INIT_FLAG("AspNetCoreStdoutLogEnabled", set_stdout_log_enabled, NULL, LAUNCH_CTX,
                 "On: the app's stdout/stderr go to files (AspNetCoreStdoutLogFile)"),
    AP_INIT_TAKE1("AspNetCoreStdoutLogFile", set_stdout_log_file, NULL, LAUNCH_CTX,
                  "Path prefix of the stdout log files, relative to the app root"),
    AP_INIT_TAKE12("AspNetCoreStdoutLogLimit", set_stdout_log_limit, NULL, LAUNCH_CTX,
                   "SIZE [FILES]: a stdout log file goes on in a new one past SIZE (e.g. 100M; "
                   "0: no limit); the newest FILES of the app are kept (0: all)"),
    AP_INIT_TAKE1("AspNetCoreStartupTimeLimit", set_int, (void *)&startup_limit, LAUNCH_CTX,
                  "Seconds a new process has to start listening (0-3600)"),
    AP_INIT_TAKE1("AspNetCoreShutdownTimeLimit", set_int, (void *)&shutdown_limit, LAUNCH_CTX,
                  "Seconds a process has to stop before it is killed (0-600)"),
    AP_INIT_TAKE1("AspNetCoreRapidFailsPerMinute", set_int, (void *)&rapid_fails, LAUNCH_CTX,
                  "Crashes per minute after which the app is not restarted (0-100)"),
    AP_INIT_TAKE1("AspNetCoreProcessesPerApplication", set_int, (void *)&processes, LAUNCH_CTX,
                  "Number of processes of the app (1-100)"),
    AP_INIT_TAKE1("AspNetCoreHttpsPort", set_https_port, NULL, LAUNCH_CTX,
                  "The port UseHttpsRedirection sends http requests to "
                  "(ASPNETCORE_ANCM_HTTPS_PORT, 1-65535), or Off; default: derived"),
    AP_INIT_TAKE1("AspNetCoreIdleTimeout", set_idle_timeout, NULL, LAUNCH_CTX,
                  "A duration (20m, 90s, 1h30m, 00:20:00) without a request after which the "
                  "app's processes stop until the next request (0: never, the default)"),
    AP_INIT_TAKE_ARGV("AspNetCoreHealthCheck", set_health_check, NULL, LAUNCH_CTX,
                      "PATH [interval=S] [timeout=S] [failures=N]: each process is probed "
                      "with GET PATH and replaced after N failures in a row; or Off"),
    AP_INIT_RAW_ARGS("AspNetCoreRecycle", set_recycle, NULL, LAUNCH_CTX,
                     "[requests=N] [time=DURATION] [memory=MiB] [schedule=HH:MM,...]: a process "
                     "past a limit is replaced by a rolling restart (none: never)"),
    AP_INIT_TAKE2("AspNetCoreHandlerSetting", set_handler_setting, NULL, LAUNCH_CTX,
                  "NAME VALUE: an ANCM handler setting (debugFile, debugLevel, ...)"),
    AP_INIT_TAKE1("AspNetCoreStateDirectory", set_state_dir, NULL, RSRC_CONF | ACCESS_CONF,
                  "The app's private state directory (its processes' HOME); default: "
                  "<AspNetCoreStateRoot>/<user>/<app id>"),
    AP_INIT_TAKE1("AspNetCoreHostingModel", set_hosting_model, NULL, REQUEST_CTX,
                  "InProcess or OutOfProcess (both run out of process)"),
    AP_INIT_FLAG("AspNetCoreForwardWindowsAuthToken", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(ac_dir_conf_t, forward_windows_auth), REQUEST_CTX,
                 "Accepted for web.config parity; has no effect on Linux"),
    AP_INIT_TAKE1("AspNetCoreStartMode", set_start_mode, NULL, REQUEST_CTX,
                  "AlwaysRunning (start with Apache) or OnDemand (start on the first request)"),
    AP_INIT_TAKE1("AspNetCoreRequestTimeout", set_request_timeout, NULL, REQUEST_CTX,
                  "hh:mm:ss the app has to answer a request (at most 360:00:00)"),
    AP_INIT_FLAG("AspNetCoreDisableStartUpErrorPage", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(ac_dir_conf_t, disable_startup_error_page), REQUEST_CTX,
                 "On: a failed start answers a bare 502 (ErrorDocument applies)"),
    AP_INIT_TAKE1("AspNetCoreMaxQueuedRequests", set_int, (void *)&max_queued, REQUEST_CTX,
                  "Requests that may wait for a process of the app; more get 503 at once"),
    AP_INIT_FLAG("AspNetCore", ap_set_flag_slot, (void *)APR_OFFSETOF(ac_dir_conf_t, enabled),
                 REQUEST_CTX,
                 "On: requests in this scope go to the app; Off: Apache serves them"),
    AP_INIT_TAKE1("AspNetCoreWebSocketIdleTimeout", set_int, (void *)&websocket_idle, REQUEST_CTX,
                  "Seconds a WebSocket may stay silent both ways before it is closed (0: never)"),
    AP_INIT_FLAG("AspNetCoreStickySessions", ap_set_flag_slot,
                 (void *)APR_OFFSETOF(ac_dir_conf_t, sticky), REQUEST_CTX,
                 "On: a cookie keeps each client on the app process that served it"),
    AP_INIT_TAKE1("AspNetCoreStickySessionCookie", set_sticky_cookie, NULL, REQUEST_CTX,
                  "The sticky-session cookie's name (default " AC_AFFINITY_DEFAULT_COOKIE ")"),
    AP_INIT_TAKE1("AspNetCoreMaxWebSockets", set_server_int, (void *)&max_websockets, RSRC_CONF,
                  "WebSocket connections open at once, all apps together"),
    AP_INIT_TAKE1("AspNetCoreBackendIdleTimeout", set_server_int, (void *)&backend_idle, RSRC_CONF,
                  "Seconds an unused connection to an app is kept for reuse (below the app's "
                  "keep-alive timeout)"),
    AP_INIT_TAKE1("AspNetCoreDynamicAppIdleTimeout", set_dynamic_app_idle, NULL, RSRC_CONF,
                  "hh:mm:ss without a request after which an app registered by a request "
                  "(.htaccess) is stopped and forgotten (00:00:00: never)"),
    AP_INIT_TAKE1("AspNetCoreStateRoot", set_state_root, NULL, RSRC_CONF,
                  "Where the apps' default state directories are made (default "
                  "/var/lib/apache2/aspnetcore)"),
    AP_INIT_TAKE1("AspNetCorePortRange", set_port_range, NULL, RSRC_CONF,
                  "LOW-HIGH: loopback ports the apps' processes listen on"),
    AP_INIT_TAKE1("AspNetCoreMemoryLimit", set_int, (void *)&memory_limit,
                  RSRC_CONF | ACCESS_CONF, "MiB of memory the app's processes may use "
                  "together (a cgroup limit; 0: none)"),
    AP_INIT_TAKE1("AspNetCoreCpuLimit", set_int, (void *)&cpu_limit, RSRC_CONF | ACCESS_CONF,
                  "Percent of one CPU the app's processes may use together (200: two CPUs; "
                  "0: no limit)"),
    AP_INIT_TAKE1("AspNetCoreMaxProcesses", set_int, (void *)&max_tasks,
                  RSRC_CONF | ACCESS_CONF, "Processes and threads (tasks) the app may have "
                  "together (0: no limit)"),
    AC_IDENTITY_DIRECTIVES,
    AP_INIT_FLAG("AspNetCoreCgroups", set_cgroups, NULL, RSRC_CONF,
                 "On (default): the limits are cgroups; Off: no cgroup is made (the memory "
                 "limit becomes a recycle at that size)"),
    { NULL }
};
