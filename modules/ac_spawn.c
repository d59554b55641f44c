/* ac_spawn: fork/exec of a backend in its own process group. */
#include "ac_spawn.h"
#include "ac_cgroup.h"
#include "ac_identity.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/wait.h>

/* What the child reports back when a step before execve fails. */
typedef struct {
    int step;
    int err;
} spawn_failure_t;

static const char *const step_names[] = {
    "exec", "setpgid", "prctl(PR_SET_PDEATHSIG)", "chdir", "open /dev/null",
    "dup2", "close inherited descriptors", "sigprocmask", "join its cgroup",
    "switch to the app's user"
};

/* Marks every descriptor above 2 close-on-exec, so the backend inherits none
 * of Apache's (listeners, logs, the supervisor channels). */
static int cloexec_from_3(void)
{
#ifdef CLOSE_RANGE_CLOEXEC
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return 0;
    }
#endif
    {
        struct rlimit rl;
        int fd, max = 65536;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
            && rl.rlim_cur < 1048576) {
            max = (int)rl.rlim_cur;
        }
        for (fd = 3; fd < max; fd++) {
            int flags = fcntl(fd, F_GETFD);
            if (flags >= 0 && !(flags & FD_CLOEXEC)) {
                if (fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
                    return -1;
                }
            }
        }
    }
    return 0;
}

static void child_fail(int report_fd, int step)
{
    spawn_failure_t f;
    ssize_t n;
    f.step = step;
    f.err = errno;
    n = write(report_fd, &f, sizeof(f));
    (void)n;
    _exit(127);
}

int ac_spawn_make_parents(const char *path)
{
    char dir[4096];
    size_t n = strlen(path), i;

    if (n >= sizeof(dir)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(dir, path, n + 1);
    for (i = 1; i < n; i++) {
        if (dir[i] == '/') {
            dir[i] = '\0';
            if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
                return -1;
            }
            dir[i] = '/';
        }
    }
    return 0;
}

int ac_spawn_open_stdout_log(const char *prefix, long pid, char *name, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    struct stat st;
    char stamp[32];
    int fd;

    if (!gmtime_r(&now, &tm) || !strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm)) {
        errno = EINVAL;
        return -1;
    }
    if ((size_t)snprintf(name, len, "%s_%s_%ld.log", prefix, stamp, pid) >= len) {
        errno = ENAMETOOLONG;
        return -1;
    }
    if (ac_spawn_make_parents(name) < 0) {
        return -1;
    }
    fd = open(name, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
    if (fd >= 0) {
        int e = fstat(fd, &st) < 0 ? errno : !S_ISREG(st.st_mode) ? EINVAL : 0;
        if (e) {
            close(fd);
            errno = e;
            return -1;
        }
    }
    return fd;
}

static void child(const ac_spawn_t *req, pid_t supervisor, int report_fd)
{
    int out_fd = req->output_fd;     /* the supervisor relays it (and scrubs the token) */

    sigset_t none;
    int sig, devnull;

    if (setpgid(0, 0) < 0) {
        child_fail(report_fd, 1);
    }
    /* first: nothing of the app runs outside its limits */
    if (req->cgroups && ac_cgroup_join(req->cgroups) < 0) {
        child_fail(report_fd, 8);
    }
    /* then its user, before the parent-death signal (a change of user
     * clears it) and the working directory (entered as that user) */
    if (req->user && ac_identity_become(req->user, req->groups, req->ngroups) < 0) {
        child_fail(report_fd, 9);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) {
        child_fail(report_fd, 2);
    }
    if (getppid() != supervisor) {
        _exit(127);      /* the supervisor died before prctl took effect */
    }
    for (sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            signal(sig, SIG_DFL);
        }
    }
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0) {
        child_fail(report_fd, 7);
    }
    if (chdir(req->cwd) < 0) {
        child_fail(report_fd, 3);
    }
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0) {
        child_fail(report_fd, 4);
    }
    if (dup2(devnull, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0) {
        child_fail(report_fd, 5);
    }
    if (cloexec_from_3() < 0) {
        child_fail(report_fd, 6);
    }
    execve(req->program, req->argv, req->envp);
    child_fail(report_fd, 0);
}

int ac_spawn(const ac_spawn_t *req, pid_t *pid, char *err, size_t errlen)
{
    int report[2];
    pid_t me = getpid(), p;
    spawn_failure_t f;
    ssize_t n;
    int e;

    if (pipe2(report, O_CLOEXEC) < 0) {
        e = errno;
        snprintf(err, errlen, "pipe: %s", strerror(e));
        return e;
    }
    p = fork();
    if (p < 0) {
        e = errno;
        close(report[0]);
        close(report[1]);
        snprintf(err, errlen, "fork: %s", strerror(e));
        return e;
    }
    if (p == 0) {
        close(report[0]);
        child(req, me, report[1]);
    }
    close(report[1]);
    /* Also set the group from this side, so that a signal to the group
     * right after fork cannot miss the child. */
    (void)setpgid(p, p);   /* EACCES: it already exec'd, having set it itself */
    do {
        n = read(report[0], &f, sizeof(f));
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == (ssize_t)sizeof(f)) {
        int status;
        const char *step = f.step >= 0 && f.step < (int)(sizeof(step_names) / sizeof(step_names[0]))
                           ? step_names[f.step] : "setup";
        snprintf(err, errlen, "%s %s: %s", step, f.step == 0 ? req->program
                 : (f.step == 3 ? req->cwd : ""), strerror(f.err));
        while (waitpid(p, &status, 0) < 0 && errno == EINTR) {
        }
        return f.err ? f.err : EINVAL;
    }
    *pid = p;
    return 0;
}

int ac_spawn_signal_group(pid_t pid, int sig)
{
    if (pid <= 1) {
        return EINVAL;
    }
    if (kill(-pid, sig) < 0) {
        if (errno == ESRCH) {
            /* no group (yet): try the process itself */
            return kill(pid, sig) < 0 ? errno : 0;
        }
        return errno;
    }
    return 0;
}
