/* ac_ownercheck: ac_ownerpolicy on launch settings. */
#include "ac_ownercheck.h"
#include "ac_ownerpolicy.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <apr_strings.h>

/* The .NET host reads its configuration from the command line too
 * (--contentRoot=..., /hostingStartupAssemblies ...): what the refused
 * variables set (ac_ownerpolicy_env_refused) is refused as an argument. */
static int contains_nocase(const char *s, const char *key)
{
    apr_size_t k = strlen(key);
    for (; *s; s++) {
        if (!strncasecmp(s, key, k)) {
            return 1;
        }
    }
    return 0;
}

static const char *host_switch(apr_pool_t *p, const char *arg)
{
    static const char *const keys[] = { "hostingstartup", "contentroot", "webroot" };
    apr_size_t i;

    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (contains_nocase(arg, keys[i])) {
            return apr_psprintf(p, "argument %s sets where the host loads code or content "
                                "from", arg);
        }
    }
    return NULL;
}

const char *ac_ownercheck_host_switches(apr_pool_t *p, const char *program, const char *app_root,
                                        char *const *argv)
{
    const char *base = strrchr(program, '/');
    const char *err = NULL;
    size_t n;
    int i = 1;

    /* the .NET host outside the app root (rule 3b) takes its first
     * argument, the app's .dll, as a file name and does not pass it on to
     * the app; never one that reads as an option. A program of the app's
     * own named dotnet gets its arguments as they are. */
    if (!argv[0] || !argv[1]) {
        return NULL;
    }
    base = base ? base + 1 : program;
    n = strlen(argv[1]);
    if (strcmp(base, "dotnet") == 0 && !ac_ownerpolicy_inside(app_root, program) && argv[1][0] != '-' && n > 4
        && strcasecmp(argv[1] + n - 4, ".dll") == 0) {
        i = 2;
    }
    for (; !err && argv[i]; i++) {
        err = host_switch(p, argv[i]);
    }
    return err;
}

const char *ac_ownercheck_launch(apr_pool_t *p, const ac_launch_t *l, uid_t min_uid,
                                 const char **checked)
{
    const ac_ownerpolicy_t pol = { l->user.uid, l->user.gid, min_uid };
    const char *program, *err;
    const char **names = apr_pcalloc(p, sizeof(*names) * (size_t)(l->env->nelts + 1));
    char real[PATH_MAX], why[512];
    char **argv;
    int i;

    for (i = 0; i < l->env->nelts; i++) {
        names[i] = APR_ARRAY_IDX(l->env, i, ac_env_entry_t).name;
    }
    /* the program as the spawn finds it (ac_launch_resolve_program), by
     * its real path: /usr/bin/dotnet is a link */
    err = ac_launch_resolve_program(p, l, ac_launch_path_env(l, getenv("PATH")), &program);
    if (!err && !realpath(program, real)) {
        err = apr_psprintf(p, "%s: %s", program, strerror(errno));
    }
    if (!err) {
        err = ac_launch_build_argv(p, l, real, &argv);
    }
    if (!err) {
        err = ac_ownercheck_host_switches(p, real, l->app_root, argv);
    }
    if (!err) {
        err = ac_ownerpolicy_check(&pol, l->app_root, real, argv, names, why, sizeof(why));
        err = err ? apr_pstrdup(p, err) : NULL;
    }
    if (!err && checked) {
        *checked = apr_pstrdup(p, real);
    }
    return err;
}
