/* ac_stdoutlog: the bounds on an app's stdout log files (see the header). */
#include "ac_stdoutlog.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Directory entries looked at when pruning: a directory holding more of the
 * app's files than this is pruned over several starts. Bounds the memory. */
#define PRUNE_SCAN_MAX 20000u

const char *ac_stdoutlog_parse_size(const char *arg, apr_uint32_t *kib)
{
    apr_uint64_t n = 0, unit = 0;
    const char *c = arg;

    if (!isdigit((unsigned char)*c)) {
        return "a size is digits with an optional K, M or G (e.g. 100M), or 0 for no limit";
    }
    for (; isdigit((unsigned char)*c); c++) {
        n = n * 10 + (apr_uint64_t)(*c - '0');
        if (n > (apr_uint64_t)AC_STDOUTLOG_MAX_KIB * 1024) {
            return "the size is larger than 1T";
        }
    }
    switch (*c) {
    case '\0': unit = 0; break;
    case 'k': case 'K': unit = 1; break;
    case 'm': case 'M': unit = 1024; break;
    case 'g': case 'G': unit = 1024 * 1024; break;
    default:
        return "a size is digits with an optional K, M or G (e.g. 100M), or 0 for no limit";
    }
    if (*c && c[1]) {
        return "a size is digits with an optional K, M or G (e.g. 100M), or 0 for no limit";
    }
    n = unit ? n * unit : (n + 1023) / 1024;
    if (n > AC_STDOUTLOG_MAX_KIB) {
        return "the size is larger than 1T";
    }
    *kib = (apr_uint32_t)n;
    return NULL;
}

const char *ac_stdoutlog_parse_keep(const char *arg, apr_uint32_t *keep)
{
    apr_uint32_t n = 0;
    const char *c;

    for (c = arg; isdigit((unsigned char)*c); c++) {
        n = n * 10 + (apr_uint32_t)(*c - '0');
        if (n > AC_STDOUTLOG_KEEP_MAX) {
            return "the number of files to keep is 0 (all) or 1-100000";
        }
    }
    if (c == arg || *c) {
        return "the number of files to keep is 0 (all) or 1-100000";
    }
    *keep = n;
    return NULL;
}

/* "_<14 digits>_<1+ digits>.log" and nothing after */
static int is_stamp_pid_log(const char *s)
{
    int i;

    if (*s++ != '_') {
        return 0;
    }
    for (i = 0; i < AC_STDOUTLOG_STAMP_CHARS; i++) {
        if (!isdigit((unsigned char)s[i])) {
            return 0;
        }
    }
    s += AC_STDOUTLOG_STAMP_CHARS;
    if (*s++ != '_' || !isdigit((unsigned char)*s)) {
        return 0;
    }
    while (isdigit((unsigned char)*s)) {
        s++;
    }
    return strcmp(s, ".log") == 0;
}

int ac_stdoutlog_is_file_of(const char *base, const char *name)
{
    size_t n = strlen(base);
    return n && strncmp(name, base, n) == 0 && is_stamp_pid_log(name + n);
}

void ac_stdoutlog_stamp_of(const char *path, char *stamp)
{
    const char *pid_sep = strrchr(path, '_');
    stamp[0] = '\0';
    if (pid_sep && pid_sep - path > AC_STDOUTLOG_STAMP_CHARS
        && is_stamp_pid_log(pid_sep - AC_STDOUTLOG_STAMP_CHARS - 1)) {
        memcpy(stamp, pid_sep - AC_STDOUTLOG_STAMP_CHARS, AC_STDOUTLOG_STAMP_CHARS);
        stamp[AC_STDOUTLOG_STAMP_CHARS] = '\0';
    }
}

/* oldest first: every name is base_<stamp>_<pid>.log with the same base
 * and a fixed-width stamp, so the names sort by time (then by pid) */
static int older_first(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int remove_oldest(int dfd, char **names, size_t count, apr_uint32_t keep,
                         ac_stdoutlog_in_use_fn in_use, void *ctx, unsigned *removed)
{
    size_t i;
    int err = 0;

    /* the newest `keep` stay, and any older one still written to */
    qsort(names, count, sizeof(*names), older_first);
    for (i = 0; i + keep < count; i++) {
        if (in_use && in_use(ctx, names[i])) {
            continue;
        }
        if (unlinkat(dfd, names[i], 0) == 0) {
            (*removed)++;
        }
        else if (errno != ENOENT) {
            err = errno;
        }
    }
    return err;
}

int ac_stdoutlog_prune(const char *prefix, apr_uint32_t keep, ac_stdoutlog_in_use_fn in_use,
                       void *ctx, unsigned *removed)
{
    const char *slash = strrchr(prefix, '/');
    const char *base = slash ? slash + 1 : prefix;
    char dir[4096];
    char **names = NULL;
    size_t count = 0, cap = 0, i;
    struct dirent *e;
    DIR *d;
    int dfd, err = 0;

    *removed = 0;
    if (!keep || !*base) {
        return 0;
    }
    if (!slash) {
        strcpy(dir, ".");
    }
    else if (slash == prefix) {
        strcpy(dir, "/");
    }
    else if ((size_t)(slash - prefix) >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    else {
        memcpy(dir, prefix, (size_t)(slash - prefix));
        dir[slash - prefix] = '\0';
    }
    /* O_NONBLOCK: a FIFO put where the directory was must not block us */
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    if (dfd < 0 || !(d = fdopendir(dfd))) {
        err = errno;
        if (dfd >= 0) {
            close(dfd);
        }
        errno = err;
        return -1;
    }
    while ((e = readdir(d)) && count < PRUNE_SCAN_MAX) {
        /* only files: a directory (or anything else) named like one is
         * left alone, and not tried again at every start */
        if (!ac_stdoutlog_is_file_of(base, e->d_name)
            || (e->d_type != DT_REG && e->d_type != DT_LNK && e->d_type != DT_UNKNOWN)) {
            continue;
        }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            char **grown = realloc(names, ncap * sizeof(*names));
            if (!grown) {
                err = ENOMEM;
                break;
            }
            names = grown;
            cap = ncap;
        }
        if (!(names[count] = strdup(e->d_name))) {
            err = ENOMEM;
            break;
        }
        count++;
    }
    if (!err && count > keep) {
        err = remove_oldest(dirfd(d), names, count, keep, in_use, ctx, removed);
    }
    for (i = 0; i < count; i++) {
        free(names[i]);
    }
    free(names);
    closedir(d);
    if (err) {
        errno = err;
        return -1;
    }
    return 0;
}
