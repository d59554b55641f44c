/* ac_registry: the httpd parent's side of app supervision.
 *
 * Owns what must outlive a config generation (the shared state segment,
 * the request socketpair, the supervisor process and its control channel,
 * all kept in the process pool), turns the declared apps of a generation
 * into launch settings, hands them to the supervisor and records the table
 * index it assigns to each. Forks the supervisor, and forks it again if it
 * dies. In httpd children it provides the shared state and the request
 * channel.
 */
#ifndef AC_REGISTRY_H
#define AC_REGISTRY_H

#include <httpd.h>
#include "ac_shared.h"
#include "ac_config.h"

/* check_config: resolves every declared app (launch settings, key).
 * Returns OK, or !OK after logging which app is misconfigured. */
int ac_registry_resolve(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* post_config: makes sure the supervisor runs and knows this generation's
 * apps (skipped in the first, dry-run pass). */
int ac_registry_post_config(apr_pool_t *pconf, apr_pool_t *ptemp, server_rec *s);

/* child_init: drops the parent-only descriptors. */
void ac_registry_child_init(apr_pool_t *pchild, server_rec *s);

/* The table index of a resolved app; an app known only now (.htaccess, a
 * changed web.config) is registered with the supervisor first. OK, or the
 * HTTP status to answer with. */
int ac_registry_index(request_rec *r, ac_resolved_t *res, apr_uint32_t *index);

/* For the request path in children. */
ac_shared_t *ac_registry_shared(void);
int ac_registry_request_fd(void);

/* monitor (parent, whenever the MPM runs that hook: about every 10 s):
 * web.config files of the main configuration that changed are resolved
 * again and registered. */
int ac_registry_monitor(apr_pool_t *p, server_rec *s);

/* The supervisor's pid, 0 when none runs (parent). */
pid_t ac_registry_supervisor_pid(void);

/* Apache exits: closes the control channel (the supervisor stops every
 * app and exits) and waits at most `limit` for the supervisor to be gone.
 * 1 if it is, 0 if it still runs. */
int ac_registry_wait_supervisor(apr_interval_time_t limit);

#endif /* AC_REGISTRY_H */
