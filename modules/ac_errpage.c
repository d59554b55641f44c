/* ac_errpage: the 502.5, 502.3, 503 and 500 pages of the module. */
#include "ac_errpage.h"
#include "ac_registry.h"
#include "ac_runtime.h"
#include "ac_safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <string.h>
#include <strings.h>

#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <mod_core.h>
#include <unixd.h>
#include <apr_file_io.h>
#include <apr_signal.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

extern char **environ;

#define OUTPUT_TAIL_MAX (16 * 1024)     /* of the saved startup output, on the page */
#define OUTPUT_SAVED_SLACK apr_time_from_sec(2)   /* saved right after the failure */

/* ---- details or not ---------------------------------------------------- */

int ac_errpage_detailed(const ac_launch_t *launch)
{
    /* what the app itself sees: its configured variables, else Apache's */
    const char *env = ac_launch_env_value(launch, environ, "ASPNETCORE_ENVIRONMENT");
    const char *detailed = ac_launch_env_value(launch, environ, "ASPNETCORE_DETAILEDERRORS");

    if (!env || !*env) {
        env = ac_launch_env_value(launch, environ, "DOTNET_ENVIRONMENT");
    }
    return (env && !strcasecmp(env, "Development"))
           || (detailed && (!strcmp(detailed, "1") || !strcasecmp(detailed, "true")));
}

/* ---- building and installing a page ------------------------------------ */

/* Our page goes out only when the site has no ErrorDocument for the status:
 * theirs (a local URL, an external one or a text) wins. */
static int site_has_error_document(request_rec *r, int status)
{
    return ap_response_code_string(r, ap_index_of_response(status)) != NULL;
}

/* Makes `body` (HTML, everything in it escaped already) the error response
 * for `status`. The page says its charset, so Apache's default one for
 * error pages (iso-8859-1) is left out. */
static int install(request_rec *r, int status, const char *title, const char *body)
{
    apr_table_setn(r->subprocess_env, "suppress-error-charset", "1");
    ap_custom_response(r, status, apr_pstrcat(r->pool,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>", title,
        "</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;"
        "padding:0 1em}pre{background:#f4f4f4;padding:1em;overflow:auto;white-space:pre-wrap}"
        "</style>\n</head><body>\n", body, "</body></html>\n", NULL));
    return status;
}

static const char *esc(request_rec *r, const char *s)
{
    return ap_escape_html(r->pool, s ? s : "");
}

static const char *when(request_rec *r, apr_time_t t)
{
    return ap_ht_time(r->pool, t, "%Y-%m-%d %H:%M:%S %Z", 1);
}

/* ---- 502.5 ------------------------------------------------------------- */

static const char *exit_words(request_rec *r, int status)
{
    if (status < 0) {
        return apr_psprintf(r->pool, "was killed by signal %d (%s)", -status,
                            apr_signal_description_get(-status));
    }
    return apr_psprintf(r->pool, "exited with code %d", status);
}

/* What happened, in plain words (no path, no output: safe for production). */
static const char *what_happened(request_rec *r, const ac_resolved_t *res,
                                 const ac_app_diag_t *d, int waited)
{
    const char *s;
    apr_time_t now = apr_time_now();

    switch (d->fail_kind) {
    case AC_FAIL_SPAWN:
        s = "Its program could not be started at all.";
        break;
    case AC_FAIL_EXIT:
        s = apr_psprintf(r->pool, "Its process exited with code %d before it listened for "
                         "requests.", d->fail_code);
        break;
    case AC_FAIL_SIGNAL:
        s = apr_psprintf(r->pool, "Its process was killed by signal %d (%s) before it listened "
                         "for requests.", d->fail_code, apr_signal_description_get(d->fail_code));
        break;
    case AC_FAIL_TIMEOUT:
        s = apr_psprintf(r->pool, "Its process did not listen for requests within the startup "
                         "time limit of %d s (startupTimeLimit), so it was stopped.", d->fail_code);
        break;
    default:
        s = waited ? apr_psprintf(r->pool, "No process of the app became ready within %d s "
                                  "(startupTimeLimit) while this request waited.",
                                  res->launch->startup_time_limit)
                   : "It has no process that can take requests.";
        if (d->last_exit_time && !waited) {
            s = apr_psprintf(r->pool, "%s Its last process (pid %d) %s.", s,
                             (int)d->last_exit_pid, exit_words(r, d->last_exit_status));
        }
        break;
    }
    if (d->fail_kind != AC_FAIL_NONE && d->fail_time) {
        s = apr_pstrcat(r->pool, s, " This happened at ", when(r, d->fail_time), ".", NULL);
    }
    if (d->tripped) {
        apr_interval_time_t left = d->tripped_until > now ? d->tripped_until - now : 0;
        s = apr_psprintf(r->pool, "%s The app failed %u times within a minute, more than its "
                         "limit of %d (rapidFailsPerMinute), so it is not started again before "
                         "%s (in about %ld s).", s, d->recent_fails,
                         res->launch->rapid_fails_per_minute, when(r, d->tripped_until),
                         (long)apr_time_sec(left + apr_time_from_sec(1) - 1));
    }
    return s;
}

/* The end of what the failed process wrote while starting, as the
 * supervisor saved it; NULL when there is none for this failure. Bounded:
 * at most OUTPUT_TAIL_MAX bytes, from a line start when cut. */
static const char *startup_output_tail(request_rec *r, const char *path, apr_time_t failed_at,
                                       int *cut)
{
    apr_file_t *f;
    apr_finfo_t fi;
    apr_off_t off;
    apr_size_t n;
    char *buf;
    apr_status_t rv;

    ac_safefile_rules_t rules;
    const char *why;
    apr_os_file_t fd;

    *cut = 0;
    /* The runtime directory is writable by Apache's User, so by any app: a
     * FIFO there must not hang this request, a link must not show another
     * file. Only a regular file the supervisor (running as we do) wrote. */
    memset(&rules, 0, sizeof(rules));
    rules.nofollow = 1;
    rules.check_owner = 1;
    rules.owner = geteuid();
    fd = ac_safefile_open(AT_FDCWD, path, &rules, &why);
    if (fd < 0) {
        if (errno != ENOENT) {
            ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "%s: not read (%s)", path, why);
        }
        return NULL;
    }
    if (apr_os_file_put(&f, &fd, APR_FOPEN_READ | APR_FOPEN_BINARY, r->pool) != APR_SUCCESS) {
        close(fd);
        return NULL;
    }
    rv = apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_MTIME | APR_FINFO_TYPE, f);
    if (rv != APR_SUCCESS || fi.filetype != APR_REG || fi.mtime + OUTPUT_SAVED_SLACK < failed_at) {
        apr_file_close(f);      /* an earlier failure's (or another app's) output */
        return NULL;
    }
    off = fi.size > OUTPUT_TAIL_MAX ? fi.size - OUTPUT_TAIL_MAX : 0;
    n = (apr_size_t)(fi.size - off);
    buf = apr_palloc(r->pool, n + 1);
    rv = apr_file_seek(f, APR_SET, &off);
    if (rv == APR_SUCCESS) {
        rv = apr_file_read_full(f, buf, n, &n);
    }
    apr_file_close(f);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EOF(rv)) {
        ap_log_rerror(APLOG_MARK, APLOG_DEBUG, rv, r, "cannot read %s", path);
        return NULL;
    }
    if (!n) {
        return NULL;
    }
    buf[n] = '\0';
    if (off > 0) {
        char *nl = strchr(buf, '\n');
        *cut = 1;
        return nl ? nl + 1 : buf;
    }
    return buf;
}

static const char *details_502_5(request_rec *r, const ac_resolved_t *res,
                                 const ac_app_diag_t *d, apr_uint32_t index)
{
    const ac_launch_t *l = res->launch;
    const char *path = ap_runtime_dir_relative(r->pool,
                                               apr_psprintf(r->pool, AC_RUNTIME_SUBDIR "/" AC_STARTUP_LOG_FORMAT,
                                                            (unsigned)index));
    const char *out = NULL, *s;
    int cut = 0;

    s = apr_pstrcat(r->pool,
        "<h2>Details</h2>\n<p>Shown because the app's environment is Development or "
        "ASPNETCORE_DETAILEDERRORS is set; never leave that on in production.</p>\n<ul>\n"
        "<li>Process: <code>", esc(r, l->process_path), " ", esc(r, l->arguments), "</code></li>\n"
        "<li>App root: <code>", esc(r, l->app_root), "</code>, at <code>",
        esc(r, l->virtual_path), "</code></li>\n"
        "<li>Runs as: <code>", esc(r, ap_unixd_config.user_name), "</code></li>\n"
        "<li>Error log tag: <code>[", esc(r, res->label), "]</code></li>\n", NULL);
    if (d->last_error[0]) {
        s = apr_pstrcat(r->pool, s, "<li>Last error: ", esc(r, d->last_error), "</li>\n", NULL);
    }
    s = apr_pstrcat(r->pool, s, "</ul>\n", NULL);
    if (d->fail_kind != AC_FAIL_NONE && path) {
        out = startup_output_tail(r, path, d->fail_time, &cut);
    }
    if (out) {
        s = apr_pstrcat(r->pool, s, "<h3>What it wrote while starting</h3>\n<p>",
                        cut ? "The end of " : "", "<code>", esc(r, path), "</code>:</p>\n<pre>",
                        esc(r, out), "</pre>\n", NULL);
    }
    else if (d->fail_kind != AC_FAIL_NONE) {
        s = apr_pstrcat(r->pool, s, "<p>It wrote nothing while starting that was kept.</p>\n",
                        NULL);
    }
    return s;
}

static const char *what_to_check_502_5(request_rec *r, const ac_resolved_t *res, int detailed)
{
    const ac_launch_t *l = res->launch;
    const char *by_hand = detailed
        ? apr_pstrcat(r->pool, ": <code>cd ", esc(r, l->app_root), " &amp;&amp; sudo -u ",
                      esc(r, ap_unixd_config.user_name), " ", esc(r, l->process_path), " ",
                      esc(r, l->arguments), "</code>", NULL)
        : " (AspNetCoreProcessPath and AspNetCoreArguments, or processPath and arguments in "
          "web.config)";

    return apr_pstrcat(r->pool,
        "<h2>What to check</h2>\n<ul>\n"
        "<li>Apache's error log (of the virtual host that declares the app): the module's "
        "lines about this app are tagged with its root directory and path; they say why it "
        "stopped, and the last lines it printed before it stopped follow, at level error "
        "(<code>before it stopped:</code>), unless its output goes to its stdout log.</li>\n"
        "<li>Run the app by hand from its root directory, as Apache's User, with the configured "
        "command", by_hand, "; it should start and listen without errors.</li>\n"
        "<li>The app's stdout log, if AspNetCoreStdoutLogEnabled (stdoutLogEnabled) is on: "
        "all it printed is there.</li>\n"
        "<li>The .NET runtime the app was built for is installed "
        "(<code>dotnet --list-runtimes</code>).</li>\n"
        "<li>Permissions: Apache's User can read the app's files and folders and run its "
        "program.</li>\n</ul>\n", NULL);
}

int ac_errpage_startup_failed(request_rec *r, const ac_resolved_t *res, const ac_app_t *app,
                              int waited)
{
    ac_shared_t *sh = ac_registry_shared();
    ac_app_diag_t d;
    const char *happened, *body;
    int detailed;

    ac_app_read_diag(app, &d);
    happened = what_happened(r, res, &d, waited);
    if (waited) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] no process became ready within %d s "
                      "(startupTimeLimit) (502.5)", res->label, res->launch->startup_time_limit);
    }
    else {
        /* as "%s": the words hold numbers only, but never a format */
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "[%s] failed to start (502.5): %s",
                      res->label, happened);
    }
    if (res->disable_startup_error_page || site_has_error_document(r, HTTP_BAD_GATEWAY)) {
        return HTTP_BAD_GATEWAY;
    }
    detailed = ac_errpage_detailed(res->launch);
    body = apr_pstrcat(r->pool,
        "<h1>502.5 App failed to start</h1>\n<p>The app behind this address could not be "
        "started, so the request could not be answered.</p>\n<h2>What happened</h2>\n<p>",
        esc(r, happened), "</p>\n", what_to_check_502_5(r, res, detailed),
        detailed ? details_502_5(r, res, &d, (apr_uint32_t)(app - sh->apps))
                 : "<p>To see the app's startup output and paths on this page, run it with "
                   "ASPNETCORE_ENVIRONMENT=Development or ASPNETCORE_DETAILEDERRORS=1 "
                   "(never in production).</p>\n", NULL);
    return install(r, HTTP_BAD_GATEWAY, "502.5 App failed to start", body);
}

/* ---- 502.3, 503, 500 ---------------------------------------------------- */

int ac_errpage_bad_gateway(request_rec *r, const ac_resolved_t *res, const char *why)
{
    const char *body;

    if (site_has_error_document(r, HTTP_BAD_GATEWAY)) {
        return HTTP_BAD_GATEWAY;
    }
    body = apr_pstrcat(r->pool,
        "<h1>502.3 Bad Gateway</h1>\n<p>The request reached the app, but the app did not answer "
        "properly: it did not answer within its time limit (requestTimeout), closed or reset "
        "the connection, or sent an answer that is not valid HTTP.</p>\n"
        "<h2>What to check</h2>\n<ul>\n"
        "<li>Apache's error log: lines ending in <code>(502.3)</code> say which of these it "
        "was.</li>\n"
        "<li>For slow requests, raise AspNetCoreRequestTimeout (requestTimeout).</li>\n"
        "<li>The app's own log, for an exception or a crash.</li>\n</ul>\n", NULL);
    if (res && ac_errpage_detailed(res->launch) && why) {
        body = apr_pstrcat(r->pool, body, "<h2>Details</h2>\n<p>", esc(r, why),
                           " (app <code>", esc(r, res->label), "</code>)</p>\n", NULL);
    }
    return install(r, HTTP_BAD_GATEWAY, "502.3 Bad Gateway", body);
}

int ac_errpage_unavailable(request_rec *r, const char *why)
{
    apr_table_setn(r->err_headers_out, "Retry-After", "1");
    if (site_has_error_document(r, HTTP_SERVICE_UNAVAILABLE)) {
        return HTTP_SERVICE_UNAVAILABLE;
    }
    return install(r, HTTP_SERVICE_UNAVAILABLE, "503 Service Unavailable", apr_pstrcat(r->pool,
        "<h1>503 Service Unavailable</h1>\n<p>The app cannot take this request right now: ",
        esc(r, why), ".</p>\n<p>Please try again in a moment.</p>\n", NULL));
}

/* Details for the 500 page: the web.config could not be read, so only the
 * Apache side of the app's environment is known (its
 * AspNetCoreEnvironmentVariable directives, then Apache's environment). */
static int config_detailed(request_rec *r)
{
    const ac_dir_conf_t *d = ap_get_module_config(r->per_dir_config, &aspnetcore_module);
    ac_launch_t known;

    memset(&known, 0, sizeof(known));
    known.env = d ? d->env : NULL;
    return ac_errpage_detailed(&known);
}

int ac_errpage_config(request_rec *r, const char *why)
{
    const char *details;

    if (site_has_error_document(r, HTTP_INTERNAL_SERVER_ERROR)) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    /* `why` names files and quotes the parser: for the error log (the
     * caller logs it) and, like the 502.5 page's details, for a client only
     * in Development or with ASPNETCORE_DETAILEDERRORS */
    details = config_detailed(r)
        ? apr_pstrcat(r->pool, "<h2>Details</h2>\n<p>Shown because the app's environment is "
                      "Development or ASPNETCORE_DETAILEDERRORS is set; never leave that on in "
                      "production.</p>\n<p>", esc(r, why), "</p>\n", NULL)
        : "<p>The details are in Apache's error log. They are shown here when the app runs "
          "with ASPNETCORE_ENVIRONMENT=Development or ASPNETCORE_DETAILEDERRORS=1 "
          "(AspNetCoreEnvironmentVariable).</p>\n";
    return install(r, HTTP_INTERNAL_SERVER_ERROR, "500 Configuration error", apr_pstrcat(r->pool,
        "<h1>The app's configuration is invalid</h1>\n", details,
        "<p>Fix it and the next request uses it; no restart of Apache is needed.</p>\n",
        NULL));
}

/* ---- app_offline.htm -------------------------------------------------- */

#define OFFLINE_MAX_BYTES (16 * 1024 * 1024)

/* The app is offline for a deploy: 503 with the bytes of its app_offline.htm
 * (ANCM), never cached, and a hint to come back soon. */
int ac_errpage_offline(request_rec *r, const char *app_root)
{
    const char *path = apr_pstrcat(r->pool, app_root, "/app_offline.htm", NULL);
    apr_bucket_brigade *bb;
    apr_file_t *f;
    apr_finfo_t fi;

    r->status = HTTP_SERVICE_UNAVAILABLE;
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    apr_table_setn(r->headers_out, "Retry-After", "5");
    ap_set_content_type(r, "text/html");
    if (apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, r->pool) != APR_SUCCESS
        || apr_file_info_get(&fi, APR_FINFO_SIZE | APR_FINFO_TYPE, f) != APR_SUCCESS
        || fi.filetype != APR_REG || fi.size > OFFLINE_MAX_BYTES) {
        /* removed just now, or not a sensible page: a plain 503 */
        return HTTP_SERVICE_UNAVAILABLE;
    }
    ap_set_content_length(r, fi.size);
    if (r->header_only) {
        return OK;
    }
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    apr_brigade_insert_file(bb, f, 0, fi.size, r->pool);
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    return ap_pass_brigade(r->output_filters, bb) == APR_SUCCESS ? OK : AP_FILTER_ERROR;
}

