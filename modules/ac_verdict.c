/* ac_verdict: waiting for the supervisor's word on a process that reset a
 * connection before it read the request. */
#include "ac_verdict.h"
#include "ac_channel.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void ac_verdict_ask(int request_fd, ac_slot_t *slot, uint32_t app_index, uint32_t slot_index,
                    uint64_t incarnation)
{
    ac_slot_mark_suspect(slot, incarnation);
    /* a datagram lost (the queue full) is made up for: the supervisor looks
     * at every suspect slot on its tick too */
    (void)ac_request_send(request_fd, AC_REQ_BROKEN, app_index, slot_index, incarnation,
                          NULL, 0);
}

ac_verdict_e ac_verdict_wait(ac_app_t *app, ac_slot_t *slot, uint64_t incarnation,
                             apr_interval_time_t timeout)
{
    apr_time_t deadline = apr_time_now() + timeout;

    for (;;) {
        uint32_t seen = ac_word_read(&app->wake);
        ac_slot_view_t v;
        apr_time_t now;

        if (!ac_slot_read(slot, &v)) {
            return AC_VERDICT_UNKNOWN;
        }
        if (v.incarnation != incarnation || v.state != AC_SLOT_READY) {
            return AC_VERDICT_GONE;
        }
        if (!ac_slot_is_suspect(slot, incarnation)) {
            return AC_VERDICT_ALIVE;
        }
        now = apr_time_now();
        if (now >= deadline) {
            return AC_VERDICT_UNKNOWN;
        }
        ac_word_wait(&app->wake, seen, deadline - now);
    }
}

/* Is the supervisor alive? A killed one stays a zombie until the parent
 * reaps it (up to a second), so the process state counts, not just the pid. */
int ac_verdict_supervisor_alive(const ac_shared_t *sh)
{
    pid_t pid = (pid_t)__atomic_load_n(&sh->supervisor_pid, __ATOMIC_ACQUIRE);
    char path[64], stat[256], *paren;
    int fd;
    ssize_t n;

    if (pid <= 0 || (kill(pid, 0) < 0 && errno != EPERM)) {
        return 0;
    }
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 1;       /* no /proc to ask: trust the signal check */
    }
    n = read(fd, stat, sizeof(stat) - 1);
    close(fd);
    if (n <= 0) {
        return 1;
    }
    stat[n] = '\0';
    paren = strrchr(stat, ')');
    return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}
