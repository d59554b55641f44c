/* ac_shared: seqlocked shared state between the supervisor and the children. */
#include "ac_shared.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <apr_strings.h>
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

/* ---- writes of the supervisor ------------------------------------------ */

void ac_slot_publish(ac_slot_t *slot, uint32_t state, int32_t pid, uint32_t port)
{
    ac_seq_write_begin(&slot->seq);
    slot->state = state;
    slot->pid = pid;
    slot->port = port;
    ac_seq_write_end(&slot->seq);
}

void ac_slot_publish_start(ac_slot_t *slot, int32_t pid, uint32_t port, uint64_t incarnation,
                           int64_t started, const char *token)
{
    ac_seq_write_begin(&slot->seq);
    slot->state = AC_SLOT_STARTING;
    slot->pid = pid;
    slot->port = port;
    slot->incarnation = incarnation;
    slot->started = started;
    apr_cpystrn(slot->token, token, sizeof(slot->token));
    slot->served_base = ac_slot_served(slot);   /* status page: served by this process */
    slot->health = AC_HEALTH_NONE;
    slot->health_failures = 0;
    slot->figures_time = 0;                     /* not read for this process yet */
    ac_seq_write_end(&slot->seq);
}

void ac_slot_publish_figures(ac_slot_t *slot, uint32_t uid, uint32_t tasks, uint64_t rss_kib,
                             uint64_t cpu_ms, int64_t when)
{
    ac_seq_write_begin(&slot->seq);
    slot->uid = uid;
    slot->tasks = tasks;
    slot->rss_kib = rss_kib;
    slot->cpu_ms = cpu_ms;
    slot->figures_time = when;
    ac_seq_write_end(&slot->seq);
}

void ac_slot_publish_empty(ac_slot_t *slot)
{
    ac_seq_write_begin(&slot->seq);
    slot->state = AC_SLOT_EMPTY;
    slot->pid = 0;
    ac_seq_write_end(&slot->seq);
}

/* The entry's slots, emptied with their counts (no child uses a freed
 * entry's slots any more); under the app's write. */
static void reset_slots(ac_app_t *app)
{
    int si;
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_slot_t *slot = &app->slots[si];
        ac_seq_write_begin(&slot->seq);
        slot->state = AC_SLOT_EMPTY;
        slot->pid = 0;
        slot->port = 0;
        __atomic_store_n(&slot->served, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&slot->suspect, 0, __ATOMIC_RELEASE);
        slot->served_base = 0;
        slot->health = AC_HEALTH_NONE;
        slot->health_failures = 0;
        ac_seq_write_end(&slot->seq);
    }
}

void ac_app_publish_new(ac_app_t *app, const unsigned char key[AC_KEY_BYTES], uint32_t nslots,
                        const char *label, const char *root, const char *vpath)
{
    ac_seq_write_begin(&app->seq);
    app->state = AC_APP_ACTIVE;
    memcpy(app->key, key, AC_KEY_BYTES);
    app->nslots = nslots;
    app->failed = 0;
    app->offline = 0;       /* the entry may have been an offline app's: looked at anew */
    app->predecessor = -1;
    app->successor = -1;
    apr_cpystrn(app->label, label, sizeof(app->label));
    apr_cpystrn(app->root, root, sizeof(app->root));
    apr_cpystrn(app->vpath, vpath, sizeof(app->vpath));
    app->fail_kind = AC_FAIL_NONE;
    app->fail_code = 0;
    app->fail_time = 0;
    app->tripped = 0;
    app->tripped_until = 0;
    app->recent_fails = 0;
    app->restarts = 0;
    app->health_replacements = 0;
    app->last_exit_pid = 0;
    app->last_exit_status = 0;
    app->last_exit_time = 0;
    app->last_error[0] = '\0';
    app->idle_stopped = 0;
    app->idle_timeout = 0;
    app->idle_since = 0;
    app->processes = nslots;
    app->recycles = 0;
    app->last_recycle_pid = 0;
    app->last_recycle_time = 0;
    app->last_recycle_why[0] = '\0';
    reset_slots(app);
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_state(ac_app_t *app, uint32_t state)
{
    ac_seq_write_begin(&app->seq);
    app->state = state;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_failed(ac_app_t *app, uint32_t failed)
{
    if (app->failed == failed) {
        return;
    }
    ac_seq_write_begin(&app->seq);
    app->failed = failed;
    ac_seq_write_end(&app->seq);
    ac_app_notify(app);
}

void ac_app_publish_offline(ac_app_t *app, uint32_t offline)
{
    ac_seq_write_begin(&app->seq);
    app->offline = offline;
    app->failed = 0;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_predecessor(ac_app_t *app, int32_t index)
{
    ac_seq_write_begin(&app->seq);
    app->predecessor = index;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_successor(ac_app_t *app, int32_t index)
{
    ac_seq_write_begin(&app->seq);
    app->successor = index;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_error(ac_app_t *app, const char *msg)
{
    ac_seq_write_begin(&app->seq);
    apr_cpystrn(app->last_error, msg, sizeof(app->last_error));
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_fail_reason(ac_app_t *app, ac_fail_e kind, int32_t code, int64_t when)
{
    ac_seq_write_begin(&app->seq);
    app->fail_kind = (uint32_t)kind;
    app->fail_code = code;
    app->fail_time = kind == AC_FAIL_NONE ? 0 : when;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_trip(ac_app_t *app, uint32_t recent, uint32_t tripped, int64_t until)
{
    ac_seq_write_begin(&app->seq);
    app->recent_fails = recent;
    app->tripped = tripped;
    app->tripped_until = tripped ? until : 0;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_exit(ac_app_t *app, int32_t pid, int32_t status, int64_t when)
{
    ac_seq_write_begin(&app->seq);
    app->last_exit_pid = pid;
    app->last_exit_status = status;
    app->last_exit_time = when;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_idle(ac_app_t *app, uint32_t stopped, uint32_t timeout, int64_t since)
{
    ac_seq_write_begin(&app->seq);
    app->idle_stopped = stopped;
    app->idle_timeout = stopped ? timeout : 0;
    app->idle_since = stopped ? since : 0;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_processes(ac_app_t *app, uint32_t processes)
{
    ac_seq_write_begin(&app->seq);
    app->processes = processes;
    ac_seq_write_end(&app->seq);
}

void ac_app_publish_recycle(ac_app_t *app, int32_t pid, const char *why, int64_t when)
{
    ac_seq_write_begin(&app->seq);
    app->recycles++;
    app->last_recycle_pid = pid;
    app->last_recycle_time = when;
    apr_cpystrn(app->last_recycle_why, why, sizeof(app->last_recycle_why));
    ac_seq_write_end(&app->seq);
}

void ac_app_count_restart(ac_app_t *app)
{
    ac_seq_write_begin(&app->seq);
    app->restarts++;
    ac_seq_write_end(&app->seq);
}

void ac_app_count_health_replacement(ac_app_t *app)
{
    ac_seq_write_begin(&app->seq);
    app->health_replacements++;
    ac_seq_write_end(&app->seq);
}

void ac_slot_publish_health(ac_slot_t *slot, uint32_t health, uint32_t failures)
{
    ac_seq_write_begin(&slot->seq);
    slot->health = health;
    slot->health_failures = failures;
    ac_seq_write_end(&slot->seq);
}

/* An odd sequence (a write that never ended) made even: readers take the
 * record again. 1 if it was odd. */
static int repair_seq(uint32_t *seq)
{
    uint32_t s = __atomic_load_n(seq, __ATOMIC_RELAXED);
    if (!(s & 1)) {
        return 0;
    }
    __atomic_store_n(seq, s + 1, __ATOMIC_RELEASE);
    return 1;
}

int ac_shared_repair(ac_shared_t *sh)
{
    int ai, si, repaired = 0;
    for (ai = 0; ai < AC_MAX_APPS; ai++) {
        ac_app_t *app = &sh->apps[ai];
        for (si = 0; si < AC_MAX_PROCESSES; si++) {
            ac_slot_t *slot = &app->slots[si];
            if (!repair_seq(&slot->seq)) {
                continue;
            }
            repaired++;
            /* half written: not a process anyone may use (one with a pid is
             * stopped by the caller, like every process of a dead supervisor) */
            ac_seq_write_begin(&slot->seq);
            slot->state = AC_SLOT_EMPTY;
            ac_seq_write_end(&slot->seq);
        }
        repaired += repair_seq(&app->seq);
    }
    return repaired;
}

static apr_time_t monotonic_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return apr_time_from_sec(ts.tv_sec) + ts.tv_nsec / 1000;
}

/* Between two looks at a record being written: spin a little (a write takes
 * a few stores), then let the writer run, then sleep a little (a writer
 * that lost its CPU needs a whole time slice). */
static void seq_pause(unsigned spins)
{
    if (spins > 1024) {
        struct timespec ts = { 0, 200000 };     /* 0.2 ms */
        nanosleep(&ts, NULL);
    }
    else if (spins > 64) {
        sched_yield();
    }
}

/* The reader side of the seqlock: copy, and copy again if the writer was
 * at work meanwhile (odd counter, or a counter that moved); give up after
 * AC_SEQ_READ_LIMIT (a writer that died mid-write never finishes) and
 * leave the fail-safe zeroed view. */
static int seq_read(const uint32_t *seq, void (*copy)(void *view, const void *src),
                    void *view, apr_size_t view_size, const void *src)
{
    apr_time_t give_up = 0;
    unsigned spins = 0;
    for (;;) {
        uint32_t s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (!(s1 & 1)) {
            copy(view, src);
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            if (__atomic_load_n(seq, __ATOMIC_RELAXED) == s1) {
                return 1;
            }
        }
        if (++spins > 64) {
            /* the clock only once the fast path failed: readers are hot */
            apr_time_t now = monotonic_now();
            if (!give_up) {
                give_up = now + AC_SEQ_READ_LIMIT;
            }
            else if (now >= give_up) {
                memset(view, 0, view_size);
                return 0;
            }
        }
        seq_pause(spins);
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

int ac_slot_read(const ac_slot_t *slot, ac_slot_view_t *view)
{
    int ok = seq_read(&slot->seq, copy_slot, view, sizeof(*view), slot);
    view->token[AC_TOKEN_CHARS] = '\0';
    return ok;
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

int ac_app_read(const ac_app_t *app, ac_app_view_t *v)
{
    int ok = seq_read(&app->seq, copy_app, v, sizeof(*v), app);
    if (!ok) {
        v->predecessor = v->successor = -1;
        return 0;
    }
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
    return 1;
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
    v->health_replacements = __atomic_load_n(&app->health_replacements, __ATOMIC_RELAXED);
    v->fail_kind = __atomic_load_n(&app->fail_kind, __ATOMIC_RELAXED);
    v->fail_code = __atomic_load_n(&app->fail_code, __ATOMIC_RELAXED);
    v->fail_time = __atomic_load_n(&app->fail_time, __ATOMIC_RELAXED);
    v->tripped = __atomic_load_n(&app->tripped, __ATOMIC_RELAXED);
    v->tripped_until = __atomic_load_n(&app->tripped_until, __ATOMIC_RELAXED);
    v->recent_fails = __atomic_load_n(&app->recent_fails, __ATOMIC_RELAXED);
    v->last_exit_pid = __atomic_load_n(&app->last_exit_pid, __ATOMIC_RELAXED);
    v->last_exit_status = __atomic_load_n(&app->last_exit_status, __ATOMIC_RELAXED);
    v->last_exit_time = __atomic_load_n(&app->last_exit_time, __ATOMIC_RELAXED);
    v->idle_stopped = __atomic_load_n(&app->idle_stopped, __ATOMIC_RELAXED);
    v->idle_timeout = __atomic_load_n(&app->idle_timeout, __ATOMIC_RELAXED);
    v->idle_since = __atomic_load_n(&app->idle_since, __ATOMIC_RELAXED);
    memcpy(v->label, app->label, sizeof(v->label));
    memcpy(v->root, app->root, sizeof(v->root));
    memcpy(v->vpath, app->vpath, sizeof(v->vpath));
    memcpy(v->last_error, app->last_error, sizeof(v->last_error));
    v->processes = __atomic_load_n(&app->processes, __ATOMIC_RELAXED);
    v->recycles = __atomic_load_n(&app->recycles, __ATOMIC_RELAXED);
    v->last_recycle_pid = __atomic_load_n(&app->last_recycle_pid, __ATOMIC_RELAXED);
    v->last_recycle_time = __atomic_load_n(&app->last_recycle_time, __ATOMIC_RELAXED);
    memcpy(v->last_recycle_why, app->last_recycle_why, sizeof(v->last_recycle_why));
}

int ac_app_read_diag(const ac_app_t *app, ac_app_diag_t *v)
{
    int ok = seq_read(&app->seq, copy_diag, v, sizeof(*v), app);
    /* the segment is shared: every string ends within its field */
    v->label[sizeof(v->label) - 1] = '\0';
    v->root[sizeof(v->root) - 1] = '\0';
    v->vpath[sizeof(v->vpath) - 1] = '\0';
    v->last_error[sizeof(v->last_error) - 1] = '\0';
    v->last_recycle_why[sizeof(v->last_recycle_why) - 1] = '\0';
    if (v->processes > AC_MAX_PROCESSES) {
        v->processes = AC_MAX_PROCESSES;
    }
    if (v->nslots > AC_MAX_PROCESSES) {
        v->nslots = AC_MAX_PROCESSES;
    }
    return ok;
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
    v->health = __atomic_load_n(&slot->health, __ATOMIC_RELAXED);
    v->health_failures = __atomic_load_n(&slot->health_failures, __ATOMIC_RELAXED);
    v->figures_time = __atomic_load_n(&slot->figures_time, __ATOMIC_RELAXED);
    v->uid = __atomic_load_n(&slot->uid, __ATOMIC_RELAXED);
    v->tasks = __atomic_load_n(&slot->tasks, __ATOMIC_RELAXED);
    v->rss_kib = __atomic_load_n(&slot->rss_kib, __ATOMIC_RELAXED);
    v->cpu_ms = __atomic_load_n(&slot->cpu_ms, __ATOMIC_RELAXED);
}

int ac_slot_read_diag(const ac_slot_t *slot, ac_slot_diag_t *v)
{
    return seq_read(&slot->seq, copy_slot_diag, v, sizeof(*v), slot);
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
        if (ac_app_read(&sh->apps[i], &v) && v.state == AC_APP_ACTIVE && !memcmp(v.key, key, AC_KEY_BYTES)) {
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

void ac_slot_mark_suspect(ac_slot_t *slot, uint64_t incarnation)
{
    __atomic_store_n(&slot->suspect, incarnation, __ATOMIC_RELEASE);
}

int ac_slot_is_suspect(const ac_slot_t *slot, uint64_t incarnation)
{
    return incarnation != 0 && __atomic_load_n(&slot->suspect, __ATOMIC_ACQUIRE) == incarnation;
}

void ac_slot_clear_suspect(ac_slot_t *slot, uint64_t incarnation)
{
    uint64_t expected = incarnation;
    __atomic_compare_exchange_n(&slot->suspect, &expected, 0, 0, __ATOMIC_ACQ_REL,
                                __ATOMIC_ACQUIRE);
}
