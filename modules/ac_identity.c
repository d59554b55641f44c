/* ac_identity: users, groups and the capabilities to switch to them. */
#include "ac_identity.h"
#include "ac_nss.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/fsuid.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

static const cap_value_t kept_caps[] = { CAP_SETUID, CAP_SETGID, CAP_KILL };
#define KEPT_CAPS ((int)(sizeof(kept_caps) / sizeof(kept_caps[0])))

/* "#123" (Apache's notation for a numeric id) or NULL. */
static int numeric_id(const char *s, unsigned long *out)
{
    char *end;
    if (s[0] != '#' || s[1] < '0' || s[1] > '9') {
        return 0;
    }
    errno = 0;
    *out = strtoul(s + 1, &end, 10);
    return errno == 0 && *end == '\0' && *out < 0x7fffffffUL;
}

/* Why a lookup other than "no such entry" failed. */
static const char *nss_error(int rc)
{
    return rc == E2BIG ? "its entry is bigger than 1 MiB" : strerror(rc);
}

static const char *lookup_group(const char *group, ac_identity_t *id, char *why, size_t len)
{
    struct group gr;
    char *buf = NULL;
    unsigned long n;
    int rc;

    if (numeric_id(group, &n)) {
        id->gid = (gid_t)n;
        return NULL;
    }
    rc = ac_nss_group(group, 0, &gr, &buf);
    if (rc == 0) {
        id->gid = gr.gr_gid;
    }
    free(buf);
    if (rc) {
        snprintf(why, len, "no group named '%s'%s%s", group, rc == ENOENT ? "" : ": ",
                 rc == ENOENT ? "" : nss_error(rc));
        return why;
    }
    return NULL;
}

const char *ac_identity_lookup(const char *user, const char *group, ac_identity_t *id,
                               char *why, size_t len)
{
    struct passwd pw;
    char *buf = NULL;
    unsigned long n;
    int numeric = numeric_id(user, &n), rc;

    memset(id, 0, sizeof(*id));
    rc = ac_nss_user(numeric ? NULL : user, numeric ? (uid_t)n : 0, &pw, &buf);
    if (rc == 0) {
        id->uid = pw.pw_uid;
        id->gid = pw.pw_gid;
        snprintf(id->name, sizeof(id->name), "%s", pw.pw_name);
    }
    free(buf);
    if (rc == ENOENT && numeric) {
        /* a uid without a name (as Apache's User #n allows): its group must be given */
        id->uid = (uid_t)n;
        snprintf(id->name, sizeof(id->name), "%lu", n);
        if (!group) {
            snprintf(why, len, "uid %lu has no passwd entry: name its group too", n);
            return why;
        }
    }
    else if (rc) {
        snprintf(why, len, "no user named '%s'%s%s", user, rc == ENOENT ? "" : ": ",
                 rc == ENOENT ? "" : nss_error(rc));
        return why;
    }
    if (strlen(id->name) >= sizeof(id->name) - 1 || strchr(id->name, '/')
        || !strcmp(id->name, ".") || !strcmp(id->name, "..") || !id->name[0]) {
        snprintf(why, len, "the user name of '%s' cannot name a directory", user);
        return why;
    }
    if (group && lookup_group(group, id, why, len)) {
        return why;
    }
    if (id->uid == 0 || id->gid == 0) {
        snprintf(why, len, "'%s%s%s' is root (%s 0): apps never run as root", user,
                 group ? " " : "", group ? group : "", id->uid == 0 ? "uid" : "gid");
        return why;
    }
    return NULL;
}

int ac_identity_groups(const ac_identity_t *id, gid_t *groups, int max)
{
    struct passwd pw;
    char *buf = NULL;
    int n = max, i, kept = 0, named;

    if (max < 1) {
        return -1;
    }
    /* the group database knows the user by name: only a name that is this
     * user's (a uid without a passwd entry is named by its number) */
    named = ac_nss_user(id->name, 0, &pw, &buf) == 0 && pw.pw_uid == id->uid;
    free(buf);
    if (!named || getgrouplist(id->name, id->gid, groups, &n) < 0) {
        n = named ? max : 1;     /* more than `max`: getgrouplist filled the first ones */
    }
    groups[0] = id->gid;
    for (i = 0; i < n; i++) {
        if (groups[i] != 0) {    /* root's group is never given, whatever the database says */
            groups[kept++] = groups[i];
        }
    }
    return kept ? kept : -1;
}

static int is_kept(cap_value_t c)
{
    int i;
    for (i = 0; i < KEPT_CAPS; i++) {
        if (kept_caps[i] == c) {
            return 1;
        }
    }
    return 0;
}

int ac_identity_keep_caps_begin(void)
{
    cap_value_t c;

    /* The bounding set first, while root holds CAP_SETPCAP: nothing beyond
     * the three can come back, whatever we or an app execute. */
    for (c = 0; c <= CAP_LAST_CAP; c++) {
        if (!is_kept(c) && prctl(PR_CAPBSET_DROP, (unsigned long)c, 0L, 0L, 0L) < 0
            && errno != EINVAL) {
            return -1;
        }
    }
    return prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L);
}

int ac_identity_keep_caps_end(void)
{
    cap_t caps = cap_init();
    int rc = -1, e;

    if (!caps) {
        return -1;
    }
    if (cap_set_flag(caps, CAP_PERMITTED, KEPT_CAPS, kept_caps, CAP_SET) == 0
        && cap_set_flag(caps, CAP_EFFECTIVE, KEPT_CAPS, kept_caps, CAP_SET) == 0
        && cap_set_proc(caps) == 0) {
        rc = 0;
    }
    e = errno;
    cap_free(caps);
    (void)prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L);
    if (rc == 0 && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) < 0
        && errno != EINVAL) {
        return -1;
    }
    errno = e;
    return rc;
}

int ac_identity_can_switch(void)
{
    cap_t caps = cap_get_proc();
    cap_flag_value_t v = CAP_CLEAR, w = CAP_CLEAR;

    if (!caps) {
        return 0;
    }
    (void)cap_get_flag(caps, CAP_SETUID, CAP_EFFECTIVE, &v);
    (void)cap_get_flag(caps, CAP_SETGID, CAP_EFFECTIVE, &w);
    cap_free(caps);
    return v == CAP_SET && w == CAP_SET;
}

/* By the raw interface: no allocation, as this runs in a forked child. */
int ac_identity_drop_caps(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (capset(&hdr, data) < 0) {
        return -1;
    }
    return prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) < 0 && errno != EINVAL
           ? -1 : 0;
}

int ac_identity_become(const ac_identity_t *id, const gid_t *groups, int n)
{
    if (id->uid == 0 || id->gid == 0) {
        errno = EPERM;
        return -1;
    }
    if (setgroups((size_t)n, groups) < 0 || setresgid(id->gid, id->gid, id->gid) < 0
        || setresuid(id->uid, id->uid, id->uid) < 0 || ac_identity_drop_caps() < 0) {
        return -1;
    }
    if (getuid() != id->uid || geteuid() != id->uid || getgid() != id->gid
        || getegid() != id->gid || getuid() == 0 || getgid() == 0) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

/* What ac_identity_fs_begin changed, to put back (the supervisor is
 * single-threaded). A scope may be entered again for the same user (a log
 * line written while the app's files are handled opens its debug log):
 * only the outermost end puts the ids back. */
static struct {
    int depth;
    uid_t uid;                   /* the scope's */
    gid_t gid;
    uid_t fsuid;                 /* to put back */
    gid_t fsgid;
    int ngroups;
    gid_t groups[AC_IDENTITY_GROUPS_MAX];
} saved;
static pid_t expected_parent;

void ac_identity_set_parent(pid_t parent)
{
    expected_parent = parent;
}

int ac_identity_fs_active(void)
{
    return saved.depth > 0;
}

/* A change of fsuid or fsgid clears the parent-death signal: set it again,
 * and if the parent died meanwhile, send ourselves that signal. */
static void rearm_pdeath(int sig)
{
    if (!sig) {
        return;
    }
    (void)prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0L, 0L, 0L);
    if (expected_parent && getppid() != expected_parent) {
        (void)kill(getpid(), sig);
    }
}

/* Back to the ids before the scope; 0, or -1 if they could not all be. */
static int restore(void)
{
    setfsuid(saved.fsuid);
    setfsgid(saved.fsgid);
    if ((uid_t)setfsuid((uid_t)-1) != saved.fsuid || (gid_t)setfsgid((gid_t)-1) != saved.fsgid
        || setgroups((size_t)saved.ngroups, saved.groups) < 0) {
        return -1;
    }
    return 0;
}

int ac_identity_fs_begin(const ac_identity_t *id, const gid_t *groups, int n, int pdeath_signal)
{
    int count;

    if (saved.depth > 0) {
        if (saved.uid != id->uid || saved.gid != id->gid) {
            errno = EBUSY;      /* never another user's scope inside one */
            return -1;
        }
        saved.depth++;
        return 0;
    }
    if ((geteuid() == id->uid && getegid() == id->gid) || !ac_identity_can_switch()) {
        return 0;
    }
    count = getgroups(AC_IDENTITY_GROUPS_MAX, saved.groups);
    if (count < 0) {
        return -1;
    }
    saved.ngroups = count;
    saved.fsuid = geteuid();
    saved.fsgid = getegid();
    if (setgroups((size_t)n, groups) < 0) {
        return -1;
    }
    setfsgid(id->gid);
    setfsuid(id->uid);
    /* setfs*id report the previous value; the new one is read back */
    if ((uid_t)setfsuid((uid_t)-1) != id->uid || (gid_t)setfsgid((gid_t)-1) != id->gid) {
        if (restore() < 0) {
            abort();    /* never go on with another's ids */
        }
        rearm_pdeath(pdeath_signal);
        errno = EPERM;
        return -1;
    }
    saved.uid = id->uid;
    saved.gid = id->gid;
    saved.depth = 1;
    return 0;
}

void ac_identity_fs_end(int pdeath_signal)
{
    if (saved.depth == 0 || --saved.depth > 0) {
        return;
    }
    if (restore() < 0) {
        abort();        /* cannot happen with CAP_SETUID and CAP_SETGID; never go on as another */
    }
    rearm_pdeath(pdeath_signal);
}

uid_t ac_identity_fsuid(void)
{
    return (uid_t)setfsuid((uid_t)-1);     /* an invalid id changes nothing, returns the current */
}
