/* Unit tests: a PEM certificate as one line of base64 DER (MS-ASPNETCORE-CLIENTCERT). */
#include <string.h>
#include <apr_base64.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_pem.h"

/* A PEM block around `der` (n bytes), its base64 in lines of 64 as mod_ssl
 * writes them; `line` other than 64 to vary the layout. */
static const char *pem_of(const unsigned char *der, int n, int line)
{
    char *b64 = apr_palloc(test_pool, (apr_size_t)apr_base64_encode_len(n));
    const char *pem = "junk before\n-----BEGIN CERTIFICATE-----\n";
    int len = apr_base64_encode_binary(b64, der, n) - 1, i;
    for (i = 0; i < len; i += line) {
        pem = apr_pstrcat(test_pool, pem, apr_pstrndup(test_pool, b64 + i, (apr_size_t)line),
                          "\r\n", NULL);
    }
    return apr_pstrcat(test_pool, pem, "-----END CERTIFICATE-----\n", NULL);
}

static unsigned char *fake_der(int n)
{
    unsigned char *d = apr_palloc(test_pool, (apr_size_t)n);
    int i;
    for (i = 0; i < n; i++) {
        d[i] = (unsigned char)(i * 7 + 1);
    }
    d[0] = 0x30;      /* a DER SEQUENCE */
    return d;
}

START_TEST(one_line_of_the_der)
{
    static const int sizes[] = { 1, 2, 3, 4, 1000, 1001, 1002, 4096 };
    size_t k;
    for (k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        unsigned char *der = fake_der(sizes[k]);
        char *want = apr_palloc(test_pool, (apr_size_t)apr_base64_encode_len(sizes[k]));
        const char *why = NULL, *got;
        apr_base64_encode_binary(want, der, sizes[k]);
        got = ac_pem_cert_base64(test_pool, pem_of(der, sizes[k], 64), 16384, &why);
        ck_assert_msg(got != NULL, "size %d: %s", sizes[k], why);
        ck_assert_str_eq(got, want);
        ck_assert_ptr_null(strpbrk(got, "\r\n -"));
        got = ac_pem_cert_base64(test_pool, pem_of(der, sizes[k], 3), 16384, &why);
        ck_assert_str_eq(got, want);
    }
}
END_TEST

START_TEST(bounded)
{
    const char *why = NULL;
    unsigned char *der = fake_der(3001);
    ck_assert_ptr_nonnull(ac_pem_cert_base64(test_pool, pem_of(der, 3000, 64), 3000, &why));
    ck_assert_ptr_null(ac_pem_cert_base64(test_pool, pem_of(der, 3001, 64), 3000, &why));
    ck_assert_ptr_nonnull(strstr(why, "more than 3000 bytes"));
    ck_assert_ptr_null(ac_pem_cert_base64(test_pool, pem_of(der, 3003, 64), 3000, &why));
    ck_assert_ptr_nonnull(strstr(why, "more than 3000 bytes"));
}
END_TEST

START_TEST(refused)
{
    static const char *const bad[] = {
        NULL, "", "no certificate here",
        "-----BEGIN CERTIFICATE-----\nMIIB\n",                       /* no end */
        "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",  /* empty */
        "-----BEGIN CERTIFICATE-----\nMIIB\"X\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nMIIBx\n-----END CERTIFICATE-----\n",   /* not a multiple of 4 */
        "-----BEGIN CERTIFICATE-----\nMA==MA==\n-----END CERTIFICATE-----\n", /* data after padding */
        "-----BEGIN CERTIFICATE-----\nM===\n-----END CERTIFICATE-----\n",
        "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n",     /* "ABC": no SEQUENCE */
        "-----BEGIN CERTIFICATE-----\nMIIB\x00\n-----END CERTIFICATE-----\n",
        "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nMIIB\n",
    };
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const char *why = NULL;
        ck_assert_msg(ac_pem_cert_base64(test_pool, bad[i], 16384, &why) == NULL, "case %u",
                      (unsigned)i);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

Suite *pem_suite(void)
{
    Suite *s = suite_create("pem");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, one_line_of_the_der);
    tcase_add_test(tc, bounded);
    tcase_add_test(tc, refused);
    suite_add_tcase(s, tc);
    return s;
}
