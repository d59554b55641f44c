/* ac_tcpinfo: TCP_INFO's byte counters (ac_tcpinfo.h). */
#include "ac_tcpinfo.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/tcp.h>

/* Is a reset pending on fd, or does one come within wait_ms? */
static int reset_pending(int fd, int wait_ms)
{
    int err = 0;
    socklen_t err_len = sizeof(err);
    struct pollfd pfd;

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
        return 0;
    }
    if (err == 0 && wait_ms > 0) {
        pfd.fd = fd;
        pfd.events = 0;
        pfd.revents = 0;
        if (poll(&pfd, 1, wait_ms) == 1 && (pfd.revents & POLLERR)) {
            err_len = sizeof(err);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) {
                return 0;
            }
        }
    }
    return err == ECONNRESET || err == EPIPE;
}

ac_tcp_close_e ac_tcp_close_after_send(int fd, size_t last_sent, int wait_ms)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    __u64 unique_sent;

    if (fd < 0 || last_sent < 2 || !reset_pending(fd, wait_ms)) {
        return AC_TCP_READ;
    }
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0
        || len < offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof(ti.tcpi_bytes_retrans)) {
        return AC_TCP_LEFT_UNREAD;
    }
    unique_sent = ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans;
    if (ti.tcpi_bytes_sent < ti.tcpi_bytes_retrans || unique_sent < last_sent) {
        return AC_TCP_LEFT_UNREAD;
    }
    /* bytes_acked counts the SYN too (1 more than the data acked): a slack
     * of 1 either way, which last_sent >= 2 leaves no room to misread */
    return ti.tcpi_bytes_acked <= unique_sent - last_sent + 1 ? AC_TCP_NEVER_HAD
                                                              : AC_TCP_LEFT_UNREAD;
}
