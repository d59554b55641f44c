/* ac_cgroup: the control groups that hold an app's limits
 * (AspNetCoreMemoryLimit, AspNetCoreCpuLimit, AspNetCoreMaxProcesses).
 *
 * Owns which cgroup hierarchy can be used (v2, the unified one current
 * distributions mount, else the v1 memory, cpu and pids controllers), where
 * an app's cgroup is, making it with its limits (root, in the httpd parent),
 * joining it (the backend itself, before execve), the OOM-kill counter that
 * tells a process killed by its memory limit from a plain crash, and
 * removing the cgroups again. httpd-free; every path starts from a mount
 * table and a /proc/self/cgroup given by the caller, so the unit tests run
 * it against a fake tree in a temporary directory.
 *
 * Layout, in each controller used (v2: the one hierarchy):
 *   <mount>/<Apache's own cgroup>/aspnetcore            root's, 0755
 *   <mount>/<Apache's own cgroup>/aspnetcore/<app id>   root's, 0755; its
 *       limit files root's (an app cannot raise them); only cgroup.procs
 *       (v1: and tasks) given to the user the app runs as, so that its
 *       backends can move themselves in.
 * v2 adds what its delegation rules need: a process may move another only
 * with write access to the cgroup.procs of both cgroups' common ancestor,
 * and a cgroup that hands controllers to children may hold no process:
 *   <mount>/<Apache's own cgroup>/httpd                 Apache's processes
 *   <mount>/<Apache's own cgroup>/aspnetcore            cgroup.procs the user's
 *   <mount>/<Apache's own cgroup>/aspnetcore/_supervisor  the supervisor (moved
 *       there by root; its cgroup.procs root's: no app can move in)
 */
#ifndef AC_CGROUP_H
#define AC_CGROUP_H

#include <sys/types.h>
#include <apr_pools.h>

#define AC_CGROUP_SUBDIR "aspnetcore"
#define AC_CGROUP_MEMORY_MAX_MIB 1048576   /* AspNetCoreMemoryLimit: 1 TiB */
#define AC_CGROUP_CPU_MAX_PERCENT 100000   /* AspNetCoreCpuLimit: 1000 CPUs */
#define AC_CGROUP_TASKS_MAX 4194304        /* AspNetCoreMaxProcesses (the kernel's pid_max) */
#define AC_CGROUP_CPU_PERIOD_US 100000     /* cpu.max / cpu.cfs_period_us */
/* v2 only: the leaf Apache's processes move to (its cgroup must hold none to
 * hand controllers down), and the supervisor's leaf inside the subtree (the
 * apps' processes move from it into their cgroups: the common ancestor's
 * cgroup.procs, aspnetcore's, is the user's) */
#define AC_CGROUP_V2_APACHE_LEAF "httpd"
#define AC_CGROUP_SUPERVISOR "_supervisor"

typedef struct {
    int version;                 /* 1 or 2 */
    /* <mount>/<own cgroup>/aspnetcore of each controller; NULL: not there.
     * v2: all three the same directory when the controller is available. */
    const char *memory, *cpu, *pids;
    const char *v2_parent;       /* v2: <mount>/<own cgroup> (its subtree_control) */
} ac_cgroup_layout_t;

typedef struct {
    int memory_mib;              /* 0: no limit */
    int cpu_percent;             /* of one CPU; 0: no limit */
    int tasks;                   /* 0: no limit */
} ac_cgroup_limits_t;

/* The app's cgroup directories (NULL where the controller is not used). */
typedef struct {
    const char *memory, *cpu, *pids;
} ac_cgroup_dirs_t;

/* Finds the hierarchy to use from a mount table (/proc/self/mountinfo) and
 * the caller's cgroups (/proc/self/cgroup): v2 when its hierarchy offers the
 * memory controller to Apache's cgroup, else v1 when the memory controller
 * is mounted (cpu and pids where mounted too). 0 with *out set, or -1 with
 * *why (one line) when neither can be used. */
int ac_cgroup_detect(apr_pool_t *p, const char *mountinfo_path, const char *self_cgroup_path,
                     ac_cgroup_layout_t *out, const char **why);

/* The stable id of an app's cgroup: its app root sanitised as its state
 * directory's id is (ac_statedir.h), then '-' and 8 hex digits of the SHA-1
 * of its declaring site and virtual path: two apps sharing an app root get
 * their own cgroups (their own limits). */
const char *ac_cgroup_app_id(apr_pool_t *p, const char *app_root, const char *site,
                             const char *virtual_path);

/* The directories of app `id`'s cgroup for `lim` (a controller only when
 * its limit is set and the layout has it). */
void ac_cgroup_app_dirs(apr_pool_t *p, const ac_cgroup_layout_t *lay, const char *id,
                        const ac_cgroup_limits_t *lim, ac_cgroup_dirs_t *out);

/* As root: makes app `id`'s cgroup in each controller `lim` needs, writes
 * the limits, gives cgroup.procs (v1: and tasks) to uid:gid. 0, or -1 with
 * *why (one line naming the file). A limit the layout cannot hold (no cpu
 * or pids controller) is *why too. */
int ac_cgroup_prepare(apr_pool_t *p, const ac_cgroup_layout_t *lay, const char *id,
                      const ac_cgroup_limits_t *lim, uid_t uid, gid_t gid, const char **why);

/* v2: root moves the supervisor `pid` into its leaf in the subtree (when the
 * subtree exists: an app has limits). 0, or -1 with *why. v1: nothing. */
int ac_cgroup_adopt_supervisor(apr_pool_t *p, const ac_cgroup_layout_t *lay, pid_t pid,
                               const char **why);

/* Removes the app cgroups under the layout's directories whose id is not in
 * `keep` (NULL-terminated; NULL: none kept), then the aspnetcore directory
 * itself when empty. A cgroup still holding processes stays (EBUSY).
 * Returns how many could not be removed. */
int ac_cgroup_sweep(const ac_cgroup_layout_t *lay, const char *const *keep);

/* In the forked backend, before execve (no allocation): writes the calling
 * process's pid to <dir>/cgroup.procs of every directory in `dirs`
 * (NULL-terminated). 0, or -1 with errno. */
int ac_cgroup_join(const char *const *dirs);

/* The memory cgroup's count of processes the OOM killer killed in it (v1
 * memory.oom_control, v2 memory.events: "oom_kill N"); -1 if unknown. */
long long ac_cgroup_oom_kills(const char *memory_dir);

/* Parses "key value" lines (memory.events, memory.oom_control): the value
 * of `key`, or -1. */
long long ac_cgroup_parse_counter(const char *text, const char *key);

#endif /* AC_CGROUP_H */
