/* ac_json: JSON string literals for the status page (APR-util 1.6 has no
 * JSON writer). httpd-free.
 */
#ifndef AC_JSON_H
#define AC_JSON_H

#include <apr_pools.h>

/* `s` as a JSON string literal, quotes included, allocated from `p`; the
 * literal `null` for NULL. Quotes, backslashes and control characters are
 * escaped; so are <, > and & (the text stays inert if a browser sniffs it
 * as HTML) and U+2028/U+2029 (not valid in JavaScript strings). A byte that
 * is not part of a well-formed UTF-8 sequence becomes U+FFFD, so the result
 * is always valid UTF-8 and valid JSON whatever the bytes of `s`. */
const char *ac_json_string(apr_pool_t *p, const char *s);

#endif /* AC_JSON_H */
