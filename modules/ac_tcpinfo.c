/* ac_tcpinfo: TCP_INFO's byte counters (ac_tcpinfo.h). */
#include "ac_tcpinfo.h"

#include <errno.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/tcp.h>

int ac_tcp_closed_before_bytes(int fd, size_t last_sent)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);
    int err = 0;
    socklen_t err_len = sizeof(err);
    __u64 unique_sent;

    if (fd < 0 || last_sent < 2
        || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0
        || (err != ECONNRESET && err != EPIPE)) {
        return 0;
    }
    memset(&ti, 0, sizeof(ti));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0
        || len < offsetof(struct tcp_info, tcpi_bytes_retrans) + sizeof(ti.tcpi_bytes_retrans)) {
        return 0;
    }
    unique_sent = ti.tcpi_bytes_sent - ti.tcpi_bytes_retrans;
    if (ti.tcpi_bytes_sent < ti.tcpi_bytes_retrans || unique_sent < last_sent) {
        return 0;
    }
    /* bytes_acked counts the SYN too (1 more than the data acked): a slack
     * of 1 either way, which last_sent >= 2 leaves no room to misread */
    return ti.tcpi_bytes_acked <= unique_sent - last_sent + 1;
}
