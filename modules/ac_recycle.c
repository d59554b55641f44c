/* ac_recycle: AspNetCoreRecycle's settings and decisions (ac_recycle.h). */
#include "ac_recycle.h"
#include "ac_parse.h"

#include <stdlib.h>
#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>

/* A decimal number of at most `max`, nothing else. 0 ok, -1 not. */
static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    unsigned long long v = 0;

    if (!*s) {
        return -1;
    }
    for (; *s; s++) {
        if (!apr_isdigit(*s)) {
            return -1;
        }
        v = v * 10 + (unsigned)(*s - '0');
        if (v > max) {
            return -1;
        }
    }
    *out = v;
    return 0;
}


/* "HH:MM[,HH:MM...]" into ascending minutes of the day. */
static const char *parse_schedule(apr_pool_t *p, const char *s, ac_recycle_t *out)
{
    char *copy = apr_pstrdup(p, s), *last, *t;
    unsigned i;

    if (!*s || s[0] == ',' || s[strlen(s) - 1] == ',' || strstr(s, ",,")) {
        return "an empty time of day in the list";
    }
    for (t = apr_strtok(copy, ",", &last); t; t = apr_strtok(NULL, ",", &last)) {
        unsigned long long h, m;
        unsigned minute, j;
        char hs[3], ms[3];
        if (strlen(t) != 5 || t[2] != ':') {
            return apr_psprintf(p, "'%s' is not a time of day HH:MM", t);
        }
        memcpy(hs, t, 2);
        hs[2] = '\0';
        memcpy(ms, t + 3, 2);
        ms[2] = '\0';
        if (parse_uint(hs, 23, &h) || parse_uint(ms, 59, &m)) {
            return apr_psprintf(p, "'%s' is not a time of day HH:MM (00:00 to 23:59)", t);
        }
        minute = (unsigned)(h * 60 + m);
        for (i = 0; i < out->nschedule && out->schedule[i] < minute; i++) {
        }
        if (i < out->nschedule && out->schedule[i] == minute) {
            return apr_psprintf(p, "%s is given twice", t);
        }
        if (out->nschedule == AC_RECYCLE_SCHEDULE_MAX) {
            return apr_psprintf(p, "more than %d times of day", AC_RECYCLE_SCHEDULE_MAX);
        }
        for (j = out->nschedule; j > i; j--) {
            out->schedule[j] = out->schedule[j - 1];
        }
        out->schedule[i] = (unsigned short)minute;
        out->nschedule++;
    }
    if (!out->nschedule) {
        return "no time of day given";
    }
    return NULL;
}

static const char *parse_one(apr_pool_t *p, const char *key, const char *value, ac_recycle_t *out)
{
    unsigned long long v;
    const char *err;

    if (!strcmp(key, "requests")) {
        if (parse_uint(value, AC_RECYCLE_REQUESTS_MAX, &v)) {
            return apr_psprintf(p, "requests='%s': not a number of requests (0 to %u)", value,
                                AC_RECYCLE_REQUESTS_MAX);
        }
        out->requests = (unsigned)v;
        return NULL;
    }
    if (!strcmp(key, "time")) {
        long seconds;
        err = ac_parse_duration(p, value, (long)AC_RECYCLE_TIME_MAX, &seconds);
        out->time_s = err ? 0 : (unsigned)seconds;
        return err ? apr_psprintf(p, "time=%s", err) : NULL;
    }
    if (!strcmp(key, "memory")) {
        if (parse_uint(value, AC_RECYCLE_MEMORY_MAX, &v)) {
            return apr_psprintf(p, "memory='%s': not a size in MiB (0 to %u)", value,
                                AC_RECYCLE_MEMORY_MAX);
        }
        out->memory_mib = (unsigned)v;
        return NULL;
    }
    if (!strcmp(key, "schedule")) {
        err = parse_schedule(p, value, out);
        return err ? apr_psprintf(p, "schedule='%s': %s", value, err) : NULL;
    }
    return apr_psprintf(p, "'%s': unknown (requests=N, time=DURATION, memory=MiB, "
                        "schedule=HH:MM[,HH:MM...])", key);
}

const char *ac_recycle_parse(apr_pool_t *p, const char *args, ac_recycle_t *out)
{
    char *copy = apr_pstrdup(p, args), *last, *t;
    const char *seen = "";
    int n = 0;

    memset(out, 0, sizeof(*out));
    for (t = apr_strtok(copy, " \t", &last); t; t = apr_strtok(NULL, " \t", &last), n++) {
        char *eq = strchr(t, '=');
        const char *err;
        if (!strcmp(t, "none") && n == 0) {
            if (apr_strtok(NULL, " \t", &last)) {
                return "'none' stands alone";
            }
            return NULL;
        }
        if (!eq || eq == t) {
            return apr_psprintf(p, "'%s': expected NAME=VALUE (requests=N, time=DURATION, "
                                "memory=MiB, schedule=HH:MM[,HH:MM...]) or none", t);
        }
        *eq = '\0';
        if (strstr(seen, apr_pstrcat(p, " ", t, " ", NULL))) {
            return apr_psprintf(p, "%s= is given twice", t);
        }
        if ((err = parse_one(p, t, eq + 1, out))) {
            return err;
        }
        seen = apr_pstrcat(p, seen, " ", t, " ", NULL);
    }
    if (!n) {
        return "nothing given (requests=N, time=DURATION, memory=MiB, schedule=HH:MM, or none)";
    }
    return NULL;
}

int ac_recycle_any(const ac_recycle_t *rc)
{
    return rc->requests || rc->time_s || rc->memory_mib || rc->nschedule;
}

int ac_recycle_valid(const ac_recycle_t *rc)
{
    unsigned i;

    if (rc->requests > AC_RECYCLE_REQUESTS_MAX || rc->time_s > AC_RECYCLE_TIME_MAX
        || rc->memory_mib > AC_RECYCLE_MEMORY_MAX || rc->nschedule > AC_RECYCLE_SCHEDULE_MAX) {
        return 0;
    }
    for (i = 0; i < rc->nschedule; i++) {
        if (rc->schedule[i] >= 24 * 60 || (i && rc->schedule[i] <= rc->schedule[i - 1])) {
            return 0;
        }
    }
    return 1;
}

int ac_recycle_due(const ac_recycle_t *rc, unsigned long long served, long long ran_s,
                   unsigned long long rss_kib, char *why, apr_size_t why_len)
{
    if (rc->requests && served >= rc->requests) {
        apr_snprintf(why, why_len, "served %" APR_UINT64_T_FMT " requests (AspNetCoreRecycle "
                     "requests=%u)", (apr_uint64_t)served, rc->requests);
        return 1;
    }
    if (rc->time_s && ran_s >= (long long)rc->time_s) {
        apr_snprintf(why, why_len, "ran %" APR_INT64_T_FMT " s (AspNetCoreRecycle time=%us)",
                     (apr_int64_t)ran_s, rc->time_s);
        return 1;
    }
    if (rc->memory_mib && rss_kib > (unsigned long long)rc->memory_mib * 1024) {
        apr_snprintf(why, why_len, "holds %" APR_UINT64_T_FMT " MiB of resident memory with its "
                     "children (AspNetCoreRecycle memory=%u)", (apr_uint64_t)(rss_kib / 1024),
                     rc->memory_mib);
        return 1;
    }
    return 0;
}

int ac_recycle_schedule_passed(const ac_recycle_t *rc, const struct tm *prev,
                               const struct tm *now, char at[6])
{
    unsigned m0 = (unsigned)(prev->tm_hour * 60 + prev->tm_min);
    unsigned m1 = (unsigned)(now->tm_hour * 60 + now->tm_min);
    int same_day = prev->tm_year == now->tm_year && prev->tm_yday == now->tm_yday;
    unsigned i;

    if (now->tm_year < prev->tm_year
        || (now->tm_year == prev->tm_year && now->tm_yday < prev->tm_yday)) {
        return 0;       /* the clock went back: nothing passed */
    }
    for (i = 0; i < rc->nschedule; i++) {
        unsigned s = rc->schedule[i];
        if (same_day ? (s > m0 && s <= m1) : (s > m0 || s <= m1)) {
            apr_snprintf(at, 6, "%02u:%02u", s / 60, s % 60);
            return 1;
        }
    }
    return 0;
}
