/* ac_event: the shutdown event's request. */
#include "ac_event.h"
#include "ac_runtime.h"

#include <string.h>
#include <apr_strings.h>

/* RFC 3986: pchar = unreserved / pct-encoded / sub-delims / ":" / "@",
 * and "/" between segments. */
static int path_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
           || (c && strchr("-._~!$&'()*+,;=:@/", c));
}

char *ac_event_escape_path(apr_pool_t *p, const char *path)
{
    static const char hex[] = "0123456789ABCDEF";
    apr_size_t n = 0;
    const unsigned char *s;
    char *out, *o;

    for (s = (const unsigned char *)path; *s; s++) {
        n += path_char(*s) ? 1 : 3;
    }
    out = o = apr_palloc(p, n + 1);
    for (s = (const unsigned char *)path; *s; s++) {
        if (path_char(*s)) {
            *o++ = (char)*s;
        }
        else {
            *o++ = '%';
            *o++ = hex[*s >> 4];
            *o++ = hex[*s & 15];
        }
    }
    *o = '\0';
    return out;
}

const char *ac_event_shutdown_request(apr_pool_t *p, const char *virtual_path, unsigned port,
                                      const char *token, apr_size_t *len)
{
    char *base = apr_pstrdup(p, virtual_path ? virtual_path : "");
    apr_size_t n = strlen(base);
    const char *req;

    if (!token || !ac_token_valid(token)) {
        return NULL;
    }
    /* like UsePathBase: "/" is no base, a trailing '/' is not part of it */
    while (n && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    req = apr_pstrcat(p, "POST ", n && base[0] != '/' ? "/" : "", ac_event_escape_path(p, base),
                      "/iisintegration HTTP/1.1\r\n"
                      "Host: 127.0.0.1:", apr_psprintf(p, "%u", port), "\r\n"
                      "MS-ASPNETCORE-TOKEN: ", token, "\r\n"
                      "MS-ASPNETCORE-EVENT: shutdown\r\n"
                      "Content-Length: 0\r\nConnection: close\r\n\r\n", NULL);
    *len = strlen(req);
    return req;
}
