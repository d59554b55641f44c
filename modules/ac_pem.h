/* ac_pem: a PEM certificate as the base64 of its DER on one line (what
 * ANCM's MS-ASPNETCORE-CLIENTCERT carries; mod_ssl gives PEM).
 *
 * Bounded: the input is looked at once, nothing is allocated for a
 * certificate over the limit, and the output is canonical base64 (decoded
 * and encoded again with APR), so nothing but base64 characters can reach
 * a request field. httpd-free.
 */
#ifndef AC_PEM_H
#define AC_PEM_H

#include <apr_pools.h>

/* The first "-----BEGIN CERTIFICATE-----" block of `pem` as base64 of its
 * DER without line breaks, allocated in `p`; NULL with *why set (no
 * certificate, not base64, more than `max_der` bytes of DER). */
const char *ac_pem_cert_base64(apr_pool_t *p, const char *pem, apr_size_t max_der,
                               const char **why);

#endif /* AC_PEM_H */
