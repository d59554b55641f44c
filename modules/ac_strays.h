/* ac_strays: the record of running backends, and the cleanup of strays.
 *
 * The supervisor keeps a small file in Apache's runtime directory listing
 * every backend it runs (process group and token), and the Apache parent
 * that owns them (its pid and start time). Normally nothing is left behind
 * (backends die with the supervisor, which stops them with Apache); the
 * file is the last layer for when both Apache and the supervisor were
 * killed outright: at the next start, every process still in a recorded
 * group whose environment carries the recorded token is killed, provided
 * the Apache that wrote the record is gone. The token check makes sure a
 * recycled pid is never taken for one of ours; the owner check that another
 * Apache sharing the runtime directory keeps its backends (each Apache
 * writes a record of its own, AC_BACKENDS_FILE-<parent pid>). httpd-free.
 */
#ifndef AC_STRAYS_H
#define AC_STRAYS_H

#include <sys/types.h>
#include <apr_pools.h>
#include <apr_tables.h>

#include "ac_runtime.h"
#include "ac_safefile.h"

/* The records' names in the runtime directory: AC_BACKENDS_FILE-<pid>. */

typedef struct {
    pid_t pgid;
    char token[AC_TOKEN_CHARS + 1];
} ac_stray_t;

/* Replaces the record with `n` entries (written to a temporary file, then
 * renamed: never half-written). Called by the supervisor: the owner recorded
 * is its parent. 0, or an errno. */
int ac_strays_write(const char *path, const ac_stray_t *entries, int n);

/* The same, for the Apache parent `owner` (0: none). */
int ac_strays_write_owned(const char *path, const ac_stray_t *entries, int n, pid_t owner);

/* The first record that could not be read safely, and how many. */
typedef struct {
    int count;
    const char *name;
    const char *why;
} ac_strays_refusal_t;

/* For every record in the directory `dirfd` whose owning Apache is gone:
 * kills what it names and still runs, and removes it. Records that break
 * `rules` (a FIFO, a link, another owner) are neither read nor removed, and
 * counted in *refused. Returns how many process groups were killed. */
int ac_strays_reap(apr_pool_t *p, int dirfd, const ac_safefile_rules_t *rules,
                   const char *proc_root, ac_strays_refusal_t *refused);

#endif /* AC_STRAYS_H */
