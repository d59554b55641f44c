/* ac_status: the status page (`SetHandler aspnetcore-status`) and the
 * summary in mod_status's server-status page.
 *
 * Owns reading the whole shared table into a snapshot (every app, its
 * processes, the table-wide counts) and rendering it as HTML for people or,
 * with `?json`, as JSON for tools. It only reads what the supervisor and the
 * children publish (ac_shared.h) and never reads a process's token.
 */
#ifndef AC_STATUS_H
#define AC_STATUS_H

#include <httpd.h>

#define AC_STATUS_HANDLER "aspnetcore-status"

/* handler hook: the status page where the handler is aspnetcore-status. */
int ac_status_handler(request_rec *r);

/* mod_status's status_hook: a short summary in server-status (HTML), or
 * `Key: value` lines with AP_STATUS_SHORT (`?auto`). */
int ac_status_mod_status(request_rec *r, int flags);

#endif /* AC_STATUS_H */
