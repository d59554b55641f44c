/* ac_launch: what it takes to launch one app's backend processes.
 *
 * Owns the launch settings of an app (program, arguments, app root, virtual
 * path, environment, process count, time limits), their stable serialized
 * form (sent from the httpd parent to the supervisor) and the key derived
 * from it (two scopes with the same settings are one app; a changed setting
 * is a new app). Also builds argv and envp for a backend. httpd-free.
 */
#ifndef AC_LAUNCH_H
#define AC_LAUNCH_H

#include <apr_pools.h>
#include <apr_tables.h>

#include "ac_health.h"         /* ac_health_conf_t */
#include "ac_identity.h"
#include "ac_recycle.h"
#include "ac_runtime.h"        /* AC_TOKEN_CHARS */

#define AC_KEY_BYTES 20          /* SHA-1 of the serialized launch settings */

/* The ranges a configuration can give (directives and web.config alike);
 * ac_launch_deserialize refuses anything else. */
#define AC_STARTUP_TIME_LIMIT_MAX 3600     /* seconds */
#define AC_SHUTDOWN_TIME_LIMIT_MAX 600     /* seconds */
#define AC_RAPID_FAILS_MAX 100
#define AC_HTTPS_PORT_MAX 65535            /* ASPNETCORE_ANCM_HTTPS_PORT; 0: not set */
#define AC_IDLE_TIMEOUT_MAX (30 * 86400)    /* AspNetCoreIdleTimeout, seconds (ac_idle.h) */
/* processes: 1 to AC_MAX_PROCESSES (ac_shared.h: the slots of an app) */

typedef struct {
    const char *name;
    const char *value;
} ac_env_entry_t;

typedef struct ac_launch_t {
    const char *process_path;    /* as configured: absolute, relative to app_root, or a PATH name */
    const char *arguments;       /* one string, split shell-like at launch */
    const char *app_root;        /* absolute directory: cwd of the backend */
    const char *virtual_path;    /* "/" or "/shop": ASPNETCORE_APPL_PATH */
    const char *site;            /* the declaring scope: new settings there replace the app */
    apr_array_header_t *env;     /* ac_env_entry_t in configuration order; a later name wins */
    int processes;               /* processesPerApplication */
    int startup_time_limit;      /* seconds */
    int shutdown_time_limit;     /* seconds */
    int rapid_fails_per_minute;
    int websockets;              /* ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED */
    int stdout_log_enabled;
    const char *stdout_log_file; /* relative to app_root unless absolute */
    int stdout_log_max_kib;      /* a file goes on in a new one past this; 0: no limit */
    int stdout_log_keep;         /* files of the app kept; 0: all (ac_stdoutlog.h) */
    apr_array_header_t *handler_settings;   /* ac_env_entry_t */
    int ondemand;                /* start on the first request, not with Apache */
    const char *web_config;      /* the web.config these settings were imported from, or NULL */
    const char *state_dir;       /* absolute: the app's state directory and HOME (ac_appstate.h);
                                  * NULL: none */
    int https_port;              /* ASPNETCORE_ANCM_HTTPS_PORT (ac_httpsport.h); 0: not set */
    int idle_timeout;            /* AspNetCoreIdleTimeout, seconds: no request for this long
                                  * stops the processes (ac_sup_idle.c); 0: never */
    /* cgroup limits (ac_cgroup.h); 0: none */
    int memory_limit_mib;        /* AspNetCoreMemoryLimit */
    int cpu_limit_percent;       /* AspNetCoreCpuLimit */
    int max_tasks;               /* AspNetCoreMaxProcesses */
    ac_health_conf_t health;     /* AspNetCoreHealthCheck (ac_health.h); path NULL: none */
    ac_recycle_t recycle;        /* AspNetCoreRecycle (ac_recycle.h); all 0: none */
    int user_source;             /* ac_user_source_e (ac_identity.h) */
    ac_identity_t user;          /* AC_USER_CONFIG, AC_USER_OWNER: who the processes run as */
} ac_launch_t;

/* Appends the serialized form of `l` to `out` (an array of char). */
void ac_launch_serialize(const ac_launch_t *l, apr_array_header_t *out);

/* Parses what ac_launch_serialize wrote. Returns NULL on success, else a
 * message saying what is wrong; strings are copied into `p`. Values outside
 * what a configuration can hold (the ranges above, flags 0 or 1) are
 * refused: the bytes may come from any httpd child (REGISTER). */
const char *ac_launch_deserialize(apr_pool_t *p, const char *buf, apr_size_t len,
                                  ac_launch_t **out);

/* The identity of an app: SHA-1 over the serialized settings. */
void ac_launch_key(const ac_launch_t *l, apr_pool_t *scratch,
                   unsigned char key[AC_KEY_BYTES]);

/* The value of `name` in `pairs` (environment variables, handler
 * settings): the last entry wins, names compare ignoring case (as IIS and
 * ac_launch_build_env do). NULL if absent. */
const char *ac_pairs_get(const apr_array_header_t *pairs, const char *name);

/* The value of the variable `name` that the app's processes get: the
 * configured one, else the inherited one in `base` (environ). NULL if none. */
const char *ac_launch_env_value(const ac_launch_t *l, char *const *base, const char *name);

/* A short human label for logs: "<app_root> at <virtual_path>". */
const char *ac_launch_label(apr_pool_t *p, const ac_launch_t *l);

/* The PATH the app's program is looked up in: the last configured variable
 * named exactly PATH (the environment the process gets has that one), else
 * `fallback`. */
const char *ac_launch_path_env(const ac_launch_t *l, const char *fallback);

/* Resolves the program to execute: a path with a '/' is taken relative to
 * the app root; a bare name is looked up first in the app root, then in the
 * directories of `path_env` (like ANCM's search for "dotnet"). Returns NULL
 * on success with *resolved set, else a message naming what was tried. */
const char *ac_launch_resolve_program(apr_pool_t *p, const ac_launch_t *l,
                                      const char *path_env, const char **resolved);

/* argv for execve: the resolved program, then `arguments` split with
 * shell-like quoting. Returns NULL on success, else an error message. */
const char *ac_launch_build_argv(apr_pool_t *p, const ac_launch_t *l,
                                 const char *program, char ***argv);

/* envp for execve: `base` (NULL-terminated, usually environ) minus every
 * name set below, then the ANCM contract (port, token, path, auth, the
 * https port when there is one, ...),
 * then the configured variables (they win over everything). A sanitizer
 * runtime preloaded into Apache (LD_PRELOAD of libasan/libubsan/liblsan,
 * ASAN_/UBSAN_/LSAN_OPTIONS) is not passed on. */
char **ac_launch_build_env(apr_pool_t *p, const ac_launch_t *l, char *const *base,
                           unsigned port, const char *token);

#endif /* AC_LAUNCH_H */
