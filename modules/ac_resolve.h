/* ac_resolve: from a scope's configuration to a runnable app.
 *
 * Applies the defaults (app root = DocumentRoot or the directory, ANCM's
 * limits), imports the app's web.config when asked to (Apache directives
 * win over imported values), works out the virtual path, and derives the
 * launch settings and their key. Used before the server starts for scopes
 * of the main configuration, and in children for .htaccess scopes and when
 * a web.config changed (each file is looked at again at most once a
 * second per child).
 */
#ifndef AC_RESOLVE_H
#define AC_RESOLVE_H

#include <httpd.h>
#include <apr_file_info.h>

#include "ac_config.h"
#include "ac_launch.h"

typedef struct {
    apr_time_t mtime;
    apr_off_t size;
    apr_ino_t inode;
    int exists;
} ac_file_stamp_t;

struct ac_resolved_t {
    ac_launch_t *launch;
    unsigned char key[AC_KEY_BYTES];
    const char *label;
    apr_uint32_t index;                  /* in the shared app table; AC_APP_NO_INDEX if unknown */
    /* request settings as of the scope and its web.config */
    apr_interval_time_t request_timeout;
    apr_interval_time_t startup_wait;
    int disable_startup_error_page;
    int max_queued;                      /* requests that may wait for a process */
    int inprocess;                       /* hostingModel InProcess was asked for (runs out of process) */
    /* the imported web.config, if any, and what it looked like */
    const char *web_config;
    ac_file_stamp_t stamp;
    /* why this app cannot run (a broken web.config): requests get a 500 */
    const char *error;
};

/* Resolves `eff` (the effective config of a scope of `scope`) for the
 * virtual path `vpath` (NULL: derive it, possible for all but
 * .htaccess/<Directory> outside the DocumentRoot). Returns NULL with *out
 * set (maybe with (*out)->error), or an error in the configuration itself. */
const char *ac_resolve(apr_pool_t *p, const ac_dir_conf_t *eff, const ac_app_scope_t *scope,
                       const char *vpath, ac_resolved_t **out);

/* The app for a request: the one resolved at startup while its web.config
 * did not change, else resolved now. `fresh`: look at the web.config now,
 * not at most once a second. NULL with a message in *why (logged by the
 * caller) when the scope's configuration is unusable. */
ac_resolved_t *ac_resolve_request(request_rec *r, const ac_dir_conf_t *d, int fresh,
                                  const char **why);

/* The effective configuration of a scope of the main configuration: its
 * host's defaults merged with its section's own directives. */
const ac_dir_conf_t *ac_resolve_scope_conf(apr_pool_t *p, const ac_app_scope_t *scope);

/* The URL path of a <Directory> or .htaccess scope inside its host's
 * DocumentRoot, or NULL (outside it: then only a request can tell). */
const char *ac_resolve_directory_vpath(apr_pool_t *p, const ac_app_scope_t *scope);

/* The URL path that maps to `dir` in this request, or NULL. */
const char *ac_resolve_virtual_path(request_rec *r, const char *dir);

/* What a file looks like now (mtime, size, inode; exists or not), and whether
 * two such looks are the same. */
void ac_resolve_stamp(apr_pool_t *p, const char *path, ac_file_stamp_t *st);
int ac_resolve_same_stamp(const ac_file_stamp_t *a, const ac_file_stamp_t *b);

/* child_init: the per-child cache of web.config files. */
apr_status_t ac_resolve_child_init(apr_pool_t *pchild);

#endif /* AC_RESOLVE_H */
