/* ac_channel: the messages between httpd and the supervisor.
 *
 * Two channels, both socketpairs the httpd parent creates:
 *  - requests: datagrams any httpd child may send to the supervisor
 *    ("start app N", "slot S of app N looks broken"); fixed-size, never
 *    blocking the sender;
 *  - control: a stream between the parent and the supervisor carrying
 *    framed messages (the apps of a config generation, and the answer with
 *    their table indexes). Its closing tells the supervisor that httpd is
 *    gone. httpd-free.
 */
#ifndef AC_CHANNEL_H
#define AC_CHANNEL_H

#include <stdint.h>
#include <apr_errno.h>
#include <apr_pools.h>
#include <apr_tables.h>
#include <apr_time.h>

typedef enum {
    AC_REQ_START = 1,       /* an app has no ready process: start what is missing */
    AC_REQ_BROKEN = 2,      /* a ready slot refused a connection */
    AC_REQ_REGISTER = 3     /* an app known only at request time: payload = launch settings,
                             * slot = the position of the request's host in the server
                             * list (where its lines go: ac_logtargets.h) */
} ac_request_type_e;

#define AC_REQ_MAX_PAYLOAD (60u * 1024)

typedef struct {
    uint32_t magic;
    uint32_t type;          /* ac_request_type_e */
    uint32_t app;
    uint32_t slot;
    uint64_t incarnation;
} ac_request_msg_t;

typedef enum {
    AC_CTL_CONFIG = 1,      /* parent -> supervisor: the apps of a generation */
    AC_CTL_CONFIG_ACK = 2,  /* supervisor -> parent: their indexes */
    AC_CTL_STOP_ALL = 3,    /* parent -> supervisor: hard restart, stop every backend */
    AC_CTL_LOG_TARGETS = 4  /* parent -> supervisor, before each CONFIG: the generation's
                             * error logs (their descriptors ride with the frame's header,
                             * SCM_RIGHTS), ac_logtargets.h */
} ac_control_type_e;

#define AC_CTL_MAX_FDS 64   /* descriptors one frame may carry */

#define AC_CTL_MAX_PAYLOAD (16u * 1024 * 1024)
#define AC_APP_NO_INDEX 0xFFFFFFFFu

/* Sends one request datagram (with an optional payload) without blocking. */
apr_status_t ac_request_send(int fd, ac_request_type_e type, uint32_t app,
                             uint32_t slot, uint64_t incarnation,
                             const void *payload, apr_size_t len);
/* Receives one request datagram without blocking (APR_EAGAIN: none). The
 * payload lands in `payload` (AC_REQ_MAX_PAYLOAD bytes), its size in *len. */
apr_status_t ac_request_recv(int fd, ac_request_msg_t *msg, char *payload, apr_size_t *len);

/* Writes one frame (type, length, payload) on the control stream. */
apr_status_t ac_control_write(int fd, uint32_t type, const void *payload, uint32_t len,
                              apr_interval_time_t timeout);
/* Reads one frame; the payload is allocated from `p`. Descriptors sent
 * with it are closed. */
apr_status_t ac_control_read(int fd, apr_pool_t *p, uint32_t *type, char **payload,
                             uint32_t *len, apr_interval_time_t timeout);
/* The same, with the descriptors sent along with the frame: `fds` takes up
 * to AC_CTL_MAX_FDS (close-on-exec), their number in *nfds; the caller owns
 * them, also when an error is returned. */
apr_status_t ac_control_read_fds(int fd, apr_pool_t *p, uint32_t *type, char **payload,
                                 uint32_t *len, apr_interval_time_t timeout,
                                 int *fds, unsigned *nfds);
/* Writes one frame with `nfds` (at most AC_CTL_MAX_FDS) descriptors
 * passed along with its header. */
apr_status_t ac_control_write_fds(int fd, uint32_t type, const void *payload, uint32_t len,
                                  const int *fds, unsigned nfds, apr_interval_time_t timeout);

/* CONFIG payload: server-wide settings, a count, then each app's
 * serialized launch settings, then the AspNetCoreUserFromOwner rules. */
typedef struct {
    uint32_t port_low, port_high;    /* AspNetCorePortRange */
    uint32_t log_level;              /* the main server's LogLevel, and ours */
    uint32_t module_log_level;       /* (LogLevel aspnetcore:...): the supervisor, forked
                                      * once, follows a reload's LogLevel */
    uint32_t dynamic_idle;           /* AspNetCoreDynamicAppIdleTimeout, seconds; 0: never */
    apr_array_header_t *owner_rules; /* ac_owner_rule_t (ac_ownerrules.h), after the apps */
    const char *state_root;          /* AspNetCoreStateRoot, with them; NULL: none given */
} ac_config_globals_t;

void ac_config_payload_begin(apr_array_header_t *payload, uint32_t napps,
                             const ac_config_globals_t *globals);
void ac_config_payload_add(apr_array_header_t *payload, const apr_array_header_t *launch_blob);
/* After the apps: the AspNetCoreUserFromOwner rules (NULL: none) and the
 * state root. */
void ac_config_payload_end(apr_array_header_t *payload, const apr_array_header_t *owner_rules,
                           const char *state_root);
/* Splits a CONFIG payload into blobs (arrays of char). NULL or an error message. */
const char *ac_config_payload_parse(apr_pool_t *p, const char *payload, uint32_t len,
                                    ac_config_globals_t *globals, apr_array_header_t **blobs);

#endif /* AC_CHANNEL_H */
