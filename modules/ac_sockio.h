/* ac_sockio: loopback TCP sockets with deadlines, on plain file descriptors.
 *
 * Every send and receive is non-blocking whatever the socket's mode, and a
 * call that would block waits in poll() bounded by the caller's timeout;
 * the one exception, ac_sock_read_within, waits inside recv() itself on a
 * socket put in blocking mode for it. Sockets only (not pipes). Used by the children (forwarding), the
 * supervisor (readiness probes) and the control channel. httpd-free.
 */
#ifndef AC_SOCKIO_H
#define AC_SOCKIO_H

#include <sys/types.h>
#include <sys/uio.h>
#include <apr_errno.h>
#include <apr_time.h>

/* Connects to 127.0.0.1:port. APR_SUCCESS with *fd set, or the errno as an
 * apr_status_t (ECONNREFUSED: nothing listens; APR_TIMEUP: no answer). */
apr_status_t ac_sock_connect_loopback(unsigned port, apr_interval_time_t timeout, int *fd);

/* Writes every byte of the iovecs (modified in place), never raising SIGPIPE. */
apr_status_t ac_sock_writev_all(int fd, struct iovec *iov, int iovcnt,
                                apr_interval_time_t timeout);

/* ac_sock_writev_all, and how many bytes went into the socket (*sent),
 * also when it failed part way: 0 says the peer got none of them. */
apr_status_t ac_sock_writev_counted(int fd, struct iovec *iov, int iovcnt,
                                    apr_interval_time_t timeout, apr_size_t *sent);

/* Like ac_sock_writev_all, for a request whose answer may come before it
 * is all sent: APR_INCOMPLETE as soon as fd is readable (the peer spoke, or
 * closed), with *iov and *iovcnt left at what is still to be written. The
 * check costs one poll() per call, and another only when a write would
 * block. */
apr_status_t ac_sock_writev_watching(int fd, struct iovec **iov, int *iovcnt,
                                     apr_interval_time_t timeout);

/* Someone to keep an eye on while waiting for a socket: the client of the
 * request being forwarded. Its socket (fd) is polled for its peer leaving
 * only (POLLRDHUP; POLLHUP and POLLERR are always reported): bytes it sends
 * (a pipelined request, a TLS record) neither wake the wait nor are read.
 * A client without a socket of its own (an HTTP/2 stream) is asked gone()
 * every `tick`. `left` is set once a wait saw the client gone. While the
 * client's body is still coming (`in_body`), its FIN is the end of that body
 * (a body cut short is the reader's business), and only a reset counts. */
typedef struct {
    int fd;                      /* -1: no socket to watch */
    int in_body;                 /* a FIN is not a departure (yet) */
    apr_interval_time_t tick;    /* > 0: gone() is asked at least this often */
    int (*gone)(void *ctx);      /* NULL: only the socket tells */
    void *ctx;
    int left;
} ac_peer_watch_t;

/* Waits up to `timeout` (< 0: for ever; 0: a look) for `events` on fd while
 * watching `peer` (NULL: nobody): APR_SUCCESS with *revents, APR_TIMEUP,
 * APR_ECONNABORTED when the peer left (peer->left set), or poll's error. */
apr_status_t ac_sock_wait_watching(int fd, short events, ac_peer_watch_t *peer,
                                   apr_interval_time_t timeout, short *revents);

/* ac_sock_writev_watching, also ending with APR_ECONNABORTED as soon as
 * `peer` (NULL: nobody) is seen gone. */
apr_status_t ac_sock_writev_watching_peer(int fd, struct iovec **iov, int *iovcnt,
                                          apr_interval_time_t timeout, ac_peer_watch_t *peer);

/* Closes fd at once, with a reset (SO_LINGER 0): unsent bytes are dropped
 * and the peer learns of it now, even when it is not reading. */
void ac_sock_abort(int fd);

/* Reads what is there, waiting up to `timeout` for the first byte
 * (0: do not wait). *n = 0 with APR_EOF at the end of the stream;
 * APR_EAGAIN when timeout was 0 and nothing was there. */
apr_status_t ac_sock_read(int fd, char *buf, apr_size_t len, apr_size_t *n,
                          apr_interval_time_t timeout);

/* Puts fd in blocking mode, for ac_sock_read_within; the other calls here
 * stay non-blocking on it (MSG_DONTWAIT). */
apr_status_t ac_sock_set_blocking(int fd);

/* Like ac_sock_read, but waits inside recv() (SO_RCVTIMEO) when timeout > 0:
 * one system call where poll() and recv() are two. fd must be in blocking
 * mode. *current is the receive timeout set on fd now (0: none yet), kept by
 * the caller with the socket: it is set again only when it differs.
 * APR_TIMEUP when nothing came in time (timeout 0: nothing was there). */
apr_status_t ac_sock_read_within(int fd, char *buf, apr_size_t len, apr_size_t *n,
                                 apr_interval_time_t timeout, apr_interval_time_t *current);

/* Waits up to `timeout` (< 0: for ever) until fd is readable (or at EOF, or
 * in error): APR_SUCCESS, APR_TIMEUP, or poll's error. */
apr_status_t ac_sock_wait_readable(int fd, apr_interval_time_t timeout);

/* Is the idle connection still usable (no EOF, no stray bytes waiting)? */
int ac_sock_idle_ok(int fd);

/* The kernel's range of ephemeral ports (net.ipv4.ip_local_port_range, read
 * from `path`): 1 with *low and *high set, or 0 when it cannot be read. */
int ac_ephemeral_range(const char *path, unsigned *low, unsigned *high);

/* Port number `r` (taken modulo the count) of [low, high], counting only the
 * ports outside the ephemeral range [elow, ehigh] when there are any (elow 0:
 * unknown): the kernel may give an ephemeral port to an outgoing connection
 * between our check that it is free and the app's bind. */
unsigned ac_port_pick(unsigned low, unsigned high, unsigned elow, unsigned ehigh, unsigned r);

/* Is a TCP port on 127.0.0.1 free to bind right now? */
int ac_port_is_free(unsigned port);

/* Does a process of process group `pgid` hold a socket listening on `port`
 * (any local address, IPv4 or IPv6)? Read from <proc_root>/net/tcp{,6} and
 * the processes' descriptors: so that a readiness probe answered by another
 * program on that port is not taken for the app. 1 yes, 0 no, -1 unknown. */
int ac_port_listener_in_group(unsigned port, pid_t pgid, const char *proc_root);

/* Does any socket listen on `port` (<proc_root>/net/tcp{,6})? 1, 0, -1 unknown. */
int ac_port_has_listener(unsigned port, const char *proc_root);

#endif /* AC_SOCKIO_H */
