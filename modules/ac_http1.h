/* ac_http1: parsing what a backend sends back over HTTP/1.1.
 *
 * The response head (status line and header fields, parsed in place with
 * strict rules: no obs-fold, no control characters, token names) and the
 * chunked transfer coding (decoded in place, chunk by chunk, as bytes
 * arrive). Also the small header-name tests the forwarder needs (hop-by-hop
 * fields). httpd-free, so the unit tests can feed it hostile input.
 */
#ifndef AC_HTTP1_H
#define AC_HTTP1_H

#include <apr_pools.h>
#include <apr_tables.h>

typedef struct {
    const char *name;
    const char *value;
} ac_header_t;

typedef struct {
    int minor;                 /* HTTP/1.<minor> */
    int status;
    const char *reason;
    apr_array_header_t *headers;   /* ac_header_t, in order, duplicates kept */
} ac_response_head_t;

/* Length of the head at the start of buf (up to and including the empty
 * line), or 0 when more bytes are needed. `scanned` remembers where the
 * last call stopped so that each byte is looked at once. */
apr_size_t ac_http1_head_length(const char *buf, apr_size_t len, apr_size_t *scanned);

/* Parses a complete head (modifies buf). NULL, or a message naming what is
 * wrong. */
const char *ac_http1_parse_response(apr_pool_t *p, char *buf, apr_size_t head_len,
                                    int max_fields, ac_response_head_t *out);

/* Is `name` a hop-by-hop header field that a proxy must not forward? */
int ac_http1_is_hop_by_hop(const char *name);

/* Does a comma-separated field value contain `token` (case-insensitive)? */
int ac_http1_has_token(const char *value, const char *token);

typedef struct {
    int state;
    apr_uint64_t remaining;    /* bytes left in the current chunk */
    apr_size_t line;           /* bytes after the size's digits in the size line */
    apr_size_t trailer_bytes;  /* total trailer size */
    int digits;
    int in_extension;          /* past a ';' in the size line */
} ac_chunked_t;

/* A chunk-size line (size, extensions and line end) longer than this is
 * refused, whatever its extensions. */
#define AC_CHUNKED_MAX_LINE 4096
#define AC_CHUNKED_MAX_TRAILERS 65536

void ac_chunked_init(ac_chunked_t *c);
/* Decodes buf[0..len) in place: the body bytes end up at buf[0..*out_len).
 * *consumed says how much input was used (less than len only once the final
 * chunk and trailers are complete). NULL, or what is malformed. */
const char *ac_chunked_decode(ac_chunked_t *c, char *buf, apr_size_t len,
                              apr_size_t *consumed, apr_size_t *out_len);
int ac_chunked_done(const ac_chunked_t *c);

#endif /* AC_HTTP1_H */
