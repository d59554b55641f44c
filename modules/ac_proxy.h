/* ac_proxy: forwarding one request to an app's backend and its response back.
 *
 * The handler's side of the exchange: finds the app (afresh once if it was
 * replaced) and picks a ready process (least in flight; starting one if need
 * be and waiting for it, bounded; the outcome an enum that says why there is
 * none), holds the connection to it (the child's keep-alive pool; a new one
 * when a pooled one fails before any answer, the request sent once more if
 * its body allows), serves app_offline.htm and WebSocket upgrades. What goes
 * to the app is ac_send's, what comes back ac_receive's.
 */
#ifndef AC_PROXY_H
#define AC_PROXY_H

#include <httpd.h>
#include "ac_config.h"

/* child_init: the keep-alive pool of this child. */
apr_status_t ac_proxy_child_init(apr_pool_t *pchild, server_rec *s);

/* The handler's work for a request in a scope (`d`) that runs an app. */
int ac_proxy_handle(request_rec *r, const ac_dir_conf_t *d);

#endif /* AC_PROXY_H */
