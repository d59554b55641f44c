/* ac_spawn: starting one backend process.
 *
 * fork + execve with everything a backend needs and nothing of ours: its own
 * process group (stop signals go to the whole group, dotnet may fork), a
 * parent-death signal (if the supervisor dies, so does the backend), the app
 * root as working directory, stdin from /dev/null, stdout and stderr into
 * the pipe the supervisor reads, default signal dispositions and no other
 * inherited file descriptor. An exec failure is reported back synchronously
 * through a close-on-exec pipe. httpd-free.
 */
#ifndef AC_SPAWN_H
#define AC_SPAWN_H

#include <sys/types.h>

typedef struct {
    const char *program;         /* resolved path */
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int output_fd;               /* becomes fds 1 and 2 */
    const char *const *cgroups;  /* directories (NULL-terminated) whose cgroup.procs the
                                  * process joins before execve (ac_cgroup.h); NULL: none */
    const struct ac_identity_t *user;   /* the user it becomes (ac_identity.h), after joining
                                         * its cgroups; NULL: it stays ours */
    const gid_t *groups;         /* ... with these groups */
    int ngroups;
} ac_spawn_t;

/* Returns 0 with *pid set, or an errno with `err` describing which step failed. */
int ac_spawn(const ac_spawn_t *req, pid_t *pid, char *err, size_t errlen);

/* mkdir -p (mode 0750) of the folders of `path`; safe in a forked child
 * (no allocation). Returns 0, or -1 with errno set. */
int ac_spawn_make_parents(const char *path);

/* Opens (creates, appends to) the stdout log of process `pid`, named as
 * ANCM names it: <prefix>_<yyyyMMddHHmmss>_<pid>.log (UTC), folders
 * created; `name` gets the path. No link is followed, nothing blocks (a
 * FIFO planted there fails), and only a regular file is taken. Returns the
 * fd, or -1 with errno set. */
int ac_spawn_open_stdout_log(const char *prefix, long pid, char *name, size_t len);

/* Sends `sig` to the process group of a backend (its pid is the group id). */
int ac_spawn_signal_group(pid_t pid, int sig);

#endif /* AC_SPAWN_H */
