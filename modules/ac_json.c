/* ac_json: JSON string literals. */
#include "ac_json.h"

#include <stdint.h>
#include <string.h>

/* The worst case per input byte: a six-character escape (\u00XX, \uFFFD). */
#define ESCAPE_MAX 6

/* The length of the well-formed UTF-8 sequence at s (n bytes left), or 0
 * when s does not start one (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). */
static apr_size_t utf8_sequence(const unsigned char *s, apr_size_t n)
{
    unsigned char lo = 0x80, hi = 0xBF;
    apr_size_t len, i;

    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        len = 2;
    }
    else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        len = 3;
        if (s[0] == 0xE0) {
            lo = 0xA0;          /* below: overlong */
        }
        else if (s[0] == 0xED) {
            hi = 0x9F;          /* above: UTF-16 surrogates */
        }
    }
    else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        len = 4;
        if (s[0] == 0xF0) {
            lo = 0x90;          /* below: overlong */
        }
        else if (s[0] == 0xF4) {
            hi = 0x8F;          /* above: beyond U+10FFFF */
        }
    }
    else {
        return 0;               /* ASCII is handled by the caller; the rest is invalid */
    }
    if (n < len || s[1] < lo || s[1] > hi) {
        return 0;
    }
    for (i = 2; i < len; i++) {
        if (s[i] < 0x80 || s[i] > 0xBF) {
            return 0;
        }
    }
    return len;
}

static char *put_escape(char *out, unsigned code)
{
    static const char hex[] = "0123456789abcdef";
    *out++ = '\\';
    *out++ = 'u';
    *out++ = hex[(code >> 12) & 0xF];
    *out++ = hex[(code >> 8) & 0xF];
    *out++ = hex[(code >> 4) & 0xF];
    *out++ = hex[code & 0xF];
    return out;
}

const char *ac_json_string(apr_pool_t *p, const char *s)
{
    const unsigned char *in = (const unsigned char *)s;
    apr_size_t n, i = 0;
    char *buf, *out;

    if (!s) {
        return "null";
    }
    n = strlen(s);
    if (n > (SIZE_MAX - 3) / ESCAPE_MAX) {
        return "null";          /* cannot be allocated anyway */
    }
    buf = out = apr_palloc(p, n * ESCAPE_MAX + 3);
    *out++ = '"';
    while (i < n) {
        unsigned char c = in[i];
        apr_size_t len;

        if (c >= 0x80) {
            len = utf8_sequence(in + i, n - i);
            if (!len) {
                out = put_escape(out, 0xFFFD);
                i++;
            }
            else if (len == 3 && c == 0xE2 && in[i + 1] == 0x80
                     && (in[i + 2] == 0xA8 || in[i + 2] == 0xA9)) {
                out = put_escape(out, in[i + 2] == 0xA8 ? 0x2028 : 0x2029);
                i += len;
            }
            else {
                memcpy(out, in + i, len);
                out += len;
                i += len;
            }
            continue;
        }
        switch (c) {
        case '"':  *out++ = '\\'; *out++ = '"'; break;
        case '\\': *out++ = '\\'; *out++ = '\\'; break;
        case '\b': *out++ = '\\'; *out++ = 'b'; break;
        case '\f': *out++ = '\\'; *out++ = 'f'; break;
        case '\n': *out++ = '\\'; *out++ = 'n'; break;
        case '\r': *out++ = '\\'; *out++ = 'r'; break;
        case '\t': *out++ = '\\'; *out++ = 't'; break;
        case '<': case '>': case '&': case 0x7F:
            out = put_escape(out, c);
            break;
        default:
            if (c < 0x20) {
                out = put_escape(out, c);
            }
            else {
                *out++ = (char)c;
            }
        }
        i++;
    }
    *out++ = '"';
    *out = '\0';
    return buf;
}
