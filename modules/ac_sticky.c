/* ac_sticky: the sticky-session cookie on a request and its answer. */
#include "ac_sticky.h"
#include "ac_shared.h"

#include <string.h>

#include <http_log.h>
#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_tables.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

static const char *cookie_name(const ac_dir_conf_t *d)
{
    return d->sticky_cookie ? d->sticky_cookie : AC_AFFINITY_DEFAULT_COOKIE;
}

int ac_sticky_take(request_rec *r, const ac_dir_conf_t *d, ac_affinity_t *want)
{
    const apr_array_header_t *arr = apr_table_elts(r->headers_in);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    apr_array_header_t *kept = NULL;
    const char *name;
    int i, j, has_want = 0;

    if (d->sticky != 1) {
        return 0;
    }
    name = cookie_name(d);
    for (i = 0; i < arr->nelts; i++) {
        const char *rest;
        int found;
        if (!e[i].key || strcasecmp(e[i].key, "Cookie")) {
            continue;
        }
        rest = ac_affinity_strip(r->pool, e[i].val, name, AC_MAX_PROCESSES, &found, want,
                                 &has_want);
        if (found && !kept) {
            kept = apr_array_make(r->pool, 2, sizeof(const char *));
            for (j = 0; j < i; j++) {    /* the Cookie fields before this one */
                if (e[j].key && !strcasecmp(e[j].key, "Cookie")) {
                    APR_ARRAY_PUSH(kept, const char *) = e[j].val;
                }
            }
        }
        if (kept && *rest) {
            APR_ARRAY_PUSH(kept, const char *) = rest;
        }
    }
    if (kept) {
        /* the app never sees the cookie: what is left of each field goes on
         * as it came, an emptied field not at all */
        apr_table_unset(r->headers_in, "Cookie");
        for (i = 0; i < kept->nelts; i++) {
            apr_table_addn(r->headers_in, "Cookie", APR_ARRAY_IDX(kept, i, const char *));
        }
    }
    if (has_want) {
        ap_log_rerror(APLOG_MARK, APLOG_TRACE1, 0, r, "sticky-session cookie names slot %u, "
                      "process %" APR_UINT64_T_FMT, (unsigned)want->slot,
                      (apr_uint64_t)want->incarnation);
    }
    return has_want;
}

const char *ac_sticky_cookie(request_rec *r, const ac_dir_conf_t *d, const char *vpath,
                             const ac_affinity_t *want, const ac_affinity_t *served)
{
    if (d->sticky != 1) {
        return NULL;
    }
    if (want && want->slot == served->slot && want->incarnation == served->incarnation) {
        return NULL;    /* the client is where its cookie says */
    }
    return ac_affinity_set_cookie(r->pool, cookie_name(d), served, vpath,
                                  !strcmp(ap_http_scheme(r), "https"));
}
