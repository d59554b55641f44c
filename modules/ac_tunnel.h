/* ac_tunnel: the byte relay of an upgraded connection (WebSockets).
 *
 * After the app answered 101 Switching Protocols, bytes go both ways between
 * the client connection, through its connection filters (so TLS by mod_ssl
 * keeps working), and the backend socket, until both sides have closed or
 * nothing moved for the idle timeout. A close from one side is passed on as
 * a half-close, so either side may end the conversation first. The client
 * side may be an HTTP/2 stream (mod_http2's H2WebSockets): a secondary
 * connection whose input is waited for on the pipe ap_get_pollfd_from_conn
 * gives, not on a socket.
 */
#ifndef AC_TUNNEL_H
#define AC_TUNNEL_H

#include <httpd.h>

/* Relays until done. `early`/`early_len`: bytes the app sent right after
 * its 101, to go to the client first. Returns the number of bytes moved
 * (both ways), for the log. */
apr_off_t ac_tunnel_run(request_rec *r, int backend_fd, const char *early, apr_size_t early_len,
                        apr_interval_time_t idle_timeout);

#endif /* AC_TUNNEL_H */
