/* ac_config: the AspNetCore* directives, per-directory config and merging.
 *
 * Every scope (server, <VirtualHost>, <Directory>, <Location>, .htaccess)
 * gets an ac_dir_conf_t. A scope in which a launch directive appears
 * declares an app (ac_app_scope_t); nested scopes inherit the app, may
 * override its settings and may switch forwarding off. Unset values are
 * sentinels, so merging can tell "not said here" from "said" (the mod_h2
 * way). Values are checked when read: a bad one stops the configuration
 * with a message naming the directive, the value and what is allowed.
 */
#ifndef AC_CONFIG_H
#define AC_CONFIG_H

#include <httpd.h>
#include <http_config.h>
#include <apr_tables.h>

#include "ac_launch.h"

#define AC_UNSET (-1)

typedef enum {
    AC_SCOPE_HOST = 0,          /* server config or <VirtualHost> */
    AC_SCOPE_LOCATION,
    AC_SCOPE_DIRECTORY,
    AC_SCOPE_HTACCESS
} ac_scope_kind_e;

typedef struct ac_resolved_t ac_resolved_t;

/* Where an app is declared. Scopes from the main configuration live in
 * pconf and are resolved before the server starts; .htaccess scopes live
 * in the request and are resolved when a request needs them. */
typedef struct {
    ac_scope_kind_e kind;
    const char *path;            /* <Location> URL path; <Directory>/.htaccess directory */
    server_rec *server;
    const char *defined_at;      /* "file:line" of its first launch directive */
    void *conf;                  /* the section's own ac_dir_conf_t */
    ac_resolved_t *resolved;     /* the app as of startup, or of its web.config's last
                                  * change seen by the parent (main configuration only) */
    apr_pool_t *resolved_pool;   /* resolved's own pool once the parent re-resolved it */
    int https_derived;           /* post_config worked out derived_https_port (ac_httpsport.h) */
    int derived_https_port;      /* ... 0: none */
} ac_app_scope_t;

typedef struct {
    int enabled;                     /* AspNetCore On|Off */
    /* how the app is launched */
    const char *process_path;
    const char *arguments;
    const char *app_root;
    apr_array_header_t *env;         /* ac_env_entry_t said in this scope (merged: outer first) */
    int stdout_log_enabled;
    const char *stdout_log_file;
    int stdout_log_max_kib;          /* AspNetCoreStdoutLogLimit SIZE: KiB, 0 no limit */
    int stdout_log_keep;             /* ... FILES: files kept, 0 all */
    int startup_time_limit;          /* seconds */
    int shutdown_time_limit;         /* seconds */
    int rapid_fails_per_minute;
    int processes;
    int start_mode;                  /* ac_start_mode_e */
    int hosting_inprocess;
    int forward_windows_auth;
    apr_array_header_t *handler_settings;   /* ac_env_entry_t */
    const char *web_config;          /* AspNetCoreWebConfig: a file, or "" for <app root>/web.config */
    const char *state_dir;           /* AspNetCoreStateDirectory (absolute); NULL: the default */
    int https_port;                  /* AspNetCoreHttpsPort: 0 (Off) or the port; unset: derived */
    int idle_timeout;                /* AspNetCoreIdleTimeout, seconds; 0: never */
    int memory_limit;                /* AspNetCoreMemoryLimit, MiB (ac_cgroup.h); 0: none */
    int cpu_limit;                   /* AspNetCoreCpuLimit, percent of one CPU; 0: none */
    int max_tasks;                   /* AspNetCoreMaxProcesses (tasks); 0: none */
    const ac_health_conf_t *health;  /* AspNetCoreHealthCheck (path NULL: Off); NULL: unset */
    const struct ac_recycle_t *recycle;   /* AspNetCoreRecycle (ac_recycle.h); NULL: unset */
    const ac_identity_t *run_as;     /* AspNetCoreUser (main configuration only); NULL: unset */
    int user_from_owner;             /* AspNetCoreUserFromOwner On|Off (main configuration) */
    long min_uid;                    /* AspNetCoreMinUid (main configuration); unset: -1 */
    /* how requests are handled */
    apr_interval_time_t request_timeout;
    int disable_startup_error_page;
    int max_queued;                  /* AspNetCoreMaxQueuedRequests */
    int websocket_idle;              /* AspNetCoreWebSocketIdleTimeout, seconds */
    int sticky;                      /* AspNetCoreStickySessions On|Off */
    const char *sticky_cookie;       /* AspNetCoreStickySessionCookie NAME */
    /* the app requests in this scope go to */
    ac_app_scope_t *app;
} ac_dir_conf_t;

typedef enum {
    AC_START_ALWAYS = 0,             /* started with Apache, restarted after a crash */
    AC_START_ONDEMAND = 1            /* started by the first request */
} ac_start_mode_e;

typedef struct {
    unsigned port_low, port_high;    /* AspNetCorePortRange */
    int max_websockets;              /* AspNetCoreMaxWebSockets; 0: half of MaxRequestWorkers */
    int backend_idle;                /* AspNetCoreBackendIdleTimeout, seconds */
    apr_interval_time_t dynamic_app_idle;   /* AspNetCoreDynamicAppIdleTimeout; 0: never */
    const char *state_root;          /* AspNetCoreStateRoot; NULL: AC_DEFAULT_STATE_ROOT */
    int tls_port;                    /* post_config: the one port of this TLS host, else 0 */
    int cgroups;                     /* AspNetCoreCgroups On|Off (AC_UNSET: On) */
} ac_server_conf_t;

extern const command_rec ac_directives[];

void *ac_dir_conf_create(apr_pool_t *p, char *dir);
void *ac_dir_conf_merge(apr_pool_t *p, void *base, void *add);
void *ac_server_conf_create(apr_pool_t *p, server_rec *s);

/* Looks at the configuration tree (ap_conftree) once it is read: are our
 * directives used in <Directory> or <Files> sections? */
void ac_config_scan_sections(const ap_directive_t *tree);

/* Can a request with this configuration (after the <Location> walk) skip the
 * filesystem walk, as mod_proxy's requests do? Yes for an app declared at
 * server, <VirtualHost> or <Location> level, as long as no <Directory> or
 * <Files> section uses our directives (those need the walk to apply). */
int ac_config_maps_without_walk(const ac_dir_conf_t *d);

/* Scopes of the main configuration that declare an app (pconf lifetime). */
apr_array_header_t *ac_config_declared_apps(void);
void ac_config_reset(apr_pool_t *pconf);

#define AC_DEFAULT_STARTUP_TIME_LIMIT 120
#define AC_DEFAULT_SHUTDOWN_TIME_LIMIT 10
#define AC_DEFAULT_RAPID_FAILS 10
#define AC_DEFAULT_REQUEST_TIMEOUT apr_time_from_sec(120)
#define AC_DEFAULT_MAX_QUEUED 100
#define AC_DEFAULT_WEBSOCKET_IDLE 300
#define AC_DEFAULT_DYNAMIC_APP_IDLE apr_time_from_sec(20 * 60)   /* IIS's idleTimeout */
#define AC_DYNAMIC_APP_IDLE_MAX apr_time_from_sec(30 * 86400)
#define AC_DEFAULT_BACKEND_IDLE 60     /* below Kestrel's KeepAliveTimeout (130 s) */
#define AC_MAX_QUEUED_LIMIT 100000
#define AC_DEFAULT_PORT_LOW 10000
#define AC_DEFAULT_PORT_HIGH 48000
#define AC_DEFAULT_STDOUT_LOG_FILE "./aspnetcore-stdout"

/* The reserved name `name` is (ASPNETCORE_TOKEN, _PORT, _APPL_PATH), or NULL. */
const char *ac_config_reserved_env(const char *name);

#endif /* AC_CONFIG_H */
