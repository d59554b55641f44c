/* Unit tests: the shutdown event's request (ac_event). */
#include <string.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_event.h"
#include "ac_runtime.h"

static const char TOKEN[] = "0123456789abcdef0123456789abcdef";

/* The request line of `req` (up to its CRLF). */
static const char *request_line(const char *req)
{
    const char *end = strstr(req, "\r\n");
    ck_assert_ptr_nonnull(end);
    return apr_pstrndup(test_pool, req, (apr_size_t)(end - req));
}

/* A well-formed request: one request line of three parts, the fields, the
 * blank line at the very end, and no CR or LF anywhere else. */
static void assert_well_formed(const char *req, apr_size_t len)
{
    const char *line = request_line(req), *sp1, *sp2;
    const char *blank = strstr(req, "\r\n\r\n");
    const char *c;

    ck_assert_uint_eq(strlen(req), len);
    ck_assert_ptr_nonnull(blank);
    ck_assert_ptr_eq(blank + 4, req + len);      /* the blank line ends it, once */
    sp1 = strchr(line, ' ');
    ck_assert_ptr_nonnull(sp1);
    sp2 = strchr(sp1 + 1, ' ');
    ck_assert_ptr_nonnull(sp2);
    ck_assert_str_eq(sp2 + 1, "HTTP/1.1");       /* exactly two spaces */
    for (c = req; c < blank; c++) {
        if (*c == '\r' || *c == '\n') {
            ck_assert(c[0] == '\r' && c[1] == '\n');
            c++;
        }
    }
}

START_TEST(root_and_plain_paths)
{
    apr_size_t len;
    const char *req = ac_event_shutdown_request(test_pool, "/", 5000, TOKEN, &len);
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(req, "POST /iisintegration HTTP/1.1\r\nHost: 127.0.0.1:5000\r\n"
                          "MS-ASPNETCORE-TOKEN: 0123456789abcdef0123456789abcdef\r\n"
                          "MS-ASPNETCORE-EVENT: shutdown\r\n"
                          "Content-Length: 0\r\nConnection: close\r\n\r\n");
    assert_well_formed(req, len);
    req = ac_event_shutdown_request(test_pool, "/shop", 1, TOKEN, &len);
    ck_assert_str_eq(request_line(req), "POST /shop/iisintegration HTTP/1.1");
    req = ac_event_shutdown_request(test_pool, "/shop/", 1, TOKEN, &len);
    ck_assert_str_eq(request_line(req), "POST /shop/iisintegration HTTP/1.1");
    req = ac_event_shutdown_request(test_pool, "", 1, TOKEN, &len);
    ck_assert_str_eq(request_line(req), "POST /iisintegration HTTP/1.1");
    req = ac_event_shutdown_request(test_pool, "shop", 1, TOKEN, &len);
    ck_assert_str_eq(request_line(req), "POST /shop/iisintegration HTTP/1.1");
}
END_TEST

START_TEST(unusual_bytes_are_percent_encoded)
{
    apr_size_t len;
    const char *req = ac_event_shutdown_request(test_pool, "/a b/c\r\nX: y/100%/caf\xc3\xa9/\"<>?#",
                                                80, TOKEN, &len);
    ck_assert_ptr_nonnull(req);
    assert_well_formed(req, len);
    ck_assert_str_eq(request_line(req), "POST /a%20b/c%0D%0AX:%20y/100%25/caf%C3%A9/%22%3C%3E"
                                        "%3F%23/iisintegration HTTP/1.1");
    ck_assert_ptr_null(strstr(req, "\r\nX:"));    /* no field smuggled in */
}
END_TEST

START_TEST(rfc3986_path_characters_stay)
{
    const char *kept = "/AZaz09-._~!$&'()*+,;=:@/";
    ck_assert_str_eq(ac_event_escape_path(test_pool, kept), kept);
    ck_assert_str_eq(ac_event_escape_path(test_pool, "\x01\x7f\xff"), "%01%7F%FF");
    ck_assert_str_eq(ac_event_escape_path(test_pool, ""), "");
}
END_TEST

START_TEST(a_long_path_is_never_cut)
{
    static char path[20001];
    apr_size_t len;
    const char *req;
    int i;

    for (i = 0; i < 20000; i++) {
        path[i] = i % 100 == 0 ? '/' : (i % 7 == 0 ? ' ' : 'x');
    }
    path[20000] = '\0';
    req = ac_event_shutdown_request(test_pool, path, 65535, TOKEN, &len);
    ck_assert_ptr_nonnull(req);
    assert_well_formed(req, len);
    ck_assert_uint_gt(len, 20000);
    ck_assert_ptr_nonnull(strstr(req, "/iisintegration HTTP/1.1\r\nHost: 127.0.0.1:65535\r\n"));
}
END_TEST

START_TEST(only_a_pairing_token_is_sent)
{
    apr_size_t len;
    ck_assert_ptr_null(ac_event_shutdown_request(test_pool, "/", 1, "", &len));
    ck_assert_ptr_null(ac_event_shutdown_request(test_pool, "/", 1, NULL, &len));
    ck_assert_ptr_null(ac_event_shutdown_request(test_pool, "/", 1,
                                                 "0123456789abcdef0123456789abcde\n", &len));
    ck_assert_ptr_null(ac_event_shutdown_request(test_pool, "/", 1,
                                                 "0123456789abcdef0123456789abcdef0", &len));
    ck_assert_ptr_null(ac_event_shutdown_request(test_pool, "/", 1,
                                                 "0123456789ABCDEF0123456789ABCDEF", &len));
}
END_TEST

Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, root_and_plain_paths);
    tcase_add_test(tc, unusual_bytes_are_percent_encoded);
    tcase_add_test(tc, rfc3986_path_characters_stay);
    tcase_add_test(tc, a_long_path_is_never_cut);
    tcase_add_test(tc, only_a_pairing_token_is_sent);
    suite_add_tcase(s, tc);
    return s;
}
