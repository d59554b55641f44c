/* ac_webconfig: import of the <aspNetCore> section of a published web.config.
 *
 * Owns reading a web.config (size-limited), parsing it with libxml2 in a
 * hardened way (from memory, no network, no DTD, so no entity can be
 * declared, expanded or fetched, and no other file is ever opened), finding
 * the one <aspNetCore> element that applies to the app (under
 * configuration/system.webServer or a path-less configuration/location/
 * system.webServer), and turning its attributes and collections into typed
 * values with the parsers of ac_parse. It does not apply defaults: what the
 * file does not say is reported as absent (-1 or NULL) so that the caller
 * can merge it with Apache directives. httpd-free.
 *
 * Element and attribute names are matched as IIS does: case-sensitively,
 * against the ASP.NET Core Module V2 schema. Every error message starts with
 * "<path>:<line>: " ("<path>: " for what concerns the whole file).
 *
 * libxml2 wants xmlInitParser() called once before threads use it: the
 * caller does that (httpd parent); nothing here calls xmlCleanupParser(),
 * which would pull libxml2's state from under other modules using it.
 */
#ifndef AC_WEBCONFIG_H
#define AC_WEBCONFIG_H

#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

#include "ac_launch.h"   /* ac_env_entry_t */
#include "ac_parse.h"    /* ac_env_lookup_fn */

#define AC_WEBCONFIG_MAX_BYTES (1024 * 1024)   /* larger files are refused unread */

typedef struct {
    const char *path;                 /* the file, for messages */
    int line;                         /* line of <aspNetCore> */
    const char *process_path;         /* never NULL or empty (required); %VAR% expanded, '\' -> '/' */
    const char *arguments;            /* NULL when absent; %VAR% expanded, '\' -> '/' */
    int stdout_log_enabled;           /* -1 absent, else 0/1 */
    const char *stdout_log_file;      /* NULL when absent; %VAR% expanded, '\' -> '/' */
    apr_interval_time_t request_timeout;   /* -1 absent */
    int startup_time_limit;           /* -1 absent; 0-3600 */
    int shutdown_time_limit;          /* -1 absent; 0-600 */
    int rapid_fails_per_minute;       /* -1 absent; 0-100 */
    int processes_per_application;    /* -1 absent; 1-100 */
    int disable_startup_error_page;   /* -1 absent */
    int forward_windows_auth_token;   /* -1 absent (accepted, meaningless on Linux) */
    int hosting_inprocess;            /* -1 absent, 0 OutOfProcess, 1 InProcess */
    /* ac_env_entry_t, the final list: names compared ignoring ASCII case, a
     * later duplicate replaces the entry (name and value) in the place of
     * the first, <remove name=> deletes,
     * <clear/> empties what came before. Values %VAR% expanded. Never NULL. */
    apr_array_header_t *env;
    int env_cleared;                  /* a <clear/> was present */
    /* ac_env_entry_t name/value, same collection rules, values as written.
     * Never NULL. */
    apr_array_header_t *handler_settings;
} ac_webconfig_t;

/* Parses a web.config held in memory (`len` bytes at `buf`, no NUL needed).
 * `path_for_messages` names it in errors. %VAR% references are resolved
 * with `lookup(lookup_ctx, name)` (NULL: left as written). Returns NULL on
 * success with *out allocated from `p`, else an error message
 * "<path>:<line>: ...". Prints nothing, reads no file, uses no network. */
const char *ac_webconfig_parse(apr_pool_t *p, const char *path_for_messages,
                               const char *buf, apr_size_t len,
                               ac_env_lookup_fn lookup, void *lookup_ctx,
                               ac_webconfig_t **out);

/* Reads the regular file `path` (refusing one over AC_WEBCONFIG_MAX_BYTES
 * before reading it) and parses it with ac_webconfig_parse. */
const char *ac_webconfig_load(apr_pool_t *p, const char *path,
                              ac_env_lookup_fn lookup, void *lookup_ctx,
                              ac_webconfig_t **out);

#endif /* AC_WEBCONFIG_H */
