/* ac_strays: the record of running backends, and the cleanup of strays.
 *
 * The supervisor keeps a small file in Apache's runtime directory listing
 * every backend it runs (process group and token). Normally nothing is left
 * behind (backends die with the supervisor, which stops them with Apache);
 * the file is the last layer for when both Apache and the supervisor were
 * killed outright: at the next start, every process still in a recorded
 * group whose environment carries the recorded token is killed. The token
 * check makes sure a recycled pid is never taken for one of ours. httpd-free.
 */
#ifndef AC_STRAYS_H
#define AC_STRAYS_H

#include <sys/types.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "ac_runtime.h"

typedef struct {
    pid_t pgid;
    char token[AC_TOKEN_CHARS + 1];
} ac_stray_t;

/* Replaces the record with `n` entries (written to a temporary file, then
 * renamed: never half-written). 0, or an errno. */
int ac_strays_write(const char *path, const ac_stray_t *entries, int n);

/* Kills what the record at `path` names and still runs; removes the record.
 * Returns how many processes were killed. */
int ac_strays_reap(apr_pool_t *p, const char *path, const char *proc_root);

#endif /* AC_STRAYS_H */
