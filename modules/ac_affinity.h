/* ac_affinity: the sticky-session cookie (AspNetCoreStickySessions).
 *
 * The cookie names the process that served a client: its slot in the app's
 * table and the slot's incarnation (a number the supervisor gives every
 * process it starts, never reused while the shared segment lives), as
 * "<slot>.<incarnation>" in decimal. It carries no pid, port or token. A
 * request that carries it goes to that process while it is ready; a value
 * that names no such process, or is malformed, is ignored. This file parses
 * and formats the cookie, takes it out of a Cookie header (the other
 * cookies' bytes kept as they are) and builds the Set-Cookie value. The
 * choice of a process is ac_proxy's. httpd-free.
 */
#ifndef AC_AFFINITY_H
#define AC_AFFINITY_H

#include <stdint.h>
#include <apr_pools.h>

#define AC_AFFINITY_DEFAULT_COOKIE "AspNetCoreAffinity"
#define AC_AFFINITY_NAME_MAX 64         /* longest cookie name accepted in the configuration */

/* What a cookie names. */
typedef struct {
    uint32_t slot;
    uint64_t incarnation;
} ac_affinity_t;

/* Is `name` usable as the cookie's name (an RFC 6265 token, 1 to
 * AC_AFFINITY_NAME_MAX characters)? */
int ac_affinity_name_valid(const char *name);

/* Parses a cookie value of `len` bytes strictly: slot below `max_slots`,
 * incarnation from 1 to 2^64-1, digits without leading zeros and nothing
 * else. 1 with *out set, or 0 (garbage, to be ignored). */
int ac_affinity_parse(const char *value, size_t len, uint32_t max_slots, ac_affinity_t *out);

/* Takes every cookie called `name` out of the Cookie header value `header`.
 * Returns `header` itself when there is none, else the other cookies with
 * their bytes and separators as they were (a leading space left by the first
 * one's removal trimmed), "" when none remains. *found: whether one was
 * there; *named: the first of them whose value parses (below max_slots),
 * *has_named set to 1 then (left alone otherwise). */
const char *ac_affinity_strip(apr_pool_t *p, const char *header, const char *name,
                              uint32_t max_slots, int *found, ac_affinity_t *named,
                              int *has_named);

/* The Set-Cookie value naming `which`: `name=<slot>.<incarnation>;
 * Path=<path>; HttpOnly; SameSite=Lax`, and `; Secure` when `secure`. A
 * byte of `path` that is not safe in a cookie attribute or a URL path is
 * percent-encoded (as the browser sees the path); an empty or relative
 * path becomes "/". */
const char *ac_affinity_set_cookie(apr_pool_t *p, const char *name, const ac_affinity_t *which,
                                   const char *path, int secure);

#endif /* AC_AFFINITY_H */
