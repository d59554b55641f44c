/* ac_sockio: loopback sockets with poll()-bounded waits. */
#include "ac_sockio.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <sys/time.h>

static int poll_ms(apr_interval_time_t timeout)
{
    if (timeout < 0) {
        return -1;
    }
    /* round up so that a sub-millisecond timeout still waits */
    return (int)((timeout + 999) / 1000);
}

/* poll() on one fd, again after a signal: APR_SUCCESS with *revents, or
 * APR_TIMEUP, or the error. */
static apr_status_t poll_one(int fd, short events, apr_interval_time_t timeout, short *revents)
{
    struct pollfd pfd;
    int rc;

    pfd.fd = fd;
    pfd.events = events;
    pfd.revents = 0;
    do {
        rc = poll(&pfd, 1, poll_ms(timeout));
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    *revents = pfd.revents;
    return rc == 0 ? APR_TIMEUP : APR_SUCCESS;
}

static apr_status_t wait_fd(int fd, short events, apr_interval_time_t timeout)
{
    short revents;
    return poll_one(fd, events, timeout, &revents);
}

static struct sockaddr_in loopback(unsigned port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

apr_status_t ac_sock_connect_loopback(unsigned port, apr_interval_time_t timeout, int *fd)
{
    struct sockaddr_in sa = loopback(port);
    int s, one = 1, err = 0;
    socklen_t errlen = sizeof(err);
    apr_status_t rv;

    s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    if (setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        close(s);
        return rv;
    }
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS) {
            rv = APR_FROM_OS_ERROR(errno);
            close(s);
            return rv;
        }
        rv = wait_fd(s, POLLOUT, timeout);
        if (rv == APR_SUCCESS
            && getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0) {
            rv = APR_FROM_OS_ERROR(errno);
        }
        else if (rv == APR_SUCCESS && err) {
            rv = APR_FROM_OS_ERROR(err);
        }
        if (rv != APR_SUCCESS) {
            close(s);
            return rv;
        }
    }
    {
        /* A connect to a port nobody listens on, from an ephemeral port that
         * happens to be the same, connects the socket to itself (TCP
         * simultaneous open): that is no backend. */
        struct sockaddr_in local;
        socklen_t llen = sizeof(local);
        if (getsockname(s, (struct sockaddr *)&local, &llen) == 0
            && local.sin_port == sa.sin_port) {
            close(s);
            return APR_FROM_OS_ERROR(ECONNREFUSED);
        }
    }
    *fd = s;
    return APR_SUCCESS;
}

apr_status_t ac_sock_writev_all(int fd, struct iovec *iov, int iovcnt,
                                apr_interval_time_t timeout)
{
    apr_size_t sent;
    return ac_sock_writev_counted(fd, iov, iovcnt, timeout, &sent);
}

apr_status_t ac_sock_writev_counted(int fd, struct iovec *iov, int iovcnt,
                                    apr_interval_time_t timeout, apr_size_t *sent)
{
    *sent = 0;
    while (iovcnt > 0) {
        struct msghdr msg;
        ssize_t n;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = iov;
        msg.msg_iovlen = (size_t)(iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
        /* MSG_DONTWAIT: whatever the descriptor's mode; MSG_NOSIGNAL: a peer
         * that went away is an error to handle, not a SIGPIPE */
        n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            apr_status_t rv;
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return APR_FROM_OS_ERROR(errno);
            }
            rv = wait_fd(fd, POLLOUT, timeout);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            continue;
        }
        *sent += (apr_size_t)n;
        while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            iovcnt--;
        }
        if (iovcnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return APR_SUCCESS;
}

/* One poll() of fd and the peer's socket for at most `slice`: 1 when fd is
 * ready, 0 when nothing happened, -1 with *rv (the peer left, an error). */
static int poll_watching(int fd, short events, ac_peer_watch_t *peer, int *peer_fd,
                         apr_interval_time_t slice, short *revents, apr_status_t *rv)
{
    struct pollfd pfd[2];
    int nfds = 1, rc;

    pfd[0].fd = fd;
    pfd[0].events = events;
    pfd[0].revents = 0;
    if (*peer_fd >= 0) {
        pfd[1].fd = *peer_fd;
        pfd[1].events = peer->in_body ? 0 : POLLRDHUP;   /* POLLHUP, POLLERR: always */
        pfd[1].revents = 0;
        nfds = 2;
    }
    rc = poll(pfd, (nfds_t)nfds, poll_ms(slice));
    if (rc < 0) {
        if (errno == EINTR) {
            return 0;            /* a signal: the caller polls again */
        }
        *rv = APR_FROM_OS_ERROR(errno);
        return -1;
    }
    if (nfds == 2 && (pfd[1].revents & POLLNVAL)) {
        *peer_fd = -1;           /* not a socket we can watch: the gone() check stays */
    }
    else if (nfds == 2 && (pfd[1].revents & ((peer->in_body ? 0 : POLLRDHUP) | POLLHUP
                                             | POLLERR))) {
        peer->left = 1;          /* FIN (after its request) or reset: the client is gone */
        *rv = APR_ECONNABORTED;
        return -1;
    }
    *revents = pfd[0].revents;
    return pfd[0].revents != 0;
}

apr_status_t ac_sock_wait_watching(int fd, short events, ac_peer_watch_t *peer,
                                   apr_interval_time_t timeout, short *revents)
{
    apr_time_t deadline = timeout > 0 ? apr_time_now() + timeout : 0;
    int peer_fd;

    if (!peer) {
        return poll_one(fd, events, timeout, revents);
    }
    peer_fd = peer->fd;
    for (;;) {
        apr_interval_time_t slice = timeout;
        apr_status_t rv = APR_SUCCESS;
        int ready;

        if (peer->gone && peer->gone(peer->ctx)) {
            peer->left = 1;
            return APR_ECONNABORTED;
        }
        if (deadline) {
            slice = deadline - apr_time_now();
            if (slice <= 0) {
                return APR_TIMEUP;
            }
        }
        if (peer->tick > 0 && (slice < 0 || slice > peer->tick)) {
            slice = peer->tick;
        }
        ready = poll_watching(fd, events, peer, &peer_fd, slice, revents, &rv);
        if (ready) {
            return ready > 0 ? APR_SUCCESS : rv;
        }
        if (timeout == 0) {
            return APR_TIMEUP;
        }
    }
}

void ac_sock_abort(int fd)
{
    struct linger lg;

    lg.l_onoff = 1;
    lg.l_linger = 0;
    /* should it fail, the close below is an orderly one: still a close */
    (void)setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
}

/* Waits until fd is writable (APR_SUCCESS) or readable (APR_INCOMPLETE), or
 * the peer is gone (APR_ECONNABORTED). */
static apr_status_t wait_writable_unless_readable(int fd, apr_interval_time_t timeout,
                                                  ac_peer_watch_t *peer)
{
    short revents;
    apr_status_t rv = ac_sock_wait_watching(fd, POLLIN | POLLOUT, peer, timeout, &revents);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    /* POLLHUP/POLLERR: the next recv() says what happened */
    return revents & (POLLIN | POLLHUP | POLLERR) ? APR_INCOMPLETE : APR_SUCCESS;
}

apr_status_t ac_sock_writev_watching(int fd, struct iovec **iov, int *iovcnt,
                                     apr_interval_time_t timeout)
{
    return ac_sock_writev_watching_peer(fd, iov, iovcnt, timeout, NULL);
}

apr_status_t ac_sock_writev_watching_peer(int fd, struct iovec **iov, int *iovcnt,
                                          apr_interval_time_t timeout, ac_peer_watch_t *peer)
{
    apr_status_t rv = wait_writable_unless_readable(fd, 0, peer);

    if (rv == APR_INCOMPLETE || (rv != APR_SUCCESS && rv != APR_TIMEUP)) {
        return rv;
    }
    while (*iovcnt > 0) {
        struct msghdr msg;
        ssize_t n;
        memset(&msg, 0, sizeof(msg));
        msg.msg_iov = *iov;
        msg.msg_iovlen = (size_t)(*iovcnt > IOV_MAX ? IOV_MAX : *iovcnt);
        n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                return APR_FROM_OS_ERROR(errno);
            }
            rv = wait_writable_unless_readable(fd, timeout, peer);
            if (rv != APR_SUCCESS) {
                return rv;
            }
            continue;
        }
        while (*iovcnt > 0 && (size_t)n >= (*iov)->iov_len) {
            n -= (ssize_t)(*iov)->iov_len;
            (*iov)++;
            (*iovcnt)--;
        }
        if (*iovcnt > 0) {
            (*iov)->iov_base = (char *)(*iov)->iov_base + n;
            (*iov)->iov_len -= (size_t)n;
        }
    }
    return APR_SUCCESS;
}

apr_status_t ac_sock_read(int fd, char *buf, apr_size_t len, apr_size_t *n,
                          apr_interval_time_t timeout)
{
    *n = 0;
    for (;;) {
        ssize_t got = recv(fd, buf, len, MSG_DONTWAIT);
        if (got > 0) {
            *n = (apr_size_t)got;
            return APR_SUCCESS;
        }
        if (got == 0) {
            return APR_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return APR_FROM_OS_ERROR(errno);
        }
        if (timeout == 0) {
            return APR_EAGAIN;
        }
        {
            apr_status_t rv = wait_fd(fd, POLLIN, timeout);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
}

apr_status_t ac_sock_set_blocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    return APR_SUCCESS;
}

apr_status_t ac_sock_read_within(int fd, char *buf, apr_size_t len, apr_size_t *n,
                                 apr_interval_time_t timeout, apr_interval_time_t *current)
{
    *n = 0;
    if (timeout <= 0) {
        /* for ever (poll), or not at all */
        apr_status_t rv = ac_sock_read(fd, buf, len, n, timeout);
        return rv == APR_EAGAIN ? APR_TIMEUP : rv;
    }
    if (*current != timeout) {
        struct timeval tv;
        tv.tv_sec = (time_t)apr_time_sec(timeout);
        tv.tv_usec = (suseconds_t)apr_time_usec(timeout);
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
            return APR_FROM_OS_ERROR(errno);
        }
        *current = timeout;
    }
    for (;;) {
        ssize_t got = recv(fd, buf, len, 0);
        if (got > 0) {
            *n = (apr_size_t)got;
            return APR_SUCCESS;
        }
        if (got == 0) {
            return APR_EOF;
        }
        if (errno == EINTR) {
            continue;   /* a signal handler ran: the wait starts over */
        }
        return errno == EAGAIN || errno == EWOULDBLOCK ? APR_TIMEUP : APR_FROM_OS_ERROR(errno);
    }
}

apr_status_t ac_sock_wait_readable(int fd, apr_interval_time_t timeout)
{
    return wait_fd(fd, POLLIN, timeout);
}

int ac_sock_idle_ok(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int ac_ephemeral_range(const char *path, unsigned *low, unsigned *high)
{
    FILE *f = fopen(path, "re");
    int ok;
    if (!f) {
        return 0;
    }
    ok = fscanf(f, "%u %u", low, high) == 2 && *low >= 1 && *low <= *high && *high <= 65535;
    fclose(f);
    return ok;
}

unsigned ac_port_pick(unsigned low, unsigned high, unsigned elow, unsigned ehigh, unsigned r)
{
    unsigned below = 0, above = 0, above_start = 0;

    if (elow && elow <= ehigh) {
        if (low < elow) {
            below = (high < elow ? high : elow - 1) - low + 1;
        }
        if (high > ehigh) {
            above_start = low > ehigh ? low : ehigh + 1;
            above = high - above_start + 1;
        }
    }
    if (!below && !above) {
        return low + r % (high - low + 1);
    }
    r %= below + above;
    return r < below ? low + r : above_start + (r - below);
}

int ac_port_is_free(unsigned port)
{
    struct sockaddr_in sa = loopback(port);
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok;

    if (s < 0) {
        return 0;
    }
    ok = bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(s);
    return ok;
}

/* Inodes of the LISTEN sockets on `port` in one /proc/net/tcp* table. */
static int listening_inodes(const char *table, unsigned port, unsigned long *inodes, int max)
{
    FILE *f = fopen(table, "re");
    char line[512];
    int n = 0;

    if (!f) {
        return -1;
    }
    if (!fgets(line, sizeof(line), f)) {      /* the header */
        fclose(f);
        return 0;
    }
    while (n < max && fgets(line, sizeof(line), f)) {
        char local[64], remote[64];
        unsigned st, lport;
        unsigned long inode;
        const char *colon;
        /* sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %63s %63s %x %*s %*s %*s %*s %*s %lu", local, remote, &st,
                   &inode) != 4) {
            continue;
        }
        colon = strrchr(local, ':');
        if (!colon || sscanf(colon + 1, "%x", &lport) != 1) {
            continue;
        }
        if (st == 0x0A && lport == port && inode) {    /* TCP_LISTEN */
            inodes[n++] = inode;
        }
    }
    fclose(f);
    return n;
}

static int holds_socket(const char *proc_root, const char *pid, const unsigned long *inodes,
                        int n)
{
    char dir[256], link[512], target[64];
    DIR *d;
    struct dirent *de;
    int found = 0;

    if ((size_t)snprintf(dir, sizeof(dir), "%s/%s/fd", proc_root, pid) >= sizeof(dir)) {
        return 0;
    }
    d = opendir(dir);
    if (!d) {
        return 0;
    }
    while (!found && (de = readdir(d))) {
        ssize_t len;
        unsigned long inode;
        int i;
        if (de->d_name[0] == '.') {
            continue;
        }
        if ((size_t)snprintf(link, sizeof(link), "%s/%s", dir, de->d_name) >= sizeof(link)) {
            continue;
        }
        len = readlink(link, target, sizeof(target) - 1);
        if (len <= 0) {
            continue;
        }
        target[len] = '\0';
        if (sscanf(target, "socket:[%lu]", &inode) != 1) {
            continue;
        }
        for (i = 0; i < n; i++) {
            found |= inodes[i] == inode;
        }
    }
    closedir(d);
    return found;
}

static pid_t group_of(const char *proc_root, const char *pid)
{
    char path[256], buf[512], *paren;
    long pgrp = -1;
    FILE *f;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s/stat", proc_root, pid) >= sizeof(path)) {
        return -1;
    }
    f = fopen(path, "re");
    if (!f) {
        return -1;
    }
    if (fgets(buf, sizeof(buf), f) && (paren = strrchr(buf, ')'))) {
        char state;
        long ppid;
        if (sscanf(paren + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3) {
            pgrp = -1;
        }
    }
    fclose(f);
    return (pid_t)pgrp;
}

int ac_port_has_listener(unsigned port, const char *proc_root)
{
    unsigned long inodes[1];
    char path[256];
    int m4, m6;

    if ((size_t)snprintf(path, sizeof(path), "%s/net/tcp", proc_root) >= sizeof(path) - 1) {
        return -1;
    }
    m4 = listening_inodes(path, port, inodes, 1);
    if (m4 > 0) {
        return 1;
    }
    snprintf(path, sizeof(path), "%s/net/tcp6", proc_root);
    m6 = listening_inodes(path, port, inodes, 1);
    if (m6 > 0) {
        return 1;
    }
    return m4 < 0 ? -1 : 0;
}

int ac_port_listener_in_group(unsigned port, pid_t pgid, const char *proc_root)
{
    unsigned long inodes[16];
    char path[256], leader[32];
    int n = 0, m;
    DIR *d;
    struct dirent *de;

    if ((size_t)snprintf(path, sizeof(path), "%s/net/tcp", proc_root) >= sizeof(path) - 1) {
        return -1;
    }
    m = listening_inodes(path, port, inodes, 16);
    if (m < 0) {
        return -1;
    }
    n += m;
    snprintf(path, sizeof(path), "%s/net/tcp6", proc_root);
    m = listening_inodes(path, port, inodes + n, 16 - n);
    n += m > 0 ? m : 0;
    if (!n) {
        return 0;
    }
    /* the leader first: dotnet listens in the process it was started as */
    snprintf(leader, sizeof(leader), "%ld", (long)pgid);
    if (holds_socket(proc_root, leader, inodes, n)) {
        return 1;
    }
    d = opendir(proc_root);
    if (!d) {
        return -1;
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] >= '0' && de->d_name[0] <= '9' && strcmp(de->d_name, leader)
            && group_of(proc_root, de->d_name) == pgid
            && holds_socket(proc_root, de->d_name, inodes, n)) {
            closedir(d);
            return 1;
        }
    }
    closedir(d);
    return 0;
}
