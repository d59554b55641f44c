/* ac_sticky: sticky sessions (AspNetCoreStickySessions) on a request.
 *
 * Before a process is chosen, the sticky-session cookie is taken out of the
 * request's Cookie header (the app never sees it; the other cookies go on
 * byte for byte) and what it names is handed to the choice (ac_proxy). Once
 * the app's answer is in, the client gets a new cookie when the process that
 * served it is not the one its cookie named (none, garbage, gone, replaced).
 * The cookie's format is ac_affinity's.
 */
#ifndef AC_STICKY_H
#define AC_STICKY_H

#include <httpd.h>
#include "ac_affinity.h"
#include "ac_config.h"

/* With sticky sessions on in `d`: removes every cookie of the configured
 * name from the request and returns 1 with *want set when one of them
 * names a process (well formed; whether it is still there is the choice's
 * business). 0 otherwise (sticky sessions off: the request is left alone). */
int ac_sticky_take(request_rec *r, const ac_dir_conf_t *d, ac_affinity_t *want);

/* The Set-Cookie value for the answer when sticky sessions are on in `d`
 * and `served` is not what the request's cookie named (`want`, NULL:
 * none); NULL when none is needed. `vpath`: the app's virtual path (the
 * cookie's Path). Secure when the request came over https. */
const char *ac_sticky_cookie(request_rec *r, const ac_dir_conf_t *d, const char *vpath,
                             const ac_affinity_t *want, const ac_affinity_t *served);

#endif /* AC_STICKY_H */
