/* Unit tests: the seqlocked shared state (ac_shared): the supervisor's
 * writes, the bounded readers, and the repair after a writer died. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "check_suites.h"
#include "ac_shared.h"

static ac_shared_t *new_segment(void)
{
    ac_shared_t *sh = apr_palloc(test_pool, ac_shared_size());
    ac_shared_init(sh);
    ck_assert(ac_shared_valid(sh));
    return sh;
}

static apr_time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return apr_time_from_sec(ts.tv_sec) + ts.tv_nsec / 1000;
}

static const char TOKEN[] = "0123456789abcdef0123456789abcdef";

/* ---- writes ---- */

START_TEST(slot_writes_are_whole_and_leave_the_sequence_even)
{
    ac_shared_t *sh = new_segment();
    ac_slot_t *slot = &sh->apps[3].slots[7];
    ac_slot_view_t v;
    ac_slot_diag_t d;

    ac_slot_publish(slot, AC_SLOT_READY, 1234, 5678);
    ck_assert_uint_eq(slot->seq, 2);
    ck_assert_int_eq(ac_slot_read(slot, &v), 1);
    ck_assert_uint_eq(v.state, AC_SLOT_READY);
    ck_assert_int_eq(v.pid, 1234);
    ck_assert_uint_eq(v.port, 5678);

    ac_slot_enter(slot);
    ac_slot_leave(slot);
    ac_slot_enter(slot);
    ac_slot_leave(slot);            /* served 2 before this process */
    ac_slot_publish_start(slot, 42, 9000, 17, 1000000, TOKEN);
    ck_assert_uint_eq(slot->seq, 4);
    ck_assert_int_eq(ac_slot_read(slot, &v), 1);
    ck_assert_uint_eq(v.state, AC_SLOT_STARTING);
    ck_assert_int_eq(v.pid, 42);
    ck_assert_uint_eq(v.port, 9000);
    ck_assert_uint_eq(v.incarnation, 17);
    ck_assert_str_eq(v.token, TOKEN);
    ck_assert_int_eq(ac_slot_read_diag(slot, &d), 1);
    ck_assert_int_eq(d.started, 1000000);
    ck_assert_uint_eq(d.served_base, 2);

    ac_slot_publish_empty(slot);
    ck_assert_uint_eq(slot->seq, 6);
    ck_assert_int_eq(ac_slot_read(slot, &v), 1);
    ck_assert_uint_eq(v.state, AC_SLOT_EMPTY);
    ck_assert_int_eq(v.pid, 0);
    ck_assert_uint_eq(v.incarnation, 17);    /* kept: pooled connections are keyed by it */
}
END_TEST

START_TEST(a_new_app_starts_afresh)
{
    ac_shared_t *sh = new_segment();
    ac_app_t *app = &sh->apps[5];
    unsigned char key[AC_KEY_BYTES];
    char long_label[2 * AC_LABEL_CHARS];
    ac_app_view_t v;
    ac_app_diag_t d;
    int si;

    /* what an earlier app left in the entry */
    ac_app_publish_error(app, "old error");
    ac_app_publish_exit(app, 99, -9, 5);
    ac_app_count_restart(app);
    ac_app_publish_offline(app, 1);
    ac_slot_publish(&app->slots[2], AC_SLOT_READY, 77, 7777);
    ac_slot_enter(&app->slots[2]);
    ac_slot_leave(&app->slots[2]);
    ac_slot_mark_suspect(&app->slots[2], 41);

    memset(key, 0xab, sizeof(key));
    memset(long_label, 'L', sizeof(long_label) - 1);
    long_label[sizeof(long_label) - 1] = '\0';
    ac_app_publish_new(app, key, 3, long_label, "/srv/app", "/shop");
    ck_assert_uint_eq(app->seq % 2, 0);
    ck_assert_int_eq(ac_app_read(app, &v), 1);
    ck_assert_uint_eq(v.state, AC_APP_ACTIVE);
    ck_assert_mem_eq(v.key, key, AC_KEY_BYTES);
    ck_assert_uint_eq(v.nslots, 3);
    ck_assert_uint_eq(v.offline, 0);
    ck_assert_int_eq(v.predecessor, -1);
    ck_assert_int_eq(v.successor, -1);
    ck_assert_int_eq(ac_app_read_diag(app, &d), 1);
    ck_assert_uint_eq(strlen(d.label), AC_LABEL_CHARS - 1);     /* cut to its field */
    ck_assert_str_eq(d.root, "/srv/app");
    ck_assert_str_eq(d.vpath, "/shop");
    ck_assert_str_eq(d.last_error, "");
    ck_assert_uint_eq(d.restarts, 0);
    ck_assert_int_eq(d.last_exit_pid, 0);
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ck_assert_uint_eq(app->slots[si].state, AC_SLOT_EMPTY);
        ck_assert_uint_eq(app->slots[si].seq % 2, 0);
        ck_assert_uint_eq(ac_slot_served(&app->slots[si]), 0);
        ck_assert_uint_eq(app->slots[si].suspect, 0);       /* nothing to check in a new entry */
    }
    ck_assert_int_eq(ac_shared_find(sh, key), 5);
}
END_TEST

/* A child marks the incarnation it could not connect to; only that
 * incarnation is kept away from, and only the supervisor's clear for it
 * lifts the mark. */
START_TEST(a_suspect_mark_holds_one_incarnation)
{
    ac_shared_t *sh = new_segment();
    ac_slot_t *slot = &sh->apps[0].slots[1];

    ac_slot_publish_start(slot, 100, 5000, 7, 1, TOKEN);
    ck_assert_int_eq(ac_slot_is_suspect(slot, 7), 0);
    ck_assert_int_eq(ac_slot_is_suspect(slot, 0), 0);     /* 0 is "no mark", never a match */
    ac_slot_mark_suspect(slot, 7);
    ck_assert_int_eq(ac_slot_is_suspect(slot, 7), 1);
    ck_assert_int_eq(ac_slot_is_suspect(slot, 8), 0);     /* the next process is not suspect */
    ck_assert_int_eq(sh->apps[0].slots[0].suspect, 0);
    ac_slot_clear_suspect(slot, 6);                        /* a stale check: left alone */
    ck_assert_int_eq(ac_slot_is_suspect(slot, 7), 1);
    ac_slot_clear_suspect(slot, 7);
    ck_assert_int_eq(ac_slot_is_suspect(slot, 7), 0);
    ck_assert_uint_eq(slot->suspect, 0);
    /* a mark for an older incarnation does not hold back the new process */
    ac_slot_mark_suspect(slot, 7);
    ac_slot_publish_start(slot, 101, 5001, 8, 2, TOKEN);
    ck_assert_int_eq(ac_slot_is_suspect(slot, 8), 0);
}
END_TEST

START_TEST(app_writes_set_only_their_fields)
{
    ac_shared_t *sh = new_segment();
    ac_app_t *app = &sh->apps[1];
    unsigned char key[AC_KEY_BYTES] = { 1 };
    ac_app_view_t v;
    ac_app_diag_t d;
    uint32_t wake;
    char long_error[3 * AC_ERROR_CHARS];

    ac_app_publish_new(app, key, 2, "app", "/r", "/");
    wake = ac_word_read(&app->wake);
    ac_app_publish_failed(app, 1);
    ck_assert_uint_eq(ac_word_read(&app->wake), wake + 1);      /* waiters woken */
    ac_app_publish_failed(app, 1);
    ck_assert_uint_eq(ac_word_read(&app->wake), wake + 1);      /* no change, no wake */
    ac_app_read(app, &v);
    ck_assert_uint_eq(v.failed, 1);

    ac_app_publish_offline(app, 1);         /* app_offline.htm: a failed start is forgotten */
    ac_app_read(app, &v);
    ck_assert_uint_eq(v.offline, 1);
    ck_assert_uint_eq(v.failed, 0);

    ac_app_publish_predecessor(app, 4);
    ac_app_publish_successor(app, 6);
    ac_app_read(app, &v);
    ck_assert_int_eq(v.predecessor, 4);
    ck_assert_int_eq(v.successor, 6);

    memset(long_error, 'e', sizeof(long_error) - 1);
    long_error[sizeof(long_error) - 1] = '\0';
    ac_app_publish_error(app, long_error);
    ac_app_publish_fail_reason(app, AC_FAIL_EXIT, 3, 111);
    ac_app_publish_trip(app, 7, 1, 222);
    ac_app_publish_exit(app, 555, -9, 333);
    ac_app_count_restart(app);
    ac_app_count_restart(app);
    ac_app_publish_state(app, AC_APP_RETIRED);
    ck_assert_uint_eq(app->seq % 2, 0);
    ck_assert_int_eq(ac_app_read_diag(app, &d), 1);
    ck_assert_uint_eq(strlen(d.last_error), AC_ERROR_CHARS - 1);
    ck_assert_uint_eq(d.fail_kind, AC_FAIL_EXIT);
    ck_assert_int_eq(d.fail_code, 3);
    ck_assert_int_eq(d.fail_time, 111);
    ck_assert_uint_eq(d.recent_fails, 7);
    ck_assert_uint_eq(d.tripped, 1);
    ck_assert_int_eq(d.tripped_until, 222);
    ck_assert_int_eq(d.last_exit_pid, 555);
    ck_assert_int_eq(d.last_exit_status, -9);
    ck_assert_int_eq(d.last_exit_time, 333);
    ck_assert_uint_eq(d.restarts, 2);
    ck_assert_uint_eq(d.state, AC_APP_RETIRED);
    ck_assert_str_eq(d.label, "app");

    ac_app_publish_fail_reason(app, AC_FAIL_NONE, 0, 444);      /* a ready process: no time */
    ac_app_publish_trip(app, 0, 0, 555);
    ac_app_read_diag(app, &d);
    ck_assert_int_eq(d.fail_time, 0);
    ck_assert_int_eq(d.tripped_until, 0);
    ck_assert_int_eq(ac_shared_find(sh, key), -1);      /* retired: not found */
}
END_TEST

/* ---- readers: bounded, fail safe ---- */

START_TEST(a_reader_gives_up_on_a_record_left_mid_write)
{
    ac_shared_t *sh = new_segment();
    ac_app_t *app = &sh->apps[2];
    ac_slot_t *slot = &app->slots[0];
    unsigned char key[AC_KEY_BYTES] = { 2 };
    ac_slot_view_t v;
    ac_slot_diag_t sd;
    ac_app_view_t av;
    ac_app_diag_t ad;
    apr_time_t t0;

    ac_app_publish_new(app, key, 1, "app", "/r", "/");
    ac_app_publish_predecessor(app, 1);
    ac_slot_publish_start(slot, 42, 9000, 1, 1, TOKEN);
    ac_slot_publish(slot, AC_SLOT_READY, 42, 9000);
    /* a writer that died between its begin and its end */
    ac_seq_write_begin(&slot->seq);
    ac_seq_write_begin(&app->seq);

    t0 = mono_now();
    ck_assert_int_eq(ac_slot_read(slot, &v), 0);
    ck_assert_uint_eq(v.state, AC_SLOT_EMPTY);      /* fail safe: no process to use */
    ck_assert_int_eq(v.pid, 0);
    ck_assert_str_eq(v.token, "");
    ck_assert_int_eq(ac_slot_read_diag(slot, &sd), 0);
    ck_assert_uint_eq(sd.state, AC_SLOT_EMPTY);
    ck_assert_int_eq(ac_app_read(app, &av), 0);
    ck_assert_uint_eq(av.state, AC_APP_FREE);
    ck_assert_int_eq(av.predecessor, -1);
    ck_assert_int_eq(av.successor, -1);
    ck_assert_int_eq(ac_app_read_diag(app, &ad), 0);
    ck_assert_str_eq(ad.label, "");
    ck_assert_int_eq(ac_shared_find(sh, key), -1);
    /* each of the 5 reads gave up after AC_SEQ_READ_LIMIT, not sooner */
    ck_assert_int_ge(mono_now() - t0, 5 * AC_SEQ_READ_LIMIT);
}
END_TEST

START_TEST(the_repair_makes_every_record_readable_again)
{
    ac_shared_t *sh = new_segment();
    ac_app_t *app = &sh->apps[9];
    ac_slot_t *slot = &app->slots[4], *other = &app->slots[5];
    unsigned char key[AC_KEY_BYTES] = { 9 };
    ac_slot_view_t v;
    ac_app_view_t av;
    uint32_t other_seq;

    ac_app_publish_new(app, key, 6, "app", "/r", "/");
    ac_slot_publish_start(slot, 42, 9000, 1, 1, TOKEN);
    ac_slot_publish(other, AC_SLOT_READY, 43, 9001);
    other_seq = other->seq;
    /* died mid-write: both the app and one slot odd (activate writes the
     * slots under the app's write) */
    ac_seq_write_begin(&app->seq);
    ac_seq_write_begin(&slot->seq);
    slot->state = AC_SLOT_READY;

    /* what the supervisor did before the fix: a write adds 2, still odd */
    ck_assert_uint_eq(ac_shared_repair(sh), 2);
    ck_assert_uint_eq(app->seq % 2, 0);
    ck_assert_uint_eq(slot->seq % 2, 0);
    ck_assert_uint_eq(other->seq, other_seq);      /* consistent records untouched */
    ck_assert_int_eq(ac_slot_read(slot, &v), 1);
    /* the half-written slot is no process to use; its pid is left for the
     * new supervisor to stop */
    ck_assert_uint_eq(v.state, AC_SLOT_EMPTY);
    ck_assert_int_eq(v.pid, 42);
    ck_assert_int_eq(ac_slot_read(other, &v), 1);
    ck_assert_uint_eq(v.state, AC_SLOT_READY);
    ck_assert_int_eq(ac_app_read(app, &av), 1);
    ck_assert_int_eq(ac_shared_find(sh, key), 9);  /* adoptable by its key again */
    /* the new supervisor's own writes keep it even */
    ac_slot_publish_empty(slot);
    ck_assert_uint_eq(slot->seq % 2, 0);
    ck_assert_uint_eq(ac_shared_repair(sh), 0);
}
END_TEST

/* ---- a writer and a reader at once ---- */

static int stop_writing;
static unsigned long writes;

static void *writer(void *data)
{
    ac_slot_t *slot = data;
    int32_t i = 0;
    /* as busy as a supervisor can be: a write, a moment, a write... (one
     * that never paused would starve readers: they give up, see above) */
    while (!__atomic_load_n(&stop_writing, __ATOMIC_ACQUIRE)) {
        struct timespec pause = { 0, 1000 };
        i++;
        ac_slot_publish(slot, AC_SLOT_READY, i, (uint32_t)i);
        nanosleep(&pause, NULL);
    }
    writes = (unsigned long)i;
    return NULL;
}

START_TEST(a_reader_never_sees_half_a_write)
{
    ac_shared_t *sh = new_segment();
    ac_slot_t *slot = &sh->apps[0].slots[0];
    pthread_t t;
    unsigned reads;

    stop_writing = 0;
    writes = 0;
    ck_assert_int_eq(pthread_create(&t, NULL, writer, slot), 0);
    for (reads = 0; reads < 200000; reads++) {
        ac_slot_view_t v;
        ck_assert_int_eq(ac_slot_read(slot, &v), 1);
        ck_assert_uint_eq((uint32_t)v.pid, v.port);
    }
    __atomic_store_n(&stop_writing, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    ck_assert_uint_gt(writes, 0);
}
END_TEST

Suite *shared_suite(void)
{
    Suite *s = suite_create("shared");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, slot_writes_are_whole_and_leave_the_sequence_even);
    tcase_add_test(tc, a_new_app_starts_afresh);
    tcase_add_test(tc, a_suspect_mark_holds_one_incarnation);
    tcase_add_test(tc, app_writes_set_only_their_fields);
    tcase_add_test(tc, a_reader_gives_up_on_a_record_left_mid_write);
    tcase_add_test(tc, the_repair_makes_every_record_readable_again);
    tcase_add_test(tc, a_reader_never_sees_half_a_write);
    suite_add_tcase(s, tc);
    return s;
}
