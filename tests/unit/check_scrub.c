/* Unit tests: the pairing token taken out of a backend's output (ac_scrub),
 * alone and in front of the line splitter (ac_lines) as the supervisor uses
 * them. */
#include <stdio.h>
#include <string.h>

#include "check_suites.h"
#include "ac_lines.h"
#include "ac_scrub.h"

static const char TOKEN[] = "0123456789abcdef0123456789abcdef";
static const char OTHER[] = "fedcba9876543210fedcba9876543210";

typedef struct {
    char buf[16384];
    apr_size_t len;
} sink_t;

static void collect(void *ctx, const char *buf, apr_size_t n)
{
    sink_t *s = ctx;
    ck_assert_uint_le(s->len + n, sizeof(s->buf) - 1);
    memcpy(s->buf + s->len, buf, n);
    s->len += n;
    s->buf[s->len] = '\0';
}

/* `in` through a scrubber for TOKEN, in pieces of `piece` bytes. */
static const char *scrubbed(const char *in, apr_size_t piece, sink_t *s)
{
    ac_scrub_t sc;
    apr_size_t n = strlen(in), at;

    memset(s, 0, sizeof(*s));
    ac_scrub_init(&sc, TOKEN);
    for (at = 0; at < n; at += piece) {
        ac_scrub_feed(&sc, in + at, n - at < piece ? n - at : piece, collect, s);
    }
    ac_scrub_finish(&sc, collect, s);
    return s->buf;
}

START_TEST(the_token_goes_wherever_it_is)
{
    sink_t s;
    char in[256], want[256];

    ck_assert_str_eq(scrubbed(TOKEN, 4096, &s), "[token]");
    snprintf(in, sizeof(in), "%s rejected\n", TOKEN);
    ck_assert_str_eq(scrubbed(in, 4096, &s), "[token] rejected\n");
    snprintf(in, sizeof(in), "'MS-ASPNETCORE-TOKEN' does not match the expected pairing token "
             "'%s', request rejected.\n", TOKEN);
    snprintf(want, sizeof(want), "'MS-ASPNETCORE-TOKEN' does not match the expected pairing "
             "token '[token]', request rejected.\n");
    ck_assert_str_eq(scrubbed(in, 4096, &s), want);
    snprintf(in, sizeof(in), "ends with %s", TOKEN);
    ck_assert_str_eq(scrubbed(in, 4096, &s), "ends with [token]");
    snprintf(in, sizeof(in), "%s%s and %s\n", TOKEN, TOKEN, TOKEN);
    ck_assert_str_eq(scrubbed(in, 4096, &s), "[token][token] and [token]\n");
}
END_TEST

START_TEST(a_token_split_between_reads_goes_too)
{
    char in[256], want[256];
    apr_size_t piece;

    snprintf(in, sizeof(in), "token '%s' rejected\nnext %s\n", TOKEN, TOKEN);
    snprintf(want, sizeof(want), "token '[token]' rejected\nnext [token]\n");
    for (piece = 1; piece <= strlen(in); piece++) {
        sink_t s;
        ck_assert_msg(!strcmp(scrubbed(in, piece, &s), want), "pieces of %u: %s",
                      (unsigned)piece, s.buf);
    }
}
END_TEST

START_TEST(what_only_looks_like_a_token_is_kept)
{
    sink_t s;
    char in[256];

    /* another process's token, a start of ours cut short, a start at the very end */
    snprintf(in, sizeof(in), "%s\n0123456789abcdeX\n%.31s", OTHER, TOKEN);
    ck_assert_str_eq(scrubbed(in, 7, &s), in);
    ck_assert_str_eq(scrubbed("00123456789abcdef0123456789abcdef0", 3, &s), "0[token]0");
    ck_assert_str_eq(scrubbed("", 1, &s), "");
}
END_TEST

START_TEST(no_token_scrubs_nothing)
{
    ac_scrub_t sc;
    sink_t s;

    memset(&s, 0, sizeof(s));
    ac_scrub_init(&sc, NULL);
    ac_scrub_feed(&sc, TOKEN, strlen(TOKEN), collect, &s);
    ac_scrub_finish(&sc, collect, &s);
    ck_assert_str_eq(s.buf, TOKEN);
}
END_TEST

/* ---- in front of the line splitter ---- */

typedef struct {
    int n;
    int found;                    /* lines that hold the token or a cut part of it */
} lines_seen_t;

static void count_line(void *ctx, const char *line)
{
    lines_seen_t *ls = ctx;
    ls->n++;
    if (strstr(line, TOKEN) || strstr(line, "0123456789abcdef01234")
        || strstr(line, "6789abcdef0123456789abcdef")) {
        ls->found++;
    }
}

typedef struct {
    ac_lines_t lines;
    lines_seen_t seen;
} relay_t;

static void to_lines(void *ctx, const char *buf, apr_size_t n)
{
    relay_t *r = ctx;
    ac_lines_feed(&r->lines, buf, n, count_line, &r->seen);
}

START_TEST(a_token_across_the_line_bound_never_reaches_a_line)
{
    static char in[3 * AC_LINE_MAX];
    apr_size_t cut;

    /* the token at every place around the splitter's cut of a long line */
    for (cut = AC_LINE_MAX - AC_TOKEN_CHARS - 2; cut < AC_LINE_MAX + 2; cut++) {
        static relay_t r;
        ac_scrub_t sc;
        apr_size_t n;

        memset(in, 'x', cut);
        memcpy(in + cut, TOKEN, AC_TOKEN_CHARS);
        strcpy(in + cut + AC_TOKEN_CHARS, " end\n");
        n = strlen(in);
        memset(&r, 0, sizeof(r));
        ac_scrub_init(&sc, TOKEN);
        ac_scrub_feed(&sc, in, 1000, to_lines, &r);
        ac_scrub_feed(&sc, in + 1000, n - 1000, to_lines, &r);
        ac_scrub_finish(&sc, to_lines, &r);
        ac_lines_finish(&r.lines, count_line, &r.seen);
        ck_assert_int_ge(r.seen.n, 1);
        ck_assert_msg(r.seen.found == 0, "token at %u: in %d line(s)", (unsigned)cut,
                      r.seen.found);
    }
}
END_TEST

Suite *scrub_suite(void)
{
    Suite *s = suite_create("scrub");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, the_token_goes_wherever_it_is);
    tcase_add_test(tc, a_token_split_between_reads_goes_too);
    tcase_add_test(tc, what_only_looks_like_a_token_is_kept);
    tcase_add_test(tc, no_token_scrubs_nothing);
    tcase_add_test(tc, a_token_across_the_line_bound_never_reaches_a_line);
    suite_add_tcase(s, tc);
    return s;
}
