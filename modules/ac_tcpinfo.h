/* ac_tcpinfo: what the kernel knows of a TCP connection that the socket
 * calls do not say: whether a peer that closed it ever received the last
 * bytes we sent (TCP_INFO's byte counters, Linux 4.19 and later). Kept
 * apart from ac_sockio because <linux/tcp.h>, which has those counters,
 * cannot be included beside glibc's <netinet/tcp.h>. httpd-free.
 */
#ifndef AC_TCPINFO_H
#define AC_TCPINFO_H

#include <stddef.h>

/* A connection that gave EOF after we sent `last_sent` bytes (2 or more)
 * on it: did the peer close its end before those bytes reached it? Then
 * its kernel answered them with a reset, which the socket's pending error
 * (SO_ERROR, read and cleared here) still holds behind the EOF, and none
 * of them was acknowledged. A peer that received them acknowledged them,
 * whatever it did next (read them and closed, even with a reset of its
 * own: an orphaned socket under memory pressure, TCP_LINGER2 < 0): the
 * app may have read the request. 1 if the peer never had them, else 0
 * (also where the kernel does not say). */
int ac_tcp_closed_before_bytes(int fd, size_t last_sent);

#endif /* AC_TCPINFO_H */
