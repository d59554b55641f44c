/* libFuzzer target: the web.config importer (ac_webconfig_parse) on
 * arbitrary bytes, with ASan, UBSan and LeakSanitizer watching. Besides
 * memory errors, undefined behaviour and leaks, these count as findings:
 * - libxml2 reporting anything outside the parser context (it would have
 *   printed it on the server's stderr),
 * - an error message without the "<path>:" prefix or with a control byte,
 * - an accepted file without a processPath, or with a value out of range,
 *   or an environment variable name that is empty or holds a '='.
 * Built and run by tests/fuzz/run.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_general.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#include "ac_webconfig.h"

#define FUZZ_PATH "/srv/fuzz/web.config"

static apr_pool_t *root;
static char *const env[] = { "HOME=/home/app", "Path=/usr/bin", "A=%A%%A%", NULL };

static void found(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_webconfig: %s: %s\n", what, detail ? detail : "");
    abort();
}

/* libxml2's process-wide handlers: only reached by a message that escaped
 * the parser context. */
static void escaped_generic(void *ctx, const char *msg, ...)
{
    (void)ctx;
    found("libxml2 reported outside the parser context", msg);
}

#if LIBXML_VERSION >= 21200
static void escaped_structured(void *ctx, const xmlError *err)
#else
static void escaped_structured(void *ctx, xmlErrorPtr err)
#endif
{
    (void)ctx;
    found("libxml2 reported outside the parser context", err ? err->message : NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (apr_initialize() != APR_SUCCESS || apr_pool_create(&root, NULL) != APR_SUCCESS) {
        found("setup", "APR");
    }
    xmlSetGenericErrorFunc(NULL, escaped_generic);
    xmlSetStructuredErrorFunc(NULL, escaped_structured);
    return 0;
}

static void check_list(const apr_array_header_t *a, int env_names)
{
    int i;
    for (i = 0; i < a->nelts; i++) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(a, i, ac_env_entry_t);
        if (!e->name || !*e->name || !e->value) {
            found("collection entry", "missing name or value");
        }
        if (env_names && strchr(e->name, '=')) {
            found("environment variable name with '='", e->name);
        }
        (void)strlen(e->value);             /* ASan: a real string */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    ac_webconfig_t *wc = NULL;
    const char *err, *c;

    if (apr_pool_create(&p, root) != APR_SUCCESS) {
        found("setup", "pool");
    }
    err = ac_webconfig_parse(p, FUZZ_PATH, (const char *)data, size, ac_env_lookup_envp,
                             (void *)env, &wc);
    if (err) {
        if (strncmp(err, FUZZ_PATH ":", strlen(FUZZ_PATH ":")) != 0) {
            found("message without the path", err);
        }
        for (c = err; *c; c++) {
            if ((unsigned char)*c < 0x20 || *c == 0x7F) {
                found("control byte in a message", err);
            }
        }
    }
    else {
        if (!wc || !wc->process_path || !*wc->process_path || wc->line < 1) {
            found("accepted without processPath or line", NULL);
        }
        if (wc->startup_time_limit > 3600 || wc->shutdown_time_limit > 600
            || wc->rapid_fails_per_minute > 100 || wc->processes_per_application > 100
            || wc->processes_per_application == 0 || wc->request_timeout > AC_REQUEST_TIMEOUT_MAX
            || wc->stdout_log_enabled > 1 || wc->hosting_inprocess > 1) {
            found("value out of range", NULL);
        }
        if ((wc->arguments && strlen(wc->arguments) > AC_EXPAND_MAX)
            || strlen(wc->process_path) > AC_EXPAND_MAX) {
            found("expansion over its limit", NULL);
        }
        check_list(wc->env, 1);
        check_list(wc->handler_settings, 0);
    }
    apr_pool_destroy(p);
    return 0;
}
