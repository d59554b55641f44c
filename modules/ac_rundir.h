/* ac_rundir: the module's directory in Apache's runtime directory
 * (<DefaultRuntimeDir>/aspnetcore, mode 0700, owned by the User the
 * supervisor runs as): the record of running backends (ac_strays) and the
 * startup output of failed starts live there. Apache's User can write in
 * it, so the root parent treats what it finds there as hostile. */
#ifndef AC_RUNDIR_H
#define AC_RUNDIR_H

#include <httpd.h>

/* Makes the directory (or takes it, if it is a directory that Apache or
 * its User owns; never through a link), gives it to the User, and cleans
 * up the backends recorded there by an Apache that was killed outright
 * (and only those: another Apache may share the directory). Sets *dirp to
 * the directory and returns this Apache's record path, or NULL (one
 * warning says why). */
const char *ac_rundir_prepare(apr_pool_t *pp, server_rec *s, const char **dirp);

#endif /* AC_RUNDIR_H */
