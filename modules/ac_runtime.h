/* ac_runtime: names shared by the httpd parent, the children and the
 * supervisor, defined once.
 *
 * The module's runtime directory is <DefaultRuntimeDir>/aspnetcore, owned by
 * Apache's User; it holds the record of running backends (ac_strays) and the
 * output of each app's last failed start (startup-<table index>.log, read by
 * the 502.5 page). A backend's pairing token is AC_TOKEN_CHARS hex
 * characters. httpd-free.
 */
#ifndef AC_RUNTIME_H
#define AC_RUNTIME_H

#define AC_RUNTIME_SUBDIR "aspnetcore"      /* in Apache's DefaultRuntimeDir */
#define AC_BACKENDS_FILE "backends"         /* in AC_RUNTIME_SUBDIR */
/* in AC_RUNTIME_SUBDIR; %u: the app's table index */
#define AC_STARTUP_LOG_FORMAT "startup-%u.log"

#define AC_TOKEN_CHARS 32                   /* hex characters of a pairing token */

#endif /* AC_RUNTIME_H */
