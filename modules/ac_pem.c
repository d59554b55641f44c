/* ac_pem: a PEM certificate as one line of base64 DER. */
#include "ac_pem.h"

#include <string.h>

#include <apr_base64.h>
#include <apr_strings.h>

#define PEM_BEGIN "-----BEGIN CERTIFICATE-----"
#define PEM_END "-----END CERTIFICATE-----"

static int is_base64_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || c == '+' || c == '/';
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

const char *ac_pem_cert_base64(apr_pool_t *p, const char *pem, apr_size_t max_der,
                               const char **why)
{
    const char *begin, *end, *c;
    apr_size_t chars = 0, pad = 0, max_chars, i;
    unsigned char *der;
    char *b64, *out;
    int der_len;

    begin = pem ? strstr(pem, PEM_BEGIN) : NULL;
    end = begin ? strstr(begin, PEM_END) : NULL;
    if (!end) {
        *why = "no PEM certificate";
        return NULL;
    }
    begin += sizeof(PEM_BEGIN) - 1;
    /* what max_der bytes take in base64: anything longer is too big, and
     * is refused before anything is allocated for it */
    max_chars = (max_der + 2) / 3 * 4;
    for (c = begin; c < end; c++) {
        if (is_space(*c)) {
            continue;
        }
        if (*c == '=' && pad < 2) {
            pad++;
        }
        else if (pad || !is_base64_char(*c)) {
            *why = "the PEM certificate is not base64";
            return NULL;
        }
        if (++chars > max_chars) {
            *why = apr_psprintf(p, "the certificate has more than %" APR_SIZE_T_FMT
                                " bytes", max_der);
            return NULL;
        }
    }
    if (chars == 0 || chars % 4) {
        *why = "the PEM certificate is not base64";
        return NULL;
    }
    b64 = apr_palloc(p, chars + 1);
    for (c = begin, i = 0; c < end; c++) {
        if (!is_space(*c)) {
            b64[i++] = *c;
        }
    }
    b64[i] = '\0';
    der = apr_palloc(p, (apr_size_t)apr_base64_decode_len(b64));
    der_len = apr_base64_decode_binary(der, b64);
    if (der_len <= 0 || (apr_size_t)der_len > max_der || der[0] != 0x30) {
        *why = der_len > 0 && (apr_size_t)der_len > max_der
               ? apr_psprintf(p, "the certificate has more than %" APR_SIZE_T_FMT " bytes",
                              max_der)
               : "the PEM block is not a DER certificate";
        return NULL;
    }
    out = apr_palloc(p, (apr_size_t)apr_base64_encode_len(der_len));
    apr_base64_encode_binary(out, der, der_len);
    return out;
}
