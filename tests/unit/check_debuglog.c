/* Unit tests: ANCM's debugLevel/debugFile settings and the debug log's lines. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_strings.h>

#include "check_suites.h"
#include "ac_debuglog.h"

static ac_debug_spec_t parse(const char *value, const char **warning)
{
    ac_debug_spec_t spec;
    const char *w;
    memset(&spec, 0, sizeof(spec));
    w = ac_debug_parse(test_pool, value, &spec);
    if (warning) {
        *warning = w;
    }
    return spec;
}

START_TEST(levels_are_cumulative_and_most_verbose_wins)
{
    const char *w;
    ac_debug_spec_t s = parse("ERROR", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_ERROR);
    ck_assert_uint_eq(s.sinks, 0);
    ck_assert_ptr_null(w);
    s = parse("trace,warning", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_TRACE);
    s = parse("Warning", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_WARNING);
    s = parse("info", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_INFO);
}
END_TEST

START_TEST(sinks_are_flags_and_a_sink_alone_means_info)
{
    ac_debug_spec_t s = parse("FILE,TRACE", NULL);
    ck_assert_int_eq(s.level, AC_DEBUG_TRACE);
    ck_assert_uint_eq(s.sinks, AC_DEBUG_SINK_FILE);
    s = parse("file", NULL);
    ck_assert_int_eq(s.level, AC_DEBUG_INFO);
    s = parse("console,eventlog,file", NULL);
    ck_assert_uint_eq(s.sinks, AC_DEBUG_SINK_CONSOLE | AC_DEBUG_SINK_EVENTLOG | AC_DEBUG_SINK_FILE);
    ck_assert_int_eq(s.level, AC_DEBUG_INFO);
    s = parse("error,file", NULL);
    ck_assert_int_eq(s.level, AC_DEBUG_ERROR);
}
END_TEST

START_TEST(words_are_recognised_by_their_start_as_ancm_does)
{
    const char *w;
    ac_debug_spec_t s = parse("information", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_INFO);
    ck_assert_ptr_null(w);
    s = parse("errors", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_ERROR);
    /* "warn" is not the start of... it is shorter than "warning": nothing */
    s = parse("warn", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_OFF);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(strstr(w, "'warn'"));
}
END_TEST

START_TEST(blanks_and_empty_words_are_ignored_unknown_words_named)
{
    const char *w;
    ac_debug_spec_t s = parse(" FILE , TRACE ,, ", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_TRACE);
    ck_assert_uint_eq(s.sinks, AC_DEBUG_SINK_FILE);
    ck_assert_ptr_null(w);
    s = parse("verbose,info,loud", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_INFO);
    ck_assert_ptr_nonnull(strstr(w, "'verbose', 'loud' ignored"));
    s = parse("", &w);
    ck_assert_int_eq(s.level, AC_DEBUG_OFF);
    ck_assert_uint_eq(s.sinks, 0);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(parse_adds_to_what_is_there)
{
    ac_debug_spec_t s;
    memset(&s, 0, sizeof(s));
    ac_debug_parse(test_pool, "file", &s);          /* FILE, and so INFO */
    ac_debug_parse(test_pool, "error", &s);         /* ERROR adds nothing less verbose */
    ck_assert_int_eq(s.level, AC_DEBUG_INFO);
    ck_assert_uint_eq(s.sinks, AC_DEBUG_SINK_FILE);
}
END_TEST

static ac_launch_t *launch(const char *const *env, const char *const *settings)
{
    ac_launch_t *l = apr_pcalloc(test_pool, sizeof(*l));
    int i;
    l->app_root = "/srv/app";
    l->env = apr_array_make(test_pool, 2, sizeof(ac_env_entry_t));
    l->handler_settings = apr_array_make(test_pool, 2, sizeof(ac_env_entry_t));
    for (i = 0; env && env[i]; i += 2) {
        ac_env_entry_t *e = apr_array_push(l->env);
        e->name = env[i];
        e->value = env[i + 1];
    }
    for (i = 0; settings && settings[i]; i += 2) {
        ac_env_entry_t *e = apr_array_push(l->handler_settings);
        e->name = settings[i];
        e->value = settings[i + 1];
    }
    return l;
}

START_TEST(handler_settings_give_level_and_file_relative_to_the_root)
{
    static const char *const settings[] = { "debugLevel", "FILE,TRACE",
                                            "debugFile", ".\\logs\\aspnetcore-debug.log", NULL };
    ac_debug_conf_t c;
    ck_assert_ptr_null(ac_debug_resolve(test_pool, launch(NULL, settings), NULL, &c));
    ck_assert_int_eq(c.spec.level, AC_DEBUG_TRACE);
    ck_assert_str_eq(c.file, "/srv/app/./logs/aspnetcore-debug.log");
    ck_assert(ac_debug_wants(&c, AC_DEBUG_TRACE));
    ck_assert(ac_debug_wants(&c, AC_DEBUG_ERROR));
    ck_assert(!ac_debug_wants(&c, AC_DEBUG_OFF));
}
END_TEST

START_TEST(setting_names_ignore_case_and_the_last_wins)
{
    static const char *const settings[] = { "DEBUGLEVEL", "trace", "debuglevel", "error",
                                            "DebugFile", "/var/log/app/debug.log", NULL };
    ac_debug_conf_t c;
    ac_debug_resolve(test_pool, launch(NULL, settings), NULL, &c);
    ck_assert_int_eq(c.spec.level, AC_DEBUG_ERROR);
    ck_assert_str_eq(c.file, "/var/log/app/debug.log");
    ck_assert(!ac_debug_wants(&c, AC_DEBUG_WARNING));
}
END_TEST

START_TEST(file_sink_without_debug_file_is_the_default_in_the_root)
{
    static const char *const settings[] = { "debugLevel", "file", NULL };
    static char *environ_[] = { "ASPNETCORE_MODULE_DEBUG_FILE=/tmp/from-env.log", NULL };
    ac_debug_conf_t c;
    ac_debug_resolve(test_pool, launch(NULL, settings), environ_, &c);
    ck_assert_str_eq(c.file, "/srv/app/aspnetcore-debug.log");
    ck_assert_int_eq(c.spec.level, AC_DEBUG_INFO);
}
END_TEST

START_TEST(variables_add_levels_and_give_the_file_when_settings_do_not)
{
    static char *environ_[] = { "PATH=/bin", "ASPNETCORE_MODULE_DEBUG=trace",
                                "ASPNETCORE_MODULE_DEBUG_FILE=/tmp/from-env.log", NULL };
    static const char *const settings[] = { "debugLevel", "error", NULL };
    static const char *const with_file[] = { "debugFile", "mine.log", NULL };
    ac_debug_conf_t c;
    ac_debug_resolve(test_pool, launch(NULL, settings), environ_, &c);
    ck_assert_int_eq(c.spec.level, AC_DEBUG_TRACE);     /* the variable's, not lowered */
    ck_assert_str_eq(c.file, "/tmp/from-env.log");
    /* the handler setting's file wins over the variable's */
    ac_debug_resolve(test_pool, launch(NULL, with_file), environ_, &c);
    ck_assert_str_eq(c.file, "/srv/app/mine.log");
    ck_assert_int_eq(c.spec.level, AC_DEBUG_TRACE);
}
END_TEST

START_TEST(configured_variables_win_over_inherited_ones)
{
    static const char *const env[] = { "ASPNETCORE_MODULE_DEBUG", "error",
                                       "ASPNETCORE_MODULE_DEBUG_FILE", "rel/debug.log", NULL };
    static char *environ_[] = { "ASPNETCORE_MODULE_DEBUG=trace",
                                "ASPNETCORE_MODULE_DEBUG_FILE=/tmp/x.log", NULL };
    ac_debug_conf_t c;
    ac_debug_resolve(test_pool, launch(env, NULL), environ_, &c);
    ck_assert_int_eq(c.spec.level, AC_DEBUG_ERROR);
    ck_assert_str_eq(c.file, "/srv/app/rel/debug.log");
}
END_TEST

START_TEST(nothing_configured_is_no_file_and_no_level)
{
    static char *environ_[] = { "ASPNETCORE_MODULE_DEBUGX=trace", "ASPNETCORE_MODULE_DEBUG_FILE=",
                                NULL };
    ac_debug_conf_t c;
    ck_assert_ptr_null(ac_debug_resolve(test_pool, launch(NULL, NULL), environ_, &c));
    ck_assert_ptr_null(c.file);
    ck_assert_int_eq(c.spec.level, AC_DEBUG_OFF);
    ck_assert(!ac_debug_wants(&c, AC_DEBUG_ERROR));
}
END_TEST

START_TEST(a_file_without_a_level_gets_nothing)
{
    static const char *const settings[] = { "debugFile", "d.log", NULL };
    ac_debug_conf_t c;
    ac_debug_resolve(test_pool, launch(NULL, settings), NULL, &c);
    ck_assert_str_eq(c.file, "/srv/app/d.log");
    ck_assert(!ac_debug_wants(&c, AC_DEBUG_ERROR));
}
END_TEST

START_TEST(unknown_words_are_reported_with_their_source)
{
    static const char *const settings[] = { "debugLevel", "FILE,LOUD", NULL };
    static char *environ_[] = { "ASPNETCORE_MODULE_DEBUG=chatty", NULL };
    ac_debug_conf_t c;
    const char *w = ac_debug_resolve(test_pool, launch(NULL, settings), environ_, &c);
    ck_assert_ptr_nonnull(w);
    ck_assert_ptr_nonnull(strstr(w, "ASPNETCORE_MODULE_DEBUG: 'chatty' ignored"));
    ck_assert_ptr_nonnull(strstr(w, "debugLevel: 'LOUD' ignored"));
    ck_assert_int_eq(c.spec.level, AC_DEBUG_INFO);
}
END_TEST

START_TEST(format_is_one_timestamped_line)
{
    char buf[256];
    /* 2024-03-05 06:07:08.000009 UTC */
    apr_time_t t = apr_time_from_sec(1709618828) + 9;
    apr_size_t n = ac_debug_format(buf, sizeof(buf), t, AC_DEBUG_WARNING, 42,
                                   "two\nlines\tand \x1b[31m");
    ck_assert_str_eq(buf, "2024-03-05T06:07:08.000009Z [WARNING] [pid 42] two?lines?and ?[31m\n");
    ck_assert_uint_eq(n, strlen(buf));
}
END_TEST

START_TEST(format_cuts_long_messages_and_keeps_the_newline)
{
    char buf[64], big[1000];
    apr_size_t n, i;
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    n = ac_debug_format(buf, sizeof(buf), 0, AC_DEBUG_TRACE, 1, big);
    ck_assert_uint_eq(n, sizeof(buf) - 1);
    ck_assert_int_eq(buf[n - 1], '\n');
    ck_assert_int_eq(buf[n], '\0');
    /* a buffer smaller than the prefix still ends in a newline, within bounds */
    for (i = 2; i < 40; i++) {
        char small[40];
        memset(small, 'Z', sizeof(small));
        n = ac_debug_format(small, i, 0, AC_DEBUG_INFO, 1, "msg");
        ck_assert_uint_eq(n, i - 1);
        ck_assert_int_eq(small[n - 1], '\n');
        ck_assert_int_eq(small[n], '\0');
        ck_assert_int_eq(small[i], 'Z');
    }
}
END_TEST

START_TEST(open_creates_folders_and_appends_0640_never_through_a_link)
{
    char dir[] = "/tmp/ac_debuglog_XXXXXX";
    const char *path, *link_path;
    struct stat st;
    int fd;
    mode_t old = umask(022);

    ck_assert_ptr_nonnull(mkdtemp(dir));
    path = apr_pstrcat(test_pool, dir, "/logs/sub/debug.log", NULL);
    fd = ac_debug_open(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "a\n", 2), 2);
    close(fd);
    fd = ac_debug_open(path);
    ck_assert_int_eq(write(fd, "b\n", 2), 2);
    ck_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    close(fd);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640);
    ck_assert_int_eq(st.st_size, 4);
    link_path = apr_pstrcat(test_pool, dir, "/link.log", NULL);
    ck_assert_int_eq(symlink(path, link_path), 0);
    errno = 0;
    ck_assert_int_lt(ac_debug_open(link_path), 0);
    ck_assert_int_eq(errno, ELOOP);
    unlink(link_path);
    unlink(path);
    rmdir(apr_pstrcat(test_pool, dir, "/logs/sub", NULL));
    rmdir(apr_pstrcat(test_pool, dir, "/logs", NULL));
    rmdir(dir);
    umask(old);
}
END_TEST

Suite *debuglog_suite(void)
{
    Suite *s = suite_create("debuglog");
    TCase *tc = tcase_create("debuglog");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, levels_are_cumulative_and_most_verbose_wins);
    tcase_add_test(tc, sinks_are_flags_and_a_sink_alone_means_info);
    tcase_add_test(tc, words_are_recognised_by_their_start_as_ancm_does);
    tcase_add_test(tc, blanks_and_empty_words_are_ignored_unknown_words_named);
    tcase_add_test(tc, parse_adds_to_what_is_there);
    tcase_add_test(tc, handler_settings_give_level_and_file_relative_to_the_root);
    tcase_add_test(tc, setting_names_ignore_case_and_the_last_wins);
    tcase_add_test(tc, file_sink_without_debug_file_is_the_default_in_the_root);
    tcase_add_test(tc, variables_add_levels_and_give_the_file_when_settings_do_not);
    tcase_add_test(tc, configured_variables_win_over_inherited_ones);
    tcase_add_test(tc, nothing_configured_is_no_file_and_no_level);
    tcase_add_test(tc, a_file_without_a_level_gets_nothing);
    tcase_add_test(tc, unknown_words_are_reported_with_their_source);
    tcase_add_test(tc, format_is_one_timestamped_line);
    tcase_add_test(tc, format_cuts_long_messages_and_keeps_the_newline);
    tcase_add_test(tc, open_creates_folders_and_appends_0640_never_through_a_link);
    suite_add_tcase(s, tc);
    return s;
}
