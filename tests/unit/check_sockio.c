/* Unit tests of ac_sockio's port choice: the kernel's ephemeral range avoided
 * where the configured range allows it. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check_suites.h"
#include "ac_sockio.h"

/* Every port ac_port_pick can give for [low, high] and the ephemeral range,
 * as a count per port (r runs over two full cycles of any range here). */
static void picks(unsigned low, unsigned high, unsigned elow, unsigned ehigh, unsigned *seen)
{
    unsigned r;
    for (r = 0; r < 2 * (high - low + 1); r++) {
        unsigned port = ac_port_pick(low, high, elow, ehigh, r);
        ck_assert_uint_ge(port, low);
        ck_assert_uint_le(port, high);
        seen[port - low]++;
    }
}

START_TEST(below_the_ephemeral_range_only)
{
    unsigned seen[41] = { 0 }, p;
    picks(100, 140, 120, 200, seen);        /* 100-119 outside, 120-140 inside */
    for (p = 100; p <= 140; p++) {
        if (p < 120) {
            ck_assert_uint_gt(seen[p - 100], 0);
        }
        else {
            ck_assert_uint_eq(seen[p - 100], 0);
        }
    }
}
END_TEST

START_TEST(both_sides_of_the_ephemeral_range)
{
    unsigned seen[21] = { 0 }, p;
    picks(100, 120, 105, 114, seen);        /* 100-104 and 115-120 outside */
    for (p = 100; p <= 120; p++) {
        int outside = p < 105 || p > 114;
        ck_assert_uint_eq(seen[p - 100] > 0, outside);
    }
}
END_TEST

START_TEST(whole_range_when_all_inside_or_unknown)
{
    unsigned seen[11] = { 0 }, unknown[11] = { 0 }, p;
    picks(100, 110, 50, 200, seen);         /* all inside: every port */
    picks(100, 110, 0, 0, unknown);         /* range unknown: every port */
    for (p = 0; p < 11; p++) {
        ck_assert_uint_gt(seen[p], 0);
        ck_assert_uint_gt(unknown[p], 0);
    }
    ck_assert_uint_eq(ac_port_pick(5000, 5000, 1, 65535, 12345), 5000);
}
END_TEST

START_TEST(reads_the_kernel_range)
{
    char path[] = "/tmp/ac-ephemeral-XXXXXX";
    unsigned low = 0, high = 0;
    int fd = mkstemp(path);
    FILE *f;
    ck_assert_int_ge(fd, 0);
    f = fdopen(fd, "w");
    fputs("32768\t60999\n", f);
    fclose(f);
    ck_assert_int_eq(ac_ephemeral_range(path, &low, &high), 1);
    ck_assert_uint_eq(low, 32768);
    ck_assert_uint_eq(high, 60999);
    f = fopen(path, "w");
    fputs("60999 32768\n", f);                 /* nonsense: not used */
    fclose(f);
    ck_assert_int_eq(ac_ephemeral_range(path, &low, &high), 0);
    unlink(path);
    ck_assert_int_eq(ac_ephemeral_range(path, &low, &high), 0);
}
END_TEST

Suite *sockio_suite(void)
{
    Suite *s = suite_create("sockio");
    TCase *tc = tcase_create("ports");
    tcase_add_test(tc, below_the_ephemeral_range_only);
    tcase_add_test(tc, both_sides_of_the_ephemeral_range);
    tcase_add_test(tc, whole_range_when_all_inside_or_unknown);
    tcase_add_test(tc, reads_the_kernel_range);
    suite_add_tcase(s, tc);
    return s;
}
