/* ac_scrub: the pairing token taken out of a backend's output. */
#include "ac_scrub.h"

#include <string.h>

#define CHUNK 4096

void ac_scrub_init(ac_scrub_t *sc, const char *token)
{
    memset(sc, 0, sizeof(*sc));
    if (token) {
        apr_size_t n = strlen(token);
        sc->token_len = n < AC_TOKEN_CHARS ? n : AC_TOKEN_CHARS;
        memcpy(sc->token, token, sc->token_len);
    }
}

/* The first occurrence of the token in buf[0..n), or NULL. */
static const char *find_token(const ac_scrub_t *sc, const char *buf, apr_size_t n)
{
    const char *p = buf, *end = buf + n;
    while ((apr_size_t)(end - p) >= sc->token_len
           && (p = memchr(p, sc->token[0], (apr_size_t)(end - p) - sc->token_len + 1)) != NULL) {
        if (!memcmp(p, sc->token, sc->token_len)) {
            return p;
        }
        p++;
    }
    return NULL;
}

/* The longest end of buf[0..n) (shorter than the token) that is a start of it. */
static apr_size_t partial_at_end(const ac_scrub_t *sc, const char *buf, apr_size_t n)
{
    apr_size_t k = n < sc->token_len - 1 ? n : sc->token_len - 1;
    for (; k > 0; k--) {
        if (!memcmp(buf + n - k, sc->token, k)) {
            return k;
        }
    }
    return 0;
}

/* Scrubs what is held followed by `n` (at most CHUNK) new bytes. */
static void scrub_chunk(ac_scrub_t *sc, const char *buf, apr_size_t n, ac_scrub_fn out, void *ctx)
{
    char work[AC_TOKEN_CHARS + CHUNK];
    apr_size_t len = sc->held_len + n, from = 0, keep;
    const char *hit;

    memcpy(work, sc->held, sc->held_len);
    memcpy(work + sc->held_len, buf, n);
    sc->held_len = 0;
    while ((hit = find_token(sc, work + from, len - from)) != NULL) {
        apr_size_t at = (apr_size_t)(hit - work);
        if (at > from) {
            out(ctx, work + from, at - from);
        }
        out(ctx, AC_SCRUB_MASK, sizeof(AC_SCRUB_MASK) - 1);
        from = at + sc->token_len;
    }
    keep = partial_at_end(sc, work + from, len - from);
    if (len - from > keep) {
        out(ctx, work + from, len - from - keep);
    }
    memcpy(sc->held, work + len - keep, keep);
    sc->held_len = keep;
}

void ac_scrub_feed(ac_scrub_t *sc, const char *buf, apr_size_t n, ac_scrub_fn out, void *ctx)
{
    if (!sc->token_len) {
        if (n) {
            out(ctx, buf, n);
        }
        return;
    }
    while (n) {
        apr_size_t take = n < CHUNK ? n : CHUNK;
        scrub_chunk(sc, buf, take, out, ctx);
        buf += take;
        n -= take;
    }
}

void ac_scrub_finish(ac_scrub_t *sc, ac_scrub_fn out, void *ctx)
{
    if (sc->held_len) {
        out(ctx, sc->held, sc->held_len);
        sc->held_len = 0;
    }
}
