/* ac_upgrade: the request side of a WebSocket upgrade.
 *
 * Owns the AspNetCoreMaxWebSockets budget (one count in shared memory for
 * all children: a tunnel holds a worker for as long as it lives) and the
 * answer to the client once the app said 101 (its headers, the affinity
 * cookie, 101 Switching Protocols), after which the connection is a tunnel
 * that ac_tunnel relays until either side is done.
 */
#ifndef AC_UPGRADE_H
#define AC_UPGRADE_H

#include <httpd.h>

#include "ac_config.h"
#include "ac_receive.h"

/* A place among the tunnels of all children, given back when the tunnel
 * ends (or when r->pool dies, whichever comes first). Returns 0 when AspNetCoreMaxWebSockets are open already. */
int ac_upgrade_take_place(request_rec *r);

/* The app answered `resp` (101) on `b`: tell the client (with `set_cookie`
 * when not NULL), relay both ways until done, then discard `b`. Returns
 * DONE. */
int ac_upgrade_run(request_rec *r, const ac_dir_conf_t *d, ac_backend_t *b, ac_response_t *resp,
                   const char *set_cookie);

#endif /* AC_UPGRADE_H */
