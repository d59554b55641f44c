/* Unit tests: response head parsing, chunked decoding, field-value tokens. */
#include <string.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_http1.h"

static const char *parse(const char *text, ac_response_head_t *h)
{
    char *buf = apr_pstrdup(test_pool, text);
    apr_size_t scanned = 0, n = ac_http1_head_length(buf, strlen(buf), &scanned);
    if (!n) {
        return "incomplete";
    }
    return ac_http1_parse_response(test_pool, buf, n, 100, h);
}

START_TEST(head_basic)
{
    ac_response_head_t h;
    ck_assert_ptr_null(parse("HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
                             "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Empty:\r\n\r\nbody", &h));
    ck_assert_int_eq(h.status, 404);
    ck_assert_int_eq(h.minor, 1);
    ck_assert_str_eq(h.reason, "Not Found");
    ck_assert_int_eq(h.headers->nelts, 4);
    ck_assert_str_eq(APR_ARRAY_IDX(h.headers, 1, ac_header_t).value, "a=1");
    ck_assert_str_eq(APR_ARRAY_IDX(h.headers, 2, ac_header_t).value, "b=2");
    ck_assert_str_eq(APR_ARRAY_IDX(h.headers, 3, ac_header_t).value, "");
}
END_TEST

START_TEST(head_lf_only_and_no_reason)
{
    ac_response_head_t h;
    ck_assert_ptr_null(parse("HTTP/1.0 200\nA:  b  \n\n", &h));
    ck_assert_int_eq(h.status, 200);
    ck_assert_int_eq(h.minor, 0);
    ck_assert_str_eq(h.reason, "");
    ck_assert_str_eq(APR_ARRAY_IDX(h.headers, 0, ac_header_t).value, "b");
}
END_TEST

START_TEST(head_incomplete)
{
    const char *t = "HTTP/1.1 200 OK\r\nA: b\r\n\r";
    apr_size_t scanned = 0;
    ck_assert_uint_eq(ac_http1_head_length(t, strlen(t), &scanned), 0);
    /* resumes where it stopped */
    t = "HTTP/1.1 200 OK\r\nA: b\r\n\r\n";
    ck_assert_uint_eq(ac_http1_head_length(t, strlen(t), &scanned), strlen(t));
}
END_TEST

START_TEST(head_rejects_bad_input)
{
    static const char *const bad[] = {
        "HTTP/2.0 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "ICY 200 OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\r\n folded\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\n: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\rc\r\n\r\n",
        "HTTP/1.1 200 OK\r\nA: b\x01\r\n\r\n",
        "HTTP/1.1 200 O\x7fK\r\n\r\n",
        NULL
    };
    int i;
    for (i = 0; bad[i]; i++) {
        ac_response_head_t h;
        ck_assert_msg(parse(bad[i], &h) != NULL, "accepted: %s", bad[i]);
    }
}
END_TEST

START_TEST(head_nul_rejected)
{
    char buf[] = "HTTP/1.1 200 OK\r\nA: b\0c\r\n\r\n";
    ac_response_head_t h;
    ck_assert_ptr_nonnull(ac_http1_parse_response(test_pool, buf, sizeof(buf) - 1, 100, &h));
}
END_TEST

START_TEST(head_field_limit)
{
    ac_response_head_t h;
    char *buf = apr_pstrdup(test_pool, "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    ck_assert_ptr_nonnull(ac_http1_parse_response(test_pool, buf, strlen(buf), 2, &h));
}
END_TEST

static const char *decode_all(const char *in, apr_size_t inlen, char **out, apr_size_t *outlen,
                              int *done, apr_size_t step)
{
    ac_chunked_t c;
    char *buf = apr_pmemdup(test_pool, in, inlen);
    char *res = apr_palloc(test_pool, inlen + 1);
    apr_size_t pos = 0, total = 0;

    ac_chunked_init(&c);
    while (pos < inlen && !ac_chunked_done(&c)) {
        apr_size_t n = inlen - pos < step ? inlen - pos : step, used, got;
        const char *err = ac_chunked_decode(&c, buf + pos, n, &used, &got);
        if (err) {
            return err;
        }
        memcpy(res + total, buf + pos, got);
        total += got;
        pos += used;
        if (used < n) {
            break;
        }
    }
    res[total] = '\0';
    *out = res;
    *outlen = total;
    *done = ac_chunked_done(&c);
    return NULL;
}

START_TEST(chunked_every_split)
{
    const char *in = "5\r\nhello\r\n1;ext=1\r\n \r\nA \r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n";
    apr_size_t step;
    for (step = 1; step <= strlen(in); step++) {
        char *out;
        apr_size_t n;
        int done;
        ck_assert_ptr_null(decode_all(in, strlen(in), &out, &n, &done, step));
        ck_assert_int_eq(done, 1);
        ck_assert_str_eq(out, "hello 0123456789");
    }
}
END_TEST

START_TEST(chunked_stops_at_end)
{
    const char *in = "3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK";
    ac_chunked_t c;
    char *buf = apr_pstrdup(test_pool, in);
    apr_size_t used, got;
    ac_chunked_init(&c);
    ck_assert_ptr_null(ac_chunked_decode(&c, buf, strlen(buf), &used, &got));
    ck_assert(ac_chunked_done(&c));
    ck_assert_uint_eq(used, strlen("3\r\nabc\r\n0\r\n\r\n"));
    ck_assert_uint_eq(got, 3);
}
END_TEST

/* Found by tests/fuzz/fuzz_chunked.c: a NUL byte was refused anywhere in a
 * trailer line except as its first byte. */
START_TEST(chunked_nul_anywhere_in_trailer)
{
    static const char first[] = "0\r\n\0T: a\r\n\r\n";
    static const char later[] = "0\r\nT: \0a\r\n\r\n";
    static const char second_line[] = "0\r\nT: a\r\n\0U: b\r\n\r\n";
    char *out;
    apr_size_t n;
    int done;

    ck_assert_ptr_nonnull(decode_all(first, sizeof(first) - 1, &out, &n, &done, 64));
    ck_assert_ptr_nonnull(decode_all(later, sizeof(later) - 1, &out, &n, &done, 64));
    ck_assert_ptr_nonnull(decode_all(second_line, sizeof(second_line) - 1, &out, &n, &done, 1));
}
END_TEST

START_TEST(chunked_rejects_bad_input)
{
    static const char *const bad[] = {
        "\r\n",                         /* no size */
        "g\r\n",                        /* not hex */
        "5\r\nhelloX\r\n",              /* data not followed by CRLF */
        "1234567890abcdef0\r\n",        /* too large */
        "5 5\r\nhello\r\n",             /* junk after size */
        "3\rabc",                       /* CR without LF */
        "0\r\nT: a\rb\r\n\r\n",         /* bare CR in trailer */
        NULL
    };
    int i;
    for (i = 0; bad[i]; i++) {
        char *out;
        apr_size_t n;
        int done;
        ck_assert_msg(decode_all(bad[i], strlen(bad[i]), &out, &n, &done, 64) != NULL,
                      "accepted: %s", bad[i]);
    }
}
END_TEST

/* A chunk-size line of `ext_count` extensions ";a=<value>" (value `ext_len`
 * bytes each) before one chunk "x" and the last chunk. */
static char *size_line_with_extensions(int ext_count, apr_size_t ext_len, apr_size_t *len)
{
    apr_size_t one = 3 + ext_len, n = 1 + (apr_size_t)ext_count * one, i;
    char *in = apr_palloc(test_pool, n + 16);
    int e;

    in[0] = '1';
    for (e = 0, i = 1; e < ext_count; e++) {
        memcpy(in + i, ";a=", 3);
        memset(in + i + 3, 'v', ext_len);
        i += one;
    }
    memcpy(in + i, "\r\nx\r\n0\r\n\r\n", 10);
    *len = i + 10;
    return in;
}

/* Defect 2.9: the limit was per extension (reset at every ';'), so a line
 * of many short extensions, 1 MB in all, was accepted. */
START_TEST(chunked_size_line_bounded_as_a_whole)
{
    char *out, *in;
    apr_size_t n, len;
    int done;

    /* one long extension, many short ones: refused at any split */
    in = size_line_with_extensions(1, 1000000, &len);
    ck_assert_ptr_nonnull(decode_all(in, len, &out, &n, &done, 65536));
    in = size_line_with_extensions(100000, 7, &len);            /* 1 MB of ";a=vvvvvvv" */
    ck_assert_ptr_nonnull(decode_all(in, len, &out, &n, &done, 65536));
    ck_assert_ptr_nonnull(decode_all(in, len, &out, &n, &done, 1));
    in = size_line_with_extensions(AC_CHUNKED_MAX_LINE / 4, 1, &len);   /* just too long */
    ck_assert_ptr_nonnull(decode_all(in, len, &out, &n, &done, 7));
    /* a line of exactly the limit (size digit, extensions, CRLF) still goes */
    in = size_line_with_extensions(1, AC_CHUNKED_MAX_LINE - 1 - 3 - 2, &len);
    ck_assert_ptr_null(decode_all(in, len, &out, &n, &done, 3));
    ck_assert_int_eq(done, 1);
    ck_assert_str_eq(out, "x");
    in = size_line_with_extensions(1, AC_CHUNKED_MAX_LINE - 1 - 3 - 2 + 1, &len);
    ck_assert_ptr_nonnull(decode_all(in, len, &out, &n, &done, 3));
    /* every line has its own limit: many chunks with long extensions go */
    {
        char *one = size_line_with_extensions(1, 3000, &len);
        apr_size_t line = len - 5;           /* the chunk, without "0\r\n\r\n" */
        char *many = apr_palloc(test_pool, 10 * line + 5 + 1);
        int k;
        for (k = 0; k < 10; k++) {
            memcpy(many + (apr_size_t)k * line, one, line);
        }
        memcpy(many + 10 * line, "0\r\n\r\n", 5);
        ck_assert_ptr_null(decode_all(many, 10 * line + 5, &out, &n, &done, 4096));
        ck_assert_int_eq(done, 1);
        ck_assert_str_eq(out, "xxxxxxxxxx");
    }
}
END_TEST

START_TEST(tokens_and_hop_by_hop)
{
    ck_assert(ac_http1_has_token("keep-alive, X-Foo", "x-foo"));
    ck_assert(ac_http1_has_token(" close ", "close"));
    ck_assert(!ac_http1_has_token("closed", "close"));
    ck_assert(!ac_http1_has_token("", "close"));
    ck_assert(ac_http1_is_hop_by_hop("transfer-encoding"));
    ck_assert(ac_http1_is_hop_by_hop("Keep-Alive"));
    ck_assert(!ac_http1_is_hop_by_hop("Content-Length"));
}
END_TEST

Suite *http1_suite(void)
{
    Suite *s = suite_create("http1");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, head_basic);
    tcase_add_test(tc, head_lf_only_and_no_reason);
    tcase_add_test(tc, head_incomplete);
    tcase_add_test(tc, head_rejects_bad_input);
    tcase_add_test(tc, head_nul_rejected);
    tcase_add_test(tc, head_field_limit);
    tcase_add_test(tc, chunked_every_split);
    tcase_add_test(tc, chunked_stops_at_end);
    tcase_add_test(tc, chunked_nul_anywhere_in_trailer);
    tcase_add_test(tc, chunked_rejects_bad_input);
    tcase_add_test(tc, chunked_size_line_bounded_as_a_whole);
    tcase_add_test(tc, tokens_and_hop_by_hop);
    suite_add_tcase(s, tc);
    return s;
}
