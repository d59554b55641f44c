/* ac_config: the AspNetCore* directives, per-directory config and merging.
 *
 * Every scope (server, <VirtualHost>, <Location>) gets an ac_dir_conf_t.
 * A scope in which a launch directive appears declares an app
 * (ac_app_decl_t); nested scopes inherit the app and may switch
 * forwarding off. Unset values are sentinels so that merging can tell
 * "not said here" from "said": the mod_h2 way.
 */
#ifndef AC_CONFIG_H
#define AC_CONFIG_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

#include "ac_launch.h"

#define AC_UNSET (-1)

typedef struct ac_app_decl_t ac_app_decl_t;

typedef struct {
    int enabled;                     /* AspNetCore On|Off */
    const char *process_path;
    const char *arguments;
    const char *app_root;
    apr_array_header_t *env;         /* ac_env_entry_t, NULL when none said here */
    ac_app_decl_t *app;              /* the app requests in this scope go to */
} ac_dir_conf_t;

struct ac_app_decl_t {
    ac_dir_conf_t *scope;            /* the config of the declaring section */
    server_rec *server;              /* the (virtual) host it was declared in */
    const char *location;            /* <Location> path, NULL at host level */
    const char *defined_at;          /* "file:line" of the first launch directive */
    /* resolved before the server starts (ac_registry) */
    ac_launch_t *launch;
    unsigned char key[AC_KEY_BYTES];
    const char *label;
    apr_uint32_t index;              /* in the shared app table; AC_APP_NO_INDEX if none */
    apr_interval_time_t request_timeout;
    apr_interval_time_t startup_wait;
};

extern const command_rec ac_directives[];

void *ac_dir_conf_create(apr_pool_t *p, char *dir);
void *ac_dir_conf_merge(apr_pool_t *p, void *base, void *add);

/* Every app declared in the configuration being read (pconf lifetime). */
apr_array_header_t *ac_config_declared_apps(void);
void ac_config_reset(apr_pool_t *pconf);

#endif /* AC_CONFIG_H */
