/* libFuzzer target: the response-head parser (ac_http1_head_length and
 * ac_http1_parse_response) on arbitrary bytes.
 *
 * Input: one byte choosing how the head arrives (see fuzz_common.h), then
 * what the app sends. Besides memory errors and UB (the head is parsed in
 * a heap block of exactly its size), findings:
 * - a head length found in pieces that differs from the one found whole,
 *   or that does not end with an empty line;
 * - an accepted head with a status outside 100-999, a minor version other
 *   than 0 or 1, more fields than allowed, a field name that is not a
 *   token, a control character in a value or the reason, blanks around a
 *   value, or strings outside the buffer;
 * - an accepted head that, written out again in canonical form, does not
 *   parse to the same status, reason and fields (round trip);
 * - ac_http1_has_token answering otherwise than a plain reading of its
 *   rule (elements split at ',', blanks trimmed, case ignored).
 * Built and run by tests/fuzz/run.sh. */
#include "fuzz_common.h"

#include <apr_lib.h>
#include <apr_strings.h>

#include "ac_http1.h"

#define T "fuzz_http1_head"
#define MAX_FIELDS 100

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(T);
    return 0;
}

static int is_tchar(unsigned char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int inside(const char *s, const char *buf, size_t n)
{
    return s >= buf && s + strlen(s) < buf + n;
}

/* ac_http1_has_token's rule, written plainly: split at ',', drop blanks
 * (SP, HT) around each element, compare ignoring case. */
static int has_token_reference(const char *value, const char *token)
{
    const char *s = value;

    for (;;) {
        const char *e = strchr(s, ','), *b = s, *t;
        if (!e) {
            e = s + strlen(s);
        }
        t = e;
        while (b < t && (*b == ' ' || *b == '\t')) b++;
        while (t > b && (t[-1] == ' ' || t[-1] == '\t')) t--;
        if (*token && (size_t)(t - b) == strlen(token) && !strncasecmp(b, token, strlen(token))) {
            return 1;
        }
        if (!*e) {
            return 0;
        }
        s = e + 1;
    }
}

static void check_tokens(apr_pool_t *p, const char *value)
{
    static const char *const fixed[] = { "close", "chunked", "keep-alive", "upgrade" };
    const char *comma = strchr(value, ','), *first;
    size_t i;

    for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (!ac_http1_has_token(value, fixed[i]) != !has_token_reference(value, fixed[i])) {
            fuzz_found(T, "has_token differs from its rule", value);
        }
    }
    /* the value's own first element, blanks trimmed, must be found (an
     * empty token is never asked for: the callers pass words) */
    first = apr_pstrmemdup(p, value, comma ? (apr_size_t)(comma - value) : strlen(value));
    while (*first == ' ' || *first == '\t') first++;
    {
        char *f = apr_pstrdup(p, first), *e = f + strlen(f);
        while (e > f && (e[-1] == ' ' || e[-1] == '\t')) *--e = '\0';
        if (*f && !ac_http1_has_token(value, f)) {
            fuzz_found(T, "has_token misses the value's first element", value);
        }
        if (*f && !ac_http1_has_token(value, f) != !has_token_reference(value, f)) {
            fuzz_found(T, "has_token differs from its rule", value);
        }
    }
}

static void check_head(apr_pool_t *p, const ac_response_head_t *h, const char *buf, size_t n)
{
    const char *c;
    int i;

    if (h->status < 100 || h->status > 999 || (h->minor != 0 && h->minor != 1)) {
        fuzz_found(T, "status or version out of range", NULL);
    }
    if (!h->reason || (*h->reason && !inside(h->reason, buf, n))) {
        fuzz_found(T, "reason outside the buffer", NULL);
    }
    for (c = h->reason; *c; c++) {
        if (apr_iscntrl(*c) && *c != '\t') {
            fuzz_found(T, "control character in an accepted reason", NULL);
        }
    }
    if (!h->headers || h->headers->nelts > MAX_FIELDS) {
        fuzz_found(T, "field count", NULL);
    }
    for (i = 0; i < h->headers->nelts; i++) {
        const ac_header_t *f = &APR_ARRAY_IDX(h->headers, i, ac_header_t);
        size_t vl;

        if (!*f->name || !inside(f->name, buf, n) || !inside(f->value, buf, n)) {
            fuzz_found(T, "empty name, or a string outside the buffer", NULL);
        }
        for (c = f->name; *c; c++) {
            if (!is_tchar((unsigned char)*c)) {
                fuzz_found(T, "accepted a field name that is not a token", f->name);
            }
        }
        for (c = f->value; *c; c++) {
            if (apr_iscntrl(*c) && *c != '\t') {
                fuzz_found(T, "control character in an accepted value", NULL);
            }
        }
        vl = strlen(f->value);
        if (vl && (f->value[0] == ' ' || f->value[0] == '\t' || f->value[vl - 1] == ' '
                   || f->value[vl - 1] == '\t')) {
            fuzz_found(T, "blanks kept around a value", NULL);
        }
        /* exercised for memory safety; its answers are unit-tested */
        (void)ac_http1_is_hop_by_hop(f->name);
        check_tokens(p, f->value);
    }
}

/* The head written out again: "HTTP/1.m SSS reason\r\n" fields "\r\n". */
static void round_trip(apr_pool_t *p, const ac_response_head_t *h)
{
    ac_response_head_t again;
    apr_size_t scanned = 0, len;
    const char *err;
    char *text = apr_psprintf(p, "HTTP/1.%d %03d%s%s\r\n", h->minor, h->status,
                              *h->reason ? " " : "", h->reason);
    int i;

    for (i = 0; i < h->headers->nelts; i++) {
        const ac_header_t *f = &APR_ARRAY_IDX(h->headers, i, ac_header_t);
        text = apr_pstrcat(p, text, f->name, ": ", f->value, "\r\n", NULL);
    }
    text = apr_pstrcat(p, text, "\r\n", NULL);
    len = ac_http1_head_length(text, strlen(text), &scanned);
    if (len != strlen(text)) {
        fuzz_found(T, "round trip: the rewritten head's length", text);
    }
    err = ac_http1_parse_response(p, text, len, MAX_FIELDS, &again);
    if (err) {
        fuzz_found(T, "round trip: the rewritten head is refused", err);
    }
    if (again.status != h->status || again.minor != h->minor
        || strcmp(again.reason, h->reason) || again.headers->nelts != h->headers->nelts) {
        fuzz_found(T, "round trip: status line or field count differ", NULL);
    }
    for (i = 0; i < h->headers->nelts; i++) {
        const ac_header_t *a = &APR_ARRAY_IDX(h->headers, i, ac_header_t);
        const ac_header_t *b = &APR_ARRAY_IDX(again.headers, i, ac_header_t);
        if (strcmp(a->name, b->name) || strcmp(a->value, b->value)) {
            fuzz_found(T, "round trip: a field differs", a->name);
        }
    }
}

/* ac_http1_head_length fed as reads bring the bytes. Up to 64 reads each
 * see a buffer of exactly the bytes so far; beyond that one buffer serves. */
static apr_size_t length_in_pieces(const char *in, size_t n, uint8_t control)
{
    fuzz_split_t split;
    apr_size_t scanned = 0, got = 0, found = 0;
    int reads = 0;

    fuzz_split_init(&split, control);
    while (got < n && !found) {
        got += fuzz_split_next(&split, n - got);
        if (++reads <= 64) {
            char *b = fuzz_copy(in, got);
            found = ac_http1_head_length(b, got, &scanned);
            free(b);
        }
        else {
            found = ac_http1_head_length(in, got, &scanned);
        }
        if (scanned > got) {
            fuzz_found(T, "scanned past the bytes given", NULL);
        }
    }
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data + 1;
    apr_size_t n, scanned = 0, len, cut_len;
    apr_pool_t *p;
    ac_response_head_t h;
    char *buf;

    if (size < 1) {
        return 0;
    }
    n = size - 1;
    buf = fuzz_copy(in, n);
    len = ac_http1_head_length(buf, n, &scanned);
    free(buf);
    if (len > n || (len && !(len >= 2 && in[len - 1] == '\n'
                             && (in[len - 2] == '\n'
                                 || (len >= 3 && in[len - 2] == '\r' && in[len - 3] == '\n'))))) {
        fuzz_found(T, "head length does not end with an empty line", NULL);
    }
    cut_len = length_in_pieces(in, n, data[0]);
    if (cut_len != len) {
        fuzz_found(T, "head length differs fed whole and in pieces", NULL);
    }

    p = fuzz_pool(T);
    /* The proxy parses only a complete head; the rest is parsed too, for
     * memory safety (a head without its empty line must be refused). */
    buf = fuzz_copy(in, len ? len : n);
    if (!ac_http1_parse_response(p, buf, len ? len : n, MAX_FIELDS, &h)) {
        if (!len) {
            fuzz_found(T, "accepted a head without its empty line", NULL);
        }
        check_head(p, &h, buf, len);
        round_trip(p, &h);
    }
    free(buf);
    apr_pool_destroy(p);
    return 0;
}
