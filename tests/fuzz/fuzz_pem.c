/* libFuzzer target: a PEM certificate as one line of base64 DER
 * (ac_pem_cert_base64, what becomes MS-ASPNETCORE-CLIENTCERT).
 *
 * Besides memory errors, UB and leaks, findings:
 * - an accepted value with anything but base64 characters (a line break or
 *   a control character would end up in a request field);
 * - an accepted value whose DER is empty, not a SEQUENCE, or over the bound;
 * - a value that does not decode and encode back to itself (not canonical).
 * Built and run by tests/fuzz/run.sh. */
#include "fuzz_common.h"

#include <apr_base64.h>

#include "ac_pem.h"

#define T "fuzz_pem"
#define MAX_DER 3000

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(T);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p = fuzz_pool(T);
    char *pem = malloc(size + 1);
    const char *why = NULL, *out;

    if (!pem) {
        fuzz_found(T, "setup", "malloc");
    }
    memcpy(pem, data, size);
    pem[size] = '\0';
    out = ac_pem_cert_base64(p, pem, MAX_DER, &why);
    if (!out && !why) {
        fuzz_found(T, "refused without saying why", NULL);
    }
    if (out) {
        size_t n = strlen(out), i;
        unsigned char *der;
        char *again;
        int len;
        for (i = 0; i < n; i++) {
            char c = out[i];
            if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                  || c == '+' || c == '/' || c == '=')) {
                fuzz_found(T, "a value with a character outside base64", out);
            }
        }
        der = apr_palloc(p, (apr_size_t)apr_base64_decode_len(out));
        len = apr_base64_decode_binary(der, out);
        if (len <= 0 || len > MAX_DER || der[0] != 0x30) {
            fuzz_found(T, "a value that is not a DER SEQUENCE within the bound", out);
        }
        again = apr_palloc(p, (apr_size_t)apr_base64_encode_len(len));
        apr_base64_encode_binary(again, der, len);
        if (strcmp(again, out)) {
            fuzz_found(T, "a value that is not canonical base64", out);
        }
    }
    free(pem);
    apr_pool_destroy(p);
    return 0;
}
