/* ac_connpool: idle keep-alive connections to backends, per httpd child.
 *
 * Connections are kept per (app, slot) and stamped with the incarnation of
 * the process they were opened to, so a connection to a process that has
 * since been replaced is never reused. Bounded: at most `capacity` idle
 * connections per slot (an httpd child never needs more than it has
 * threads), each at most `idle_max` old, which is kept below Kestrel's
 * keep-alive timeout so that we close first. httpd-free.
 */
#ifndef AC_CONNPOOL_H
#define AC_CONNPOOL_H

#include <stdint.h>
#include <apr_pools.h>
#include <apr_time.h>

typedef struct ac_connpool_t ac_connpool_t;

apr_status_t ac_connpool_create(ac_connpool_t **cp, apr_pool_t *p, int capacity,
                                apr_interval_time_t idle_max);

/* An idle, still healthy connection to that process, or -1. */
int ac_connpool_get(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation);

/* Keeps a connection whose last response was complete; closes it when the
 * pool for that slot is full or belongs to another incarnation. */
void ac_connpool_put(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation,
                     int fd);

/* Closes every idle connection (child exit). */
void ac_connpool_close_all(ac_connpool_t *cp);

#endif /* AC_CONNPOOL_H */
