/* ac_connpool: per-child idle backend connections, keyed by process incarnation. */
#include "ac_connpool.h"
#include "ac_shared.h"
#include "ac_sockio.h"

#include <unistd.h>
#include <apr_thread_mutex.h>

typedef struct {
    int fd;
    apr_time_t since;
} idle_conn_t;

typedef struct {
    uint64_t incarnation;
    int count;
    idle_conn_t *conns;          /* `capacity` entries, allocated on first use */
} slot_conns_t;

struct ac_connpool_t {
    apr_pool_t *pool;
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;   /* this child's threads only: never cross-process */
#endif
    int capacity;
    apr_interval_time_t idle_max;
    slot_conns_t slots[AC_MAX_APPS][AC_MAX_PROCESSES];
};

static void lock(ac_connpool_t *cp)
{
#if APR_HAS_THREADS
    if (cp->mutex) {
        apr_thread_mutex_lock(cp->mutex);
    }
#else
    (void)cp;
#endif
}

static void unlock(ac_connpool_t *cp)
{
#if APR_HAS_THREADS
    if (cp->mutex) {
        apr_thread_mutex_unlock(cp->mutex);
    }
#else
    (void)cp;
#endif
}

static apr_status_t close_all_cleanup(void *data)
{
    ac_connpool_close_all(data);
    return APR_SUCCESS;
}

apr_status_t ac_connpool_create(ac_connpool_t **out, apr_pool_t *p, int capacity,
                                apr_interval_time_t idle_max)
{
    ac_connpool_t *cp = apr_pcalloc(p, sizeof(*cp));
    apr_status_t rv = apr_pool_create(&cp->pool, p);

    if (rv != APR_SUCCESS) {
        return rv;
    }
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&cp->mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        return rv;
    }
#endif
    cp->capacity = capacity > 0 ? capacity : 1;
    cp->idle_max = idle_max;
    apr_pool_cleanup_register(p, cp, close_all_cleanup, apr_pool_cleanup_null);
    *out = cp;
    return APR_SUCCESS;
}

static void drop_all(slot_conns_t *sc)
{
    while (sc->count > 0) {
        close(sc->conns[--sc->count].fd);
    }
}

int ac_connpool_get(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation)
{
    slot_conns_t *sc;
    apr_time_t now;
    int fd = -1;

    if (app >= AC_MAX_APPS || slot >= AC_MAX_PROCESSES) {
        return -1;
    }
    sc = &cp->slots[app][slot];
    now = apr_time_now();
    lock(cp);
    if (sc->incarnation != incarnation) {
        drop_all(sc);
        sc->incarnation = incarnation;
    }
    while (sc->count > 0) {
        idle_conn_t *c = &sc->conns[--sc->count];
        if (now - c->since < cp->idle_max && ac_sock_idle_ok(c->fd)) {
            fd = c->fd;
            break;
        }
        close(c->fd);
    }
    unlock(cp);
    return fd;
}

void ac_connpool_put(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation,
                     int fd)
{
    slot_conns_t *sc;

    if (app >= AC_MAX_APPS || slot >= AC_MAX_PROCESSES) {
        close(fd);
        return;
    }
    sc = &cp->slots[app][slot];
    lock(cp);
    if (sc->incarnation != incarnation) {
        drop_all(sc);
        sc->incarnation = incarnation;
    }
    if (!sc->conns) {
        sc->conns = apr_palloc(cp->pool, sizeof(idle_conn_t) * (apr_size_t)cp->capacity);
    }
    if (sc->count < cp->capacity) {
        sc->conns[sc->count].fd = fd;
        sc->conns[sc->count].since = apr_time_now();
        sc->count++;
        fd = -1;
    }
    unlock(cp);
    if (fd >= 0) {
        close(fd);
    }
}

void ac_connpool_close_all(ac_connpool_t *cp)
{
    int a, s;
    lock(cp);
    for (a = 0; a < AC_MAX_APPS; a++) {
        for (s = 0; s < AC_MAX_PROCESSES; s++) {
            if (cp->slots[a][s].count) {
                drop_all(&cp->slots[a][s]);
            }
        }
    }
    unlock(cp);
}
