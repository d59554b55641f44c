/* ac_shared: seqlocked shared state between the supervisor and the children. */
#include "ac_shared.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#define AC_SHARED_MAGIC 0x41534e43u   /* "ASNC" */

apr_size_t ac_shared_size(void)
{
    return sizeof(ac_shared_t);
}

void ac_shared_init(ac_shared_t *sh)
{
    int i;
    memset(sh, 0, sizeof(*sh));
    for (i = 0; i < AC_MAX_APPS; i++) {
        sh->apps[i].predecessor = -1;
        sh->apps[i].successor = -1;
    }
    sh->layout = (uint32_t)sizeof(*sh);
    __atomic_store_n(&sh->magic, AC_SHARED_MAGIC, __ATOMIC_RELEASE);
}

int ac_shared_valid(const ac_shared_t *sh)
{
    return __atomic_load_n(&sh->magic, __ATOMIC_ACQUIRE) == AC_SHARED_MAGIC
           && sh->layout == (uint32_t)sizeof(*sh);
}

void ac_seq_write_begin(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
}

void ac_seq_write_end(uint32_t *seq)
{
    __atomic_store_n(seq, *seq + 1, __ATOMIC_RELEASE);
}

static void cpu_relax(unsigned spins)
{
    if (spins > 64) {
        sched_yield();
    }
}

/* The reader side of the seqlock: copy, and copy again if the writer was
 * at work meanwhile (odd counter, or a counter that moved). */
static void seq_read(const uint32_t *seq, void (*copy)(void *view, const void *src),
                     void *view, const void *src)
{
    unsigned spins = 0;
    for (;;) {
        uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (!(s1 & 1)) {
            copy(view, src);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1) {
                return;
            }
        }
        cpu_relax(++spins);
    }
}

static void copy_slot(void *view, const void *src)
{
    ac_slot_view_t *v = view;
    const ac_slot_t *slot = src;
    v->state = __atomic_load_n(&slot->state, __ATOMIC_RELAXED);
    v->pid = __atomic_load_n(&slot->pid, __ATOMIC_RELAXED);
    v->port = __atomic_load_n(&slot->port, __ATOMIC_RELAXED);
    v->incarnation = __atomic_load_n(&slot->incarnation, __ATOMIC_RELAXED);
    memcpy(v->token, slot->token, sizeof(v->token));
}

void ac_slot_read(const ac_slot_t *slot, ac_slot_view_t *view)
{
    seq_read(&slot->seq, copy_slot, view, slot);
    view->token[AC_TOKEN_CHARS] = '\0';
}

static void copy_app(void *view, const void *src)
{
    ac_app_view_t *v = view;
    const ac_app_t *app = src;
    v->state = __atomic_load_n(&app->state, __ATOMIC_RELAXED);
    v->nslots = __atomic_load_n(&app->nslots, __ATOMIC_RELAXED);
    v->failed = __atomic_load_n(&app->failed, __ATOMIC_RELAXED);
    v->offline = __atomic_load_n(&app->offline, __ATOMIC_RELAXED);
    v->predecessor = __atomic_load_n(&app->predecessor, __ATOMIC_RELAXED);
    v->successor = __atomic_load_n(&app->successor, __ATOMIC_RELAXED);
    memcpy(v->key, app->key, AC_KEY_BYTES);
}

void ac_app_read(const ac_app_t *app, ac_app_view_t *v)
{
    seq_read(&app->seq, copy_app, v, app);
    /* the segment is shared: never trust an index from it blindly */
    if (v->nslots > AC_MAX_PROCESSES) {
        v->nslots = AC_MAX_PROCESSES;
    }
    if (v->predecessor >= AC_MAX_APPS) {
        v->predecessor = -1;
    }
    if (v->successor >= AC_MAX_APPS) {
        v->successor = -1;
    }
}

static void copy_diag(void *view, const void *src)
{
    ac_app_diag_t *v = view;
    const ac_app_t *app = src;
    v->state = __atomic_load_n(&app->state, __ATOMIC_RELAXED);
    v->nslots = __atomic_load_n(&app->nslots, __ATOMIC_RELAXED);
    v->failed = __atomic_load_n(&app->failed, __ATOMIC_RELAXED);
    v->offline = __atomic_load_n(&app->offline, __ATOMIC_RELAXED);
    v->restarts = __atomic_load_n(&app->restarts, __ATOMIC_RELAXED);
    v->fail_kind = __atomic_load_n(&app->fail_kind, __ATOMIC_RELAXED);
    v->fail_code = __atomic_load_n(&app->fail_code, __ATOMIC_RELAXED);
    v->fail_time = __atomic_load_n(&app->fail_time, __ATOMIC_RELAXED);
    v->tripped = __atomic_load_n(&app->tripped, __ATOMIC_RELAXED);
    v->tripped_until = __atomic_load_n(&app->tripped_until, __ATOMIC_RELAXED);
    v->recent_fails = __atomic_load_n(&app->recent_fails, __ATOMIC_RELAXED);
    v->last_exit_pid = __atomic_load_n(&app->last_exit_pid, __ATOMIC_RELAXED);
    v->last_exit_status = __atomic_load_n(&app->last_exit_status, __ATOMIC_RELAXED);
    v->last_exit_time = __atomic_load_n(&app->last_exit_time, __ATOMIC_RELAXED);
    memcpy(v->label, app->label, sizeof(v->label));
    memcpy(v->root, app->root, sizeof(v->root));
    memcpy(v->vpath, app->vpath, sizeof(v->vpath));
    memcpy(v->last_error, app->last_error, sizeof(v->last_error));
}

void ac_app_read_diag(const ac_app_t *app, ac_app_diag_t *v)
{
    seq_read(&app->seq, copy_diag, v, app);
    /* the segment is shared: every string ends within its field */
    v->label[sizeof(v->label) - 1] = '\0';
    v->root[sizeof(v->root) - 1] = '\0';
    v->vpath[sizeof(v->vpath) - 1] = '\0';
    v->last_error[sizeof(v->last_error) - 1] = '\0';
    if (v->nslots > AC_MAX_PROCESSES) {
        v->nslots = AC_MAX_PROCESSES;
    }
}

static void copy_slot_diag(void *view, const void *src)
{
    ac_slot_diag_t *v = view;
    const ac_slot_t *slot = src;
    v->state = __atomic_load_n(&slot->state, __ATOMIC_RELAXED);
    v->pid = __atomic_load_n(&slot->pid, __ATOMIC_RELAXED);
    v->port = __atomic_load_n(&slot->port, __ATOMIC_RELAXED);
    v->started = __atomic_load_n(&slot->started, __ATOMIC_RELAXED);
    v->served_base = __atomic_load_n(&slot->served_base, __ATOMIC_RELAXED);
}

void ac_slot_read_diag(const ac_slot_t *slot, ac_slot_diag_t *v)
{
    seq_read(&slot->seq, copy_slot_diag, v, slot);
}

int64_t ac_slot_started(const ac_slot_t *slot)
{
    return __atomic_load_n(&slot->started, __ATOMIC_RELAXED);
}

uint64_t ac_slot_served(const ac_slot_t *slot)
{
    return __atomic_load_n(&slot->served, __ATOMIC_RELAXED);
}

uint32_t ac_word_read(const uint32_t *word)
{
    return __atomic_load_n(word, __ATOMIC_ACQUIRE);
}

void ac_word_bump(uint32_t *word)
{
    __atomic_add_fetch(word, 1, __ATOMIC_RELEASE);
    /* Not FUTEX_PRIVATE: the word lives in memory shared between processes.
     * A failed wake needs no handling: waiters also wake on their timeout. */
    (void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void ac_word_wait(uint32_t *word, uint32_t seen, apr_interval_time_t timeout)
{
    struct timespec ts;
    if (timeout <= 0) {
        return;
    }
    ts.tv_sec = (time_t)apr_time_sec(timeout);
    ts.tv_nsec = (long)apr_time_usec(timeout) * 1000;
    /* EAGAIN (the word already changed), EINTR and ETIMEDOUT all mean: look again. */
    (void)syscall(SYS_futex, word, FUTEX_WAIT, seen, &ts, NULL, 0);
}

void ac_app_notify(ac_app_t *app)
{
    ac_word_bump(&app->wake);
}

void ac_shared_table_notify(ac_shared_t *sh)
{
    ac_word_bump(&sh->table_wake);
}

int ac_shared_find(const ac_shared_t *sh, const unsigned char key[AC_KEY_BYTES])
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_view_t v;
        ac_app_read(&sh->apps[i], &v);
        if (v.state == AC_APP_ACTIVE && !memcmp(v.key, key, AC_KEY_BYTES)) {
            return i;
        }
    }
    return -1;
}

void ac_slot_enter(ac_slot_t *slot)
{
    __atomic_add_fetch(&slot->inflight, 1, __ATOMIC_RELAXED);
}

void ac_slot_leave(ac_slot_t *slot)
{
    __atomic_sub_fetch(&slot->inflight, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&slot->served, 1, __ATOMIC_RELAXED);
}

uint32_t ac_slot_inflight(const ac_slot_t *slot)
{
    return __atomic_load_n(&slot->inflight, __ATOMIC_RELAXED);
}
