/* ac_connpool: idle keep-alive connections to backends, per httpd child.
 *
 * Connections are kept per (app, slot) and stamped with the incarnation of
 * the process they were opened to, so a connection to a process that has
 * since been replaced is never reused. Bounded: at most `capacity` idle
 * connections per slot (an httpd child never needs more than it has
 * threads), each at most `idle_max` old, which is kept below Kestrel's
 * keep-alive timeout so that we close first: a sweeper thread closes the
 * ones that reach it even when the child gets no more requests. httpd-free.
 */
#ifndef AC_CONNPOOL_H
#define AC_CONNPOOL_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef struct ac_connpool_t ac_connpool_t;

/* A pool of idle connections that lives as long as `p`: when `p` is cleared
 * or destroyed, the sweeper is stopped, every idle connection is closed
 * (once) and then *cp is set to NULL, so that the holder of that pointer (a
 * static of the module, used by request pools that may outlive `p` at exit)
 * never reaches freed memory: get on NULL gives -1, put on NULL closes. */
apr_status_t ac_connpool_create(ac_connpool_t **cp, apr_pool_t *p, int capacity,
                                apr_interval_time_t idle_max);

/* The most recently used idle connection to that process, or -1. With
 * `check_alive`, one the app has closed meanwhile is skipped (a system call
 * per connection looked at); without, the caller must be able to retry on
 * a new connection when the first fails before the app answered.
 * *recv_timeout: the value given with the connection to ac_connpool_put. */
int ac_connpool_get(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation,
                    int check_alive, apr_interval_time_t *recv_timeout);

/* Keeps a connection whose last response was complete, with the receive
 * timeout set on it (kept for the next user: see ac_sock_read_within);
 * closes it when the pool for that slot is full or belongs to another
 * incarnation. */
void ac_connpool_put(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation,
                     int fd, apr_interval_time_t recv_timeout);

/* Closes the connections idle for `idle_max` or longer. */
void ac_connpool_sweep(ac_connpool_t *cp);

/* Runs ac_connpool_sweep every `interval` on a thread of its own until the
 * pool given to ac_connpool_create is destroyed. */
apr_status_t ac_connpool_start_sweeper(ac_connpool_t *cp, apr_interval_time_t interval);

/* Closes every idle connection (also done when the pool goes). */
void ac_connpool_close_all(ac_connpool_t *cp);

#endif /* AC_CONNPOOL_H */
