/* Unit tests: who an app an httpd child asked for may run as (ac_ownerpolicy).
 *
 * The fixtures are real directories and files. The rules refuse an app root
 * with a directory above it that others may write, so they cannot live under
 * /tmp or /var/tmp (1777): as root they are made in a fresh directory under
 * /run (root's, 0755, as is "/"), owned by root 0755, with the app's files
 * given to nobody (65534) and the wrong owners played by daemon (1) and
 * www-data (33); no account is made or changed. As another user (a package
 * build) the app's user is that user itself and the fixtures go under the
 * working directory when every directory above it is root's or that user's
 * and not writable by group or others (else under $HOME if that is); the
 * checks that need chown (another owner, a root-owned .NET host) are
 * skipped, saying so on stderr, and the whole suite is skipped loudly when
 * no such directory is at hand.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* RTLD_NEXT */
#endif
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_strings.h>

#include "check_suites.h"
#include "ac_ownercheck.h"
#include "ac_ownerpolicy.h"

#define NOBODY 65534
#define DAEMON_UID 1
#define WWW_DATA 33

static char base[256];          /* "" when no fixture directory could be made */
static int as_root;
static uid_t app_uid;           /* the user the app would run as */
static gid_t app_gid;
static char why[1024];

/* ---- getpwuid_r / getgrgid_r played wrong, when armed ----
 * This executable's definitions win over libc's, also for the library under
 * test (statically linked in), as in check_statedir.c. */
static int fake_no_user;        /* the next lookups find no passwd entry */
static int fake_no_group;       /* ... no group entry */
static size_t fake_erange_below;/* ERANGE while the buffer is smaller than this */
static int lookups;             /* getpwuid_r calls while armed */

int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t size, struct passwd **res)
{
    static int (*real)(uid_t, struct passwd *, char *, size_t, struct passwd **);

    if (!real) {
        *(void **)&real = dlsym(RTLD_NEXT, "getpwuid_r");
    }
    if (fake_no_user || fake_erange_below) {
        lookups++;
    }
    if (fake_no_user) {
        *res = NULL;
        return 0;
    }
    if (size < fake_erange_below) {
        *res = NULL;
        return ERANGE;
    }
    return real(uid, pw, buf, size, res);
}

int getgrgid_r(gid_t gid, struct group *gr, char *buf, size_t size, struct group **res)
{
    static int (*real)(gid_t, struct group *, char *, size_t, struct group **);

    if (!real) {
        *(void **)&real = dlsym(RTLD_NEXT, "getgrgid_r");
    }
    if (fake_no_group) {
        *res = NULL;
        return ENOENT;
    }
    return real(gid, gr, buf, size, res);
}

/* ---- fixtures ---- */

static int skipped(const char *test, const char *why_skipped)
{
    fprintf(stderr, "%s: SKIPPED, %s\n", test, why_skipped);
    return 1;
}

#define NEED_BASE() \
    do { if (!base[0] && skipped(__func__, "no directory for the fixtures (see " \
                                 "check_ownerpolicy.c's header)")) return; } while (0)
#define NEED_ROOT() \
    do { if (!as_root && skipped(__func__, "what follows needs root (files of other users, " \
                                 "a .NET host of root's)")) \
             return; } while (0)

static const char *at(const char *rel)
{
    return apr_pstrcat(test_pool, base, "/", rel, NULL);
}

/* Every directory from "/" to `dir` root's or ours (only root's when
 * `only_root`), not group/other writable; `dir` itself also when it is a
 * file. */
static int roots_or_ours(const char *dir, int only_root)
{
    char prefix[4096];
    size_t i, n = strlen(dir);
    struct stat st;

    if (n >= sizeof(prefix) || dir[0] != '/') {
        return 0;
    }
    for (i = 1; i <= n; i++) {
        if (i == n || dir[i] == '/') {
            memcpy(prefix, dir, i);
            prefix[i] = '\0';
            if (lstat(prefix, &st) < 0 || (!S_ISDIR(st.st_mode) && i < n)
                || (st.st_uid != 0 && (only_root || st.st_uid != geteuid()))
                || (st.st_mode & 022)) {
                return 0;
            }
        }
    }
    return lstat("/", &st) == 0 && st.st_uid == 0 && !(st.st_mode & 022);
}

static int fit_for_fixtures(const char *dir)
{
    struct stat st;
    return roots_or_ours(dir, 0) && lstat(dir, &st) == 0 && S_ISDIR(st.st_mode);
}

static void make_dir(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
    const char *path = at(rel);

    ck_assert_int_eq(mkdir(path, 0700), 0);
    if (as_root) {
        ck_assert_int_eq(lchown(path, uid, gid), 0);
    }
    ck_assert_int_eq(chmod(path, mode), 0);
}

static void make_file(const char *rel, mode_t mode, uid_t uid, gid_t gid)
{
    const char *path = at(rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "MZ", 2), 2);
    if (as_root) {
        ck_assert_int_eq(fchown(fd, uid, gid), 0);
    }
    /* after the chown, which clears setuid bits */
    ck_assert_int_eq(fchmod(fd, mode), 0);
    ck_assert_int_eq(close(fd), 0);
}

/* The directory of this suite's fixtures, made once in Check's parent
 * process and removed there after the last test, also when a test failed
 * (a forked test that fails does not run its own teardown). */
static char suite_dir[224];

static void suite_setup(void)
{
    /* /run as root; else (or when that fails: fakeroot) the build tree, or
     * else the home directory */
    char cwd[200];
    const char *home = getenv("HOME");
    const char *dirs[3];
    int n = 0, i;

    suite_dir[0] = '\0';
    as_root = geteuid() == 0;
    app_uid = as_root ? NOBODY : geteuid();
    app_gid = as_root ? NOBODY : getegid();
    if (app_gid == 0) {
        return;
    }
    if (as_root) {
        dirs[n++] = "/run";
    }
    if (getcwd(cwd, sizeof(cwd))) {
        dirs[n++] = cwd;
    }
    if (home && strlen(home) < 200) {
        dirs[n++] = home;
    }
    for (i = 0; i < n; i++) {
        if (!fit_for_fixtures(dirs[i])) {
            continue;
        }
        snprintf(suite_dir, sizeof(suite_dir), "%.190s/ac-ownerpolicy-test.XXXXXX", dirs[i]);
        if (mkdtemp(suite_dir)) {
            if (chmod(suite_dir, as_root ? 0755 : 0700) == 0) {
                return;
            }
            rmdir(suite_dir);
        }
        fprintf(stderr, "ownerpolicy: cannot make %s: %s\n", suite_dir, strerror(errno));
    }
    suite_dir[0] = '\0';
}

static void suite_teardown(void)
{
    if (suite_dir[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", suite_dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "ownerpolicy: cannot remove %s\n", suite_dir);
        }
    }
}

/* A fresh base for each test in the suite's directory: base/app (the app's
 * user, 0755) with MyApp (its apphost, 0755), MyApp.dll (0644) and
 * bin/Tool; as root also base/sys/dotnet, a .NET host of root's. */
static void policy_setup(void)
{
    pool_setup();
    base[0] = '\0';
    if (!suite_dir[0]) {
        return;
    }
    snprintf(base, sizeof(base), "%s/t.XXXXXX", suite_dir);
    ck_assert_ptr_nonnull(mkdtemp(base));
    ck_assert_int_eq(chmod(base, as_root ? 0755 : 0700), 0);
    make_dir("app", 0755, app_uid, app_gid);
    make_file("app/MyApp", 0755, app_uid, app_gid);
    make_file("app/MyApp.dll", 0644, app_uid, app_gid);
    make_dir("app/bin", 0755, app_uid, app_gid);
    make_file("app/bin/Tool", 0755, app_uid, app_gid);
    if (as_root) {
        make_dir("sys", 0755, 0, 0);
        make_file("sys/dotnet", 0755, 0, 0);
    }
}

static void policy_teardown(void)
{
    if (base[0]) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
        ck_assert_int_eq(system(cmd), 0);
    }
    fake_no_user = fake_no_group = 0;
    fake_erange_below = 0;
    pool_teardown();
}

static ac_ownerpolicy_t policy(uid_t min_uid)
{
    ac_ownerpolicy_t pol;
    pol.uid = app_uid;
    pol.gid = app_gid;
    pol.min_uid = min_uid;
    return pol;
}

/* The check with the app's root base/app, env names optional. */
static const char *check(const char *program, const char *arg1, const char *arg2,
                         const char *const *env)
{
    ac_ownerpolicy_t pol = policy(0);
    char *argv[4];

    argv[0] = (char *)program;
    argv[1] = (char *)arg1;
    argv[2] = arg1 ? (char *)arg2 : NULL;
    argv[3] = NULL;
    return ac_ownerpolicy_check(&pol, at("app"), program, argv, env, why, sizeof(why));
}

#define PASSES(expr) \
    do { const char *err_ = (expr); \
         if (err_) ck_abort_msg("refused: %s", err_); } while (0)
#define REFUSED(expr, words) \
    do { const char *err_ = (expr); \
         ck_assert_msg(err_ != NULL, "passed, expected \"%s\"", (words)); \
         ck_assert_msg(strstr(err_, (words)) != NULL, "\"%s\" does not say \"%s\"", \
                       err_, (words)); } while (0)

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        n++;
    }
    closedir(d);
    return n;
}

/* ---- rule 1 ---- */

START_TEST(root_and_uids_below_the_minimum_are_refused)
{
    ac_ownerpolicy_t pol = {DAEMON_UID, DAEMON_UID, 1000};
    char *argv[] = {"/srv/a/app/MyApp", NULL};
    const char *err;

    err = ac_ownerpolicy_check(&pol, "/srv/a/app", argv[0], argv, NULL, why, sizeof(why));
    ck_assert_str_eq(err, "uid 1 is below AspNetCoreMinUid 1000");
    pol.uid = 0;
    REFUSED(ac_ownerpolicy_check(&pol, "/srv/a/app", argv[0], argv, NULL, why, sizeof(why)),
            "never runs as root");
    pol.uid = NOBODY;
    pol.gid = 0;
    REFUSED(ac_ownerpolicy_check(&pol, "/srv/a/app", argv[0], argv, NULL, why, sizeof(why)),
            "never runs as root");

    NEED_BASE();
    /* nobody (65534) is above 1000; as another user, its own uid is the bound */
    pol = policy(as_root ? 1000 : app_uid);
    PASSES(ac_ownerpolicy_check(&pol, at("app"), at("app/MyApp"), argv, NULL, why,
                                sizeof(why)));
    pol.min_uid = app_uid + 1;
    REFUSED(ac_ownerpolicy_check(&pol, at("app"), at("app/MyApp"), argv, NULL, why,
                                 sizeof(why)), "is below AspNetCoreMinUid");
    pol.min_uid = 0;           /* no minimum */
    PASSES(ac_ownerpolicy_check(&pol, at("app"), at("app/MyApp"), argv, NULL, why,
                                sizeof(why)));
}
END_TEST

/* ---- rule 2 ---- */

START_TEST(app_root_must_be_the_users_and_written_by_no_one_else)
{
    NEED_BASE();
    PASSES(check(at("app/MyApp"), NULL, NULL, NULL));
    ck_assert_int_eq(chmod(at("app"), 0775), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL),
            apr_pstrcat(test_pool, at("app"), " is writable by its group", NULL));
    ck_assert_int_eq(chmod(at("app"), 0757), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL), "is writable by others");
    ck_assert_int_eq(chmod(at("app"), 0755), 0);
    PASSES(check(at("app/MyApp"), NULL, NULL, NULL));
    /* not absolute, or with "..": the walk would check other directories */
    REFUSED(ac_ownerpolicy_check(&(ac_ownerpolicy_t){app_uid, app_gid, 0}, "srv/app",
                                 at("app/MyApp"), (char *[]){"x", NULL}, NULL, why,
                                 sizeof(why)), "not an absolute path");
    REFUSED(ac_ownerpolicy_check(&(ac_ownerpolicy_t){app_uid, app_gid, 0},
                                 at("app/bin/../"), at("app/MyApp"),
                                 (char *[]){"x", NULL}, NULL, why, sizeof(why)),
            "not an absolute path");

    NEED_ROOT();
    ck_assert_int_eq(chown(at("app"), DAEMON_UID, DAEMON_UID), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL),
            "is owned by uid 1, not by uid 65534 the app would run as");
}
END_TEST

START_TEST(app_root_is_no_link_and_a_directory)
{
    ac_ownerpolicy_t pol;
    char *argv[] = {"x", NULL};

    NEED_BASE();
    pol = policy(0);
    ck_assert_int_eq(symlink("app", at("link")), 0);
    REFUSED(ac_ownerpolicy_check(&pol, at("link"), at("link/MyApp"), argv, NULL, why,
                                 sizeof(why)), "app root");
    REFUSED(ac_ownerpolicy_check(&pol, at("link"), at("link/MyApp"), argv, NULL, why,
                                 sizeof(why)), "link is a symbolic link");
    REFUSED(ac_ownerpolicy_check(&pol, at("app/MyApp"), at("app/MyApp"), argv, NULL, why,
                                 sizeof(why)), "is not a directory");
    REFUSED(ac_ownerpolicy_check(&pol, at("gone"), at("gone/MyApp"), argv, NULL, why,
                                 sizeof(why)), "No such file or directory");
}
END_TEST

START_TEST(directories_above_the_app_root_are_roots_or_the_users)
{
    ac_ownerpolicy_t pol;
    char *argv[] = {"x", NULL};
    char tmp[] = "/tmp/check_ownerpolicy.XXXXXX";
    const char *app;

    NEED_BASE();
    pol = policy(0);
    /* /tmp is root's but anyone may write it (sticky or not): Apache's User
     * could rename a directory of its own making into place there */
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    app = apr_pstrcat(test_pool, tmp, "/app", NULL);
    ck_assert_int_eq(mkdir(app, 0755), 0);
    if (as_root) {
        ck_assert_int_eq(chown(tmp, app_uid, app_gid), 0);
        ck_assert_int_eq(chown(app, app_uid, app_gid), 0);
    }
    REFUSED(ac_ownerpolicy_check(&pol, app, apr_pstrcat(test_pool, app, "/MyApp", NULL),
                                 argv, NULL, why, sizeof(why)), "/tmp is writable by others");
    ck_assert_int_eq(rmdir(app), 0);
    ck_assert_int_eq(rmdir(tmp), 0);

    /* a directory between them that its group may write */
    make_dir("mid", 0775, as_root ? 0 : app_uid, as_root ? 0 : app_gid);
    make_dir("mid/app", 0755, app_uid, app_gid);
    make_file("mid/app/MyApp", 0755, app_uid, app_gid);
    REFUSED(ac_ownerpolicy_check(&pol, at("mid/app"), at("mid/app/MyApp"), argv, NULL, why,
                                 sizeof(why)),
            apr_pstrcat(test_pool, at("mid"), " is writable by its group", NULL));
    ck_assert_int_eq(chmod(at("mid"), 0755), 0);
    PASSES(ac_ownerpolicy_check(&pol, at("mid/app"), at("mid/app/MyApp"), argv, NULL, why,
                                sizeof(why)));
    /* a link on the way */
    ck_assert_int_eq(symlink("mid", at("via")), 0);
    REFUSED(ac_ownerpolicy_check(&pol, at("via/app"), at("via/app/MyApp"), argv, NULL, why,
                                 sizeof(why)), "via is a symbolic link");

    NEED_ROOT();
    /* owned by Apache's User: it could swap the app root after the check */
    ck_assert_int_eq(chown(at("mid"), WWW_DATA, WWW_DATA), 0);
    REFUSED(ac_ownerpolicy_check(&pol, at("mid/app"), at("mid/app/MyApp"), argv, NULL, why,
                                 sizeof(why)),
            "mid is owned by uid 33, neither root nor uid 65534 the app would run as");
    /* the app's user may own the directories above its app */
    ck_assert_int_eq(chown(at("mid"), NOBODY, NOBODY), 0);
    PASSES(ac_ownerpolicy_check(&pol, at("mid/app"), at("mid/app/MyApp"), argv, NULL, why,
                                sizeof(why)));
}
END_TEST

/* ---- rule 3a ---- */

START_TEST(own_program_in_the_app_root)
{
    NEED_BASE();
    PASSES(check(at("app/MyApp"), "--urls", "anything", NULL));
    PASSES(check(at("app/bin/Tool"), NULL, NULL, NULL));
    /* a link, even to the app's own program */
    ck_assert_int_eq(symlink("MyApp", at("app/Linked")), 0);
    REFUSED(check(at("app/Linked"), NULL, NULL, NULL), "app/Linked is a symbolic link");
    /* a directory on the way inside the app root: as the app root */
    ck_assert_int_eq(chmod(at("app/bin"), 0775), 0);
    REFUSED(check(at("app/bin/Tool"), NULL, NULL, NULL), "app/bin is writable by its group");
    ck_assert_int_eq(chmod(at("app/bin"), 0755), 0);
    ck_assert_int_eq(symlink("bin", at("app/lib")), 0);
    REFUSED(check(at("app/lib/Tool"), NULL, NULL, NULL), "app/lib is a symbolic link");
    /* write bits of the program */
    ck_assert_int_eq(chmod(at("app/MyApp"), 0775), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL), "app/MyApp is writable by its group");
    ck_assert_int_eq(chmod(at("app/MyApp"), 0757), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL), "app/MyApp is writable by others");
    /* setuid, setgid */
    ck_assert_int_eq(chmod(at("app/MyApp"), 04755), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL), "is setuid or setgid");
    ck_assert_int_eq(chmod(at("app/MyApp"), 02755), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL), "is setuid or setgid");
    ck_assert_int_eq(chmod(at("app/MyApp"), 0755), 0);
    PASSES(check(at("app/MyApp"), NULL, NULL, NULL));
    REFUSED(check(at("app/bin"), NULL, NULL, NULL), "is not a regular file");
    REFUSED(check(at("app/Missing"), NULL, NULL, NULL), "No such file or directory");

    NEED_ROOT();
    ck_assert_int_eq(chown(at("app/MyApp"), DAEMON_UID, DAEMON_UID), 0);
    REFUSED(check(at("app/MyApp"), NULL, NULL, NULL),
            "app/MyApp is owned by uid 1, not by uid 65534");
    ck_assert_int_eq(chown(at("app/bin"), 0, 0), 0);
    REFUSED(check(at("app/bin/Tool"), NULL, NULL, NULL), "app/bin is owned by uid 0");
}
END_TEST

START_TEST(a_fifo_is_refused_without_blocking)
{
    NEED_BASE();
    ck_assert_int_eq(mkfifo(at("app/Fifo"), 0644), 0);
    ck_assert_int_eq(mkfifo(at("app/Fifo.dll"), 0644), 0);
    REFUSED(check(at("app/Fifo"), NULL, NULL, NULL), "app/Fifo is not a regular file");
    NEED_ROOT();
    REFUSED(check(at("sys/dotnet"), "Fifo.dll", NULL, NULL), "Fifo.dll is not a regular file");
}
END_TEST

/* ---- rule 3b ---- */

START_TEST(root_dotnet_outside_runs_only_the_apps_dll)
{
    NEED_BASE();
    NEED_ROOT();
    PASSES(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL));
    PASSES(check(at("sys/dotnet"), at("app/MyApp.dll"), NULL, NULL));
    /* what follows the .dll is the app's */
    PASSES(check(at("sys/dotnet"), "MyApp.dll", "--additionalprobingpath=/tmp", NULL));
    /* host options before the .dll */
    REFUSED(check(at("sys/dotnet"), "exec", "MyApp.dll", NULL), "\"exec\" is not the app's .dll");
    REFUSED(check(at("sys/dotnet"), "--additionalprobingpath", "/tmp", NULL),
            "is not the app's .dll");
    REFUSED(check(at("sys/dotnet"), NULL, NULL, NULL), "needs the app's .dll");
    /* a .dll of someone else's */
    REFUSED(check(at("sys/dotnet"), "/tmp/x.dll", NULL, NULL), "is not inside the app root");
    REFUSED(check(at("sys/dotnet"), "../app/MyApp.dll", NULL, NULL), "\"..\" component");
    REFUSED(check(at("sys/dotnet"), at("app/bin/../MyApp.dll"), NULL, NULL),
            "\"..\" component");
    REFUSED(check(at("sys/dotnet"), "Missing.dll", NULL, NULL), "No such file");
    /* the .dll as the app's own program: no link, no write bits, its owner */
    ck_assert_int_eq(symlink("MyApp.dll", at("app/Other.dll")), 0);
    REFUSED(check(at("sys/dotnet"), "Other.dll", NULL, NULL), "Other.dll is a symbolic link");
    ck_assert_int_eq(chmod(at("app/MyApp.dll"), 0664), 0);
    REFUSED(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL), "MyApp.dll is writable by its group");
    ck_assert_int_eq(chmod(at("app/MyApp.dll"), 0644), 0);
    ck_assert_int_eq(chown(at("app/MyApp.dll"), WWW_DATA, WWW_DATA), 0);
    REFUSED(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL), "MyApp.dll is owned by uid 33");
}
END_TEST

START_TEST(a_program_outside_must_be_roots_dotnet)
{
    NEED_BASE();
    NEED_ROOT();
    /* another root program would do with its arguments what it likes
     * (env, find -exec, ...): only the .NET host */
    make_file("sys/python3", 0755, 0, 0);
    REFUSED(check(at("sys/python3"), "MyApp.dll", NULL, NULL), "not the .NET host");
    /* the app's user's program outside its app root */
    make_dir("elsewhere", 0755, NOBODY, NOBODY);
    make_file("elsewhere/dotnet", 0755, NOBODY, NOBODY);
    REFUSED(check(at("elsewhere/dotnet"), "MyApp.dll", NULL, NULL),
            "elsewhere is owned by uid 65534, not by root");
    ck_assert_int_eq(chown(at("elsewhere"), 0, 0), 0);
    REFUSED(check(at("elsewhere/dotnet"), "MyApp.dll", NULL, NULL),
            "elsewhere/dotnet is owned by uid 65534, not by root");
    /* root's, but in a directory Apache's User owns, or writable, or setuid */
    ck_assert_int_eq(chown(at("sys"), WWW_DATA, WWW_DATA), 0);
    REFUSED(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL), "sys is owned by uid 33");
    ck_assert_int_eq(chown(at("sys"), 0, 0), 0);
    ck_assert_int_eq(chmod(at("sys/dotnet"), 0775), 0);
    REFUSED(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL), "dotnet is writable by its group");
    ck_assert_int_eq(chmod(at("sys/dotnet"), 04755), 0);
    REFUSED(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL), "is setuid or setgid");
    /* a link is refused: the caller passes the resolved path */
    ck_assert_int_eq(chmod(at("sys/dotnet"), 0755), 0);
    ck_assert_int_eq(symlink("dotnet", at("sys/dotnet-link")), 0);
    make_dir("bin", 0755, 0, 0);
    ck_assert_int_eq(symlink("../sys/dotnet", at("bin/dotnet")), 0);
    REFUSED(check(at("bin/dotnet"), "MyApp.dll", NULL, NULL), "bin/dotnet is a symbolic link");
    PASSES(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL));
}
END_TEST

START_TEST(the_installed_dotnet_once_resolved)
{
    char resolved[4096];

    NEED_BASE();
    if (!realpath("/usr/bin/dotnet", resolved)) {
        skipped(__func__, "no /usr/bin/dotnet on this machine");
        return;
    }
    if (strcmp(strrchr(resolved, '/'), "/dotnet") != 0 || !roots_or_ours(resolved, 1)) {
        /* a snap's launcher, an install of a user's: refused, rightly */
        skipped(__func__, "/usr/bin/dotnet is not the .NET host in root's directories");
        return;
    }
    if (strcmp(resolved, "/usr/bin/dotnet") != 0) {
        /* Debian's /usr/bin/dotnet is a link: refused as given */
        REFUSED(check("/usr/bin/dotnet", "MyApp.dll", NULL, NULL), "is a symbolic link");
    }
    PASSES(check(resolved, "MyApp.dll", NULL, NULL));
}
END_TEST

/* ---- rule 4 ---- */

START_TEST(environment_names_that_load_code_are_refused)
{
    static const char *const refused[] = {
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "GCONV_PATH", "GETCONF_DIR",
        "GLIBC_TUNABLES", "HOSTALIASES", "LOCALDOMAIN", "LOCPATH", "MALLOC_TRACE",
        "MALLOC_CHECK_", "NIS_PATH", "NLSPATH", "RESOLV_HOST_CONF", "RES_OPTIONS", "TMPDIR",
        "TZDIR", "DOTNET_STARTUP_HOOKS", "dotnet_startup_hooks", "DOTNET_ADDITIONAL_DEPS",
        "DOTNET_SHARED_STORE", "DOTNET_ROOT", "DOTNET_ROOT_X64", "DOTNET_ROOT(x86)",
        "DOTNET_BUNDLE_EXTRACT_BASE_DIR", "DOTNET_HOST_TRACEFILE", "COREHOST_TRACE",
        "COREHOST_TRACEFILE", "CORECLR_ENABLE_PROFILING", "CORECLR_PROFILER",
        "CORECLR_PROFILER_PATH_64", "CORECLR_NOTIFICATION_PROFILERS", "COMPlus_gcServer",
        "complus_GCName", "DOTNET_GCName", "DOTNET_gcName", "DOTNET_GCPath", "DOTNET_JitName",
        "DOTNET_AltJitName", "DOTNET_InterpreterPath", "DOTNET_DiagnosticPorts",
        "DOTNET_NativeImageSearchPaths", "DOTNET_EventPipeOutputPath", "DOTNET_DbgMiniDumpName",
        "DOTNET_HOSTINGSTARTUPASSEMBLIES", "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES",
        "aspnetcore_hostingStartupAssemblies", "hostingStartupAssemblies",
        "CLR_OPENSSL_VERSION_OVERRIDE", "DOTNET_OPENSSL_VERSION_OVERRIDE", "OPENSSL_CONF",
        "OPENSSL_MODULES", "BASH_ENV", "PYTHONPATH", "NODE_OPTIONS", "JAVA_TOOL_OPTIONS",
        "HOME", "XDG_DATA_HOME", "DOTNET_CLI_HOME", "ASPNETCORE_CONTENTROOT",
        "DOTNET_CONTENTROOT", "contentRoot", "ASPNETCORE_WEBROOT", NULL};
    static const char *const allowed[] = {
        "ASPNETCORE_ENVIRONMENT", "DOTNET_ENVIRONMENT", "PATH", "HOMEPAGE", "LANG", "TZ",
        "DOTNET_gcServer", "DOTNET_GCHeapHardLimit", "DOTNET_TieredPGO",
        "DOTNET_SYSTEM_GLOBALIZATION_INVARIANT", "DOTNET_ROOTS", "ASPNETCORE_URLS",
        "ASPNETCORE_HOSTINGSTARTUPEXCLUDEASSEMBLIES", "ASPNETCORE_PREVENTHOSTINGSTARTUP",
        "ConnectionStrings__Default", "ENVIRONMENT", "ld_preload", "", NULL};
    int i;

    for (i = 0; refused[i]; i++) {
        ck_assert_msg(ac_ownerpolicy_env_refused(refused[i]) == 1, "%s allowed", refused[i]);
    }
    for (i = 0; allowed[i]; i++) {
        ck_assert_msg(ac_ownerpolicy_env_refused(allowed[i]) == 0, "%s refused", allowed[i]);
    }
    ck_assert_int_eq(ac_ownerpolicy_env_refused(NULL), 0);
}
END_TEST

START_TEST(the_check_applies_the_environment_rule)
{
    const char *const good[] = {"ASPNETCORE_ENVIRONMENT", "PATH", NULL};
    const char *const bad[] = {"ASPNETCORE_ENVIRONMENT", "LD_PRELOAD", NULL};
    const char *const hostile[] = {"LD_PRELOAD\nforged log line", NULL};

    NEED_BASE();
    PASSES(check(at("app/MyApp"), NULL, NULL, good));
    ck_assert_str_eq(check(at("app/MyApp"), NULL, NULL, bad),
                     "environment variable LD_PRELOAD changes what code the app loads");
    /* a name with a newline stays on one log line */
    REFUSED(check(at("app/MyApp"), NULL, NULL, hostile), "LD_PRELOAD?forged log line changes");
}
END_TEST

/* ---- AspNetCoreUserFromOwner ---- */

START_TEST(dir_owner_names_the_user_and_group)
{
    uid_t uid = 0;
    gid_t gid = 0;
    char name[64];
    struct passwd *pw;

    NEED_BASE();
    PASSES(ac_ownerpolicy_dir_owner(at("app"), &uid, &gid, name, sizeof(name), why,
                                    sizeof(why)));
    pw = getpwuid(app_uid);
    ck_assert_ptr_nonnull(pw);
    ck_assert_uint_eq(uid, app_uid);
    ck_assert_uint_eq(gid, pw->pw_gid);
    ck_assert_str_eq(name, pw->pw_name);
    if (as_root) {
        ck_assert_str_eq(name, "nobody");
        ck_assert_uint_eq(gid, NOBODY);
    }
    /* refused: a link, a file, root's, a name that does not fit */
    ck_assert_int_eq(symlink("app", at("link")), 0);
    REFUSED(ac_ownerpolicy_dir_owner(at("link"), &uid, &gid, name, sizeof(name), why,
                                     sizeof(why)), "link is a symbolic link");
    REFUSED(ac_ownerpolicy_dir_owner(at("app/MyApp"), &uid, &gid, name, sizeof(name), why,
                                     sizeof(why)), "is not a directory");
    REFUSED(ac_ownerpolicy_dir_owner("/", &uid, &gid, name, sizeof(name), why, sizeof(why)),
            "/ is owned by root");
    REFUSED(ac_ownerpolicy_dir_owner(at("gone"), &uid, &gid, name, sizeof(name), why,
                                     sizeof(why)), "No such file");
    REFUSED(ac_ownerpolicy_dir_owner(at("app"), &uid, &gid, name, 2, why, sizeof(why)),
            "too long");
}
END_TEST

START_TEST(dir_owner_without_passwd_or_group_entry)
{
    uid_t uid = 0;
    gid_t gid = 0;
    char name[64];

    NEED_BASE();
    fake_no_user = 1;
    REFUSED(ac_ownerpolicy_dir_owner(at("app"), &uid, &gid, name, sizeof(name), why,
                                     sizeof(why)), "has no passwd entry");
    fake_no_user = 0;
    fake_no_group = 1;
    REFUSED(ac_ownerpolicy_dir_owner(at("app"), &uid, &gid, name, sizeof(name), why,
                                     sizeof(why)), "has no group entry");
    fake_no_group = 0;
    ck_assert_uint_eq(uid, 0);          /* nothing filled in when refused */
}
END_TEST

START_TEST(dir_owner_retries_a_small_buffer_up_to_a_cap)
{
    uid_t uid = 0;
    gid_t gid = 0;
    char name[64];

    NEED_BASE();
    /* ERANGE below 8 KiB: 1, 2, 4 KiB refused, 8 KiB answers */
    fake_erange_below = 8192;
    lookups = 0;
    PASSES(ac_ownerpolicy_dir_owner(at("app"), &uid, &gid, name, sizeof(name), why,
                                    sizeof(why)));
    ck_assert_int_eq(lookups, 4);
    ck_assert_uint_eq(uid, app_uid);
    /* an entry that never fits: refused after the 1 MiB buffer */
    fake_erange_below = (size_t)-1;
    lookups = 0;
    REFUSED(ac_ownerpolicy_dir_owner(at("app"), &uid, &gid, name, sizeof(name), why,
                                     sizeof(why)), "bigger than 1048576 bytes");
    ck_assert_int_eq(lookups, 11);
}
END_TEST

/* ---- descriptors ---- */

START_TEST(no_descriptor_is_left_open)
{
    int before, i;

    NEED_BASE();
    ck_assert_int_eq(chmod(at("app/bin"), 0775), 0);
    ck_assert_int_eq(symlink("MyApp", at("app/Linked")), 0);
    before = open_fds();
    for (i = 0; i < 3; i++) {
        PASSES(check(at("app/MyApp"), NULL, NULL, NULL));
        REFUSED(check(at("app/bin/Tool"), NULL, NULL, NULL), "writable by its group");
        REFUSED(check(at("app/Linked"), NULL, NULL, NULL), "symbolic link");
        REFUSED(check(at("app/Missing"), NULL, NULL, NULL), "No such file");
        REFUSED(check("/usr/bin/python3", "MyApp.dll", NULL, NULL), "not the .NET host");
        if (as_root) {
            PASSES(check(at("sys/dotnet"), "MyApp.dll", NULL, NULL));
            REFUSED(check(at("sys/dotnet"), "Missing.dll", NULL, NULL), "No such file");
            REFUSED(check(at("sys/dotnet"), "/tmp/x.dll", NULL, NULL), "not inside");
        }
    }
    ck_assert_int_eq(open_fds(), before);
}
END_TEST

/* Arguments that set what the refused variables set are refused, in any of
 * the forms .NET's command-line configuration takes; the .NET host's first
 * argument, the app's .dll, is a file name whatever it reads. */
START_TEST(host_switches_in_the_arguments_but_not_the_apps_dll)
{
    apr_pool_t *p;
    const char *root = "/srv/app";
    char *dotnet_own[] = { "/usr/lib/dotnet/dotnet", "MyWebRootApp.dll", NULL };
    char *dotnet_abs[] = { "/usr/lib/dotnet/dotnet", "/srv/app/contentroot/App.dll", "x", NULL };
    char *dotnet_sw[] = { "/usr/lib/dotnet/dotnet", "App.dll", "--contentRoot=/tmp", NULL };
    char *dotnet_first[] = { "/usr/lib/dotnet/dotnet", "--webroot", "App.dll", NULL };
    char *dotnet_opt_dll[] = { "/usr/lib/dotnet/dotnet", "--contentRoot=/x.dll", NULL };
    char *dotnet_kv[] = { "/usr/lib/dotnet/dotnet", "App.dll", "hostingStartupAssemblies=X",
                          NULL };
    /* a program of the app's own named dotnet: its first argument is the app's */
    char *own_dotnet_kv[] = { "/srv/app/dotnet", "contentRoot=/tmp/x.dll", NULL };
    char *own_dotnet_slash[] = { "/srv/app/bin/dotnet", "/hostingStartupAssemblies=E.dll", NULL };
    char *own_sw[] = { "/srv/app/App", "/WebRoot", "/tmp", NULL };
    char *own_dll[] = { "/srv/app/App", "MyWebRootApp.dll", NULL };
    char *bare[] = { "/srv/app/App", NULL };
    const char *err;

    ck_assert_int_eq(apr_pool_create(&p, NULL), APR_SUCCESS);
    ck_assert_ptr_null(ac_ownercheck_host_switches(p, dotnet_own[0], root, dotnet_own));
    ck_assert_ptr_null(ac_ownercheck_host_switches(p, dotnet_abs[0], root, dotnet_abs));
    ck_assert_ptr_null(ac_ownercheck_host_switches(p, bare[0], root, bare));
    err = ac_ownercheck_host_switches(p, dotnet_sw[0], root, dotnet_sw);
    ck_assert_ptr_nonnull(err);
    ck_assert_ptr_nonnull(strstr(err, "--contentRoot=/tmp"));
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, dotnet_first[0], root, dotnet_first));
    /* an option that ends in .dll is still an option */
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, dotnet_opt_dll[0], root,
                                                      dotnet_opt_dll));
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, dotnet_kv[0], root, dotnet_kv));
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, own_dotnet_kv[0], root, own_dotnet_kv));
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, own_dotnet_slash[0], root,
                                                      own_dotnet_slash));
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, own_sw[0], root, own_sw));
    /* a program of the app's own gets its arguments as they are */
    ck_assert_ptr_nonnull(ac_ownercheck_host_switches(p, own_dll[0], root, own_dll));
    apr_pool_destroy(p);
}
END_TEST

Suite *ownerpolicy_suite(void)
{
    Suite *s = suite_create("ownerpolicy");
    TCase *tc = tcase_create("ownerpolicy");

    tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
    tcase_add_checked_fixture(tc, policy_setup, policy_teardown);
    tcase_add_test(tc, root_and_uids_below_the_minimum_are_refused);
    tcase_add_test(tc, app_root_must_be_the_users_and_written_by_no_one_else);
    tcase_add_test(tc, app_root_is_no_link_and_a_directory);
    tcase_add_test(tc, directories_above_the_app_root_are_roots_or_the_users);
    tcase_add_test(tc, own_program_in_the_app_root);
    tcase_add_test(tc, a_fifo_is_refused_without_blocking);
    tcase_add_test(tc, root_dotnet_outside_runs_only_the_apps_dll);
    tcase_add_test(tc, a_program_outside_must_be_roots_dotnet);
    tcase_add_test(tc, the_installed_dotnet_once_resolved);
    tcase_add_test(tc, environment_names_that_load_code_are_refused);
    tcase_add_test(tc, the_check_applies_the_environment_rule);
    tcase_add_test(tc, host_switches_in_the_arguments_but_not_the_apps_dll);
    tcase_add_test(tc, dir_owner_names_the_user_and_group);
    tcase_add_test(tc, dir_owner_without_passwd_or_group_entry);
    tcase_add_test(tc, dir_owner_retries_a_small_buffer_up_to_a_cap);
    tcase_add_test(tc, no_descriptor_is_left_open);
    suite_add_tcase(s, tc);
    return s;
}
