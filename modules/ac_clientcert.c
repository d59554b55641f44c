/* ac_clientcert: the verified client certificate as MS-ASPNETCORE-CLIENTCERT. */
#include "ac_clientcert.h"
#include "ac_pem.h"

#include <string.h>

#include <http_log.h>
#include <http_ssl.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* An HTTP/2 stream's connection is a secondary one; TLS is its master's. */
static int over_tls(conn_rec *c)
{
    return ap_ssl_conn_is_ssl(c) || (c->master && ap_ssl_conn_is_ssl(c->master));
}

const char *ac_clientcert_value(request_rec *r)
{
    const char *verify, *pem, *value, *why;

    if (!over_tls(r->connection)) {
        return NULL;
    }
    verify = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, "SSL_CLIENT_VERIFY");
    if (!verify || strcmp(verify, "SUCCESS")) {
        return NULL;     /* NONE, GENEROUS (optional_no_ca), FAILED:... */
    }
    pem = ap_ssl_var_lookup(r->pool, r->server, r->connection, r, "SSL_CLIENT_CERT");
    if (!pem || !*pem) {
        return NULL;
    }
    value = ac_pem_cert_base64(r->pool, pem, AC_CLIENTCERT_MAX_DER, &why);
    if (!value) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r, "the client's certificate is not "
                      "passed to the app (" AC_CLIENTCERT_FIELD "): %s", why);
    }
    return value;
}
