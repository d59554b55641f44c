/* ac_health: AspNetCoreHealthCheck's settings, requests and verdicts. */
#include "ac_health.h"
#include "ac_event.h"
#include "ac_http1.h"
#include "ac_parse.h"
#include "ac_runtime.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

int ac_health_path_valid(const char *path)
{
    apr_size_t n;

    if (!path || path[0] != '/') {
        return 0;
    }
    for (n = 0; path[n]; n++) {
        unsigned char c = (unsigned char)path[n];
        if (c <= 0x20 || c >= 0x7f || c == '#' || n >= AC_HEALTH_PATH_MAX) {
            return 0;
        }
    }
    return 1;
}

int ac_health_host_valid(const char *host)
{
    apr_size_t n;

    if (!host || !*host) {
        return 0;
    }
    for (n = 0; host[n]; n++) {
        char c = host[n];
        if (n >= AC_HEALTH_HOST_MAX
            || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                 || strchr("-._:[]", c))) {
            return 0;
        }
    }
    return 1;
}

/* "name=value" among the options: the number in its range. */
static const char *parse_option(apr_pool_t *p, const char *arg, ac_health_conf_t *out)
{
    static const struct {
        const char *name;
        long min, max;
        apr_size_t offset;
    } options[] = {
        { "interval", 1, AC_HEALTH_INTERVAL_MAX, offsetof(ac_health_conf_t, interval) },
        { "timeout", 1, AC_HEALTH_TIMEOUT_MAX, offsetof(ac_health_conf_t, timeout) },
        { "failures", 1, AC_HEALTH_FAILURES_MAX, offsetof(ac_health_conf_t, failures) },
    };
    const char *eq = strchr(arg, '=');
    apr_size_t i;

    for (i = 0; eq && i < sizeof(options) / sizeof(options[0]); i++) {
        if (strlen(options[i].name) == (apr_size_t)(eq - arg)
            && !strncasecmp(arg, options[i].name, (apr_size_t)(eq - arg))) {
            long v;
            const char *err = ac_parse_int_range(p, eq + 1, options[i].min, options[i].max, &v);
            if (err) {
                return apr_psprintf(p, "%s: %s", options[i].name, err);
            }
            *(int *)((char *)out + options[i].offset) = (int)v;
            return NULL;
        }
    }
    return apr_psprintf(p, "unknown option '%s' (interval=S, timeout=S, failures=N)", arg);
}

const char *ac_health_parse(apr_pool_t *p, int argc, char *const argv[],
                            ac_health_conf_t *out)
{
    int i;

    memset(out, 0, sizeof(*out));
    if (argc < 1) {
        return "needs the path to probe (e.g. /healthz), or Off";
    }
    if (argc == 1 && !strcasecmp(argv[0], "Off")) {
        return NULL;
    }
    if (!ac_health_path_valid(argv[0])) {
        return apr_psprintf(p, "'%s' is not a path to probe: it starts with '/' and has at "
                            "most %d visible ASCII characters, without '#' (percent-encode "
                            "others)", argv[0], AC_HEALTH_PATH_MAX);
    }
    out->path = apr_pstrdup(p, argv[0]);
    out->interval = AC_HEALTH_DEFAULT_INTERVAL;
    out->timeout = AC_HEALTH_DEFAULT_TIMEOUT;
    out->failures = AC_HEALTH_DEFAULT_FAILURES;
    for (i = 1; i < argc; i++) {
        const char *err = parse_option(p, argv[i], out);
        if (err) {
            return err;
        }
    }
    if (out->timeout > out->interval) {
        return apr_psprintf(p, "timeout=%d is longer than interval=%d (one probe at a time: "
                            "the timeout is at most the interval)", out->timeout,
                            out->interval);
    }
    return NULL;
}

const char *ac_health_check_conf(const ac_health_conf_t *c)
{
    if (!c->path) {
        return c->host || c->interval || c->timeout || c->failures
               ? "a health check without a path has settings" : NULL;
    }
    if (!ac_health_path_valid(c->path) || (c->host && !ac_health_host_valid(c->host))) {
        return "the health check's path or host is not valid";
    }
    if (c->interval < 1 || c->interval > AC_HEALTH_INTERVAL_MAX
        || c->timeout < 1 || c->timeout > AC_HEALTH_TIMEOUT_MAX || c->timeout > c->interval
        || c->failures < 1 || c->failures > AC_HEALTH_FAILURES_MAX) {
        return "the health check's interval, timeout or failures are out of range";
    }
    return NULL;
}

const char *ac_health_target(apr_pool_t *p, const char *virtual_path, const char *path)
{
    char *base = ac_event_escape_path(p, virtual_path ? virtual_path : "");
    apr_size_t n = strlen(base);

    /* like UsePathBase: "/" is no base, a trailing '/' is not part of it */
    while (n && base[n - 1] == '/') {
        base[--n] = '\0';
    }
    return apr_pstrcat(p, n && base[0] != '/' ? "/" : "", base, path, NULL);
}

const char *ac_health_request(apr_pool_t *p, const char *target, const char *host,
                              const char *token, apr_size_t *len)
{
    const char *req;

    if (!token || !ac_token_valid(token)) {
        return NULL;
    }
    req = apr_pstrcat(p, "GET ", target, " HTTP/1.1\r\n"
                      "Host: ", host && ac_health_host_valid(host) ? host : "localhost", "\r\n"
                      "MS-ASPNETCORE-TOKEN: ", token, "\r\n"
                      "User-Agent: mod_aspnetcore-health-check\r\n"
                      "Connection: close\r\n\r\n", NULL);
    *len = strlen(req);
    return req;
}

ac_probe_result_e ac_health_judge_status(int status)
{
    return status >= 200 && status <= 499 && status != 404 ? AC_PROBE_PASSED
                                                           : AC_PROBE_STATUS;
}

int ac_health_judge_head(apr_pool_t *p, char *buf, apr_size_t *len, int *status)
{
    apr_pool_t *scratch;
    int verdict = -1;

    /* each head parsed in a pool cleared for the next: an app may send
     * interim heads without end, and the probe's pool lives until it ends */
    if (apr_pool_create(&scratch, p) != APR_SUCCESS) {
        return AC_PROBE_MALFORMED;
    }
    for (;;) {
        apr_size_t scanned = 0, head = ac_http1_head_length(buf, *len, &scanned);
        ac_response_head_t resp;

        *status = 0;
        if (!head) {
            verdict = *len >= AC_HEALTH_HEAD_MAX ? AC_PROBE_TOO_BIG : -1;
            break;
        }
        if (head > AC_HEALTH_HEAD_MAX) {
            verdict = AC_PROBE_TOO_BIG;
            break;
        }
        apr_pool_clear(scratch);
        if (ac_http1_parse_response(scratch, buf, head, 200, &resp)) {
            verdict = AC_PROBE_MALFORMED;
            break;
        }
        *status = resp.status;
        if (resp.status < 100 || resp.status >= 200 || resp.status == 101) {
            verdict = ac_health_judge_status(resp.status);
            break;
        }
        /* an interim answer (100, 102, 103): the final one follows */
        memmove(buf, buf + head, *len - head);
        *len -= head;
    }
    apr_pool_destroy(scratch);
    return verdict;
}

const char *ac_health_describe(apr_pool_t *p, ac_probe_result_e result, int status,
                               int timeout)
{
    switch (result) {
    case AC_PROBE_PASSED:
    case AC_PROBE_STATUS:
        return apr_psprintf(p, "%d", status);
    case AC_PROBE_TIMEOUT:
        return apr_psprintf(p, "no answer within %d s", timeout);
    case AC_PROBE_REFUSED:
        return "no connection";
    case AC_PROBE_CLOSED:
        return "closed without an answer";
    case AC_PROBE_MALFORMED:
        return "a malformed answer";
    case AC_PROBE_TOO_BIG:
        return apr_psprintf(p, "an answer head over %d bytes", AC_HEALTH_HEAD_MAX);
    }
    return "?";
}

ac_health_action_e ac_health_record(ac_health_streak_t *s, int passed, int limit)
{
    if (s->replaced) {
        return AC_HEALTH_QUIET;
    }
    if (passed) {
        int had = s->failures;
        s->failures = 0;
        return had ? AC_HEALTH_RECOVERED : AC_HEALTH_QUIET;
    }
    s->failures++;
    if (s->failures >= limit) {
        s->replaced = 1;
        return AC_HEALTH_REPLACE;
    }
    return s->failures == 1 ? AC_HEALTH_FIRST_FAILURE : AC_HEALTH_QUIET;
}
