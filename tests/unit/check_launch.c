/* Unit tests: launch settings (serialization, key, argv, environment, program lookup). */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_launch.h"
#include "ac_cgroup.h"

static ac_launch_t *sample(void)
{
    ac_launch_t *l = apr_pcalloc(test_pool, sizeof(*l));
    ac_env_entry_t *e;
    l->process_path = "dotnet";
    l->arguments = "MyApp.dll \"--urls with space\" 'single q'";
    l->app_root = "/srv/app";
    l->virtual_path = "/shop";
    l->site = "example.com:80 location /shop";
    l->env = apr_array_make(test_pool, 2, sizeof(ac_env_entry_t));
    e = apr_array_push(l->env);
    e->name = "ASPNETCORE_ENVIRONMENT";
    e->value = "Staging";
    e = apr_array_push(l->env);
    e->name = "ASPNETCORE_PORT";
    e->value = "1";          /* a configured variable wins, even over the contract */
    l->processes = 2;
    l->startup_time_limit = 120;
    l->shutdown_time_limit = 10;
    l->rapid_fails_per_minute = 10;
    l->websockets = 0;
    l->web_config = "/srv/app/web.config";
    l->state_dir = "/var/lib/apache2/aspnetcore/www-data/srv-app-0123abcd";
    return l;
}

START_TEST(roundtrip_and_key)
{
    ac_launch_t *l = sample(), *back;
    apr_array_header_t *buf = apr_array_make(test_pool, 64, 1);
    unsigned char k1[AC_KEY_BYTES], k2[AC_KEY_BYTES];

    ac_launch_serialize(l, buf);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    ck_assert_str_eq(back->arguments, l->arguments);
    ck_assert_str_eq(back->virtual_path, "/shop");
    ck_assert_int_eq(back->env->nelts, 2);
    ck_assert_int_eq(back->processes, 2);
    ck_assert_str_eq(back->web_config, "/srv/app/web.config");
    ck_assert_str_eq(back->state_dir, l->state_dir);
    ac_launch_key(l, test_pool, k1);
    ac_launch_key(back, test_pool, k2);
    ck_assert(!memcmp(k1, k2, AC_KEY_BYTES));
    back->arguments = "Other.dll";
    ac_launch_key(back, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES));
    /* the state directory is part of the app's identity: a change restarts it */
    l->state_dir = "/srv/state";
    ac_launch_key(l, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES));
    /* and it is absolute (REGISTER comes from any child) */
    l->state_dir = "relative";
    buf->nelts = 0;
    ac_launch_serialize(l, buf);
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts,
                                                &back));
}
END_TEST

/* Found by tests/fuzz/fuzz_launch.c: settings no configuration can hold
 * (processes past the shared table's slots, negative time limits, flags
 * other than 0/1) were accepted from the bytes of any REGISTER datagram. */
START_TEST(deserialize_refuses_values_out_of_range)
{
    static const struct { int processes, startup, shutdown, rapid, log, ondemand, ws; } bad[] = {
        { 101, 120, 10, 10, 0, 0, 0 }, { 0x7fffffff, 120, 10, 10, 0, 0, 0 },
        { 2, -1, 10, 10, 0, 0, 0 }, { 2, 3601, 10, 10, 0, 0, 0 },
        { 2, 120, -5, 10, 0, 0, 0 }, { 2, 120, 601, 10, 0, 0, 0 },
        { 2, 120, 10, -1, 0, 0, 0 }, { 2, 120, 10, 101, 0, 0, 0 },
        { 2, 120, 10, 10, 2, 0, 0 }, { 2, 120, 10, 10, 0, -1, 0 }, { 2, 120, 10, 10, 0, 0, 7 },
    };
    ac_launch_t *l = sample(), *back;
    apr_array_header_t *buf;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l->processes = bad[i].processes;
        l->startup_time_limit = bad[i].startup;
        l->shutdown_time_limit = bad[i].shutdown;
        l->rapid_fails_per_minute = bad[i].rapid;
        l->stdout_log_enabled = bad[i].log;
        l->ondemand = bad[i].ondemand;
        l->websockets = bad[i].ws;
        buf = apr_array_make(test_pool, 64, 1);
        ac_launch_serialize(l, buf);
        ck_assert_msg(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back)
                      != NULL, "accepted case %u", (unsigned)i);
    }
    /* the bounds themselves are fine */
    l->processes = 100;
    l->startup_time_limit = 3600;
    l->shutdown_time_limit = 600;
    l->rapid_fails_per_minute = 100;
    l->stdout_log_enabled = l->ondemand = l->websockets = 1;
    buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
}
END_TEST

START_TEST(deserialize_rejects_truncation)
{
    apr_array_header_t *buf = apr_array_make(test_pool, 64, 1);
    ac_launch_t *back;
    int n;
    ac_launch_serialize(sample(), buf);
    for (n = 0; n < buf->nelts; n++) {
        ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)n, &back));
    }
    /* a trailing byte is an error too */
    *(char *)apr_array_push(buf) = 'x';
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
}
END_TEST

static void push_u32(apr_array_header_t *b, apr_uint32_t v)
{
    int k;
    for (k = 3; k >= 0; k--) {
        *(unsigned char *)apr_array_push(b) = (unsigned char)(v >> (8 * k));
    }
}

/* `l` serialized with the user fields (they come last) as given; a NULL
 * name is the null string. */
static apr_array_header_t *with_user(ac_launch_t *l, apr_uint32_t source, apr_uint32_t uid,
                                     apr_uint32_t gid, const char *name)
{
    apr_array_header_t *b = apr_array_make(test_pool, 64, 1);
    apr_size_t k;

    l->user_source = AC_USER_CONFIG;
    strcpy(l->user.name, "x");
    ac_launch_serialize(l, b);
    b->nelts -= 12 + 4 + 1;
    push_u32(b, source);
    push_u32(b, uid);
    push_u32(b, gid);
    if (!name) {
        push_u32(b, 0xffffffffu);
        return b;
    }
    push_u32(b, (apr_uint32_t)strlen(name));
    for (k = 0; name[k]; k++) {
        *(char *)apr_array_push(b) = name[k];
    }
    return b;
}

/* The app's user: carried, part of the key (another user is another app),
 * and never root, an unknown source or a name that is a path. */
START_TEST(app_user)
{
    ac_launch_t *l = sample(), *back;
    apr_array_header_t *buf;
    unsigned char k1[AC_KEY_BYTES], k2[AC_KEY_BYTES];
    static const struct { apr_uint32_t source, uid, gid; const char *name; } bad[] = {
        { AC_USER_CONFIG, 0, 1, "daemon" }, { AC_USER_CONFIG, 1, 0, "daemon" },
        { AC_USER_CONFIG, 1, 1, NULL }, { AC_USER_CONFIG, 1, 1, "" },
        { AC_USER_CONFIG, 1, 1, "a/b" }, { AC_USER_CONFIG, 1, 1, ".." },
        { 7, 1, 1, "daemon" }, { AC_USER_APACHE, 0, 0, "www-data" },
        { AC_USER_APACHE, 5, 0, NULL }, { AC_USER_APACHE, 0, 5, NULL },
        { AC_USER_CONFIG, 1, 1, "a-name-longer-than-sixty-three-characters-is-no-user-name-here-x" },
    };
    unsigned i;

    ac_launch_key(l, test_pool, k1);
    buf = with_user(l, AC_USER_CONFIG, 1, 1, "daemon");
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    ck_assert_int_eq(back->user_source, AC_USER_CONFIG);
    ck_assert_int_eq(back->user.uid, 1);
    ck_assert_int_eq(back->user.gid, 1);
    ck_assert_str_eq(back->user.name, "daemon");
    ac_launch_key(back, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES) != 0);
    /* an environment name with '=' would set another variable than the
     * one a check looked at */
    {
        ac_launch_t *e = sample();
        apr_array_header_t *eb = apr_array_make(test_pool, 64, 1);
        APR_ARRAY_IDX(e->env, 0, ac_env_entry_t).name = "DOTNET_STARTUP_HOOKS=/tmp/h.dll";
        ac_launch_serialize(e, eb);
        ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, eb->elts, (apr_size_t)eb->nelts,
                                                    &back));
        APR_ARRAY_IDX(e->env, 0, ac_env_entry_t).name = "";
        eb = apr_array_make(test_pool, 64, 1);
        ac_launch_serialize(e, eb);
        ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, eb->elts, (apr_size_t)eb->nelts,
                                                    &back));
    }
    /* a line break in a path would forge a log line */
    {
        ac_launch_t *e = sample();
        apr_array_header_t *eb = apr_array_make(test_pool, 64, 1);
        e->app_root = "/srv/app\n[error] forged";
        ac_launch_serialize(e, eb);
        ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, eb->elts, (apr_size_t)eb->nelts,
                                                    &back));
    }
    buf = with_user(l, AC_USER_APACHE, 0, 0, NULL);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    ck_assert_int_eq(back->user_source, AC_USER_APACHE);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        buf = with_user(l, bad[i].source, bad[i].uid, bad[i].gid, bad[i].name);
        ck_assert_msg(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts,
                                            &back) != NULL, "bad user %u taken", i);
    }
}
END_TEST

START_TEST(argv_quoting)
{
    char **argv;
    ck_assert_ptr_null(ac_launch_build_argv(test_pool, sample(), "/usr/bin/dotnet", &argv));
    ck_assert_str_eq(argv[0], "/usr/bin/dotnet");
    ck_assert_str_eq(argv[1], "MyApp.dll");
    ck_assert_str_eq(argv[2], "--urls with space");
    ck_assert_str_eq(argv[3], "single q");
    ck_assert_ptr_null(argv[4]);
}
END_TEST

static const char *env_get(char **env, const char *name)
{
    size_t n = strlen(name);
    int i, found = 0;
    const char *v = NULL;
    for (i = 0; env[i]; i++) {
        if (!strncmp(env[i], name, n) && env[i][n] == '=') {
            v = env[i] + n + 1;
            found++;
        }
    }
    ck_assert_int_le(found, 1);
    return v;
}

START_TEST(environment_contract)
{
    char *base[] = { "PATH=/usr/bin", "ASPNETCORE_TOKEN=stale", "ASPNETCORE_ENVIRONMENT=Production",
                     "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES=Mine", NULL };
    ac_launch_t *l = sample();
    char **env;
    apr_array_pop(l->env);   /* without the ASPNETCORE_PORT override */
    env = ac_launch_build_env(test_pool, l, base, 12345, "0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(env_get(env, "PATH"), "/usr/bin");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_PORT"), "12345");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_TOKEN"), "0123456789abcdef0123456789abcdef");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_APPL_PATH"), "/shop");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_IIS_HTTPAUTH"), "anonymous;");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED"), "false");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_ENVIRONMENT"), "Staging");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES"),
                     "Mine;Microsoft.AspNetCore.Server.IISIntegration");
    /* configured variables win over the contract */
    env = ac_launch_build_env(test_pool, sample(), base, 12345, "t");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_PORT"), "1");
}
END_TEST

/* The cgroup limits: carried to the supervisor, part of the key, and only
 * values a configuration can hold accepted (a child's REGISTER may carry any). */
static const char *limits_round_trip(ac_launch_t *l, ac_launch_t **back)
{
    apr_array_header_t *buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    return ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, back);
}

START_TEST(cgroup_limits)
{
    ac_launch_t *l = sample(), *back;
    unsigned char k1[AC_KEY_BYTES], k2[AC_KEY_BYTES];

    ac_launch_key(l, test_pool, k1);
    l->memory_limit_mib = 64;
    l->cpu_limit_percent = 50;
    l->max_tasks = 32;
    ac_launch_key(l, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES));
    ck_assert_ptr_null(limits_round_trip(l, &back));
    ck_assert_int_eq(back->memory_limit_mib, 64);
    ck_assert_int_eq(back->cpu_limit_percent, 50);
    ck_assert_int_eq(back->max_tasks, 32);
    l->memory_limit_mib = AC_CGROUP_MEMORY_MAX_MIB + 1;
    ck_assert_ptr_nonnull(limits_round_trip(l, &back));
    l->memory_limit_mib = -1;
    ck_assert_ptr_nonnull(limits_round_trip(l, &back));
    l->memory_limit_mib = 0;
    l->cpu_limit_percent = AC_CGROUP_CPU_MAX_PERCENT + 1;
    ck_assert_ptr_nonnull(limits_round_trip(l, &back));
    l->cpu_limit_percent = 0;
    l->max_tasks = AC_CGROUP_TASKS_MAX + 1;
    ck_assert_ptr_nonnull(limits_round_trip(l, &back));
}
END_TEST

/* ASPNETCORE_ANCM_HTTPS_PORT: part of the settings (a change is another
 * app), set only when there is a port, 1-65535 only, and a configured
 * variable of that name still wins. */
START_TEST(https_port)
{
    char *base[] = { "PATH=/usr/bin", NULL };
    ac_launch_t *l = sample(), *back;
    apr_array_header_t *buf = apr_array_make(test_pool, 64, 1);
    unsigned char k1[AC_KEY_BYTES], k2[AC_KEY_BYTES];
    ac_env_entry_t *e;
    char **env;

    apr_array_pop(l->env);
    env = ac_launch_build_env(test_pool, l, base, 1, "t");
    ck_assert_ptr_null(env_get(env, "ASPNETCORE_ANCM_HTTPS_PORT"));
    ac_launch_key(l, test_pool, k1);
    l->https_port = 8443;
    ac_launch_key(l, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES));
    env = ac_launch_build_env(test_pool, l, base, 1, "t");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_ANCM_HTTPS_PORT"), "8443");
    ac_launch_serialize(l, buf);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    ck_assert_int_eq(back->https_port, 8443);
    l->https_port = 65536;
    buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    l->https_port = -1;
    buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    l->https_port = 443;
    e = apr_array_push(l->env);
    e->name = "ASPNETCORE_ANCM_HTTPS_PORT";
    e->value = "4443";
    env = ac_launch_build_env(test_pool, l, base, 1, "t");
    ck_assert_str_eq(env_get(env, "ASPNETCORE_ANCM_HTTPS_PORT"), "4443");
}
END_TEST

/* AspNetCoreIdleTimeout: part of the settings (a change is another app),
 * carried to the supervisor, 0 to 30 days only. */
START_TEST(idle_timeout)
{
    ac_launch_t *l = sample(), *back;
    apr_array_header_t *buf = apr_array_make(test_pool, 64, 1);
    unsigned char k1[AC_KEY_BYTES], k2[AC_KEY_BYTES];

    ac_launch_key(l, test_pool, k1);
    l->idle_timeout = 1200;
    ac_launch_key(l, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES));
    ac_launch_serialize(l, buf);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    ck_assert_int_eq(back->idle_timeout, 1200);
    l->idle_timeout = AC_IDLE_TIMEOUT_MAX + 1;
    buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    l->idle_timeout = -1;
    buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
}
END_TEST

/* AspNetCoreRecycle: part of the settings (a change is another app), sent
 * whole, and a forged count or time of day refused. */
START_TEST(recycle_settings)
{
    ac_launch_t *l = sample(), *back;
    apr_array_header_t *buf = apr_array_make(test_pool, 64, 1);
    unsigned char k1[AC_KEY_BYTES], k2[AC_KEY_BYTES];
    unsigned char *raw;

    ac_launch_key(l, test_pool, k1);
    ck_assert_ptr_null(ac_recycle_parse(test_pool, "requests=20 time=3s memory=80 "
                                        "schedule=23:30,03:00", &l->recycle));
    ac_launch_key(l, test_pool, k2);
    ck_assert(memcmp(k1, k2, AC_KEY_BYTES));
    ac_launch_serialize(l, buf);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts, &back));
    ck_assert_uint_eq(back->recycle.requests, 20);
    ck_assert_uint_eq(back->recycle.time_s, 3);
    ck_assert_uint_eq(back->recycle.memory_mib, 80);
    ck_assert_uint_eq(back->recycle.nschedule, 2);
    ck_assert_uint_eq(back->recycle.schedule[0], 180);
    ck_assert_uint_eq(back->recycle.schedule[1], 1410);
    /* the last entry (1410) made 24:00: refused */
    raw = (unsigned char *)buf->elts + buf->nelts - 4;
    raw[2] = 0x05;
    raw[3] = 0xa0;
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts,
                                                &back));
    /* a count past the maximum: refused before any entry is read */
    raw = (unsigned char *)buf->elts + buf->nelts - 12;
    raw[0] = 0xff;
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts,
                                                &back));
    l->recycle.time_s = AC_RECYCLE_TIME_MAX + 1;
    buf = apr_array_make(test_pool, 64, 1);
    ac_launch_serialize(l, buf);
    ck_assert_ptr_nonnull(ac_launch_deserialize(test_pool, buf->elts, (apr_size_t)buf->nelts,
                                                &back));
}
END_TEST

/* A sanitizer build runs in an Apache with libasan preloaded and ASAN_OPTIONS
 * set: none of it reaches the apps; other preloaded libraries do. */
START_TEST(sanitizer_runtime_not_inherited)
{
    char *base[] = { "PATH=/usr/bin", "ASAN_OPTIONS=log_path=/tmp/x", "UBSAN_OPTIONS=a=1",
                     "LSAN_OPTIONS=b=2",
                     "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libasan.so.8 libmine.so:"
                     "/usr/lib/gcc/x86_64-linux-gnu/12/libubsan.so /opt/liblsan.so.0", NULL };
    char *only[] = { "LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libasan.so.8.0.0", NULL };
    ac_launch_t *l = sample();
    char **env = ac_launch_build_env(test_pool, l, base, 1, "t");

    ck_assert_str_eq(env_get(env, "PATH"), "/usr/bin");
    ck_assert_ptr_null(env_get(env, "ASAN_OPTIONS"));
    ck_assert_ptr_null(env_get(env, "UBSAN_OPTIONS"));
    ck_assert_ptr_null(env_get(env, "LSAN_OPTIONS"));
    ck_assert_str_eq(env_get(env, "LD_PRELOAD"), "libmine.so");
    env = ac_launch_build_env(test_pool, l, only, 1, "t");
    ck_assert_ptr_null(env_get(env, "LD_PRELOAD"));
}
END_TEST

START_TEST(program_lookup)
{
    char dir[] = "/tmp/ac-launch-XXXXXX";
    ac_launch_t *l = sample();
    const char *resolved, *err, *app;
    FILE *f;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    l->app_root = dir;
    /* a bare name found on PATH */
    l->process_path = "sh";
    ck_assert_ptr_null(ac_launch_resolve_program(test_pool, l, "/nonexistent:/bin", &resolved));
    ck_assert_str_eq(resolved, "/bin/sh");
    /* a bare name found in the app root first */
    app = apr_pstrcat(test_pool, dir, "/sh", NULL);
    f = fopen(app, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    chmod(app, 0755);
    ck_assert_ptr_null(ac_launch_resolve_program(test_pool, l, "/bin", &resolved));
    ck_assert_str_eq(resolved, app);
    /* relative with a slash: against the app root */
    l->process_path = "./sh";
    ck_assert_ptr_null(ac_launch_resolve_program(test_pool, l, "/bin", &resolved));
    ck_assert_str_eq(resolved, apr_pstrcat(test_pool, dir, "/./sh", NULL));
    /* missing: the message names what was tried */
    l->process_path = "no-such-program";
    err = ac_launch_resolve_program(test_pool, l, "/bin", &resolved);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "no-such-program"));
    ck_assert_ptr_nonnull(strstr(err, dir));
    unlink(app);
    rmdir(dir);
}
END_TEST

Suite *launch_suite(void)
{
    Suite *s = suite_create("launch");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, roundtrip_and_key);
    tcase_add_test(tc, deserialize_rejects_truncation);
    tcase_add_test(tc, deserialize_refuses_values_out_of_range);
    tcase_add_test(tc, https_port);
    tcase_add_test(tc, idle_timeout);
    tcase_add_test(tc, cgroup_limits);
    tcase_add_test(tc, recycle_settings);
    tcase_add_test(tc, app_user);
    tcase_add_test(tc, argv_quoting);
    tcase_add_test(tc, environment_contract);
    tcase_add_test(tc, sanitizer_runtime_not_inherited);
    tcase_add_test(tc, program_lookup);
    suite_add_tcase(s, tc);
    return s;
}
