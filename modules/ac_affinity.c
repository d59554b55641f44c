/* ac_affinity: the sticky-session cookie's value, its removal from the
 * Cookie header, and the Set-Cookie value. httpd-free. */
#include "ac_affinity.h"

#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>

#define INCARNATION_DIGITS_MAX 20       /* 2^64-1 has 20 digits */

int ac_affinity_name_valid(const char *name)
{
    size_t i, n = name ? strlen(name) : 0;

    if (n == 0 || n > AC_AFFINITY_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c)) {
            return 0;
        }
    }
    return 1;
}

/* Decimal digits from `s` (n bytes, no leading zero unless "0") into *v;
 * 0 on anything else or overflow. */
static int parse_decimal(const char *s, size_t n, size_t max_digits, uint64_t *v)
{
    size_t i;

    *v = 0;
    if (n == 0 || n > max_digits || (n > 1 && s[0] == '0')) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        unsigned d;
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        d = (unsigned)(s[i] - '0');
        if (*v > (UINT64_MAX - d) / 10) {
            return 0;
        }
        *v = *v * 10 + d;
    }
    return 1;
}

int ac_affinity_parse(const char *value, size_t len, uint32_t max_slots, ac_affinity_t *out)
{
    const char *dot = value ? memchr(value, '.', len) : NULL;
    uint64_t slot, incarnation;

    if (!dot
        || !parse_decimal(value, (size_t)(dot - value), 10, &slot) || slot >= max_slots
        || !parse_decimal(dot + 1, len - (size_t)(dot - value) - 1, INCARNATION_DIGITS_MAX,
                          &incarnation)
        || incarnation == 0) {
        return 0;
    }
    out->slot = (uint32_t)slot;
    out->incarnation = incarnation;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Is the cookie-pair at [s, end) called `name`? Its value at *value. */
static int pair_named(const char *s, const char *end, const char *name, size_t name_len,
                      const char **value, size_t *value_len)
{
    const char *eq, *name_end;

    while (s < end && is_ows(*s)) {
        s++;
    }
    eq = memchr(s, '=', (size_t)(end - s));
    if (!eq) {
        return 0;
    }
    name_end = eq;
    while (name_end > s && is_ows(name_end[-1])) {
        name_end--;
    }
    if ((size_t)(name_end - s) != name_len || memcmp(s, name, name_len)) {
        return 0;
    }
    *value = eq + 1;
    while (*value < end && is_ows(**value)) {
        (*value)++;
    }
    *value_len = (size_t)(end - *value);
    while (*value_len && is_ows((*value)[*value_len - 1])) {
        (*value_len)--;
    }
    return 1;
}

const char *ac_affinity_strip(apr_pool_t *p, const char *header, const char *name,
                              uint32_t max_slots, int *found, ac_affinity_t *named,
                              int *has_named)
{
    size_t name_len = strlen(name), hlen = strlen(header);
    char *out = NULL, *o = NULL;
    const char *s = header, *end = header + hlen;
    int kept = 0;

    *found = 0;
    while (s <= end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *seg_end = semi ? semi : end;
        const char *value;
        size_t value_len;

        if (pair_named(s, seg_end, name, name_len, &value, &value_len)) {
            ac_affinity_t a;
            if (!*found) {
                /* the kept segments go into a copy: never longer than the header */
                *found = 1;
                out = o = apr_palloc(p, hlen + 1);
                if (s > header) {
                    memcpy(o, header, (size_t)(s - 1 - header));   /* up to the ';' before */
                    o += s - 1 - header;
                    kept = 1;
                }
            }
            if (!*has_named && ac_affinity_parse(value, value_len, max_slots, &a)) {
                *named = a;
                *has_named = 1;
            }
        }
        else if (*found) {
            if (kept) {
                *o++ = ';';
            }
            memcpy(o, s, (size_t)(seg_end - s));
            o += seg_end - s;
            kept = 1;
        }
        if (!semi) {
            break;
        }
        s = semi + 1;
    }
    if (!*found) {
        return header;
    }
    *o = '\0';
    while (is_ows(*out)) {
        out++;
    }
    return out;
}

/* Bytes of a path that go into the cookie's Path as they are. */
static int path_safe(unsigned char c)
{
    return apr_isalnum(c) || (c && strchr("/-._~!$&'()*+=:@", c));
}

const char *ac_affinity_set_cookie(apr_pool_t *p, const char *name, const ac_affinity_t *which,
                                   const char *path, int secure)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, n = path ? strlen(path) : 0;
    char *enc, *e;

    if (n == 0 || path[0] != '/') {
        path = "/";
        n = 1;
    }
    enc = e = apr_palloc(p, 3 * n + 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (path_safe(c)) {
            *e++ = (char)c;
        }
        else {
            *e++ = '%';
            *e++ = hex[c >> 4];
            *e++ = hex[c & 15];
        }
    }
    *e = '\0';
    return apr_psprintf(p, "%s=%u.%" APR_UINT64_T_FMT "; Path=%s; HttpOnly; SameSite=Lax%s",
                        name, (unsigned)which->slot, (apr_uint64_t)which->incarnation, enc,
                        secure ? "; Secure" : "");
}
