/* Unit tests: the sticky-session cookie (ac_affinity): names, strict
 * parsing (garbage ignored), removal from a Cookie header with the other
 * cookies' bytes kept, and the Set-Cookie value. */
#include <string.h>

#include "check_suites.h"
#include "ac_affinity.h"

#define SLOTS 100

static int parse(const char *v, ac_affinity_t *a)
{
    return ac_affinity_parse(v, strlen(v), SLOTS, a);
}

START_TEST(affinity_parse_valid)
{
    ac_affinity_t a;

    ck_assert(parse("0.1", &a));
    ck_assert_uint_eq(a.slot, 0);
    ck_assert_uint_eq(a.incarnation, 1);
    ck_assert(parse("99.18446744073709551615", &a));
    ck_assert_uint_eq(a.slot, 99);
    ck_assert(a.incarnation == UINT64_MAX);
    ck_assert(parse("7.1234", &a));
    ck_assert_uint_eq(a.slot, 7);
    ck_assert_uint_eq(a.incarnation, 1234);
}
END_TEST

START_TEST(affinity_parse_garbage)
{
    static const char *const bad[] = {
        "", ".", "1", "1.", ".1", "a.1", "1.a", "1.2.3", "100.1", "4294967296.1",
        "1.0", "01.5", "1.05", "-1.5", "1.-5", "+1.5", " 1.5", "1.5 ", "1 .5",
        "1.18446744073709551616", "1.99999999999999999999", "1.123456789012345678901",
        "0x1.5", "1.5;", "\"1.5\"", NULL
    };
    ac_affinity_t a = { 42, 42 };
    int i;

    for (i = 0; bad[i]; i++) {
        ck_assert_msg(!parse(bad[i], &a), "'%s' was accepted", bad[i]);
    }
    ck_assert(!ac_affinity_parse("1.5\0" "7", 5, SLOTS, &a));   /* a NUL inside */
    ck_assert(!ac_affinity_parse("3.5", 3, 3, &a));              /* slot beyond the app's */
    ck_assert(!ac_affinity_parse(NULL, 0, SLOTS, &a));
    ck_assert_uint_eq(a.slot, 42);                               /* left alone */
    ck_assert_uint_eq(a.incarnation, 42);
}
END_TEST

START_TEST(affinity_names)
{
    char longest[AC_AFFINITY_NAME_MAX + 2];

    ck_assert(ac_affinity_name_valid(AC_AFFINITY_DEFAULT_COOKIE));
    ck_assert(ac_affinity_name_valid("ARRAffinity"));
    ck_assert(ac_affinity_name_valid("a_b-c.d!#$%&'*+^`|~"));
    ck_assert(!ac_affinity_name_valid(""));
    ck_assert(!ac_affinity_name_valid(NULL));
    ck_assert(!ac_affinity_name_valid("a b"));
    ck_assert(!ac_affinity_name_valid("a=b"));
    ck_assert(!ac_affinity_name_valid("a;b"));
    ck_assert(!ac_affinity_name_valid("a\"b"));
    ck_assert(!ac_affinity_name_valid("a\tb"));
    ck_assert(!ac_affinity_name_valid("caf\xc3\xa9"));
    memset(longest, 'x', sizeof(longest));
    longest[AC_AFFINITY_NAME_MAX] = '\0';
    ck_assert(ac_affinity_name_valid(longest));
    longest[AC_AFFINITY_NAME_MAX] = 'x';
    longest[AC_AFFINITY_NAME_MAX + 1] = '\0';
    ck_assert(!ac_affinity_name_valid(longest));
}
END_TEST

/* Strips "S" from `in`; checks the rest and what was found. */
static void expect_strip(const char *in, const char *want, int want_found, int want_named,
                         uint32_t slot, uint64_t incarnation)
{
    ac_affinity_t a = { 0, 0 };
    int found = -1, named = 0;
    const char *got = ac_affinity_strip(test_pool, in, "S", SLOTS, &found, &a, &named);

    ck_assert_msg(!strcmp(got, want), "stripping '%s': got '%s', want '%s'", in, got, want);
    ck_assert_int_eq(found, want_found);
    ck_assert_int_eq(named, want_named);
    if (want_named) {
        ck_assert_uint_eq(a.slot, slot);
        ck_assert_uint_eq(a.incarnation, incarnation);
    }
    if (!want_found) {
        ck_assert_ptr_eq(got, in);      /* untouched: the very same bytes */
    }
}

START_TEST(affinity_strip_keeps_the_others)
{
    expect_strip("a=1; b=2", "a=1; b=2", 0, 0, 0, 0);
    expect_strip("", "", 0, 0, 0, 0);
    expect_strip("S=1.5", "", 1, 1, 1, 5);
    expect_strip("S=1.5; a=1", "a=1", 1, 1, 1, 5);
    expect_strip("a=1; S=1.5", "a=1", 1, 1, 1, 5);
    expect_strip("a=1; S=1.5; b=2", "a=1; b=2", 1, 1, 1, 5);
    expect_strip("a=1;S=1.5;b=2", "a=1;b=2", 1, 1, 1, 5);
    expect_strip("a=x y;  S = 2.9 ;\tb=\"q;\"", "a=x y;\tb=\"q;\"", 1, 1, 2, 9);
    expect_strip("S=1.5; S=2.6; a=1; S=3.7", "a=1", 1, 1, 1, 5);
    /* other cookies whose names merely contain ours, and values like ours */
    expect_strip("SS=1.5; xS=1.5; a=S=1.5", "SS=1.5; xS=1.5; a=S=1.5", 0, 0, 0, 0);
    expect_strip("s=1.5", "s=1.5", 0, 0, 0, 0);    /* cookie names are case-sensitive */
    expect_strip("a=1;", "a=1;", 0, 0, 0, 0);
    expect_strip("a=1; S=1.5;", "a=1;", 1, 1, 1, 5);
    expect_strip("noequals; S=1.5; b", "noequals; b", 1, 1, 1, 5);
}
END_TEST

START_TEST(affinity_strip_garbage_ignored)
{
    expect_strip("S=junk; a=1", "a=1", 1, 0, 0, 0);
    expect_strip("S=; a=1", "a=1", 1, 0, 0, 0);
    expect_strip("a=1; S=100.5", "a=1", 1, 0, 0, 0);
    expect_strip("S=\"1.5\"", "", 1, 0, 0, 0);
    /* the first one that parses counts */
    expect_strip("S=junk; S=4.8", "", 1, 1, 4, 8);
}
END_TEST

START_TEST(affinity_strip_long_header)
{
    /* a header of many cookies: the copy is never longer than the header */
    apr_size_t i, n = 4000;
    char *in = apr_palloc(test_pool, n * 10 + 1), *want = apr_palloc(test_pool, n * 4 + 1);
    char *p = in, *w = want;
    const char *got;
    ac_affinity_t a;
    int found = 0, named = 0;

    for (i = 0; i < n; i++) {
        memcpy(p, "S=1.1;", 6);
        p += 6;
        memcpy(p, "k=v;", 4);
        p += 4;
        memcpy(w, "k=v;", 4);
        w += 4;
    }
    *p = '\0';
    *w = '\0';       /* the empty segment after the last ';' stays */
    got = ac_affinity_strip(test_pool, in, "S", SLOTS, &found, &a, &named);
    ck_assert(found && named);
    ck_assert_str_eq(got, want);
}
END_TEST

START_TEST(affinity_set_cookie)
{
    ac_affinity_t a = { 1, 42 };

    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "S", &a, "/shop", 0),
                     "S=1.42; Path=/shop; HttpOnly; SameSite=Lax");
    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "S", &a, "/", 1),
                     "S=1.42; Path=/; HttpOnly; SameSite=Lax; Secure");
    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "S", &a, "", 0),
                     "S=1.42; Path=/; HttpOnly; SameSite=Lax");
    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "S", &a, NULL, 0),
                     "S=1.42; Path=/; HttpOnly; SameSite=Lax");
    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "S", &a, "relative", 0),
                     "S=1.42; Path=/; HttpOnly; SameSite=Lax");
    /* nothing in the path can end the attribute or add another */
    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "S", &a, "/a b;c%d\r\n,\xc3\xa9", 0),
                     "S=1.42; Path=/a%20b%3Bc%25d%0D%0A%2C%C3%A9; HttpOnly; SameSite=Lax");
    a.slot = 99;
    a.incarnation = UINT64_MAX;
    ck_assert_str_eq(ac_affinity_set_cookie(test_pool, "ARRAffinity", &a, "/x", 0),
                     "ARRAffinity=99.18446744073709551615; Path=/x; HttpOnly; SameSite=Lax");
}
END_TEST

START_TEST(affinity_round_trip)
{
    ac_affinity_t a = { 3, 77 }, b;
    const char *sc = ac_affinity_set_cookie(test_pool, "S", &a, "/", 0);
    const char *semi = strchr(sc, ';');

    ck_assert(ac_affinity_parse(sc + 2, (size_t)(semi - sc - 2), SLOTS, &b));
    ck_assert_uint_eq(b.slot, 3);
    ck_assert_uint_eq(b.incarnation, 77);
}
END_TEST

Suite *affinity_suite(void)
{
    Suite *s = suite_create("affinity");
    TCase *tc = tcase_create("cookie");

    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, affinity_parse_valid);
    tcase_add_test(tc, affinity_parse_garbage);
    tcase_add_test(tc, affinity_names);
    tcase_add_test(tc, affinity_strip_keeps_the_others);
    tcase_add_test(tc, affinity_strip_garbage_ignored);
    tcase_add_test(tc, affinity_strip_long_header);
    tcase_add_test(tc, affinity_set_cookie);
    tcase_add_test(tc, affinity_round_trip);
    suite_add_tcase(s, tc);
    return s;
}
