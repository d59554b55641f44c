/* ac_tcpinfo: what the kernel knows of a TCP connection that the socket
 * calls do not say: whether a peer that closed it ever received the last
 * bytes we sent (TCP_INFO's byte counters, Linux 4.19 and later). Kept
 * apart from ac_sockio because <linux/tcp.h>, which has those counters,
 * cannot be included beside glibc's <netinet/tcp.h>. httpd-free.
 */
#ifndef AC_TCPINFO_H
#define AC_TCPINFO_H

#include <stddef.h>

/* What a peer's close did with the last bytes we sent. */
typedef enum {
    AC_TCP_READ = 0,        /* no reset behind the EOF (or the kernel does not say): the
                             * peer may have read them */
    AC_TCP_LEFT_UNREAD,     /* a reset behind the EOF, the bytes acknowledged: the peer
                             * closed with them unread (a shutdown, then our bytes, then
                             * its close); rarely, its kernel reset after it had read
                             * them (an orphaned socket under memory pressure,
                             * TCP_LINGER2 < 0) */
    AC_TCP_NEVER_HAD        /* a reset behind the EOF and none of them acknowledged: the
                             * peer had closed before they reached it, or closed with
                             * them unread before its delayed ACK went out (the reset's
                             * own ACK is not counted) */
} ac_tcp_close_e;

/* A connection that gave EOF after we sent `last_sent` bytes (2 or more)
 * on it: what became of them? A peer that closes with bytes unread, or
 * gets them after its close, answers with a reset, which the socket's
 * pending error (SO_ERROR, read and cleared here) still holds behind the
 * EOF; TCP_INFO's counters say whether they were acknowledged. A peer that
 * shuts its end down (the FIN) and closes a moment later resets only then:
 * a reset is waited for up to `wait_ms` (poll() for POLLERR alone: an EOF
 * keeps the socket readable). */
ac_tcp_close_e ac_tcp_close_after_send(int fd, size_t last_sent, int wait_ms);

#endif /* AC_TCPINFO_H */
