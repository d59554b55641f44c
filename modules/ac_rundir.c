/* ac_rundir: the module's directory in Apache's runtime directory, made and
 * checked by the root parent at each configuration (see ac_rundir.h). */
#include "ac_rundir.h"
#include "ac_runtime.h"
#include "ac_safefile.h"
#include "ac_strays.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <http_log.h>
#include <unixd.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

/* The uid that owns what the supervisor writes (Apache's User when the
 * parent runs as root). */
static uid_t runtime_owner(void)
{
    return geteuid() == 0 ? ap_unixd_config.user_id : geteuid();
}

/* Makes our directory in Apache's runtime directory (mode 0700, owned by the
 * User the supervisor runs as) and returns a descriptor of it, or -1. The
 * User can write in it, so root treats whatever is there as hostile: the
 * directory itself is not followed if it is a link, it is changed through
 * its descriptor. */
static int open_runtime_dir(apr_pool_t *pp, server_rec *s, const char *dir)
{
    const char *why = NULL;
    struct stat st;
    int fd;

    if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
        why = apr_pstrdup(pp, strerror(errno));
    }
    else if ((fd = ac_safefile_open_dir(AT_FDCWD, dir, &why)) >= 0) {
        if (fstat(fd, &st) < 0) {
            why = apr_pstrdup(pp, strerror(errno));
        }
        else if (st.st_uid != geteuid() && st.st_uid != runtime_owner()) {
            why = "owned by another user than Apache or its User";
        }
        else if (geteuid() == 0 && (fchown(fd, ap_unixd_config.user_id,
                                           ap_unixd_config.group_id) < 0
                                    || fchmod(fd, 0700) < 0)) {
            why = apr_pstrcat(pp, "cannot give it to Apache's User: ", strerror(errno), NULL);
        }
        else {
            return fd;
        }
        close(fd);
    }
    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "cannot use %s (%s): stray backends of a "
                 "killed Apache will not be cleaned up and the 502.5 page shows no startup "
                 "output", dir, why);
    return -1;
}

const char *ac_rundir_prepare(apr_pool_t *pp, server_rec *s, const char **dirp)
{
    const char *dir = ap_runtime_dir_relative(pp, AC_RUNTIME_SUBDIR);
    ac_safefile_rules_t rules;
    ac_strays_refusal_t refused;
    int fd, killed;

    if (!dir || (fd = open_runtime_dir(pp, s, dir)) < 0) {
        return NULL;
    }
    memset(&rules, 0, sizeof(rules));
    rules.nofollow = 1;
    rules.check_owner = 1;
    rules.owner = runtime_owner();
    killed = ac_strays_reap(pp, fd, &rules, "/proc", &refused);
    close(fd);
    if (refused.count) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "%s/%s is %s: not read (%d such "
                     "record(s) left alone; Apache's User can write in that directory)", dir,
                     refused.name, refused.why, refused.count);
    }
    if (killed) {
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, "killed %d process group(s) left running by "
                     "an Apache that was killed outright", killed);
    }
    *dirp = dir;
    return apr_psprintf(pp, "%s/" AC_BACKENDS_FILE "-%" APR_PID_T_FMT, dir, getpid());
}
