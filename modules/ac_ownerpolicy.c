/* ac_ownerpolicy: may an app an httpd child asked for run as another user
 * (suexec-style checks of its root, program and environment). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* O_PATH */
#endif
#include "ac_ownerpolicy.h"
#include "ac_nss.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>

/* A path as it appears in a sentence: at most this many bytes of it. */
#define SHOWN_MAX 512

static const char *say(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *say(char *why, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (!why || len == 0) {
        return "refused by the rules for apps under their own user";
    }
    va_start(ap, fmt);
    vsnprintf(why, len, fmt, ap);
    va_end(ap);
    return why;
}

/* strerror, thread-safe (GNU strerror_r: returns the text, maybe not in buf). */
static const char *errtext(int e, char *buf, size_t n)
{
    return strerror_r(e, buf, n);
}

/* Writes `base` "/" the first `rel_len` bytes of `rel` into `out` for a log
 * line: cut to the buffer, control characters (a newline in a hostile name)
 * shown as '?'. `base` may be NULL (then `rel` is the whole path). */
static const char *shown(char *out, size_t outlen, const char *base, const char *rel,
                         size_t rel_len)
{
    size_t n = 0, i;
    const char *parts[2];
    size_t lens[2];
    int k;

    parts[0] = base ? base : "";
    lens[0] = base ? strlen(base) : 0;
    while (lens[0] > 1 && base[lens[0] - 1] == '/') {
        lens[0]--;
    }
    parts[1] = rel;
    lens[1] = rel_len;
    for (k = 0; k < 2; k++) {
        if (k == 1 && lens[0] > 0 && rel_len > 0 && rel[0] != '/'
            && parts[0][lens[0] - 1] != '/' && n + 1 < outlen) {
            out[n++] = '/';
        }
        for (i = 0; i < lens[k] && n + 1 < outlen; i++) {
            unsigned char c = (unsigned char)parts[k][i];
            out[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
        }
    }
    out[n] = '\0';
    return out;
}

/* The next component of a path (repeated slashes skipped): 1 and its start
 * and length, or 0 at the end. */
static int next_component(const char **p, const char **name, size_t *n)
{
    while (**p == '/') {
        (*p)++;
    }
    if (!**p) {
        return 0;
    }
    *name = *p;
    while (**p && **p != '/') {
        (*p)++;
    }
    *n = (size_t)(*p - *name);
    return 1;
}

static int more_components(const char *p)
{
    while (*p == '/') {
        p++;
    }
    return *p != '\0';
}

/* A "." or ".." component, or one too long to be a file name. */
static int bad_component(const char *path)
{
    const char *p = path, *name;
    size_t n;

    while (next_component(&p, &name, &n)) {
        if ((n == 1 && name[0] == '.') || (n == 2 && name[0] == '.' && name[1] == '.')
            || n > NAME_MAX) {
            return 1;
        }
    }
    return 0;
}

/* The rest of `path` below the directory `root` (compared component by
 * component), or NULL when `path` is not inside it. */
const char *ac_ownerpolicy_inside(const char *root, const char *path)
{
    const char *r = root, *p = path, *rn, *pn;
    size_t rl, pl;

    while (next_component(&r, &rn, &rl)) {
        if (!next_component(&p, &pn, &pl) || rl != pl || memcmp(rn, pn, rl) != 0) {
            return NULL;
        }
    }
    while (*p == '/') {
        p++;
    }
    return *p ? p : NULL;
}

/* Opens one component below `dirfd` without following it (O_PATH: nothing is
 * read, so a FIFO or device neither blocks nor notices) and fstats it. */
static int open_component(int dirfd, const char *name, size_t n, struct stat *st)
{
    char one[NAME_MAX + 1];
    int fd;

    memcpy(one, name, n);
    one[n] = '\0';
    fd = openat(dirfd, one, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    if (fstat(fd, st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

/* Who may own a directory or file. */
typedef enum {
    OWNER_ROOT,              /* a system program and the directories above it */
    OWNER_ROOT_OR_USER,      /* the directories above the app root */
    OWNER_USER               /* the app root, what is in it, the app's program */
} owner_rule_t;

/* Owner and write bits of one directory or file: NULL, or the rule broken. */
static const char *judge(const struct stat *st, owner_rule_t rule, uid_t uid,
                         const char *path, char *why, size_t len)
{
    unsigned owner = (unsigned)st->st_uid;

    if (rule == OWNER_ROOT && st->st_uid != 0) {
        return say(why, len, "%s is owned by uid %u, not by root", path, owner);
    }
    if (rule == OWNER_ROOT_OR_USER && st->st_uid != 0 && st->st_uid != uid) {
        return say(why, len, "%s is owned by uid %u, neither root nor uid %u the app would "
                   "run as", path, owner, (unsigned)uid);
    }
    if (rule == OWNER_USER && st->st_uid != uid) {
        return say(why, len, "%s is owned by uid %u, not by uid %u the app would run as",
                   path, owner, (unsigned)uid);
    }
    if (st->st_mode & S_IWOTH) {
        return say(why, len, "%s is writable by others", path);
    }
    if (st->st_mode & S_IWGRP) {
        return say(why, len, "%s is writable by its group", path);
    }
    return NULL;
}

/* "/" opened and checked: root's, not writable by group or others. */
static int open_slash(const char **err, char *why, size_t len)
{
    char errbuf[128];
    struct stat st;
    int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0 || fstat(fd, &st) < 0) {
        *err = say(why, len, "cannot open /: %s", errtext(errno, errbuf, sizeof(errbuf)));
    }
    else {
        *err = judge(&st, OWNER_ROOT, 0, "/", why, len);
    }
    if (*err && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Walks the directories of `rel` below `startfd` (shown as `base`), all but
 * its last component, one at a time, each a real directory that passes
 * `rule`. Returns a new descriptor of the last directory and, in *last and
 * *last_n, the last component; or -1 with *err. `startfd` stays open. */
static int walk_directories(int startfd, const char *base, const char *rel,
                            owner_rule_t rule, uid_t uid, const char **last, size_t *last_n,
                            const char **err, char *why, size_t len)
{
    char errbuf[128];
    char path[SHOWN_MAX];
    const char *p = rel, *name;
    size_t n;
    int fd = fcntl(startfd, F_DUPFD_CLOEXEC, 0);

    *err = NULL;
    if (fd < 0) {
        *err = say(why, len, "cannot duplicate a descriptor: %s",
                   errtext(errno, errbuf, sizeof(errbuf)));
        return -1;
    }
    if (!next_component(&p, &name, &n)) {
        *err = say(why, len, "%s: an empty path", shown(path, sizeof(path), base, rel,
                                                      strlen(rel)));
        close(fd);
        return -1;
    }
    while (more_components(p)) {
        struct stat st;
        int next = open_component(fd, name, n, &st);

        shown(path, sizeof(path), base, rel, (size_t)(name + n - rel));
        if (next < 0) {
            *err = say(why, len, "%s: %s", path, errtext(errno, errbuf, sizeof(errbuf)));
        }
        else if (S_ISLNK(st.st_mode)) {
            *err = say(why, len, "%s is a symbolic link", path);
        }
        else if (!S_ISDIR(st.st_mode)) {
            *err = say(why, len, "%s is not a directory", path);
        }
        else {
            *err = judge(&st, rule, uid, path, why, len);
        }
        close(fd);
        fd = next;
        if (*err) {
            if (fd >= 0) {
                close(fd);
            }
            return -1;
        }
        next_component(&p, &name, &n);
    }
    *last = name;
    *last_n = n;
    return fd;
}

/* Rule 2: the app root, walked from "/". Returns its descriptor (O_PATH) or
 * -1 with *err. */
static int open_app_root(const ac_ownerpolicy_t *pol, const char *app_root,
                         const char **err, char *why, size_t len)
{
    char errbuf[128];
    char path[SHOWN_MAX];
    const char *last;
    size_t last_n;
    struct stat st;
    int slash, parent, fd;

    slash = open_slash(err, why, len);
    if (slash < 0) {
        return -1;
    }
    parent = walk_directories(slash, NULL, app_root, OWNER_ROOT_OR_USER, pol->uid, &last,
                              &last_n, err, why, len);
    close(slash);
    if (parent < 0) {
        return -1;
    }
    fd = open_component(parent, last, last_n, &st);
    close(parent);
    shown(path, sizeof(path), NULL, app_root, strlen(app_root));
    if (fd < 0) {
        *err = say(why, len, "app root %s: %s", path, errtext(errno, errbuf, sizeof(errbuf)));
        return -1;
    }
    if (S_ISLNK(st.st_mode)) {
        *err = say(why, len, "app root %s is a symbolic link", path);
    }
    else if (!S_ISDIR(st.st_mode)) {
        *err = say(why, len, "app root %s is not a directory", path);
    }
    else {
        *err = judge(&st, OWNER_USER, pol->uid, path, why, len);
    }
    if (*err) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The file a program or .dll must be: a regular file, not a link, neither
 * setuid nor setgid, owned as `rule` says, not writable by group or others;
 * `rel` walked from `startfd` with every directory on the way under `rule`. */
static const char *check_file(int startfd, const char *base, const char *rel,
                              owner_rule_t rule, uid_t uid, const char *what,
                              char *why, size_t len)
{
    char errbuf[128];
    char path[SHOWN_MAX];
    const char *last, *err;
    size_t last_n;
    struct stat st;
    int parent, fd;

    parent = walk_directories(startfd, base, rel, rule, uid, &last, &last_n, &err, why, len);
    if (parent < 0) {
        return err;
    }
    fd = open_component(parent, last, last_n, &st);
    close(parent);
    shown(path, sizeof(path), base, rel, strlen(rel));
    if (fd < 0) {
        return say(why, len, "%s %s: %s", what, path, errtext(errno, errbuf, sizeof(errbuf)));
    }
    close(fd);
    if (S_ISLNK(st.st_mode)) {
        return say(why, len, "%s %s is a symbolic link", what, path);
    }
    if (!S_ISREG(st.st_mode)) {
        return say(why, len, "%s %s is not a regular file", what, path);
    }
    if (st.st_mode & (S_ISUID | S_ISGID)) {
        return say(why, len, "%s %s is setuid or setgid", what, path);
    }
    return judge(&st, rule, uid, path, why, len);
}

/* Rule 3b: a program outside the app root is the .NET host, root's, in
 * root's directories; its first argument is the app's .dll (rule 3a). */
static const char *check_dotnet_and_dll(const ac_ownerpolicy_t *pol, int root_fd,
                                        const char *app_root, const char *program,
                                        char *const *argv, char *why, size_t len)
{
    char path[SHOWN_MAX], root_shown[SHOWN_MAX];
    const char *p = program, *name = NULL, *err, *dll, *rel;
    size_t n = 0, dll_len;
    int slash;

    while (next_component(&p, &name, &n)) {
    }
    shown(root_shown, sizeof(root_shown), NULL, app_root, strlen(app_root));
    if (!name || n != 6 || memcmp(name, "dotnet", 6) != 0) {
        return say(why, len, "program %s is outside the app root %s and not the .NET host "
                   "(dotnet)", shown(path, sizeof(path), NULL, program, strlen(program)),
                   root_shown);
    }
    slash = open_slash(&err, why, len);
    if (slash < 0) {
        return err;
    }
    err = check_file(slash, NULL, program, OWNER_ROOT, 0, "program", why, len);
    close(slash);
    if (err) {
        return err;
    }
    dll = argv[1];
    if (!dll || !*dll) {
        return say(why, len, "the .NET host needs the app's .dll as its first argument");
    }
    dll_len = strlen(dll);
    shown(path, sizeof(path), NULL, dll, dll_len);
    if (dll_len < 5 || strcasecmp(dll + dll_len - 4, ".dll") != 0) {
        return say(why, len, "the .NET host's first argument \"%s\" is not the app's .dll "
                   "(nothing may come before it)", path);
    }
    if (bad_component(dll)) {
        return say(why, len, "the app's .dll %s has a \".\" or \"..\" component", path);
    }
    rel = dll[0] == '/' ? ac_ownerpolicy_inside(app_root, dll) : dll;
    if (!rel) {
        return say(why, len, "the app's .dll %s is not inside the app root %s", path,
                   root_shown);
    }
    return check_file(root_fd, app_root, rel, OWNER_USER, pol->uid, "the app's .dll",
                      why, len);
}

const char *ac_ownerpolicy_check(const ac_ownerpolicy_t *pol, const char *app_root,
                                 const char *program, char *const *argv,
                                 const char *const *env_names, char *why, size_t len)
{
    char path[SHOWN_MAX];
    const char *err, *rel;
    int root_fd;

    if (!pol || !app_root || !program || !argv || !argv[0]) {
        return "no app root, program or arguments to check";
    }
    /* rule 1 */
    if (pol->uid == 0 || pol->gid == 0) {
        return say(why, len, "an app never runs as root (uid %u, gid %u)",
                   (unsigned)pol->uid, (unsigned)pol->gid);
    }
    if (pol->min_uid != 0 && pol->uid < pol->min_uid) {
        return say(why, len, "uid %u is below AspNetCoreMinUid %u", (unsigned)pol->uid,
                   (unsigned)pol->min_uid);
    }
    /* both paths come resolved: "." or ".." would make the walk check other
     * directories than the ones the path names */
    if (app_root[0] != '/' || bad_component(app_root)) {
        return say(why, len, "app root %s is not an absolute path without \".\" or \"..\"",
                   shown(path, sizeof(path), NULL, app_root, strlen(app_root)));
    }
    if (program[0] != '/' || bad_component(program)) {
        return say(why, len, "program %s is not an absolute path without \".\" or \"..\"",
                   shown(path, sizeof(path), NULL, program, strlen(program)));
    }
    /* rule 2 */
    root_fd = open_app_root(pol, app_root, &err, why, len);
    if (root_fd < 0) {
        return err;
    }
    /* rule 3 */
    rel = ac_ownerpolicy_inside(app_root, program);
    if (rel) {
        err = check_file(root_fd, app_root, rel, OWNER_USER, pol->uid, "program", why, len);
    }
    else {
        err = check_dotnet_and_dll(pol, root_fd, app_root, program, argv, why, len);
    }
    close(root_fd);
    if (err) {
        return err;
    }
    /* rule 4 */
    for (; env_names && *env_names; env_names++) {
        if (ac_ownerpolicy_env_refused(*env_names)) {
            return say(why, len, "environment variable %s changes what code the app loads",
                       shown(path, sizeof(path), NULL, *env_names, strlen(*env_names)));
        }
    }
    return NULL;
}

/* ---- the passwd and group entries ---- */

/* The ways getpwuid_r(3) may say "no such entry": here, where a missing
 * entry refuses the app, they count as one. */
static int no_entry_as_enoent(int rc)
{
    return rc == ESRCH || rc == EBADF || rc == EPERM ? ENOENT : rc;
}

/* The owner's passwd entry: 0 and its name and primary group; ENAMETOOLONG:
 * the name does not fit; otherwise as ac_nss_user. */
static int lookup_user(uid_t uid, char *name, size_t name_len, gid_t *gid)
{
    struct passwd pw;
    char *buf = NULL;
    int rc = no_entry_as_enoent(ac_nss_user(NULL, uid, &pw, &buf));

    if (rc == 0 && strlen(pw.pw_name) >= name_len) {
        rc = ENAMETOOLONG;
    }
    else if (rc == 0) {
        strcpy(name, pw.pw_name);
        *gid = pw.pw_gid;
    }
    free(buf);
    return rc;
}

/* 0 when the group exists; otherwise as ac_nss_group. */
static int lookup_group(gid_t gid)
{
    struct group gr;
    char *buf = NULL;
    int rc = no_entry_as_enoent(ac_nss_group(NULL, gid, &gr, &buf));

    free(buf);
    return rc;
}

static const char *lookup_failed(int rc, const char *kind, unsigned id, const char *path,
                                 char *why, size_t len)
{
    char errbuf[128];
    if (rc == ENOENT) {
        return say(why, len, "%s %u (of %s) has no %s entry", kind, id, path,
                   kind[0] == 'u' ? "passwd" : "group");
    }
    if (rc == E2BIG) {
        return say(why, len, "the %s entry of %s %u (of %s) is bigger than %u bytes",
                   kind[0] == 'u' ? "passwd" : "group", kind, id, path,
                   (unsigned)AC_NSS_BUF_MAX);
    }
    if (rc == ENAMETOOLONG) {
        return say(why, len, "the user name of uid %u (of %s) is too long", id, path);
    }
    return say(why, len, "cannot look up %s %u (of %s): %s", kind, id, path,
               errtext(rc, errbuf, sizeof(errbuf)));
}

const char *ac_ownerpolicy_dir_owner(const char *dir, uid_t *uid, gid_t *gid,
                                     char *name, size_t name_len, char *why, size_t len)
{
    char errbuf[128];
    char path[SHOWN_MAX];
    struct stat st;
    gid_t group = 0;
    int rc;

    if (!dir || !*dir) {
        return "no directory to take the owner of";
    }
    shown(path, sizeof(path), NULL, dir, strlen(dir));
    if (lstat(dir, &st) < 0) {
        return say(why, len, "%s: %s", path, errtext(errno, errbuf, sizeof(errbuf)));
    }
    if (S_ISLNK(st.st_mode)) {
        return say(why, len, "%s is a symbolic link", path);
    }
    if (!S_ISDIR(st.st_mode)) {
        return say(why, len, "%s is not a directory", path);
    }
    if (st.st_uid == 0) {
        return say(why, len, "%s is owned by root (an app never runs as root)", path);
    }
    rc = lookup_user(st.st_uid, name, name_len, &group);
    if (rc != 0) {
        return lookup_failed(rc, "uid", (unsigned)st.st_uid, path, why, len);
    }
    rc = lookup_group(group);
    if (rc != 0) {
        return lookup_failed(rc, "gid", (unsigned)group, path, why, len);
    }
    *uid = st.st_uid;
    *gid = group;
    return NULL;
}

/* ---- rule 4: the environment ---- */

/* What each refused name makes a process do, and where that is documented.
 * Sources (read 2026-12):
 *  - glibc, sysdeps/generic/unsecvars.h: the variables the dynamic loader
 *    removes for setuid programs (LD_*, GCONV_PATH, GETCONF_DIR,
 *    GLIBC_TUNABLES, HOSTALIASES, LOCALDOMAIN, LOCPATH, MALLOC_TRACE,
 *    NIS_PATH, NLSPATH, RESOLV_HOST_CONF, RES_OPTIONS, TMPDIR, TZDIR);
 *    GCONV_PATH and LOCPATH load modules and locale data from a path.
 *  - dotnet/runtime docs/design/features/host-startup-hook.md
 *    (DOTNET_STARTUP_HOOKS), host-tracing.md (COREHOST_TRACE, _TRACEFILE),
 *    and learn.microsoft.com "dotnet-environment-variables" (DOTNET_ROOT,
 *    DOTNET_ROOT_<arch>, DOTNET_ADDITIONAL_DEPS, DOTNET_SHARED_STORE,
 *    DOTNET_BUNDLE_EXTRACT_BASE_DIR, DOTNET_DiagnosticPorts,
 *    CORECLR_ENABLE_PROFILING, CORECLR_PROFILER, CORECLR_PROFILER_PATH).
 *  - dotnet/runtime src/coreclr/inc/clrconfigvalues.h: every runtime knob
 *    is read as DOTNET_<knob> or COMPlus_<knob>; those taking a library or
 *    a path: GCName, GCPath (a GC library), JitName, JitPath, AltJit*,
 *    Interpreter* (a JIT or interpreter library), NativeImageSearchPaths
 *    (native code), DiagnosticPorts (a diagnostics client on that socket can
 *    attach a profiler or apply a startup hook), CORECLR_PROFILER*,
 *    CORECLR_NOTIFICATION_PROFILERS* (profiler libraries), and files written
 *    where the variable says: JitFuncInfoLogFile, MultiCoreJitProfile,
 *    PGODataPath, ReadyToRunLogFile, StressLogFilename, EventPipeOutputPath,
 *    DbgMiniDumpName, LogFile; AutoTrace_Command runs a command. GC knobs
 *    (gcconfig.h): GCLogFile, GCConfigLogFile write files. Writing a file
 *    where Apache's User says, as the app's user, could overwrite that
 *    user's own code, so these are refused as well.
 *  - System.Security.Cryptography.Native and System.Globalization.Native:
 *    CLR_OPENSSL_VERSION_OVERRIDE, DOTNET_OPENSSL_VERSION_OVERRIDE,
 *    CLR_ICU_VERSION_OVERRIDE, DOTNET_ICU_VERSION_OVERRIDE choose the
 *    library name the runtime dlopens; OpenSSL (openssl-env(7)) loads its
 *    configuration, engines and providers from OPENSSL_CONF,
 *    OPENSSL_ENGINES, OPENSSL_MODULES.
 *  - ASP.NET Core "hosting startup assemblies": ASPNETCORE_ or DOTNET_
 *    HOSTINGSTARTUPASSEMBLIES (and, with WebApplication, the unprefixed key
 *    from the app's configuration) make the app run start-up code of
 *    assemblies it did not choose. Refused: with the host's extra probing
 *    refused they can only name assemblies among the app's dependencies or
 *    the shared framework, but that is still code the app's owner did not
 *    ask to run. The module itself sets ASPNETCORE_HOSTINGSTARTUPASSEMBLIES
 *    (the IIS integration) after this check; only names from the
 *    configuration or the request are checked here.
 *  - Interpreters an app commonly starts (bash(1), perlrun(1), python(1),
 *    ruby(1), node(1), java(1)): BASH_ENV, ENV, PERL5LIB, PERL5OPT, PERLLIB,
 *    PYTHONPATH, PYTHONHOME, RUBYLIB, RUBYOPT, NODE_OPTIONS, NODE_PATH,
 *    JAVA_TOOL_OPTIONS, _JAVA_OPTIONS, JDK_JAVA_OPTIONS load code from a
 *    path whatever script or program they are given.
 * PATH is allowed: neither the .NET host nor the runtime looks code up in it
 * (the program is an absolute, resolved path checked above; an apphost
 * finds the runtime from /etc/dotnet and the default locations, the muxer
 * from its own place), and apps need it to start system tools by name. It
 * steers only what the app itself starts by a bare name: an app that must
 * not trust its environment sets its own.
 *
 * Linux names are case-sensitive, but CLRConfig and the configuration
 * providers of ASP.NET Core compare some names without case: the .NET
 * names are compared without case (refusing more, never less). */
typedef struct {
    const char *name;
    int prefix;              /* a prefix of the name, not the whole name */
    int nocase;
} env_rule_t;

static const env_rule_t refused_names[] = {
    /* the dynamic loader and glibc */
    {"LD_", 1, 0},
    {"MALLOC_", 1, 0},
    {"GCONV_PATH", 0, 0}, {"GETCONF_DIR", 0, 0}, {"GLIBC_TUNABLES", 0, 0},
    {"HOSTALIASES", 0, 0}, {"LOCALDOMAIN", 0, 0}, {"LOCPATH", 0, 0},
    {"NIS_PATH", 0, 0}, {"NLSPATH", 0, 0}, {"RESOLV_HOST_CONF", 0, 0},
    {"RES_OPTIONS", 0, 0}, {"TMPDIR", 0, 0}, {"TZDIR", 0, 0},
    /* the .NET host and runtime, whole prefixes */
    {"COMPlus_", 1, 1},      /* the old prefix of every runtime knob: use DOTNET_ */
    {"CORECLR_", 1, 1},      /* profilers */
    {"COREHOST_", 1, 1},     /* host tracing to a file */
    {"CLR_OPENSSL_VERSION_OVERRIDE", 0, 1},
    {"CLR_ICU_VERSION_OVERRIDE", 0, 1},
    /* OpenSSL */
    {"OPENSSL_", 1, 0},
    /* where the app keeps what it loads again (HOME: the .NET single-file
     * extraction in $HOME/.net, the Data Protection keys; the module sets it
     * to the app's state directory) */
    {"HOME", 0, 0}, {"XDG_", 1, 0}, {"DOTNET_CLI_HOME", 0, 1},
    /* interpreters the app may start */
    {"BASH_ENV", 0, 0}, {"ENV", 0, 0},
    {"PERL5LIB", 0, 0}, {"PERL5OPT", 0, 0}, {"PERLLIB", 0, 0},
    {"PYTHONPATH", 0, 0}, {"PYTHONHOME", 0, 0},
    {"RUBYLIB", 0, 0}, {"RUBYOPT", 0, 0},
    {"NODE_OPTIONS", 0, 0}, {"NODE_PATH", 0, 0},
    {"JAVA_TOOL_OPTIONS", 0, 0}, {"_JAVA_OPTIONS", 0, 0}, {"JDK_JAVA_OPTIONS", 0, 0},
};

/* After "DOTNET_": the host's variables and the runtime's knobs (without case). */
static const env_rule_t refused_dotnet[] = {
    {"STARTUP_HOOKS", 0, 1}, {"ADDITIONAL_DEPS", 0, 1}, {"SHARED_STORE", 0, 1},
    {"ROOT", 0, 1}, {"ROOT_", 1, 1}, {"ROOT(", 1, 1},
    {"BUNDLE_EXTRACT_BASE_DIR", 0, 1},
    {"HOST_", 1, 1},         /* DOTNET_HOST_TRACE, _TRACEFILE, ... */
    {"OPENSSL_VERSION_OVERRIDE", 0, 1}, {"ICU_VERSION_OVERRIDE", 0, 1},
    {"GCName", 0, 1}, {"GCPath", 0, 1}, {"GCLogFile", 0, 1}, {"GCConfigLogFile", 0, 1},
    {"JitName", 0, 1}, {"JitPath", 0, 1}, {"AltJit", 1, 1}, {"Interpreter", 1, 1},
    {"NativeImageSearchPaths", 0, 1}, {"DiagnosticPorts", 0, 1},
    {"JitFuncInfoLogFile", 0, 1}, {"MultiCoreJitProfile", 0, 1}, {"PGODataPath", 0, 1},
    {"ReadyToRunLogFile", 0, 1}, {"StressLogFilename", 0, 1},
    {"EventPipeOutputPath", 0, 1}, {"DbgMiniDumpName", 0, 1}, {"LogFile", 0, 1},
    {"AutoTrace_Command", 0, 1}, {"PerfMapJitDumpPath", 0, 1},
};

static int matches(const env_rule_t *rule, const char *name)
{
    size_t n = strlen(rule->name);

    if (rule->prefix) {
        return rule->nocase ? strncasecmp(name, rule->name, n) == 0
                            : strncmp(name, rule->name, n) == 0;
    }
    return rule->nocase ? strcasecmp(name, rule->name) == 0 : strcmp(name, rule->name) == 0;
}

static int matches_any(const env_rule_t *rules, size_t count, const char *name)
{
    size_t i;

    for (i = 0; i < count; i++) {
        if (matches(&rules[i], name)) {
            return 1;
        }
    }
    return 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static int ends_with_nocase(const char *name, size_t n, const char *tail)
{
    size_t t = strlen(tail);
    return n >= t && strcasecmp(name + n - t, tail) == 0;
}

int ac_ownerpolicy_env_refused(const char *name)
{
    static const char hosting[] = "HOSTINGSTARTUPASSEMBLIES";
    size_t n;

    if (!name) {
        return 0;
    }
    if (matches_any(refused_names, COUNT(refused_names), name)) {
        return 1;
    }
    if (strncasecmp(name, "DOTNET_", 7) == 0
        && matches_any(refused_dotnet, COUNT(refused_dotnet), name + 7)) {
        return 1;
    }
    /* ASPNETCORE_, DOTNET_ or no prefix at all: hosting startup assemblies,
     * and the content and web roots the host serves and reads views from */
    n = strlen(name);
    return ends_with_nocase(name, n, hosting) || ends_with_nocase(name, n, "CONTENTROOT")
           || ends_with_nocase(name, n, "WEBROOT");
}
