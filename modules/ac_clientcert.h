/* ac_clientcert: the client's TLS certificate for the app, as ANCM passes
 * it: MS-ASPNETCORE-CLIENTCERT, the base64 of the DER on one line, which
 * ASP.NET Core's IIS integration turns into
 * HttpContext.Connection.ClientCertificate.
 *
 * Only a certificate mod_ssl verified (SSL_CLIENT_VERIFY is SUCCESS, under
 * SSLVerifyClient optional or require) is passed: the app cannot tell a
 * verified certificate from another one. Client-sent MS-ASPNETCORE-* fields
 * never reach the app (ac_send drops them all).
 */
#ifndef AC_CLIENTCERT_H
#define AC_CLIENTCERT_H

#include <httpd.h>

/* DER bytes of the largest certificate passed on (its base64, ~21.3 KiB,
 * leaves room under Kestrel's default 32 KiB for all request fields). */
#define AC_CLIENTCERT_MAX_DER 16384

#define AC_CLIENTCERT_FIELD "MS-ASPNETCORE-CLIENTCERT"

/* The field's value for this request, or NULL: no TLS, no certificate, not
 * verified, or one that cannot be passed (too big: logged). */
const char *ac_clientcert_value(request_rec *r);

#endif /* AC_CLIENTCERT_H */
