/* Unit tests: AspNetCoreHealthCheck's settings, request and verdicts (ac_health). */
#include "check_suites.h"
#include "ac_health.h"
#include "ac_launch.h"

#include <string.h>
#include <apr_strings.h>

static const char TOKEN[] = "0123456789abcdef0123456789abcdef";

static const char *parse(const char *line, ac_health_conf_t *out)
{
    char **argv;
    int argc = 0;

    ck_assert_int_eq(apr_tokenize_to_argv(line, &argv, test_pool), APR_SUCCESS);
    while (argv[argc]) {
        argc++;
    }
    return ac_health_parse(test_pool, argc, argv, out);
}

START_TEST(defaults_and_options)
{
    ac_health_conf_t c;

    ck_assert_ptr_null(parse("/healthz", &c));
    ck_assert_str_eq(c.path, "/healthz");
    ck_assert_int_eq(c.interval, 10);
    ck_assert_int_eq(c.timeout, 5);
    ck_assert_int_eq(c.failures, 3);
    ck_assert_ptr_null(parse("/h?full=1 failures=2 TIMEOUT=1 interval=1", &c));
    ck_assert_str_eq(c.path, "/h?full=1");
    ck_assert_int_eq(c.interval, 1);
    ck_assert_int_eq(c.timeout, 1);
    ck_assert_int_eq(c.failures, 2);
    ck_assert_ptr_null(parse("/h interval=3600 timeout=600 failures=100", &c));
    ck_assert_ptr_null(parse("off", &c));
    ck_assert_ptr_null(c.path);
    ck_assert_ptr_null(ac_health_check_conf(&c));
}
END_TEST

START_TEST(bad_settings_are_refused)
{
    static const char *const bad[] = {
        "healthz", "\"/health z\"", "/h#frag", "\"/h\x01\"", "/h\xc3\xa9", "/h interval=0",
        "/h interval=3601", "/h interval=600 timeout=601", "/h timeout=0", "/h failures=0",
        "/h failures=101", "/h interval=5 timeout=6", "/h every=5", "/h interval", "/h interval=",
        "/h interval=1x", "/h interval=-1", "Off /h", "",
    };
    apr_size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ac_health_conf_t c;
        ck_assert_msg(parse(bad[i], &c) != NULL, "accepted: %s", bad[i]);
    }
    {
        char *longpath = apr_palloc(test_pool, AC_HEALTH_PATH_MAX + 2);
        ac_health_conf_t c;
        char *argv[] = { longpath, NULL };
        memset(longpath, 'a', AC_HEALTH_PATH_MAX + 1);
        longpath[0] = '/';
        longpath[AC_HEALTH_PATH_MAX + 1] = '\0';
        ck_assert_ptr_nonnull(ac_health_parse(test_pool, 1, argv, &c));
        longpath[AC_HEALTH_PATH_MAX] = '\0';
        ck_assert_ptr_null(ac_health_parse(test_pool, 1, argv, &c));
    }
}
END_TEST

START_TEST(launch_settings_carry_it_and_refuse_it_out_of_range)
{
    ac_launch_t l, *back;
    apr_array_header_t *out = apr_array_make(test_pool, 256, 1);
    const ac_health_conf_t bad[] = {
        { "/h", "localhost", 0, 1, 1 }, { "/h", "localhost", 5, 6, 1 },
        { "/h", "localhost", 10, 5, 101 }, { "h", "localhost", 10, 5, 3 },
        { "/h", "bad host", 10, 5, 3 }, { "/h\r\nX: y", NULL, 10, 5, 3 },
        { NULL, NULL, 10, 0, 0 }, { NULL, "localhost", 0, 0, 0 },
    };
    apr_size_t i;

    memset(&l, 0, sizeof(l));
    l.process_path = "dotnet";
    l.app_root = "/srv/app";
    l.virtual_path = "/shop";
    l.site = "s";
    l.processes = 1;
    l.health.path = "/healthz";
    l.health.host = "www.example.com";
    l.health.interval = 7;
    l.health.timeout = 2;
    l.health.failures = 4;
    ac_launch_serialize(&l, out);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, out->elts, (apr_size_t)out->nelts, &back));
    ck_assert_str_eq(back->health.path, "/healthz");
    ck_assert_str_eq(back->health.host, "www.example.com");
    ck_assert_int_eq(back->health.interval, 7);
    ck_assert_int_eq(back->health.timeout, 2);
    ck_assert_int_eq(back->health.failures, 4);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        l.health = bad[i];
        out->nelts = 0;
        ac_launch_serialize(&l, out);
        ck_assert_msg(ac_launch_deserialize(test_pool, out->elts, (apr_size_t)out->nelts, &back)
                      != NULL, "accepted health check %d", (int)i);
    }
    memset(&l.health, 0, sizeof(l.health));      /* none */
    out->nelts = 0;
    ac_launch_serialize(&l, out);
    ck_assert_ptr_null(ac_launch_deserialize(test_pool, out->elts, (apr_size_t)out->nelts, &back));
    ck_assert_ptr_null(back->health.path);
}
END_TEST

START_TEST(the_request_asks_under_the_virtual_path_with_the_token)
{
    apr_size_t len;
    const char *req;

    ck_assert_str_eq(ac_health_target(test_pool, "/", "/healthz"), "/healthz");
    ck_assert_str_eq(ac_health_target(test_pool, "/shop/", "/healthz"), "/shop/healthz");
    ck_assert_str_eq(ac_health_target(test_pool, "/a b", "/h?x=1"), "/a%20b/h?x=1");
    req = ac_health_request(test_pool, "/shop/healthz", "www.example.com", TOKEN, &len);
    ck_assert_str_eq(req, "GET /shop/healthz HTTP/1.1\r\nHost: www.example.com\r\n"
                          "MS-ASPNETCORE-TOKEN: 0123456789abcdef0123456789abcdef\r\n"
                          "User-Agent: mod_aspnetcore-health-check\r\n"
                          "Connection: close\r\n\r\n");
    ck_assert_uint_eq(len, strlen(req));
    /* a host that could break the head is not used; no token, no request */
    req = ac_health_request(test_pool, "/h", "a\r\nX: y", TOKEN, &len);
    ck_assert_ptr_nonnull(strstr(req, "\r\nHost: localhost\r\n"));
    ck_assert_ptr_null(ac_health_request(test_pool, "/h", NULL, "short", &len));
    ck_assert_ptr_null(ac_health_request(test_pool, "/h", NULL, NULL, &len));
}
END_TEST

static int judge(const char *answer, int *status)
{
    apr_size_t len = strlen(answer);
    char *buf = apr_pstrmemdup(test_pool, answer, len);
    return ac_health_judge_head(test_pool, buf, &len, status);
}

START_TEST(answers_are_judged_by_their_status)
{
    int status;

    ck_assert_int_eq(judge("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nHealthy", &status),
                     AC_PROBE_PASSED);
    ck_assert_int_eq(status, 200);
    ck_assert_int_eq(judge("HTTP/1.1 503 Service Unavailable\r\n\r\n", &status), AC_PROBE_STATUS);
    ck_assert_int_eq(status, 503);
    ck_assert_int_eq(judge("HTTP/1.1 404 Not Found\r\n\r\n", &status), AC_PROBE_STATUS);
    ck_assert_int_eq(judge("HTTP/1.1 401 Unauthorized\r\n\r\n", &status), AC_PROBE_PASSED);
    ck_assert_int_eq(judge("HTTP/1.1 307 Temporary Redirect\r\n\r\n", &status), AC_PROBE_PASSED);
    ck_assert_int_eq(judge("HTTP/1.1 600 Odd\r\n\r\n", &status), AC_PROBE_STATUS);
    ck_assert_int_eq(judge("HTTP/1.1 101 Switching\r\n\r\n", &status), AC_PROBE_STATUS);
    /* interim answers are skipped, the final one counts */
    ck_assert_int_eq(judge("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: x\r\n\r\n"
                           "HTTP/1.1 500 Oops\r\n\r\n", &status), AC_PROBE_STATUS);
    ck_assert_int_eq(status, 500);
    ck_assert_int_eq(judge("HTTP/1.1 102 Processing\r\n\r\n", &status), -1);
    /* incomplete, malformed, too big */
    ck_assert_int_eq(judge("HTTP/1.1 200 OK\r\nContent-", &status), -1);
    ck_assert_int_eq(judge("SSH-2.0-OpenSSH\r\n\r\n", &status), AC_PROBE_MALFORMED);
    ck_assert_int_eq(judge("HTTP/1.1 200 OK\r\nBad Field\r\n\r\n", &status), AC_PROBE_MALFORMED);
    {
        char *big = apr_palloc(test_pool, AC_HEALTH_HEAD_MAX + 1);
        apr_size_t len = AC_HEALTH_HEAD_MAX;
        memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
        memset(big + 20, 'a', AC_HEALTH_HEAD_MAX - 20);
        ck_assert_int_eq(ac_health_judge_head(test_pool, big, &len, &status), AC_PROBE_TOO_BIG);
    }
}
END_TEST

START_TEST(failures_in_a_row_replace_a_pass_starts_again)
{
    ac_health_streak_t s = { 0, 0 };

    ck_assert_int_eq(ac_health_record(&s, 1, 3), AC_HEALTH_QUIET);
    ck_assert_int_eq(ac_health_record(&s, 0, 3), AC_HEALTH_FIRST_FAILURE);
    ck_assert_int_eq(ac_health_record(&s, 0, 3), AC_HEALTH_QUIET);
    ck_assert_int_eq(s.failures, 2);
    ck_assert_int_eq(ac_health_record(&s, 1, 3), AC_HEALTH_RECOVERED);
    ck_assert_int_eq(s.failures, 0);
    ck_assert_int_eq(ac_health_record(&s, 0, 3), AC_HEALTH_FIRST_FAILURE);
    ck_assert_int_eq(ac_health_record(&s, 0, 3), AC_HEALTH_QUIET);
    ck_assert_int_eq(ac_health_record(&s, 0, 3), AC_HEALTH_REPLACE);
    /* once replaced, nothing more */
    ck_assert_int_eq(ac_health_record(&s, 0, 3), AC_HEALTH_QUIET);
    ck_assert_int_eq(ac_health_record(&s, 1, 3), AC_HEALTH_QUIET);
    /* failures=1: the first failure replaces */
    memset(&s, 0, sizeof(s));
    ck_assert_int_eq(ac_health_record(&s, 0, 1), AC_HEALTH_REPLACE);
}
END_TEST

START_TEST(failures_are_described)
{
    ck_assert_str_eq(ac_health_describe(test_pool, AC_PROBE_STATUS, 503, 5), "503");
    ck_assert_str_eq(ac_health_describe(test_pool, AC_PROBE_TIMEOUT, 0, 5), "no answer within 5 s");
    ck_assert_str_eq(ac_health_describe(test_pool, AC_PROBE_REFUSED, 0, 5), "no connection");
    ck_assert_str_eq(ac_health_describe(test_pool, AC_PROBE_CLOSED, 0, 5),
                     "closed without an answer");
}
END_TEST

Suite *health_suite(void)
{
    Suite *s = suite_create("health");
    TCase *tc = tcase_create("health");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, defaults_and_options);
    tcase_add_test(tc, bad_settings_are_refused);
    tcase_add_test(tc, launch_settings_carry_it_and_refuse_it_out_of_range);
    tcase_add_test(tc, the_request_asks_under_the_virtual_path_with_the_token);
    tcase_add_test(tc, answers_are_judged_by_their_status);
    tcase_add_test(tc, failures_in_a_row_replace_a_pass_starts_again);
    tcase_add_test(tc, failures_are_described);
    suite_add_tcase(s, tc);
    return s;
}
