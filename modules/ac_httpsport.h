/* ac_httpsport: ASPNETCORE_ANCM_HTTPS_PORT, the port an app's
 * UseHttpsRedirection() sends http requests to.
 *
 * Owns the value of AspNetCoreHttpsPort and, where no scope says it, its
 * derivation from Apache's configuration: which hosts run TLS (mod_ssl's
 * SSLEngine for that host, else the protocol of its listener, "https") and
 * on which one port, and for each app of the main configuration the one
 * https port it is served on (its own TLS host's, or that of the TLS host of
 * the same ServerName that declares the same app). Anything less certain
 * sets nothing and says why in the log, once per generation. The port is a
 * launch setting (ac_launch_t.https_port): a change restarts the app.
 */
#ifndef AC_HTTPSPORT_H
#define AC_HTTPSPORT_H

#include <httpd.h>

#include "ac_config.h"

/* The directive's value: "Off" or "0" (set nothing, derive nothing) or a
 * port 1-65535. NULL with *port set, else what is wrong. */
const char *ac_httpsport_parse(apr_pool_t *p, const char *arg, int *port);

/* post_config (after mod_ssl's, before the apps go to the supervisor):
 * works out every host's TLS port and every declared app's derived port,
 * and gives each resolved app of the main configuration its port (a new key
 * when it changed). */
void ac_httpsport_derive(apr_pool_t *ptemp, server_rec *base);

/* The port for the launch settings of an app of `scope` whose effective
 * configuration is `eff` (0: none): the directive's, else the derived one
 * (post_config's for a scope of the main configuration; for scopes known
 * only at request time, .htaccess, the port of their host when it runs TLS
 * on one port). */
int ac_httpsport_for(const ac_dir_conf_t *eff, const ac_app_scope_t *scope);

#endif /* AC_HTTPSPORT_H */
