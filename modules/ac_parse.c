/* ac_parse: value parsers shared by the directives and the web.config import. */
#include "ac_parse.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include <apr_lib.h>
#include <apr_strings.h>
#include <apr_tables.h>

/* ------------------------------------------------------------------ helpers */

const char *ac_parse_show(apr_pool_t *p, const char *s)
{
    apr_size_t len = strlen(s), cut = len, i;
    char *out, *o;

    if (cut > AC_PARSE_SHOW_MAX) {
        cut = AC_PARSE_SHOW_MAX;
        /* Never split a UTF-8 sequence: step back over continuation bytes. */
        while (cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80) {
            cut--;
        }
    }
    /* Worst case every byte becomes \xHH; plus quotes, "..." and NUL.
     * apr_escape_echo would also double backslashes and escape UTF-8, which
     * makes Windows paths and non-ASCII names unreadable in a message. */
    out = o = apr_palloc(p, cut * 4 + 6);
    *o++ = '\'';
    for (i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) {
            static const char hex[] = "0123456789abcdef";
            *o++ = '\\';
            *o++ = 'x';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 0x0F];
        }
        else {
            *o++ = (char)c;
        }
    }
    *o++ = '\'';
    if (cut < len) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o = '\0';
    return out;
}

/* The bounds of `s` without leading and trailing whitespace: [*b, *e). */
static void trim(const char *s, const char **b, const char **e)
{
    const char *end = s + strlen(s);
    while (apr_isspace(*s)) {
        s++;
    }
    while (end > s && apr_isspace(end[-1])) {
        end--;
    }
    *b = s;
    *e = end;
}

/* Case-insensitive comparison of [b, e) with the whole of `word`. */
static int span_is(const char *b, const char *e, const char *word)
{
    apr_size_t n = strlen(word);
    return (apr_size_t)(e - b) == n && strncasecmp(b, word, n) == 0;
}

/* Parses [b, e) as decimal digits only into *out, which must stay within
 * [0, max]. Returns 0 when the span is empty, has any other character, or
 * is out of range (overflow included). */
static int digits_value(apr_pool_t *p, const char *b, const char *e, apr_int64_t max,
                        apr_int64_t *out)
{
    const char *c;
    char *copy, *end;
    apr_int64_t v;

    if (b == e) {
        return 0;
    }
    for (c = b; c < e; c++) {
        if (!apr_isdigit(*c)) {
            return 0;
        }
    }
    /* Only digits: apr_strtoi64 can neither see a sign nor skip anything;
     * ERANGE reports a value past APR_INT64_MAX. */
    copy = apr_pstrmemdup(p, b, (apr_size_t)(e - b));
    errno = 0;
    v = apr_strtoi64(copy, &end, 10);
    if (errno == ERANGE || *end != '\0' || v > max) {
        return 0;
    }
    *out = v;
    return 1;
}

/* ---------------------------------------------------------------- scalars */

const char *ac_parse_bool(apr_pool_t *p, const char *s, int *out)
{
    const char *b, *e;

    trim(s, &b, &e);
    if (span_is(b, e, "true")) {
        *out = 1;
        return NULL;
    }
    if (span_is(b, e, "false")) {
        *out = 0;
        return NULL;
    }
    return apr_psprintf(p, "%s is not true or false", ac_parse_show(p, s));
}

const char *ac_parse_int_range(apr_pool_t *p, const char *s, long min, long max,
                               long *out)
{
    const char *b, *e;
    apr_int64_t v;

    trim(s, &b, &e);
    if (!digits_value(p, b, e, (apr_int64_t)max, &v) || v < (apr_int64_t)min) {
        return apr_psprintf(p, "%s is not a whole number from %ld to %ld",
                            ac_parse_show(p, s), min, max);
    }
    *out = (long)v;
    return NULL;
}

const char *ac_parse_port_range(apr_pool_t *p, const char *s, unsigned *low,
                                unsigned *high)
{
    const char *b, *e, *dash;
    apr_int64_t lo, hi;

    trim(s, &b, &e);
    dash = memchr(b, '-', (apr_size_t)(e - b));
    if (!dash || !digits_value(p, b, dash, 65535, &lo)
        || !digits_value(p, dash + 1, e, 65535, &hi) || lo < 1024 || hi < lo) {
        return apr_psprintf(p, "%s is not a port range LOW-HIGH with "
                            "1024 <= LOW <= HIGH <= 65535", ac_parse_show(p, s));
    }
    *low = (unsigned)lo;
    *high = (unsigned)hi;
    return NULL;
}

const char *ac_parse_hosting_model(apr_pool_t *p, const char *s, int *inprocess)
{
    const char *b, *e;

    trim(s, &b, &e);
    /* ANCM (ShimOptions.cpp): an empty hostingModel means out of process. */
    if (b == e || span_is(b, e, "OutOfProcess")) {
        *inprocess = 0;
        return NULL;
    }
    if (span_is(b, e, "InProcess")) {
        *inprocess = 1;
        return NULL;
    }
    return apr_psprintf(p, "%s is not InProcess or OutOfProcess", ac_parse_show(p, s));
}

const char *ac_parse_start_mode(apr_pool_t *p, const char *s, int *always_running)
{
    const char *b, *e;

    trim(s, &b, &e);
    if (span_is(b, e, "AlwaysRunning")) {
        *always_running = 1;
        return NULL;
    }
    if (span_is(b, e, "OnDemand")) {
        *always_running = 0;
        return NULL;
    }
    return apr_psprintf(p, "%s is not AlwaysRunning or OnDemand", ac_parse_show(p, s));
}

/* --------------------------------------------------------------- timespan */

/* Reads exactly `n` digits at *c into *v and advances; 0 if not digits. */
static int fixed_digits(const char **c, const char *e, int n, int *v)
{
    int i;
    *v = 0;
    for (i = 0; i < n; i++) {
        if (*c + i >= e || !apr_isdigit((*c)[i])) {
            return 0;
        }
        *v = *v * 10 + ((*c)[i] - '0');
    }
    *c += n;
    return 1;
}

/* Reads 1 to `most` digits at *c into *v and advances; 0 if none. */
static int some_digits(const char **c, const char *e, int most, apr_int64_t *v)
{
    int n = 0;
    *v = 0;
    while (*c < e && apr_isdigit(**c) && n < most) {
        *v = *v * 10 + (**c - '0');
        (*c)++;
        n++;
    }
    /* More digits than allowed is not a shorter number followed by junk. */
    return n > 0 && !(*c < e && apr_isdigit(**c));
}

/* The message for a bad time span: `what` then the allowed format and range. */
static const char *timespan_error(apr_pool_t *p, const char *s, apr_interval_time_t max,
                                  const char *what)
{
    apr_int64_t max_sec = apr_time_sec(max);
    return apr_psprintf(p, "%s%s (format hh:mm:ss, at most %02" APR_INT64_T_FMT
                        ":%02d:%02d)", ac_parse_show(p, s), what, max_sec / 3600,
                        (int)(max_sec / 60 % 60), (int)(max_sec % 60));
}

const char *ac_parse_timespan(apr_pool_t *p, const char *s, apr_interval_time_t max,
                              apr_interval_time_t *out)
{
    const char *b, *e, *c, *colon, *dot = NULL;
    apr_int64_t days = 0, hours, total;
    int minutes, seconds;

    trim(s, &b, &e);
    c = b;
    /* A '.' before the first ':' ends a day count ("1.02:00:00"). IIS
     * validates requestTimeout with a granularity of one second, so there
     * is no ".fffffff" fraction after the seconds. */
    colon = memchr(b, ':', (apr_size_t)(e - b));
    if (colon) {
        dot = memchr(b, '.', (apr_size_t)(colon - b));
    }
    if (dot) {
        if (!some_digits(&c, dot, 7, &days) || c != dot) {
            return timespan_error(p, s, max, " is not a time span");
        }
        c++;
    }
    if (!some_digits(&c, e, dot ? 2 : 3, &hours)
        || c >= e || *c++ != ':' || !fixed_digits(&c, e, 2, &minutes)
        || c >= e || *c++ != ':' || !fixed_digits(&c, e, 2, &seconds)
        || c != e) {
        return timespan_error(p, s, max, " is not a time span");
    }
    if (dot && hours > 23) {
        return timespan_error(p, s, max, ": hours must be 00-23 after a day count");
    }
    if (minutes > 59) {
        return timespan_error(p, s, max, ": minutes must be 00-59");
    }
    if (seconds > 59) {
        return timespan_error(p, s, max, ": seconds must be 00-59");
    }
    /* At most 9999999 days: far below what apr_time_t can hold. */
    total = (days * 24 + hours) * 3600 + minutes * 60 + seconds;
    if (total > apr_time_sec(max)) {
        return timespan_error(p, s, max, " is too long");
    }
    *out = apr_time_from_sec(total);
    return NULL;
}

/* ------------------------------------------------------- web.config strings */

const char *ac_env_lookup_envp(void *ctx, const char *name)
{
    char *const *envp = ctx;
    apr_size_t n = strlen(name);
    const char *folded = NULL;
    int i;

    if (!envp || !n) {
        return NULL;
    }
    for (i = 0; envp[i]; i++) {
        const char *eq = strchr(envp[i], '=');
        if (!eq || (apr_size_t)(eq - envp[i]) != n) {
            continue;
        }
        if (strncmp(envp[i], name, n) == 0) {
            return eq + 1;
        }
        if (!folded && strncasecmp(envp[i], name, n) == 0) {
            folded = eq + 1;
        }
    }
    return folded;
}

/* Appends n bytes at base to the pieces of an expansion; 0 when that would
 * make the result longer than AC_EXPAND_MAX. */
static int add_part(apr_array_header_t *parts, apr_size_t *total, const char *base,
                    apr_size_t n)
{
    struct iovec *v;

    if (n > AC_EXPAND_MAX - *total) {
        return 0;
    }
    v = apr_array_push(parts);
    v->iov_base = (void *)base;
    v->iov_len = n;
    *total += n;
    return 1;
}

const char *ac_expand_env(apr_pool_t *p, const char *s, ac_env_lookup_fn lookup,
                          void *ctx, const char **out)
{
    /* Pieces of the result (literal runs and values), joined at the end. */
    apr_array_header_t *parts = apr_array_make(p, 8, sizeof(struct iovec));
    apr_size_t total = 0;
    const char *c = s, *run = s;

    while ((c = strchr(c, '%')) != NULL) {
        const char *close = strchr(c + 1, '%'), *value = NULL;

        if (!close) {
            break;                              /* a lone '%' stays */
        }
        if (close > c + 1 && lookup) {
            value = lookup(ctx, apr_pstrmemdup(p, c + 1, (apr_size_t)(close - c - 1)));
        }
        if (!value) {
            /* Unknown: keep this '%' and look again from the next byte, so
             * the closing '%' may open the next name (Windows does this). */
            c++;
            continue;
        }
        if (!add_part(parts, &total, run, (apr_size_t)(c - run))
            || !add_part(parts, &total, value, strlen(value))) {
            goto too_long;
        }
        c = run = close + 1;
    }
    if (!add_part(parts, &total, run, strlen(run))) {
        goto too_long;
    }
    *out = apr_pstrcatv(p, (const struct iovec *)parts->elts, (apr_size_t)parts->nelts,
                        NULL);
    return NULL;

too_long:
    return apr_psprintf(p, "%s expands to more than %d bytes", ac_parse_show(p, s),
                        AC_EXPAND_MAX);
}

const char *ac_windows_path(apr_pool_t *p, const char *s)
{
    char *out, *c;

    if (strncmp(s, "\\\\?\\", 4) == 0) {
        s += 4;
    }
    out = apr_pstrdup(p, s);
    for (c = out; (c = strchr(c, '\\')) != NULL; c++) {
        *c = '/';
    }
    return out;
}

/* ---- durations -------------------------------------------------------- */

static const char *duration_error(apr_pool_t *p, const char *s, const char *why, long max)
{
    return apr_psprintf(p, "%s %s: give a duration such as 20m, 90s, 1h30m or 00:20:00 "
                        "(0: never; at most %ld days)", ac_parse_show(p, s), why, max / 86400);
}

/* "1h30m": numbers with units d, h, m, s, largest first, each once. */
static const char *parse_units(apr_pool_t *p, const char *s, const char *b, const char *e,
                               long max, long *seconds)
{
    static const char units[] = "dhms";
    static const long unit_seconds[] = { 86400, 3600, 60, 1 };
    const char *c = b;
    long total = 0;
    int next_unit = 0;

    while (c < e) {
        long n = 0;
        const char *digits = c, *u;
        while (c < e && apr_isdigit(*c) && c - digits < 8) {
            n = n * 10 + (*c++ - '0');
        }
        if (c == digits || c >= e || apr_isdigit(*c)) {
            return duration_error(p, s, c >= e && c > digits
                                  ? "has a number without a unit (d, h, m or s)"
                                  : "is not a duration", max);
        }
        u = strchr(units, apr_tolower(*c));
        if (!u || (int)(u - units) < next_unit) {
            return duration_error(p, s, u ? "repeats a unit or has them out of order (d, h, "
                                            "m, s)" : "has a unit other than d, h, m or s", max);
        }
        next_unit = (int)(u - units) + 1;
        total += n * unit_seconds[u - units];
        if (total > max) {
            return duration_error(p, s, "is too long", max);
        }
        c++;
    }
    *seconds = total;
    return NULL;
}

const char *ac_parse_duration(apr_pool_t *p, const char *s, long max, long *seconds)
{
    const char *b = s, *e = s + strlen(s);
    apr_interval_time_t span;

    while (b < e && apr_isspace(*b)) {
        b++;
    }
    while (e > b && apr_isspace(e[-1])) {
        e--;
    }
    if (b == e) {
        return duration_error(p, s, "is empty", max);
    }
    if (e - b == 1 && *b == '0') {
        *seconds = 0;
        return NULL;
    }
    if (memchr(b, ':', (apr_size_t)(e - b))) {
        const char *err = ac_parse_timespan(p, s, apr_time_from_sec(max),
                                            &span);
        if (err) {
            return apr_psprintf(p, "%s (or a duration such as 20m, 90s, 1h30m; 0: never)", err);
        }
        *seconds = (long)apr_time_sec(span);
        return NULL;
    }
    return parse_units(p, s, b, e, max, seconds);
}
