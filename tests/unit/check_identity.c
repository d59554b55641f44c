/* ac_identity: users by name, groups (never root's), and the scope of file
 * work as another user (nesting for the same user only, ids put back). The
 * scope tests switch ids and so need root (the test command runs as root):
 * as another user they skip, saying so. */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/fsuid.h>

#include "check_suites.h"
#include "ac_identity.h"

static uid_t current_fsuid(void)
{
    return (uid_t)setfsuid((uid_t)-1);
}

START_TEST(lookup_refuses_root_and_unknown)
{
    ac_identity_t id;
    char why[256];

    ck_assert_ptr_nonnull(ac_identity_lookup("root", NULL, &id, why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "apps never run as root"));
    ck_assert_ptr_nonnull(ac_identity_lookup("#0", NULL, &id, why, sizeof(why)));
    ck_assert_ptr_nonnull(ac_identity_lookup("daemon", "root", &id, why, sizeof(why)));
    ck_assert_ptr_nonnull(ac_identity_lookup("no-such-user-here", NULL, &id, why, sizeof(why)));
    ck_assert_ptr_nonnull(ac_identity_lookup("#4000123", NULL, &id, why, sizeof(why)));
    ck_assert_ptr_null(ac_identity_lookup("#4000123", "#4000123", &id, why, sizeof(why)));
    ck_assert_uint_eq(id.uid, 4000123);
    ck_assert_str_eq(id.name, "4000123");
    ck_assert_ptr_null(ac_identity_lookup("daemon", NULL, &id, why, sizeof(why)));
    ck_assert_uint_eq(id.uid, 1);
    ck_assert_str_eq(id.name, "daemon");
}
END_TEST

START_TEST(groups_never_root_and_only_the_users_own)
{
    ac_identity_t id;
    gid_t groups[AC_IDENTITY_GROUPS_MAX];
    char why[256];
    int n, i;

    /* a uid without a passwd entry: its group only, not those of a user
     * whose name happens to be its number */
    ck_assert_ptr_null(ac_identity_lookup("#4000123", "#4000124", &id, why, sizeof(why)));
    n = ac_identity_groups(&id, groups, AC_IDENTITY_GROUPS_MAX);
    ck_assert_int_eq(n, 1);
    ck_assert_uint_eq(groups[0], 4000124);
    /* root's group is never given, even as the user's own group */
    ck_assert_ptr_null(ac_identity_lookup("daemon", NULL, &id, why, sizeof(why)));
    id.gid = 0;
    n = ac_identity_groups(&id, groups, AC_IDENTITY_GROUPS_MAX);
    for (i = 0; i < n; i++) {
        ck_assert_uint_ne(groups[i], 0);
    }
}
END_TEST

START_TEST(fs_scope_nests_for_one_user_only)
{
    ac_identity_t nobody, daemon_user;
    gid_t g_nobody[1], g_daemon[1];
    char why[256];

    if (geteuid() != 0) {
        fprintf(stderr, "SKIP fs_scope_nests_for_one_user_only: switching ids needs root\n");
        return;
    }
    ck_assert_ptr_null(ac_identity_lookup("nobody", NULL, &nobody, why, sizeof(why)));
    ck_assert_ptr_null(ac_identity_lookup("daemon", NULL, &daemon_user, why, sizeof(why)));
    g_nobody[0] = nobody.gid;
    g_daemon[0] = daemon_user.gid;
    ck_assert(!ac_identity_fs_active());
    ck_assert_int_eq(ac_identity_fs_begin(&nobody, g_nobody, 1, 0), 0);
    ck_assert_uint_eq(current_fsuid(), nobody.uid);
    ck_assert(ac_identity_fs_active());
    ck_assert_int_eq(ac_identity_fs_begin(&nobody, g_nobody, 1, 0), 0);        /* again */
    errno = 0;
    ck_assert_int_eq(ac_identity_fs_begin(&daemon_user, g_daemon, 1, 0), -1);  /* another */
    ck_assert_int_eq(errno, EBUSY);
    ck_assert_uint_eq(current_fsuid(), nobody.uid);
    ac_identity_fs_end(0);
    ck_assert_uint_eq(current_fsuid(), nobody.uid);       /* the outer scope goes on */
    ac_identity_fs_end(0);
    ck_assert_uint_eq(current_fsuid(), 0);
    ck_assert(!ac_identity_fs_active());
    ac_identity_fs_end(0);                                /* one end too many: nothing */
    ck_assert_uint_eq(current_fsuid(), 0);
}
END_TEST

Suite *identity_suite(void)
{
    Suite *s = suite_create("identity");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, lookup_refuses_root_and_unknown);
    tcase_add_test(tc, groups_never_root_and_only_the_users_own);
    tcase_add_test(tc, fs_scope_nests_for_one_user_only);
    suite_add_tcase(s, tc);
    return s;
}
