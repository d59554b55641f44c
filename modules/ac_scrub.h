/* ac_scrub: a backend's pairing token taken out of what it writes.
 *
 * ASP.NET Core's IIS integration logs the token it expects when a request
 * comes without it ("'MS-ASPNETCORE-TOKEN' does not match the expected
 * pairing token '<token>', request rejected."); whoever reads Apache's error
 * log, an app's stdout log or a 502.5 page could then talk to the app as the
 * module does. Every byte of a process's output passes through its scrubber
 * before it is cut into lines, relayed, kept or written: each occurrence of
 * the process's token becomes AC_SCRUB_MASK. Bytes arrive in pieces of any
 * size, so the end of a piece that could be the start of the token is held
 * back (at most AC_TOKEN_CHARS - 1 bytes) until the next piece says; what
 * follows (the line splitter's bound, say) never sees a token, whole or cut.
 * A process only knows its own token: another process's is left alone.
 * httpd-free.
 */
#ifndef AC_SCRUB_H
#define AC_SCRUB_H

#include <apr.h>

#include "ac_runtime.h"

#define AC_SCRUB_MASK "[token]"

typedef struct {
    char token[AC_TOKEN_CHARS + 1];      /* empty: nothing to take out */
    apr_size_t token_len;
    char held[AC_TOKEN_CHARS];           /* the end of the input so far: a token may start there */
    apr_size_t held_len;
} ac_scrub_t;

/* Called with the bytes that may go on (none of them part of the token). */
typedef void (*ac_scrub_fn)(void *ctx, const char *buf, apr_size_t n);

/* `token` (AC_TOKEN_CHARS characters; NULL or "" scrubs nothing). */
void ac_scrub_init(ac_scrub_t *sc, const char *token);

/* Adds `n` bytes; passes on all that cannot be the start of the token. */
void ac_scrub_feed(ac_scrub_t *sc, const char *buf, apr_size_t n, ac_scrub_fn out, void *ctx);

/* The input ended: what is held goes on (it was not the token). */
void ac_scrub_finish(ac_scrub_t *sc, ac_scrub_fn out, void *ctx);

#endif /* AC_SCRUB_H */
