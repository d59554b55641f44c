/* ac_status_figures: per-process figures and rolling restarts on the status
 * page (ac_status_figures.h). */
#include "ac_status_figures.h"
#include "ac_json.h"

#include <http_protocol.h>
#include <apr_strings.h>
#include <apr_user.h>

/* The user's name, or NULL when the system has none for the uid. */
static const char *user_name(apr_pool_t *p, uint32_t uid)
{
    char *name;
    if (apr_uid_name_get(&name, (apr_uid_t)uid, p) != APR_SUCCESS) {
        return NULL;
    }
    return name;
}

void ac_status_json_process_figures(request_rec *r, const ac_slot_diag_t *d)
{
    apr_pool_t *p = r->pool;

    if (!d->figures_time) {
        ap_rputs(", \"user\": null, \"uid\": null, \"memory_kib\": null, \"cpu_ms\": null, "
                 "\"tasks\": null", r);
        return;
    }
    ap_rprintf(r, ", \"user\": %s, \"uid\": %u, \"memory_kib\": %" APR_UINT64_T_FMT
               ", \"cpu_ms\": %" APR_UINT64_T_FMT ", \"tasks\": %u",
               ac_json_string(p, user_name(p, d->uid)), (unsigned)d->uid,
               (apr_uint64_t)d->rss_kib, (apr_uint64_t)d->cpu_ms, (unsigned)d->tasks);
}

void ac_status_json_recycles(request_rec *r, const ac_app_diag_t *d)
{
    ap_rprintf(r, "\"recycles\": %u, \"last_recycle\": ", (unsigned)d->recycles);
    if (d->last_recycle_time > 0) {
        ap_rprintf(r, "{\"pid\": %ld, \"time\": %" APR_TIME_T_FMT ", \"why\": %s}, ",
                   (long)d->last_recycle_pid, apr_time_sec(d->last_recycle_time),
                   ac_json_string(r->pool, d->last_recycle_why));
    }
    else {
        ap_rputs("null, ", r);
    }
}

const char *ac_status_html_figures_head(void)
{
    return "<th>user</th><th>memory</th><th>CPU time (s)</th>";
}

static const char *memory_text(apr_pool_t *p, apr_uint64_t kib)
{
    if (kib < 10 * 1024) {
        return apr_psprintf(p, "%" APR_UINT64_T_FMT " KiB", kib);
    }
    return apr_psprintf(p, "%" APR_UINT64_T_FMT ".%" APR_UINT64_T_FMT " MiB", kib / 1024,
                        (kib % 1024) * 10 / 1024);
}

const char *ac_status_html_process_figures(apr_pool_t *p, const ac_slot_diag_t *d)
{
    const char *user;

    if (!d->figures_time) {
        return "<td>?</td><td>?</td><td>?</td>";
    }
    user = user_name(p, d->uid);
    return apr_psprintf(p, "<td>%s</td><td>%s</td><td>%" APR_UINT64_T_FMT ".%02u</td>",
                        user ? ap_escape_html(p, user) : apr_psprintf(p, "uid %u",
                                                                      (unsigned)d->uid),
                        memory_text(p, d->rss_kib), (apr_uint64_t)(d->cpu_ms / 1000),
                        (unsigned)(d->cpu_ms % 1000 / 10));
}

const char *ac_status_html_recycles(apr_pool_t *p, const ac_app_diag_t *d)
{
    apr_time_exp_t tm;
    apr_size_t len;
    char when[64];

    if (d->last_recycle_time <= 0) {
        return apr_psprintf(p, "%u", (unsigned)d->recycles);
    }
    if (apr_time_exp_gmt(&tm, d->last_recycle_time) != APR_SUCCESS
        || apr_strftime(when, &len, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm)
           != APR_SUCCESS) {
        apr_cpystrn(when, "?", sizeof(when));
    }
    return apr_psprintf(p, "%u (the last: process %ld at %s, %s)", (unsigned)d->recycles,
                        (long)d->last_recycle_pid, when,
                        ap_escape_html(p, d->last_recycle_why));
}
