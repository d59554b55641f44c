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
/* ... and, for an app with a user of its own, in its state directory */
#define AC_STARTUP_LOG_OWN "startup-output.log"

#define AC_TOKEN_CHARS 32                   /* hex characters of a pairing token */

/* A pairing token as the supervisor makes them: AC_TOKEN_CHARS lowercase hex
 * characters, nothing more (what goes into a request's header line). */
static inline int ac_token_valid(const char *token)
{
    int i;
    for (i = 0; i < AC_TOKEN_CHARS; i++) {
        char c = token[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return 0;
        }
    }
    return token[AC_TOKEN_CHARS] == '\0';
}

#endif /* AC_RUNTIME_H */
