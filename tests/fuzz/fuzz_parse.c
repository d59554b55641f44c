/* libFuzzer target: every value parser of ac_parse.c on arbitrary strings.
 *
 * Input: one byte choosing the parser (low 3 bits) and its range (high 5
 * bits), then the value. Besides memory errors and UB, findings:
 * - an accepted value outside its range, or one that, printed back in its
 *   canonical form, does not parse to the same value (round trip: whole
 *   numbers, time spans, port ranges, booleans, hosting model, start mode);
 * - an accepted number that a plain strtoull of the trimmed digits
 *   disagrees with;
 * - %VAR% expansion that differs from a straightforward second
 *   implementation of its documented rule, or exceeds AC_EXPAND_MAX;
 * - a Windows path still holding a '\';
 * - an output written on error, or an error message with a control byte or
 *   quoting more than AC_PARSE_SHOW_MAX bytes of the value.
 * Built and run by tests/fuzz/run.sh. */
#include "fuzz_common.h"

#include <errno.h>
#include <limits.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include "ac_parse.h"

#define T "fuzz_parse"
#define UNSET (-7)

/* A value long enough that four references pass AC_EXPAND_MAX. */
static char big_value[AC_EXPAND_MAX / 4 + 2];
static char big_entry[sizeof(big_value) + 8];
static char *env[] = { "HOME=/home/app", "Path=/usr/bin", "PATH=/sbin", "A=%A%%A%",
                       "EMPTY=", "P=%", "WITH=eq=sign", NULL, NULL };

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    memset(big_value, 'v', sizeof(big_value) - 1);
    snprintf(big_entry, sizeof(big_entry), "BIG=%s", big_value);
    env[7] = big_entry;
    fuzz_setup(T);
    return 0;
}

static void check_message(const char *err, const char *s)
{
    const char *c, *q;
    size_t shown;

    for (c = err; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7F) {
            fuzz_found(T, "control byte in a message", err);
        }
    }
    /* The quoted value: from the first quote to the last quote. */
    q = strrchr(err, '\'');
    if (err[0] != '\'' || q == err) {
        fuzz_found(T, "message does not start with the quoted value", err);
    }
    (void)s;
    shown = (size_t)(q - err - 1);
    if (shown > AC_PARSE_SHOW_MAX * 4 + 3 + 64) {
        fuzz_found(T, "message quotes too much", NULL);
    }
}

static void check_show(apr_pool_t *p, const char *s)
{
    const char *shown = ac_parse_show(p, s), *c;
    size_t n = strlen(shown);

    if (n > AC_PARSE_SHOW_MAX * 4 + 5 || shown[0] != '\'') {
        fuzz_found(T, "ac_parse_show: too long or unquoted", NULL);
    }
    for (c = shown; *c; c++) {
        if ((unsigned char)*c < 0x20 || *c == 0x7F) {
            fuzz_found(T, "ac_parse_show: control byte", NULL);
        }
    }
    if (strlen(s) <= AC_PARSE_SHOW_MAX && strchr(s, '\\') == NULL) {
        /* short and without escapes: shown whole, or with \xHH per control byte */
        size_t ctl = 0;
        for (c = s; *c; c++) {
            ctl += ((unsigned char)*c < 0x20 || *c == 0x7F);
        }
        if (n != strlen(s) + 3 * ctl + 2) {
            fuzz_found(T, "ac_parse_show: a short value was cut", NULL);
        }
    }
}

/* The span of s without surrounding apr_isspace bytes. */
static void trimmed(const char *s, const char **b, const char **e)
{
    const char *end = s + strlen(s);
    while (apr_isspace(*s)) s++;
    while (end > s && apr_isspace(end[-1])) end--;
    *b = s;
    *e = end;
}

static void int_range(apr_pool_t *p, const char *s, unsigned sel)
{
    static const long ranges[][2] = {
        { 0, 60 }, { 1, 100 }, { 0, 3600 }, { 0, 0 }, { 1024, 65535 }, { 0, LONG_MAX },
        { 5, 5 }, { 1, 2147483647L },
    };
    long min = ranges[sel % 8][0], max = ranges[sel % 8][1], v = UNSET, again = UNSET;
    const char *err = ac_parse_int_range(p, s, min, max, &v), *b, *e;

    if (err) {
        check_message(err, s);
        if (v != UNSET) {
            fuzz_found(T, "int_range: output written on error", NULL);
        }
        return;
    }
    if (v < min || v > max) {
        fuzz_found(T, "int_range: accepted a value out of range", s);
    }
    trimmed(s, &b, &e);
    {
        char *digits = apr_pstrmemdup(p, b, (apr_size_t)(e - b)), *end;
        unsigned long long ref;
        const char *c;
        for (c = digits; *c; c++) {
            if (!apr_isdigit(*c)) {
                fuzz_found(T, "int_range: accepted a non-digit", s);
            }
        }
        errno = 0;
        ref = strtoull(digits, &end, 10);
        if (errno || *end || ref != (unsigned long long)v) {
            fuzz_found(T, "int_range: value differs from strtoull's", s);
        }
    }
    if (ac_parse_int_range(p, apr_ltoa(p, v), min, max, &again) || again != v) {
        fuzz_found(T, "int_range: round trip", s);
    }
}

static void timespan(apr_pool_t *p, const char *s, unsigned sel)
{
    static const apr_interval_time_t maxes[] = {
        AC_REQUEST_TIMEOUT_MAX, apr_time_from_sec(0), apr_time_from_sec(59),
        apr_time_from_sec(3600), apr_time_from_sec(86400 * 2), APR_INT64_C(9223372036854775807),
    };
    apr_interval_time_t max = maxes[sel % 6], v = UNSET, again = UNSET;
    const char *err = ac_parse_timespan(p, s, max, &v);
    apr_int64_t sec, days, hours;
    char *text;

    if (err) {
        check_message(err, s);
        if (v != UNSET) {
            fuzz_found(T, "timespan: output written on error", NULL);
        }
        return;
    }
    if (v < 0 || v > max || v % APR_USEC_PER_SEC) {
        fuzz_found(T, "timespan: accepted a value out of range or with a fraction", s);
    }
    sec = apr_time_sec(v);
    days = sec / 86400;
    hours = sec / 3600;
    text = hours <= 999
        ? apr_psprintf(p, "%02" APR_INT64_T_FMT ":%02d:%02d", hours, (int)(sec / 60 % 60),
                       (int)(sec % 60))
        : apr_psprintf(p, "%" APR_INT64_T_FMT ".%02d:%02d:%02d", days, (int)(sec / 3600 % 24),
                       (int)(sec / 60 % 60), (int)(sec % 60));
    if (ac_parse_timespan(p, text, max, &again) || again != v) {
        fuzz_found(T, "timespan: round trip", text);
    }
}

static void port_range(apr_pool_t *p, const char *s)
{
    unsigned lo = 7, hi = 7, lo2 = 0, hi2 = 0;
    const char *err = ac_parse_port_range(p, s, &lo, &hi);

    if (err) {
        check_message(err, s);
        if (lo != 7 || hi != 7) {
            fuzz_found(T, "port_range: output written on error", NULL);
        }
        return;
    }
    if (lo < 1024 || hi > 65535 || lo > hi) {
        fuzz_found(T, "port_range: accepted a range out of bounds", s);
    }
    if (ac_parse_port_range(p, apr_psprintf(p, "%u-%u", lo, hi), &lo2, &hi2)
        || lo2 != lo || hi2 != hi) {
        fuzz_found(T, "port_range: round trip", s);
    }
}

/* bool, hosting model and start mode: a word out of two. */
static void two_words(apr_pool_t *p, const char *s, unsigned which)
{
    static const char *const words[3][2] = {
        { "false", "true" }, { "OutOfProcess", "InProcess" }, { "OnDemand", "AlwaysRunning" }
    };
    int v = UNSET, again = UNSET;
    const char *err = which == 0 ? ac_parse_bool(p, s, &v)
        : which == 1 ? ac_parse_hosting_model(p, s, &v) : ac_parse_start_mode(p, s, &v);
    const char *b, *e;

    if (err) {
        check_message(err, s);
        if (v != UNSET) {
            fuzz_found(T, "word: output written on error", NULL);
        }
        return;
    }
    if (v != 0 && v != 1) {
        fuzz_found(T, "word: not 0 or 1", s);
    }
    trimmed(s, &b, &e);
    if (!((size_t)(e - b) == strlen(words[which][v])
          && !strncasecmp(b, words[which][v], (size_t)(e - b)))
        && !(which == 1 && b == e && v == 0)) {
        fuzz_found(T, "word: accepted something else than its word", s);
    }
    err = which == 0 ? ac_parse_bool(p, words[which][v], &again)
        : which == 1 ? ac_parse_hosting_model(p, words[which][v], &again)
        : ac_parse_start_mode(p, words[which][v], &again);
    if (err || again != v) {
        fuzz_found(T, "word: round trip", s);
    }
}

/* The documented rule, written plainly: at '%', the text up to the next
 * '%' is a name; a non-empty known name is replaced with its value and
 * scanning goes on after the closing '%'; otherwise the '%' stays and
 * scanning goes on right after it. */
static char *expand_reference(const char *s, size_t *len)
{
    size_t cap = strlen(s) + 1, n = 0;
    char *out = malloc(cap);

    while (*s) {
        const char *close = *s == '%' ? strchr(s + 1, '%') : NULL;
        const char *value = NULL, *add = s;
        size_t addn = 1;

        if (close && close > s + 1) {
            char *name = fuzz_cstr(s + 1, (size_t)(close - s - 1));
            value = ac_env_lookup_envp(env, name);
            free(name);
        }
        if (value) {
            add = value;
            addn = strlen(value);
            s = close + 1;
        }
        else {
            s++;
        }
        if (n + addn + 1 > cap) {
            cap = (n + addn + 1) * 2;
            out = realloc(out, cap);
        }
        memcpy(out + n, add, addn);
        n += addn;
    }
    out[n] = '\0';
    *len = n;
    return out;
}

static void expand(apr_pool_t *p, const char *s)
{
    const char *out = "untouched", *err = ac_expand_env(p, s, ac_env_lookup_envp, env, &out);
    size_t ref_len;
    char *ref = expand_reference(s, &ref_len);

    if (err) {
        check_message(err, s);
        if (strcmp(out, "untouched")) {
            fuzz_found(T, "expand: output written on error", NULL);
        }
        if (ref_len <= AC_EXPAND_MAX) {
            fuzz_found(T, "expand: refused a result within the limit", s);
        }
    }
    else if (ref_len > AC_EXPAND_MAX || strcmp(out, ref)) {
        fuzz_found(T, "expand: result differs from the documented rule", s);
    }
    free(ref);
    if (ac_expand_env(p, s, NULL, NULL, &out) == NULL && strcmp(out, s)) {
        fuzz_found(T, "expand: without a lookup the string changed", s);
    }
}

static void windows_path(apr_pool_t *p, const char *s)
{
    const char *out = ac_windows_path(p, s);
    size_t expect = strlen(s) - (strncmp(s, "\\\\?\\", 4) == 0 ? 4 : 0);

    if (strchr(out, '\\') || strlen(out) != expect) {
        fuzz_found(T, "windows_path: a '\\' left, or the length changed", s);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *s;
    unsigned sel;

    if (size < 1) {
        return 0;
    }
    sel = data[0] >> 3;
    s = fuzz_cstr(data + 1, size - 1);
    p = fuzz_pool(T);
    check_show(p, s);
    switch (data[0] & 7) {
    case 0: two_words(p, s, 0); break;
    case 1: int_range(p, s, sel); break;
    case 2: timespan(p, s, sel); break;
    case 3: port_range(p, s); break;
    case 4: two_words(p, s, 1); break;
    case 5: two_words(p, s, 2); break;
    case 6: expand(p, s); break;
    case 7: windows_path(p, s); break;
    }
    apr_pool_destroy(p);
    free(s);
    return 0;
}
