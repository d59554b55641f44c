/* ac_event: the shutdown event's request, as ANCM sends it to an app.
 *
 * To stop an app gracefully the supervisor POSTs to <virtual path>/
 * iisintegration with the app's pairing token and MS-ASPNETCORE-EVENT:
 * shutdown; the app (IISMiddleware) answers 202 and stops. The virtual path
 * comes from the configuration and may hold any byte: it is percent-encoded
 * (everything outside RFC 3986's path characters, '%' included), so that no
 * space, CR or LF can reach the request line, and the request is built whole
 * in a pool, whatever its length. httpd-free.
 */
#ifndef AC_EVENT_H
#define AC_EVENT_H

#include <apr_pools.h>

/* `path` with every byte outside RFC 3986's pchar and '/' as %XX. */
char *ac_event_escape_path(apr_pool_t *p, const char *path);

/* The whole request for the app at `virtual_path` ("/" or "/shop") on
 * `port`, with `token`; its length in *len. NULL when the token is not a
 * pairing token (AC_TOKEN_CHARS hex characters): nothing is sent then. */
const char *ac_event_shutdown_request(apr_pool_t *p, const char *virtual_path, unsigned port,
                                      const char *token, apr_size_t *len);

#endif /* AC_EVENT_H */
