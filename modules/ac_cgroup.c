/* ac_cgroup: detection, layout, creation, joining and removal of the apps'
 * cgroups. */
#include "ac_cgroup.h"
#include "ac_statedir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_sha1.h>
#include <apr_strings.h>

#define FILE_MAX 65536           /* of a mount table or cgroup file we read */

/* Reads a small file whole (NUL-terminated); NULL on failure. */
static char *read_small(apr_pool_t *p, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char *buf;
    size_t len = 0;
    ssize_t n;

    if (fd < 0) {
        return NULL;
    }
    buf = apr_palloc(p, FILE_MAX + 1);
    while (len < FILE_MAX && (n = read(fd, buf + len, FILE_MAX - len)) != 0) {
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            close(fd);
            return NULL;
        }
        len += (size_t)n;
    }
    close(fd);
    buf[len] = '\0';
    return buf;
}

/* Mount table fields are escaped as octal ("\040" for a space). */
static char *unescape(apr_pool_t *p, const char *s)
{
    char *out = apr_palloc(p, strlen(s) + 1), *o = out;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7'
            && s[3] >= '0' && s[3] <= '7') {
            *o++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
            s += 4;
        }
        else {
            *o++ = *s++;
        }
    }
    *o = '\0';
    return out;
}

/* Is `word` one of the comma-separated items of `list`? */
static int in_list(const char *list, const char *word)
{
    size_t n = strlen(word);
    const char *s = list;
    while (s && *s) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (len == n && !strncmp(s, word, n)) {
            return 1;
        }
        s = end ? end + 1 : NULL;
    }
    return 0;
}

typedef struct {
    const char *root;            /* of the mount, within the hierarchy */
    const char *point;
    const char *fstype;
    const char *options;         /* super options: v1 names its controllers there */
} mount_t;

/* The mount of `fstype` whose super options hold `controller` (NULL: any). */
static int find_mount(apr_pool_t *p, char *table, const char *fstype, const char *controller,
                      mount_t *m)
{
    char *save = NULL, *line;
    for (line = apr_strtok(table, "\n", &save); line; line = apr_strtok(NULL, "\n", &save)) {
        char *f[16], *fs = NULL, *w;
        int n = 0, i;
        char *copy = apr_pstrdup(p, line);
        for (w = apr_strtok(copy, " ", &fs); w && n < 16; w = apr_strtok(NULL, " ", &fs)) {
            f[n++] = w;
        }
        /* id parent dev root point options [optional...] - fstype source super */
        for (i = 6; i < n && strcmp(f[i], "-"); i++) {
        }
        if (i + 3 >= n || strcmp(f[i + 1], fstype)
            || (controller && !in_list(f[i + 3], controller))) {
            continue;
        }
        m->root = unescape(p, f[3]);
        m->point = unescape(p, f[4]);
        m->fstype = f[i + 1];
        m->options = f[i + 3];
        return 1;
    }
    return 0;
}

/* Our cgroup in hierarchy `controller` ("" for v2's "0::") from the text of
 * /proc/self/cgroup; NULL if absent. */
static const char *own_path(apr_pool_t *p, const char *text, const char *controller)
{
    char *copy = apr_pstrdup(p, text), *save = NULL, *line;
    for (line = apr_strtok(copy, "\n", &save); line; line = apr_strtok(NULL, "\n", &save)) {
        char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2) {
            continue;
        }
        *c2 = '\0';
        if (*controller ? in_list(c1 + 1, controller) : (c1[1] == '\0' && !strncmp(line, "0", 1)
                                                           && c1 == line + 1)) {
            return c2 + 1;
        }
    }
    return NULL;
}

/* <mount point>/<own path relative to the mount's root>, without "//". */
static const char *join_own(apr_pool_t *p, const mount_t *m, const char *own)
{
    size_t r = strlen(m->root);
    if (strcmp(m->root, "/") && !strncmp(own, m->root, r) && (own[r] == '/' || !own[r])) {
        own += r;
    }
    while (*own == '/') {
        own++;
    }
    return *own ? apr_pstrcat(p, m->point, "/", own, NULL) : m->point;
}

static int detect_v2(apr_pool_t *p, const char *table, const char *self, ac_cgroup_layout_t *out)
{
    mount_t m;
    const char *own = own_path(p, self, ""), *dir, *ctl;
    char *tbl = apr_pstrdup(p, table);

    if (!own || !find_mount(p, tbl, "cgroup2", NULL, &m)) {
        return 0;
    }
    dir = join_own(p, &m, own);
    ctl = read_small(p, apr_pstrcat(p, dir, "/cgroup.controllers", NULL));
    if (!ctl) {
        return 0;
    }
    {
        char *c = apr_pstrdup(p, ctl), *nl = strchr(c, '\n');
        const char *base = apr_pstrcat(p, dir, "/" AC_CGROUP_SUBDIR, NULL);
        char *list;
        if (nl) {
            *nl = '\0';
        }
        list = apr_pstrdup(p, c);
        for (c = list; *c; c++) {
            if (*c == ' ') {
                *c = ',';
            }
        }
        if (!in_list(list, "memory")) {
            return 0;
        }
        memset(out, 0, sizeof(*out));
        out->version = 2;
        out->v2_parent = dir;
        out->memory = base;
        out->cpu = in_list(list, "cpu") ? base : NULL;
        out->pids = in_list(list, "pids") ? base : NULL;
    }
    return 1;
}

static const char *v1_base(apr_pool_t *p, const char *table, const char *self,
                           const char *controller)
{
    mount_t m;
    const char *own = own_path(p, self, controller);
    if (!own || !find_mount(p, apr_pstrdup(p, table), "cgroup", controller, &m)) {
        return NULL;
    }
    return apr_pstrcat(p, join_own(p, &m, own), "/" AC_CGROUP_SUBDIR, NULL);
}

int ac_cgroup_detect(apr_pool_t *p, const char *mountinfo_path, const char *self_cgroup_path,
                     ac_cgroup_layout_t *out, const char **why)
{
    const char *table = read_small(p, mountinfo_path);
    const char *self = read_small(p, self_cgroup_path);

    if (!table || !self) {
        *why = apr_psprintf(p, "cannot read %s: %s", table ? self_cgroup_path : mountinfo_path,
                            strerror(errno));
        return -1;
    }
    if (detect_v2(p, table, self, out)) {
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->version = 1;
    out->memory = v1_base(p, table, self, "memory");
    out->cpu = v1_base(p, table, self, "cpu");
    out->pids = v1_base(p, table, self, "pids");
    if (!out->memory) {
        *why = "neither a cgroup v2 hierarchy offering the memory controller nor a cgroup v1 "
               "memory controller is mounted";
        return -1;
    }
    return 0;
}

const char *ac_cgroup_app_id(apr_pool_t *p, const char *app_root, const char *site,
                             const char *virtual_path)
{
    unsigned char d[APR_SHA1_DIGESTSIZE];
    apr_sha1_ctx_t sha;

    apr_sha1_init(&sha);
    apr_sha1_update(&sha, site ? site : "", (unsigned int)strlen(site ? site : ""));
    apr_sha1_update(&sha, "\n", 1);
    apr_sha1_update(&sha, virtual_path, (unsigned int)strlen(virtual_path));
    apr_sha1_final(d, &sha);
    return apr_psprintf(p, "%s-%02x%02x%02x%02x", ac_statedir_app_id(p, app_root), d[0], d[1],
                        d[2], d[3]);
}

void ac_cgroup_app_dirs(apr_pool_t *p, const ac_cgroup_layout_t *lay, const char *id,
                        const ac_cgroup_limits_t *lim, ac_cgroup_dirs_t *out)
{
    int v2 = lay->version == 2;
    memset(out, 0, sizeof(*out));
    /* v2: one directory holds every limit; it is used whenever one is set */
    if (lay->memory && (lim->memory_mib || (v2 && (lim->cpu_percent || lim->tasks)))) {
        out->memory = apr_pstrcat(p, lay->memory, "/", id, NULL);
    }
    if (v2) {
        return;
    }
    if (lay->cpu && lim->cpu_percent) {
        out->cpu = apr_pstrcat(p, lay->cpu, "/", id, NULL);
    }
    if (lay->pids && lim->tasks) {
        out->pids = apr_pstrcat(p, lay->pids, "/", id, NULL);
    }
}

/* Writes n bytes of value into the control file at path with one write()
 * (a control file takes a value whole): 0; -1 if it cannot be opened, -2 if
 * the write fails or is short, with errno set (EIO: short). No allocation:
 * also for a child between fork and exec (ac_cgroup_join). */
static int write_control(const char *path, const char *value, size_t n)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    ssize_t w;

    if (fd < 0) {
        return -1;
    }
    w = write(fd, value, n);
    if (w != (ssize_t)n) {
        int e = w < 0 ? errno : EIO;
        close(fd);
        errno = e;
        return -2;
    }
    close(fd);
    return 0;
}

/* Writes `value` into <dir>/<name>: 0, or -1 with *why. */
static int put(apr_pool_t *p, const char *dir, const char *name, const char *value,
               const char **why)
{
    const char *path = apr_pstrcat(p, dir, "/", name, NULL);
    int rc = write_control(path, value, strlen(value));

    if (rc < 0) {
        int e = errno;
        *why = rc == -1 ? apr_psprintf(p, "cannot open %s: %s", path, strerror(e))
                        : apr_psprintf(p, "cannot write \"%s\" to %s: %s", value, path,
                                       strerror(e));
        errno = e;
        return -1;
    }
    return 0;
}

static int make_dir(apr_pool_t *p, const char *dir, const char **why)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        *why = apr_psprintf(p, "cannot make %s: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

static int give_procs(apr_pool_t *p, const char *dir, int v1, uid_t uid, gid_t gid,
                      const char **why)
{
    static const char *const names[] = { "cgroup.procs", "tasks" };
    int i;
    for (i = 0; i < (v1 ? 2 : 1); i++) {
        const char *path = apr_pstrcat(p, dir, "/", names[i], NULL);
        if (fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0) {
            *why = apr_psprintf(p, "cannot give %s to uid %ld: %s", path, (long)uid,
                                strerror(errno));
            return -1;
        }
    }
    return 0;
}

static const char *mem_value(apr_pool_t *p, int mib, int v2)
{
    return mib ? apr_psprintf(p, "%" APR_UINT64_T_FMT, (apr_uint64_t)mib << 20)
               : (v2 ? "max" : "-1");
}

/* v2: every process of Apache's cgroup (Apache itself, its children, the
 * supervisor) moved into its leaf AC_CGROUP_V2_APACHE_LEAF, so that the
 * cgroup may hand controllers to its children (the kernel's rule: none to
 * the children of a cgroup that holds processes). A few rounds: a process
 * may fork meanwhile. */
static int empty_parent(apr_pool_t *p, const char *parent, const char **why)
{
    const char *leaf = apr_pstrcat(p, parent, "/" AC_CGROUP_V2_APACHE_LEAF, NULL);
    int round;

    if (make_dir(p, leaf, why) < 0) {
        return -1;
    }
    for (round = 0; round < 5; round++) {
        char *procs = read_small(p, apr_pstrcat(p, parent, "/cgroup.procs", NULL));
        char *save = NULL, *pid;
        if (!procs) {
            *why = apr_psprintf(p, "cannot read %s/cgroup.procs: %s", parent, strerror(errno));
            return -1;
        }
        /* read_small keeps a bounded start of the file: a pid cut at its
         * end is not a pid to move (only whole lines count) */
        if ((pid = strrchr(procs, '\n')) != NULL) {
            pid[1] = '\0';
        }
        else {
            procs[0] = '\0';
        }
        if (!*procs) {
            return 0;
        }
        for (pid = apr_strtok(procs, "\n", &save); pid; pid = apr_strtok(NULL, "\n", &save)) {
            if (put(p, leaf, "cgroup.procs", pid, why) < 0 && errno != ESRCH) {
                return -1;
            }
        }
    }
    *why = apr_psprintf(p, "%s keeps getting new processes", parent);
    return -1;
}

static int enable_controllers(apr_pool_t *p, const ac_cgroup_layout_t *lay, const char *enable,
                              const char **why)
{
    if (put(p, lay->v2_parent, "cgroup.subtree_control", enable, why) == 0) {
        return 0;
    }
    if (errno != EBUSY || empty_parent(p, lay->v2_parent, why) < 0) {
        return -1;
    }
    return put(p, lay->v2_parent, "cgroup.subtree_control", enable, why);
}

static int prepare_v2(apr_pool_t *p, const ac_cgroup_layout_t *lay, const char *dir,
                      const ac_cgroup_limits_t *lim, uid_t uid, gid_t gid, const char **why)
{
    const char *enable = apr_pstrcat(p, "+memory", lay->cpu ? " +cpu" : "",
                                     lay->pids ? " +pids" : "", NULL);
    if (enable_controllers(p, lay, enable, why) < 0
        || make_dir(p, lay->memory, why) < 0
        || put(p, lay->memory, "cgroup.subtree_control", enable, why) < 0
        || make_dir(p, apr_pstrcat(p, lay->memory, "/" AC_CGROUP_SUPERVISOR, NULL), why) < 0
        /* the common ancestor of the supervisor's cgroup and the apps': the
         * user must be able to write it to move a process between them */
        || give_procs(p, lay->memory, 0, uid, gid, why) < 0
        || make_dir(p, dir, why) < 0
        || put(p, dir, "memory.max", mem_value(p, lim->memory_mib, 1), why) < 0) {
        return -1;
    }
    if (lay->cpu && put(p, dir, "cpu.max", lim->cpu_percent
                        ? apr_psprintf(p, "%ld %d", (long)lim->cpu_percent
                                       * (AC_CGROUP_CPU_PERIOD_US / 100), AC_CGROUP_CPU_PERIOD_US)
                        : apr_psprintf(p, "max %d", AC_CGROUP_CPU_PERIOD_US), why) < 0) {
        return -1;
    }
    if (lay->pids && put(p, dir, "pids.max", lim->tasks ? apr_itoa(p, lim->tasks) : "max",
                         why) < 0) {
        return -1;
    }
    return give_procs(p, dir, 0, uid, gid, why);
}

int ac_cgroup_adopt_supervisor(apr_pool_t *p, const ac_cgroup_layout_t *lay, pid_t pid,
                               const char **why)
{
    const char *leaf;
    if (lay->version != 2) {
        return 0;
    }
    leaf = apr_pstrcat(p, lay->memory, "/" AC_CGROUP_SUPERVISOR, NULL);
    if (access(leaf, F_OK) < 0) {
        return 0;       /* no app has a cgroup */
    }
    return put(p, leaf, "cgroup.procs", apr_psprintf(p, "%ld", (long)pid), why);
}

/* v1: one controller's cgroup of the app made and limited. */
static int prepare_v1(apr_pool_t *p, const char *base, const char *dir, const char *file,
                      const char *value, uid_t uid, gid_t gid, const char **why)
{
    if (make_dir(p, base, why) < 0 || make_dir(p, dir, why) < 0) {
        return -1;
    }
    if (!strcmp(file, "cpu.cfs_quota_us")
        && put(p, dir, "cpu.cfs_period_us", apr_itoa(p, AC_CGROUP_CPU_PERIOD_US), why) < 0) {
        return -1;
    }
    if (put(p, dir, file, value, why) < 0) {
        return -1;
    }
    return give_procs(p, dir, 1, uid, gid, why);
}

int ac_cgroup_prepare(apr_pool_t *p, const ac_cgroup_layout_t *lay, const char *id,
                      const ac_cgroup_limits_t *lim, uid_t uid, gid_t gid, const char **why)
{
    ac_cgroup_dirs_t d;

    ac_cgroup_app_dirs(p, lay, id, lim, &d);
    if ((lim->cpu_percent && !lay->cpu) || (lim->tasks && !lay->pids)) {
        *why = apr_psprintf(p, "no cgroup %s controller is available",
                            lim->cpu_percent && !lay->cpu ? "cpu" : "pids");
        return -1;
    }
    if (lay->version == 2) {
        return d.memory ? prepare_v2(p, lay, d.memory, lim, uid, gid, why) : 0;
    }
    /* a controller no longer needed keeps no old limit */
    if (!d.memory && lay->memory) {
        (void)rmdir(apr_pstrcat(p, lay->memory, "/", id, NULL));
    }
    if (!d.cpu && lay->cpu) {
        (void)rmdir(apr_pstrcat(p, lay->cpu, "/", id, NULL));
    }
    if (!d.pids && lay->pids) {
        (void)rmdir(apr_pstrcat(p, lay->pids, "/", id, NULL));
    }
    if (d.memory && prepare_v1(p, lay->memory, d.memory, "memory.limit_in_bytes",
                               mem_value(p, lim->memory_mib, 0), uid, gid, why) < 0) {
        return -1;
    }
    if (d.cpu && prepare_v1(p, lay->cpu, d.cpu, "cpu.cfs_quota_us",
                            apr_psprintf(p, "%ld", (long)lim->cpu_percent
                                         * (AC_CGROUP_CPU_PERIOD_US / 100)), uid, gid, why) < 0) {
        return -1;
    }
    if (d.pids && prepare_v1(p, lay->pids, d.pids, "pids.max", apr_itoa(p, lim->tasks), uid,
                             gid, why) < 0) {
        return -1;
    }
    return 0;
}

static int kept(const char *name, const char *const *keep)
{
    for (; keep && *keep; keep++) {
        if (!strcmp(name, *keep)) {
            return 1;
        }
    }
    return 0;
}

/* The app cgroups in `base` not kept removed, then `base` when empty. */
static int sweep_base(const char *base, const char *const *keep)
{
    DIR *dir = opendir(base);
    struct dirent *e;
    char path[4096];
    int left = 0;

    if (!dir) {
        return 0;
    }
    while ((e = readdir(dir))) {
        /* only "." and "..": an app id may start with a dot (app root /.x) */
        if (e->d_type != DT_DIR || !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")
            || kept(e->d_name, keep)
            || (keep && *keep && !strcmp(e->d_name, AC_CGROUP_SUPERVISOR))) {
            continue;
        }
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", base, e->d_name) >= sizeof(path)
            || (rmdir(path) < 0 && errno != ENOENT)) {
            left++;
        }
    }
    closedir(dir);
    if (!keep || !*keep) {
        (void)rmdir(base);      /* another Apache in the same cgroup may still use it */
    }
    return left;
}

int ac_cgroup_sweep(const ac_cgroup_layout_t *lay, const char *const *keep)
{
    int left = 0;
    if (lay->memory) {
        left += sweep_base(lay->memory, keep);
    }
    if (lay->cpu && (!lay->memory || strcmp(lay->cpu, lay->memory))) {
        left += sweep_base(lay->cpu, keep);
    }
    if (lay->pids && (!lay->memory || strcmp(lay->pids, lay->memory))) {
        left += sweep_base(lay->pids, keep);
    }
    if (lay->version == 2 && (!keep || !*keep) && access(lay->memory, F_OK) < 0) {
        /* Apache's cgroup as it was: a process started into it later (the
         * next Apache) would be refused while it hands controllers down */
        char path[4096];
        int fd;
        if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.subtree_control", lay->v2_parent)
            < sizeof(path) && (fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0) {
            static const char *const off[] = { "-memory", "-cpu", "-pids" };
            int i;
            for (i = 0; i < 3; i++) {
                ssize_t w = write(fd, off[i], strlen(off[i]));   /* one may be in use elsewhere */
                (void)w;
            }
            close(fd);
        }
    }
    return left;
}

int ac_cgroup_join(const char *const *dirs)
{
    char path[4096], pid[24];
    int n, len;

    len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
    for (; dirs && *dirs; dirs++) {
        n = snprintf(path, sizeof(path), "%s/cgroup.procs", *dirs);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        if (write_control(path, pid, (size_t)len) < 0) {
            return -1;
        }
    }
    return 0;
}

long long ac_cgroup_parse_counter(const char *text, const char *key)
{
    size_t n = strlen(key);
    const char *s = text;
    while (s && *s) {
        if (!strncmp(s, key, n) && s[n] == ' ') {
            char *end;
            long long v = strtoll(s + n + 1, &end, 10);
            return (end > s + n + 1 && v >= 0 && (*end == '\n' || !*end)) ? v : -1;
        }
        s = strchr(s, '\n');
        s = s ? s + 1 : NULL;
    }
    return -1;
}

long long ac_cgroup_oom_kills(const char *memory_dir)
{
    char path[4096], buf[1024];
    const char *names[] = { "memory.events", "memory.oom_control" };
    int i;

    for (i = 0; i < 2; i++) {
        int fd;
        ssize_t n;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", memory_dir, names[i]) >= sizeof(path)) {
            return -1;
        }
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0) {
            continue;
        }
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n > 0) {
            buf[n] = '\0';
            return ac_cgroup_parse_counter(buf, "oom_kill");
        }
    }
    return -1;
}
