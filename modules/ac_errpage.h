/* ac_errpage: the module's own error pages.
 *
 * Owns what a client sees when the module answers an error itself: the
 * 502.5 page (the app failed to start: what happened, in plain words from
 * the supervisor's diagnostics, and what to check), the 502.3 page (the app
 * did not answer properly), the 503 page (no process can take the request)
 * and the 500 page (the app's configuration cannot run); and the app's own
 * app_offline.htm while it is there (503). Every interpolated
 * value is HTML-escaped. Paths, the command line and the app's startup
 * output appear only when the app runs in the Development environment or
 * with ASPNETCORE_DETAILEDERRORS (as ANCM does). A site's ErrorDocument for
 * the status always wins over our page; AspNetCoreDisableStartUpErrorPage
 * gives a bare 502 instead of the 502.5 page.
 */
#ifndef AC_ERRPAGE_H
#define AC_ERRPAGE_H

#include <httpd.h>

#include "ac_resolve.h"
#include "ac_shared.h"

/* The app `res` (table entry `app`) has no ready process: its last start
 * failed (`waited` 0) or none became ready within startupTimeLimit while
 * this request waited (`waited` 1). Logs the "(502.5)" line; returns
 * HTTP_BAD_GATEWAY. */
int ac_errpage_startup_failed(request_rec *r, const ac_resolved_t *res, const ac_app_t *app,
                              int waited);

/* The app did not answer properly (502.3): `why` says how (shown only with
 * detailed errors). The caller logs. Returns HTTP_BAD_GATEWAY. */
int ac_errpage_bad_gateway(request_rec *r, const ac_resolved_t *res, const char *why);

/* No process can take the request right now (`why`, shown); sets
 * Retry-After. The caller logs. Returns HTTP_SERVICE_UNAVAILABLE. */
int ac_errpage_unavailable(request_rec *r, const char *why);

/* The app is offline for a deploy: 503 with the bytes of `app_root`'s
 * app_offline.htm (a plain 503 when it is gone or not a sane page).
 * Returns OK once the page went out, or the status. */
int ac_errpage_offline(request_rec *r, const char *app_root);

/* The app's configuration cannot run (`why` names the file, line and
 * problem). The caller logs. Returns HTTP_INTERNAL_SERVER_ERROR. */
int ac_errpage_config(request_rec *r, const char *why);

/* Do an app's errors show details (Development, ASPNETCORE_DETAILEDERRORS)? */
int ac_errpage_detailed(const ac_launch_t *launch);

#endif /* AC_ERRPAGE_H */
