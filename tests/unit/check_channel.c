/* Unit tests: request datagrams, control frames and the CONFIG payload. */
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include "check_suites.h"
#include "ac_channel.h"
#include "ac_ownerrules.h"

START_TEST(request_datagrams)
{
    int sv[2];
    ac_request_msg_t m;
    static char payload[AC_REQ_MAX_PAYLOAD];
    apr_size_t len;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
    ck_assert_int_eq(ac_request_recv(sv[1], &m, payload, &len), APR_EAGAIN);
    ck_assert_int_eq(ac_request_send(sv[0], AC_REQ_BROKEN, 3, 7, 99, NULL, 0), APR_SUCCESS);
    /* garbage datagrams are skipped */
    ck_assert_int_eq(send(sv[0], "junk", 4, 0), 4);
    ck_assert_int_eq(ac_request_send(sv[0], AC_REQ_REGISTER, 0, 0, 0, "launch", 6),
                     APR_SUCCESS);
    ck_assert_int_eq(ac_request_recv(sv[1], &m, payload, &len), APR_SUCCESS);
    ck_assert_uint_eq(m.type, AC_REQ_BROKEN);
    ck_assert_uint_eq(m.app, 3);
    ck_assert_uint_eq(m.slot, 7);
    ck_assert_uint_eq(m.incarnation, 99);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(ac_request_recv(sv[1], &m, payload, &len), APR_SUCCESS);
    ck_assert_uint_eq(m.type, AC_REQ_REGISTER);
    ck_assert_uint_eq(len, 6);
    ck_assert(!memcmp(payload, "launch", 6));
    ck_assert_int_eq(ac_request_recv(sv[1], &m, payload, &len), APR_EAGAIN);
    /* too large to send */
    ck_assert_int_eq(ac_request_send(sv[0], AC_REQ_REGISTER, 0, 0, 0, payload,
                                     AC_REQ_MAX_PAYLOAD + 1), APR_EINVAL);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(control_frames)
{
    int sv[2];
    uint32_t type, len;
    char *payload;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(ac_control_write(sv[0], AC_CTL_CONFIG, "abc", 3, apr_time_from_sec(1)),
                     APR_SUCCESS);
    ck_assert_int_eq(ac_control_read(sv[1], test_pool, &type, &payload, &len,
                                     apr_time_from_sec(1)), APR_SUCCESS);
    ck_assert_uint_eq(type, AC_CTL_CONFIG);
    ck_assert_uint_eq(len, 3);
    ck_assert_str_eq(payload, "abc");
    /* nothing there: times out, bounded */
    ck_assert_int_eq(ac_control_read(sv[1], test_pool, &type, &payload, &len,
                                     apr_time_from_msec(20)), APR_TIMEUP);
    close(sv[0]);
    ck_assert_int_eq(ac_control_read(sv[1], test_pool, &type, &payload, &len,
                                     apr_time_from_sec(1)), APR_EOF);
    close(sv[1]);
}
END_TEST

START_TEST(control_rejects_huge_frame)
{
    int sv[2];
    uint32_t head[2] = { AC_CTL_CONFIG, AC_CTL_MAX_PAYLOAD + 1 }, type, len;
    char *payload;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[0], head, sizeof(head)), (ssize_t)sizeof(head));
    ck_assert_int_eq(ac_control_read(sv[1], test_pool, &type, &payload, &len,
                                     apr_time_from_sec(1)), APR_EINVAL);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Where AspNetCoreUserFromOwner is on, as the supervisor sees it: a longer
 * path overrides a shorter one; scopes at one path fold (On wins, the
 * highest minimum wins); a pattern is no rule's path. */
START_TEST(owner_rules)
{
    apr_array_header_t *r = apr_array_make(test_pool, 4, sizeof(ac_owner_rule_t));
    int on;
    uid_t min;

    ac_ownerrules_for(r, "/srv/www/a", &on, &min);
    ck_assert(!on && min == AC_DEFAULT_MIN_UID);
    ck_assert_ptr_null(ac_ownerrules_set(r, test_pool, "/srv/www", 1, -1));
    ck_assert_ptr_null(ac_ownerrules_set(r, test_pool, "/srv/www/b", 0, -1));
    ck_assert_ptr_null(ac_ownerrules_set(r, test_pool, "/", -1, 500));
    ck_assert_ptr_null(ac_ownerrules_set(r, test_pool, "/", 0, 1500));
    ck_assert_ptr_null(ac_ownerrules_set(r, test_pool, "/srv/www/c/", -1, 3000));
    ck_assert_ptr_nonnull(ac_ownerrules_set(r, test_pool, "/srv/*/x", 1, -1));
    ck_assert_ptr_nonnull(ac_ownerrules_set(r, test_pool, "^/srv", 1, -1));
    ck_assert_ptr_nonnull(ac_ownerrules_set(r, test_pool, "relative", 1, -1));
    ac_ownerrules_for(r, "/srv/www/a", &on, &min);
    ck_assert(on && min == 1500);
    ac_ownerrules_for(r, "/srv/www", &on, &min);
    ck_assert(on && min == 1500);
    ac_ownerrules_for(r, "/srv/wwwx/a", &on, &min);       /* not under /srv/www */
    ck_assert(!on && min == 1500);
    ac_ownerrules_for(r, "/srv/www/b/app", &on, &min);
    ck_assert(!on);
    ac_ownerrules_for(r, "/srv/www/c/app", &on, &min);
    ck_assert(on && min == 3000);
    ck_assert_ptr_null(ac_ownerrules_set(r, test_pool, "/srv/www/b", 1, -1));
    ac_ownerrules_for(r, "/srv/www/b/app", &on, &min);
    ck_assert(on);                                       /* one scope's On wins */
}
END_TEST

START_TEST(config_payload)
{
    apr_array_header_t *payload = apr_array_make(test_pool, 64, 1), *blobs;
    apr_array_header_t *a = apr_array_make(test_pool, 4, 1), *b = apr_array_make(test_pool, 4, 1);
    ac_config_globals_t g = { 20000, 20100, 4, 7, 1200, NULL, NULL }, back;
    int n;

    memcpy(apr_array_push(a), "x", 1);
    ac_config_payload_begin(payload, 2, &g);
    ac_config_payload_add(payload, a);
    ac_config_payload_add(payload, b);
    g.owner_rules = apr_array_make(test_pool, 2, sizeof(ac_owner_rule_t));
    ck_assert_ptr_null(ac_ownerrules_set(g.owner_rules, test_pool, "/srv/www/", 1, 2000));
    ac_config_payload_end(payload, g.owner_rules, "/var/lib/apache2/aspnetcore");
    ck_assert_ptr_null(ac_config_payload_parse(test_pool, payload->elts,
                                               (uint32_t)payload->nelts, &back, &blobs));
    ck_assert_int_eq(back.owner_rules->nelts, 1);
    ck_assert_str_eq(back.state_root, "/var/lib/apache2/aspnetcore");
    ck_assert_str_eq(APR_ARRAY_IDX(back.owner_rules, 0, ac_owner_rule_t).dir, "/srv/www");
    ck_assert_int_eq(APR_ARRAY_IDX(back.owner_rules, 0, ac_owner_rule_t).on, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(back.owner_rules, 0, ac_owner_rule_t).min_uid, 2000);
    ck_assert_uint_eq(back.port_low, 20000);
    ck_assert_uint_eq(back.port_high, 20100);
    ck_assert_uint_eq(back.log_level, 4);
    ck_assert_uint_eq(back.module_log_level, 7);
    ck_assert_uint_eq(back.dynamic_idle, 1200);
    ck_assert_int_eq(blobs->nelts, 2);
    ck_assert_int_eq(APR_ARRAY_IDX(blobs, 0, apr_array_header_t *)->nelts, 1);
    ck_assert_int_eq(APR_ARRAY_IDX(blobs, 1, apr_array_header_t *)->nelts, 0);
    for (n = 0; n < payload->nelts; n++) {
        ck_assert_ptr_nonnull(ac_config_payload_parse(test_pool, payload->elts, (uint32_t)n,
                                                      &back, &blobs));
    }
}
END_TEST

Suite *channel_suite(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, request_datagrams);
    tcase_add_test(tc, control_frames);
    tcase_add_test(tc, control_rejects_huge_frame);
    tcase_add_test(tc, config_payload);
    tcase_add_test(tc, owner_rules);
    suite_add_tcase(s, tc);
    return s;
}
