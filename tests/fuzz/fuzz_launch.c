/* libFuzzer target: the launch-settings deserializer (ac_launch_deserialize),
 * which the supervisor runs on what the parent sends and on the payload of
 * a REGISTER datagram from any httpd child, then what the supervisor does
 * with accepted settings (argv, envp, key, label).
 *
 * Besides memory errors, UB and leaks (the input sits in a heap block of
 * exactly its size), findings:
 * - accepted settings without a process path, app root, virtual path or
 *   site, or with a value that no configuration can hold (processes 1-100,
 *   startup 0-3600 s, shutdown 0-600 s, rapid fails 0-100, flags 0 or 1,
 *   https port 0-65535);
 * - accepted bytes that ac_launch_serialize does not write back exactly
 *   (the format is canonical: serialize(deserialize(x)) == x), or settings
 *   that do not come back equal through serialize then deserialize;
 * - an argv without the program first or without its NULL, an envp entry
 *   without '=' or without the contract's variables.
 * Built and run by tests/fuzz/run.sh. */
#include "fuzz_common.h"

#include <apr_strings.h>

#include "ac_launch.h"

#define T "fuzz_launch"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(T);
    return 0;
}

static int same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static int same_pairs(const apr_array_header_t *a, const apr_array_header_t *b)
{
    int i, na = a ? a->nelts : 0, nb = b ? b->nelts : 0;
    if (na != nb) {
        return 0;
    }
    for (i = 0; i < na; i++) {
        const ac_env_entry_t *x = &APR_ARRAY_IDX(a, i, ac_env_entry_t);
        const ac_env_entry_t *y = &APR_ARRAY_IDX(b, i, ac_env_entry_t);
        if (!same_str(x->name, y->name) || !same_str(x->value, y->value)) {
            return 0;
        }
    }
    return 1;
}

static int same_launch(const ac_launch_t *a, const ac_launch_t *b)
{
    return same_str(a->process_path, b->process_path) && same_str(a->arguments, b->arguments)
        && same_str(a->app_root, b->app_root) && same_str(a->virtual_path, b->virtual_path)
        && same_str(a->site, b->site) && same_pairs(a->env, b->env)
        && a->processes == b->processes && a->startup_time_limit == b->startup_time_limit
        && a->shutdown_time_limit == b->shutdown_time_limit
        && a->rapid_fails_per_minute == b->rapid_fails_per_minute
        && a->websockets == b->websockets && a->stdout_log_enabled == b->stdout_log_enabled
        && same_str(a->stdout_log_file, b->stdout_log_file)
        && same_pairs(a->handler_settings, b->handler_settings)
        && a->ondemand == b->ondemand && same_str(a->web_config, b->web_config)
        && same_str(a->state_dir, b->state_dir)
        && a->https_port == b->https_port;
}

static void use(apr_pool_t *p, const ac_launch_t *l)
{
    static char *const base[] = { "PATH=/usr/bin", "ASPNETCORE_PORT=1", "HOME=/root",
                                  "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES=X", "NOEQUALS", NULL };
    unsigned char key[AC_KEY_BYTES];
    char **argv = NULL, **envp;
    int i, port_seen = 0, token_seen = 0;

    ac_launch_key(l, p, key);
    (void)ac_launch_label(p, l);
    (void)ac_launch_env_value(l, base, "HOME");
    (void)ac_pairs_get(l->handler_settings, "stackSize");
    if (!ac_launch_build_argv(p, l, "/usr/bin/dotnet", &argv)) {
        if (!argv || !argv[0] || strcmp(argv[0], "/usr/bin/dotnet")) {
            fuzz_found(T, "argv without the program first", NULL);
        }
        for (i = 0; argv[i]; i++) {
            (void)strlen(argv[i]);
        }
    }
    envp = ac_launch_build_env(p, l, base, 5000, "0123456789abcdef0123456789abcdef");
    for (i = 0; envp[i]; i++) {
        if (!strchr(envp[i], '=')) {
            fuzz_found(T, "envp entry without '='", envp[i]);
        }
        port_seen |= !strncasecmp(envp[i], "ASPNETCORE_PORT=", 16);
        token_seen |= !strncasecmp(envp[i], "ASPNETCORE_TOKEN=", 17);
    }
    if (!port_seen || !token_seen) {
        fuzz_found(T, "envp without the port or the token", NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool(T);
    char *buf = fuzz_copy(data, size);
    ac_launch_t *l = NULL, *again = NULL;
    apr_array_header_t *out;

    if (!ac_launch_deserialize(p, buf, size, &l)) {
        if (!l || !l->process_path || !l->app_root || !l->virtual_path || !l->site
            || l->processes < 1) {
            fuzz_found(T, "accepted settings lack a required field", NULL);
        }
        /* Only what a configuration can produce (ac_config.c, ac_webconfig.c
         * ranges): a REGISTER datagram comes from any httpd child. */
        if (l->processes > 100 || l->startup_time_limit < 0 || l->startup_time_limit > 3600
            || l->shutdown_time_limit < 0 || l->shutdown_time_limit > 600
            || l->rapid_fails_per_minute < 0 || l->rapid_fails_per_minute > 100
            || (unsigned)l->stdout_log_enabled > 1 || (unsigned)l->ondemand > 1
            || (unsigned)l->websockets > 1 || l->https_port < 0 || l->https_port > 65535) {
            fuzz_found(T, "accepted settings with a value no configuration can hold", NULL);
        }
        out = apr_array_make(p, (int)size + 1, 1);
        ac_launch_serialize(l, out);
        if ((size_t)out->nelts != size || memcmp(out->elts, data, size)) {
            fuzz_found(T, "serialize(deserialize(x)) != x", NULL);
        }
        if (ac_launch_deserialize(p, out->elts, (apr_size_t)out->nelts, &again)
            || !same_launch(l, again)) {
            fuzz_found(T, "deserialize(serialize(l)) != l", NULL);
        }
        use(p, l);
    }
    free(buf);
    apr_pool_destroy(p);
    return 0;
}
