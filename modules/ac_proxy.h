/* ac_proxy: forwarding one request to an app's backend and its response back.
 *
 * Picks a ready process (least in flight; starting one if need be and
 * waiting for it, bounded), takes a pooled keep-alive connection to it,
 * writes the request head (raw URI, Host kept, hop-by-hop and client
 * MS-ASPNETCORE-* fields dropped, token and X-Forwarded-* added) with one
 * writev, streams the body from Apache's input filters, parses the response
 * head strictly, and streams the body to the client through brigades,
 * flushing whenever the backend pauses.
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
