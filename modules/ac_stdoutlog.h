/* ac_stdoutlog: the bounds on an app's stdout log files.
 *
 * ANCM writes one file per process start and never limits it: a chatty app
 * fills the disk (a complaint its users have). Here each file stops at a
 * size (AspNetCoreStdoutLogLimit SIZE) and the output goes on in a new file
 * of the same name pattern, <prefix>_<yyyyMMddHHmmss>_<pid>.log; of an
 * app's files (one prefix) only the newest KEEP are kept. This file owns
 * the limit's syntax, which names are the app's files, and the pruning;
 * the supervisor (ac_sup_output.c) decides when. httpd-free.
 */
#ifndef AC_STDOUTLOG_H
#define AC_STDOUTLOG_H

#include <apr.h>

#define AC_STDOUTLOG_DEFAULT_MAX_KIB (100u * 1024u)   /* 100M per file */
#define AC_STDOUTLOG_DEFAULT_KEEP 10u                 /* files per app */
#define AC_STDOUTLOG_MAX_KIB (1024u * 1024u * 1024u)  /* 1T: the largest size said */
#define AC_STDOUTLOG_KEEP_MAX 100000u
#define AC_STDOUTLOG_STAMP_CHARS 14                   /* yyyyMMddHHmmss */

/* Parses a size: digits with an optional K, M or G (KiB, MiB, GiB; case
 * ignored), "0" for no limit. The result is in KiB; a plain number is bytes
 * rounded up to KiB. NULL on success, else why the value is refused. */
const char *ac_stdoutlog_parse_size(const char *arg, apr_uint32_t *kib);

/* Parses the number of files to keep: 0 (all) or 1-AC_STDOUTLOG_KEEP_MAX. */
const char *ac_stdoutlog_parse_keep(const char *arg, apr_uint32_t *keep);

/* Whether `name` (a directory entry) is one of the files of `base` (the
 * prefix's last component): base_<14 digits>_<digits>.log. */
int ac_stdoutlog_is_file_of(const char *base, const char *name);

/* Whether a file (its name in the directory) is still written to: such a
 * file is never removed. */
typedef int (*ac_stdoutlog_in_use_fn)(void *ctx, const char *name);

/* Removes the oldest files of `prefix` (dir/base): the newest `keep` stay
 * (0: all stay), and older ones that `in_use` (may be NULL) says are still
 * written to. Newest by the timestamp in the name, then by name. Entries
 * are unlinked in the directory, never through a link. The number removed
 * goes to *removed; returns 0, or -1 with errno when the directory cannot
 * be read or a file not removed (the rest are tried). */
int ac_stdoutlog_prune(const char *prefix, apr_uint32_t keep, ac_stdoutlog_in_use_fn in_use,
                       void *ctx, unsigned *removed);

/* The stamp (14 digits) of a file name made by ac_spawn_open_stdout_log,
 * copied to `stamp` (AC_STDOUTLOG_STAMP_CHARS + 1); "" if it has none. */
void ac_stdoutlog_stamp_of(const char *path, char *stamp);

#endif /* AC_STDOUTLOG_H */
