/* ac_connpool: per-child idle backend connections, keyed by process incarnation. */
#include "ac_connpool.h"
#include "ac_shared.h"
#include "ac_sockio.h"

#include <unistd.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>

typedef struct {
    int fd;
    apr_time_t since;
    apr_interval_time_t recv_timeout;   /* set on fd (SO_RCVTIMEO); 0: none */
} idle_conn_t;

typedef struct {
    uint64_t incarnation;
    int count;
    idle_conn_t *conns;          /* `capacity` entries, allocated on first use */
} slot_conns_t;

/* Everything here (this struct, the idle arrays, the mutex, the sweeper's
 * thread and condition) lives in `pool`, a subpool of the pool given to
 * ac_connpool_create, and the cleanups that use it are registered on that
 * same pool: APR destroys a parent's subpools before it runs the parent's own
 * cleanups, so a cleanup on the parent would read freed arrays (and close
 * whatever numbers it found there). */
struct ac_connpool_t {
    apr_pool_t *pool;
    ac_connpool_t **handle;      /* the caller's pointer: NULL once the pool is gone */
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;   /* this child's threads only: never cross-process */
#endif
    int capacity;
    apr_interval_time_t idle_max;
    slot_conns_t slots[AC_MAX_APPS][AC_MAX_PROCESSES];
#if APR_HAS_THREADS
    apr_thread_t *sweeper;
    apr_thread_cond_t *sweeper_wake;  /* signalled (under mutex) when the pool goes */
    apr_interval_time_t sweep_interval;
    int stopping;
#endif
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

/* A cleanup of cp->pool, registered after the mutex was made: it runs while
 * the arrays and the mutex are still there, and closes each idle connection
 * once (the arrays are emptied as it goes). */
static apr_status_t close_all_cleanup(void *data)
{
    ac_connpool_t *cp = data;

    ac_connpool_close_all(cp);
    *cp->handle = NULL;
    return APR_SUCCESS;
}

#if APR_HAS_THREADS
/* A pre-cleanup of cp->pool: the sweeper is stopped and joined before its
 * thread's pool (a subpool), the condition, the mutex and the arrays go. */
static apr_status_t stop_sweeper(void *data)
{
    ac_connpool_t *cp = data;
    apr_status_t ignored;

    if (cp->sweeper) {
        lock(cp);
        cp->stopping = 1;
        apr_thread_cond_signal(cp->sweeper_wake);
        unlock(cp);
        apr_thread_join(&ignored, cp->sweeper);
        cp->sweeper = NULL;
    }
    return APR_SUCCESS;
}
#endif

apr_status_t ac_connpool_create(ac_connpool_t **out, apr_pool_t *p, int capacity,
                                apr_interval_time_t idle_max)
{
    apr_pool_t *own;
    ac_connpool_t *cp;
    apr_status_t rv = apr_pool_create(&own, p);

    *out = NULL;
    if (rv != APR_SUCCESS) {
        return rv;
    }
    cp = apr_pcalloc(own, sizeof(*cp));
    cp->pool = own;
    cp->handle = out;
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&cp->mutex, APR_THREAD_MUTEX_DEFAULT, own);
    if (rv != APR_SUCCESS) {
        apr_pool_destroy(own);
        return rv;
    }
#endif
    cp->capacity = capacity > 0 ? capacity : 1;
    cp->idle_max = idle_max;
    /* cleanups run last registered first: this one before the mutex's */
    apr_pool_cleanup_register(own, cp, close_all_cleanup, apr_pool_cleanup_null);
#if APR_HAS_THREADS
    apr_pool_pre_cleanup_register(own, cp, stop_sweeper);
#endif
    *out = cp;
    return APR_SUCCESS;
}

static void drop_all(slot_conns_t *sc)
{
    while (sc->count > 0) {
        close(sc->conns[--sc->count].fd);
    }
}

/* Takes the most recently kept connection young enough to use, or -1;
 * older ones found on the way are closed. */
static int take(ac_connpool_t *cp, slot_conns_t *sc, uint64_t incarnation, apr_time_t now,
                apr_interval_time_t *recv_timeout)
{
    int fd = -1;

    lock(cp);
    if (sc->incarnation != incarnation) {
        drop_all(sc);
        sc->incarnation = incarnation;
    }
    while (sc->count > 0 && fd < 0) {
        idle_conn_t *c = &sc->conns[--sc->count];
        if (now - c->since < cp->idle_max) {
            fd = c->fd;
            *recv_timeout = c->recv_timeout;
        }
        else {
            close(c->fd);
        }
    }
    unlock(cp);
    return fd;
}

int ac_connpool_get(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation,
                    int check_alive, apr_interval_time_t *recv_timeout)
{
    slot_conns_t *sc;
    apr_time_t now;

    if (!cp || app >= AC_MAX_APPS || slot >= AC_MAX_PROCESSES) {
        return -1;
    }
    sc = &cp->slots[app][slot];
    now = apr_time_now();
    for (;;) {
        int fd = take(cp, sc, incarnation, now, recv_timeout);
        /* the check is a system call: made outside the lock that all of the
         * child's threads share */
        if (fd < 0 || !check_alive || ac_sock_idle_ok(fd)) {
            return fd;
        }
        close(fd);
    }
}

void ac_connpool_put(ac_connpool_t *cp, unsigned app, unsigned slot, uint64_t incarnation,
                     int fd, apr_interval_time_t recv_timeout)
{
    slot_conns_t *sc;

    if (!cp || app >= AC_MAX_APPS || slot >= AC_MAX_PROCESSES) {
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
        sc->conns[sc->count].recv_timeout = recv_timeout;
        sc->count++;
        fd = -1;
    }
    unlock(cp);
    if (fd >= 0) {
        close(fd);
    }
}

void ac_connpool_sweep(ac_connpool_t *cp)
{
    apr_time_t now = apr_time_now();
    int a, s, i, kept;

    lock(cp);
    for (a = 0; a < AC_MAX_APPS; a++) {
        for (s = 0; s < AC_MAX_PROCESSES; s++) {
            slot_conns_t *sc = &cp->slots[a][s];
            for (i = 0, kept = 0; i < sc->count; i++) {
                if (now - sc->conns[i].since >= cp->idle_max) {
                    close(sc->conns[i].fd);
                }
                else {
                    sc->conns[kept++] = sc->conns[i];   /* keeps the order: newest last */
                }
            }
            sc->count = kept;
        }
    }
    unlock(cp);
}

#if APR_HAS_THREADS
static void *APR_THREAD_FUNC sweeper_main(apr_thread_t *thread, void *data)
{
    ac_connpool_t *cp = data;

    lock(cp);
    while (!cp->stopping) {
        /* a timeout, a signal or a spurious wake-up: sweep in any case */
        apr_thread_cond_timedwait(cp->sweeper_wake, cp->mutex, cp->sweep_interval);
        if (cp->stopping) {
            break;
        }
        unlock(cp);
        ac_connpool_sweep(cp);
        lock(cp);
    }
    unlock(cp);
    apr_thread_exit(thread, APR_SUCCESS);
    return NULL;
}
#endif

apr_status_t ac_connpool_start_sweeper(ac_connpool_t *cp, apr_interval_time_t interval)
{
#if APR_HAS_THREADS
    apr_status_t rv;
    if (cp->sweeper) {
        return APR_SUCCESS;
    }
    rv = apr_thread_cond_create(&cp->sweeper_wake, cp->pool);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    cp->sweep_interval = interval > 0 ? interval : apr_time_from_sec(1);
    return apr_thread_create(&cp->sweeper, NULL, sweeper_main, cp, cp->pool);
#else
    (void)cp;
    (void)interval;
    return APR_ENOTIMPL;
#endif
}

void ac_connpool_close_all(ac_connpool_t *cp)
{
    int a, s;

    if (!cp) {
        return;
    }
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
