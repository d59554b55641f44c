/* Unit tests: the output line splitter (ac_lines). */
#include <string.h>

#include "check_suites.h"
#include "ac_lines.h"

#define MAX_SEEN 16

typedef struct {
    int n;
    char lines[MAX_SEEN][AC_LINE_MAX];
} seen_t;

static void collect(void *ctx, const char *line)
{
    seen_t *s = ctx;
    ck_assert_int_lt(s->n, MAX_SEEN);
    ck_assert_uint_lt(strlen(line), AC_LINE_MAX);
    strcpy(s->lines[s->n++], line);
}

static ac_lines_t lb;
static seen_t seen;

static void fresh(void)
{
    memset(&lb, 0, sizeof(lb));
    memset(&seen, 0, sizeof(seen));
}

static void feed(const char *s)
{
    ac_lines_feed(&lb, s, strlen(s), collect, &seen);
}

START_TEST(lines_end_at_newline_and_lose_a_carriage_return)
{
    fresh();
    feed("one\ntwo\r\n\nthree");
    ck_assert_int_eq(seen.n, 3);
    ck_assert_str_eq(seen.lines[0], "one");
    ck_assert_str_eq(seen.lines[1], "two");
    ck_assert_str_eq(seen.lines[2], "");
    ac_lines_finish(&lb, collect, &seen);
    ck_assert_int_eq(seen.n, 4);
    ck_assert_str_eq(seen.lines[3], "three");
    ac_lines_finish(&lb, collect, &seen);       /* nothing held: nothing more */
    ck_assert_int_eq(seen.n, 4);
}
END_TEST

START_TEST(a_line_may_come_in_many_pieces)
{
    const char *text = "info: Microsoft.Hosting.Lifetime[14]\r\n";
    size_t i;
    fresh();
    for (i = 0; text[i]; i++) {
        ac_lines_feed(&lb, text + i, 1, collect, &seen);
    }
    ck_assert_int_eq(seen.n, 1);
    ck_assert_str_eq(seen.lines[0], "info: Microsoft.Hosting.Lifetime[14]");
}
END_TEST

START_TEST(a_long_line_is_cut_at_the_bound)
{
    static char big[3 * AC_LINE_MAX];
    fresh();
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    feed(big);      /* 3 * (AC_LINE_MAX - 1) + 2 bytes */
    /* every AC_LINE_MAX - 1 bytes make a line (once more bytes come); the
     * rest is held */
    ck_assert_int_eq(seen.n, 3);
    ck_assert_uint_eq(strlen(seen.lines[0]), AC_LINE_MAX - 1);
    ck_assert_uint_eq(strlen(seen.lines[1]), AC_LINE_MAX - 1);
    ck_assert_uint_eq(strlen(seen.lines[2]), AC_LINE_MAX - 1);
    ck_assert_uint_eq(lb.len, 2);
    feed("\n");
    ck_assert_int_eq(seen.n, 4);
    ck_assert_str_eq(seen.lines[3], "xx");
}
END_TEST

START_TEST(nul_bytes_become_question_marks)
{
    fresh();
    ac_lines_feed(&lb, "a\0b\n", 4, collect, &seen);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_str_eq(seen.lines[0], "a?b");
}
END_TEST

START_TEST(a_carriage_return_alone_stays)
{
    fresh();
    feed("a\rb\n\r\r\n");
    ck_assert_int_eq(seen.n, 2);
    ck_assert_str_eq(seen.lines[0], "a\rb");
    ck_assert_str_eq(seen.lines[1], "\r");      /* only the last one goes */
}
END_TEST

Suite *lines_suite(void)
{
    Suite *s = suite_create("lines");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, lines_end_at_newline_and_lose_a_carriage_return);
    tcase_add_test(tc, a_line_may_come_in_many_pieces);
    tcase_add_test(tc, a_long_line_is_cut_at_the_bound);
    tcase_add_test(tc, nul_bytes_become_question_marks);
    tcase_add_test(tc, a_carriage_return_alone_stays);
    suite_add_tcase(s, tc);
    return s;
}
