/* Unit tests: JSON string literals (quotes, backslashes, control
 * characters, characters unsafe in HTML or JavaScript, UTF-8 kept when it is
 * well formed and replaced by U+FFFD when it is not). */
#include <string.h>

#include "check_suites.h"
#include "ac_json.h"

static void expect(const char *in, const char *want)
{
    const char *got = ac_json_string(test_pool, in);
    ck_assert_msg(!strcmp(got, want), "escaping '%s': got %s, want %s", in, got, want);
}

START_TEST(json_plain_and_null)
{
    expect("", "\"\"");
    expect("hello world /srv/app at /shop", "\"hello world /srv/app at /shop\"");
    ck_assert_str_eq(ac_json_string(test_pool, NULL), "null");
}
END_TEST

START_TEST(json_quotes_and_backslashes)
{
    expect("say \"hi\"", "\"say \\\"hi\\\"\"");
    expect("C:\\dir\\", "\"C:\\\\dir\\\\\"");
    expect("\\\"", "\"\\\\\\\"\"");
    expect("/", "\"/\"");                       /* the solidus needs no escape */
}
END_TEST

START_TEST(json_control_characters)
{
    expect("\b\f\n\r\t", "\"\\b\\f\\n\\r\\t\"");
    expect("\x01", "\"\\u0001\"");
    expect("a\x1f" "b", "\"a\\u001fb\"");
    expect("\x7f", "\"\\u007f\"");
    expect("\x1b[31mred", "\"\\u001b[31mred\"");
}
END_TEST

START_TEST(json_html_characters)
{
    expect("<b>&amp;</b>", "\"\\u003cb\\u003e\\u0026amp;\\u003c/b\\u003e\"");
    expect("</script>", "\"\\u003c/script\\u003e\"");
}
END_TEST

START_TEST(json_utf8_kept)
{
    expect("caf\xc3\xa9", "\"caf\xc3\xa9\"");                      /* U+00E9 */
    expect("\xe2\x82\xac 5", "\"\xe2\x82\xac 5\"");                /* U+20AC */
    expect("\xef\xbf\xbf", "\"\xef\xbf\xbf\"");                    /* U+FFFF */
    expect("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\"");            /* U+1F600 */
    expect("\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"");            /* U+10FFFF */
    expect("\xed\x9f\xbf", "\"\xed\x9f\xbf\"");                    /* U+D7FF */
    /* valid JSON, but not inside JavaScript strings */
    expect("a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\"");
}
END_TEST

START_TEST(json_invalid_utf8_replaced)
{
    static const struct { const char *in, *want; } cases[] = {
        { "\x80", "\"\\ufffd\"" },                          /* lone continuation byte */
        { "a\xbf" "b", "\"a\\ufffdb\"" },
        { "\xff\xfe", "\"\\ufffd\\ufffd\"" },              /* never in UTF-8 */
        { "\xc0\xaf", "\"\\ufffd\\ufffd\"" },              /* overlong '/' */
        { "\xc1\xbf", "\"\\ufffd\\ufffd\"" },              /* overlong */
        { "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },   /* overlong, three bytes */
        { "\xf0\x80\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },   /* surrogate U+D800 */
        { "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },   /* above U+10FFFF */
        { "\xf5\x80\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },
        { "\xc3", "\"\\ufffd\"" },                          /* cut at the end */
        { "\xe2\x82", "\"\\ufffd\\ufffd\"" },
        { "\xf0\x9f\x98", "\"\\ufffd\\ufffd\\ufffd\"" },
        { "\xc3" "A", "\"\\ufffdA\"" },                     /* ASCII where a continuation belongs */
        { "\xe2\x82<", "\"\\ufffd\\ufffd\\u003c\"" },
        { "\xc3\xa9\xa9", "\"\xc3\xa9\\ufffd\"" },          /* one continuation too many */
        { NULL, NULL }
    };
    int i;
    for (i = 0; cases[i].in; i++) {
        expect(cases[i].in, cases[i].want);
    }
}
END_TEST

/* Every single byte value and every pair gives a literal made only of
 * printable ASCII and well-formed UTF-8, with its quotes in place. */
START_TEST(json_every_byte_pair)
{
    char in[3];
    int a, b;
    for (a = 1; a < 256; a++) {
        for (b = 0; b < 256; b++) {
            const unsigned char *o;
            apr_size_t len;
            in[0] = (char)a;
            in[1] = (char)b;
            in[2] = '\0';
            o = (const unsigned char *)ac_json_string(test_pool, in);
            len = strlen((const char *)o);
            ck_assert_msg(len >= 2 && o[0] == '"' && o[len - 1] == '"', "%02x %02x", a, b);
            for (o++; *(o + 1); o++) {
                ck_assert_msg(*o >= 0x20, "raw control byte for %02x %02x", a, b);
                ck_assert_msg(*o != '"' || o[-1] == '\\', "bare quote for %02x %02x", a, b);
                if (*o >= 0x80) {
                    /* only the two-byte sequences of the input come through */
                    ck_assert_msg(a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF,
                                  "raw byte %02x for %02x %02x", *o, a, b);
                }
            }
        }
        apr_pool_clear(test_pool);
    }
}
END_TEST

Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, json_plain_and_null);
    tcase_add_test(tc, json_quotes_and_backslashes);
    tcase_add_test(tc, json_control_characters);
    tcase_add_test(tc, json_html_characters);
    tcase_add_test(tc, json_utf8_kept);
    tcase_add_test(tc, json_invalid_utf8_replaced);
    tcase_add_test(tc, json_every_byte_pair);
    suite_add_tcase(s, tc);
    return s;
}
