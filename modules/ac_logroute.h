/* ac_logroute: the parent's side of where the lines about an app go.
 *
 * At each generation's post_config the parent gathers the error logs of
 * the main server and of each virtual host with an ErrorLog of its own
 * (each file and level once), with the level each host's LogLevel sets for
 * this module, and which host declared each app of the CONFIG message; it
 * sends them to the supervisor before every CONFIG (ac_logtargets.h). A
 * request-registered app names its host by its position in the server
 * list (ac_logroute_server_position).
 */
#ifndef AC_LOGROUTE_H
#define AC_LOGROUTE_H

#include <httpd.h>
#include <apr_tables.h>

typedef struct ac_logroute_t ac_logroute_t;

/* `unique`: the CONFIG's apps (ac_resolved_t *), in its order; `scopes`:
 * the declared app scopes (ac_app_scope_t *), which name their host. */
ac_logroute_t *ac_logroute_build(apr_pool_t *pconf, server_rec *main_server,
                                 const apr_array_header_t *unique,
                                 const apr_array_header_t *scopes);
/* The LOG_TARGETS frame, with its descriptors, on the control channel
 * (none without a route). */
apr_status_t ac_logroute_send(const ac_logroute_t *route, int control_fd,
                              apr_interval_time_t timeout);
/* The position of `s` in the list that starts at `main_server` (0: the main server). */
uint32_t ac_logroute_server_position(const server_rec *main_server, const server_rec *s);

#endif /* AC_LOGROUTE_H */
