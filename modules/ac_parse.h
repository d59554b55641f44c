/* ac_parse: value parsers shared by the directives and the web.config import.
 *
 * Owns the syntax of every scalar setting an app can have (booleans, whole
 * numbers in a range, ANCM's hh:mm:ss request timeout, port ranges, hosting
 * model, start mode) and the two web.config string transformations: Windows
 * %VAR% expansion and backslash paths. One parser per type, so that a value
 * means the same thing whether it comes from an Apache directive or from a
 * published web.config. httpd-free.
 *
 * Every parser returns NULL on success, or an error message allocated from
 * the pool that names the bad value and says what is allowed, e.g.
 * "'75' is not a whole number from 0 to 60". On error the outputs are left
 * untouched. Messages never contain control characters from the input and
 * show at most AC_PARSE_SHOW_MAX bytes of it.
 */
#ifndef AC_PARSE_H
#define AC_PARSE_H

#include <apr_pools.h>
#include <apr_time.h>

#define AC_PARSE_SHOW_MAX 64             /* bytes of a bad value quoted in a message */
#define AC_EXPAND_MAX (64 * 1024)        /* longest result of ac_expand_env */
#define AC_REQUEST_TIMEOUT_MAX apr_time_from_sec(360 * 3600)   /* ANCM: 360:00:00 */

/* The value of environment variable `name`, or NULL when it is not set. */
typedef const char *(*ac_env_lookup_fn)(void *ctx, const char *name);

/* An ac_env_lookup_fn over a NULL-terminated "NAME=value" array (`ctx` is a
 * char *const *, e.g. environ). An exact match wins; otherwise the first
 * name equal ignoring ASCII case, as Windows does (web.config files are
 * written for Windows: "%home%" means HOME). */
const char *ac_env_lookup_envp(void *ctx, const char *name);

/* `s` quoted for a message: 'value', control bytes as \xHH, cut after
 * AC_PARSE_SHOW_MAX bytes with "...". */
const char *ac_parse_show(apr_pool_t *p, const char *s);

/* "true" or "false", ASCII case-insensitive, surrounding whitespace allowed. */
const char *ac_parse_bool(apr_pool_t *p, const char *s, int *out);

/* Decimal digits only (no sign, no "0x"), surrounding whitespace allowed,
 * min <= value <= max (0 <= min <= max). Overflow is an error like any
 * other out-of-range value. */
const char *ac_parse_int_range(apr_pool_t *p, const char *s, long min, long max,
                               long *out);

/* ANCM's requestTimeout: "hh:mm:ss" (hh 1-3 digits, mm and ss exactly two
 * digits below 60: "00:60:00" is an error, not an hour) or "d.hh:mm:ss"
 * (d 1-7 digits, then hh below 24), surrounding whitespace allowed. No
 * fraction of a second (IIS validates it with a one-second granularity).
 * From 00:00:00 to `max` (AC_REQUEST_TIMEOUT_MAX for requestTimeout). */
const char *ac_parse_timespan(apr_pool_t *p, const char *s, apr_interval_time_t max,
                              apr_interval_time_t *out);

/* A duration: "0", numbers with units d, h, m, s, largest first, each
 * once ("20m", "90s", "1h30m", "2d"), or a time span ("00:20:00",
 * "1.00:00:00": ac_parse_timespan); blanks around it allowed; at most `max`
 * seconds. NULL and *seconds set, or a message (AspNetCoreIdleTimeout,
 * AspNetCoreRecycle time=). */
const char *ac_parse_duration(apr_pool_t *p, const char *s, long max, long *seconds);

/* "LOW-HIGH" with 1024 <= LOW <= HIGH <= 65535. */
const char *ac_parse_port_range(apr_pool_t *p, const char *s, unsigned *low,
                                unsigned *high);

/* "InProcess" (*inprocess = 1) or "OutOfProcess" (0), case-insensitive,
 * surrounding whitespace allowed; empty also means OutOfProcess, as in
 * ANCM (ShimOptions.cpp). */
const char *ac_parse_hosting_model(apr_pool_t *p, const char *s, int *inprocess);

/* "AlwaysRunning" (*always_running = 1) or "OnDemand" (0), case-insensitive,
 * surrounding whitespace allowed. */
const char *ac_parse_start_mode(apr_pool_t *p, const char *s, int *always_running);

/* Windows %VAR% expansion, as ExpandEnvironmentStrings does it: "%NAME%" is
 * replaced by the value `lookup` gives; an unknown or empty name keeps its
 * first '%' and scanning resumes right after it (so "%NO%HOME%" gives
 * "%NO" + $HOME); a '%' without a closing one stays. The result (at most
 * AC_EXPAND_MAX bytes, else an error) goes to *out. `lookup` may be NULL:
 * nothing is known, the string is copied. */
const char *ac_expand_env(apr_pool_t *p, const char *s, ac_env_lookup_fn lookup,
                          void *ctx, const char **out);

/* A web.config path or argument string for Linux: every '\' becomes '/'
 * (".\logs\stdout" -> "./logs/stdout"). A leading Win32 extended-length
 * prefix "\\?\" (Azure's "\\?\%home%\LogFiles\stdout") is dropped: it has
 * no meaning here, and kept it would make "//?/" a directory. Never fails. */
const char *ac_windows_path(apr_pool_t *p, const char *s);

#endif /* AC_PARSE_H */
