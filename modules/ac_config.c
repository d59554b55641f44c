/* ac_config: AspNetCore* directives and the merging of per-directory config. */
#include "ac_config.h"
#include "ac_channel.h"

#include <string.h>
#include <http_log.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* Apps declared while reading the current configuration. Reset at
 * pre_config; lives in pconf like the sections that declare them. */
static apr_array_header_t *declared_apps;

void ac_config_reset(apr_pool_t *pconf)
{
    declared_apps = apr_array_make(pconf, 8, sizeof(ac_app_decl_t *));
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
    return d;
}

#define MERGE_PTR(f) (add->f ? add->f : base->f)
#define MERGE_INT(f) (add->f != AC_UNSET ? add->f : base->f)

void *ac_dir_conf_merge(apr_pool_t *p, void *basev, void *addv)
{
    const ac_dir_conf_t *base = basev, *add = addv;
    ac_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->enabled = MERGE_INT(enabled);
    d->process_path = MERGE_PTR(process_path);
    d->arguments = MERGE_PTR(arguments);
    d->app_root = MERGE_PTR(app_root);
    if (base->env && add->env) {
        d->env = apr_array_append(p, base->env, add->env);
    }
    else {
        d->env = MERGE_PTR(env);
    }
    d->app = MERGE_PTR(app);
    return d;
}

/* The name of the section a directive stands in ("<Location", ...), or NULL
 * at server or virtual host level. */
static const char *enclosing_section(cmd_parms *cmd)
{
    const ap_directive_t *d;
    for (d = cmd->directive ? cmd->directive->parent : NULL; d; d = d->parent) {
        if (strcasecmp(d->directive, "<VirtualHost") && strcasecmp(d->directive, "<IfModule")
            && strcasecmp(d->directive, "<IfDefine") && strcasecmp(d->directive, "<If")
            && strcasecmp(d->directive, "<IfVersion") && strcasecmp(d->directive, "<IfFile")
            && strcasecmp(d->directive, "<IfDirective") && strcasecmp(d->directive, "<IfSection")
            && strcasecmp(d->directive, "<Macro")) {
            return d->directive;
        }
    }
    return NULL;
}

/* Called by every directive that shapes how the app is launched: makes the
 * scope declare an app, once. */
static const char *declare_app(cmd_parms *cmd, ac_dir_conf_t *d)
{
    const char *section = enclosing_section(cmd);
    ac_app_decl_t *app;

    if (section && strcasecmp(section, "<Location")) {
        return apr_psprintf(cmd->pool, "%s: an app can be declared at server level, in "
                            "<VirtualHost> or in <Location> (not in %s>)",
                            cmd->cmd->name, section);
    }
    if (section && (!cmd->path || cmd->path[0] != '/')) {
        return apr_psprintf(cmd->pool, "%s: the enclosing <Location> must be a URL path "
                            "starting with '/' (regular expressions are not supported)",
                            cmd->cmd->name);
    }
    if (d->app && d->app->scope == d) {
        return NULL;
    }
    app = apr_pcalloc(cmd->pool, sizeof(*app));
    app->scope = d;
    app->server = cmd->server;
    app->location = section ? apr_pstrdup(cmd->pool, cmd->path) : NULL;
    app->defined_at = cmd->directive
        ? apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename, cmd->directive->line_num)
        : "(unknown)";
    app->index = AC_APP_NO_INDEX;
    d->app = app;
    APR_ARRAY_PUSH(declared_apps, ac_app_decl_t *) = app;
    return NULL;
}

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
        return apr_psprintf(cmd->pool, "AspNetCoreArguments: cannot split '%s'", arg);
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

static const char *set_env(cmd_parms *cmd, void *dv, const char *name, const char *value)
{
    ac_dir_conf_t *d = dv;
    ac_env_entry_t *e;

    if (!valid_env_name(name)) {
        return apr_psprintf(cmd->pool, "AspNetCoreEnvironmentVariable: '%s' is not a valid "
                            "variable name (letters, digits, '_', '.', '-'; not starting "
                            "with a digit)", name);
    }
    if (!d->env) {
        d->env = apr_array_make(cmd->pool, 4, sizeof(ac_env_entry_t));
    }
    e = apr_array_push(d->env);
    e->name = name;
    e->value = value;
    return declare_app(cmd, d);
}

static const char *set_app_root(cmd_parms *cmd, void *dv, const char *arg)
{
    ac_dir_conf_t *d = dv;
    const char *path = ap_server_root_relative(cmd->pool, arg);
    apr_finfo_t fi;

    if (!path) {
        return apr_psprintf(cmd->pool, "AspNetCoreAppRoot: invalid path '%s'", arg);
    }
    if (apr_stat(&fi, path, APR_FINFO_TYPE, cmd->temp_pool) != APR_SUCCESS
        || fi.filetype != APR_DIR) {
        return apr_psprintf(cmd->pool, "AspNetCoreAppRoot: '%s' is not a directory", path);
    }
    d->app_root = path;
    return declare_app(cmd, d);
}

static const char *set_enabled(cmd_parms *cmd, void *dv, int flag)
{
    ac_dir_conf_t *d = dv;
    (void)cmd;
    d->enabled = flag;
    return NULL;
}

const command_rec ac_directives[] = {
    AP_INIT_TAKE1("AspNetCoreProcessPath", set_process_path, NULL, RSRC_CONF | ACCESS_CONF,
                  "The program that runs the app (e.g. dotnet, or the app's own executable)"),
    AP_INIT_TAKE1("AspNetCoreArguments", set_arguments, NULL, RSRC_CONF | ACCESS_CONF,
                  "Arguments for the program, quoted like a shell command line"),
    AP_INIT_TAKE2("AspNetCoreEnvironmentVariable", set_env, NULL, RSRC_CONF | ACCESS_CONF,
                  "NAME VALUE: an environment variable for the app's processes"),
    AP_INIT_TAKE1("AspNetCoreAppRoot", set_app_root, NULL, RSRC_CONF | ACCESS_CONF,
                  "The app's directory (working directory of its processes)"),
    AP_INIT_FLAG("AspNetCore", set_enabled, NULL, RSRC_CONF | ACCESS_CONF,
                 "On: requests in this scope go to the app; Off: Apache serves them"),
    { NULL }
};
