/* Unit tests: the apps' cgroups (ac_cgroup) against a fake mount table,
 * /proc/self/cgroup and cgroup tree in a temporary directory: detection of
 * v2 and v1 (hybrid: an empty v2 hierarchy beside v1 controllers), the
 * app's directories, the limit files written, cgroup.procs given away,
 * joining, the OOM-kill counter and removal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_suites.h"
#include "ac_cgroup.h"

#include <apr_strings.h>

static char root[64];

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    fputs(text, f);
    fclose(f);
}

static char *read_back(const char *dir, const char *name)
{
    static char buf[256];
    char path[512];
    FILE *f;
    size_t n;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

static void mk(const char *fmt, const char *a)
{
    char path[512];
    snprintf(path, sizeof(path), fmt, root, a);
    ck_assert_int_eq(mkdir(path, 0755) == 0 || errno == EEXIST, 1);
}

/* A cgroupfs directory: the kernel makes the files in a new cgroup; here
 * the test does for the app directories the code will make (mkdir of an
 * existing directory is fine). */
static void fake_cgroup_files(const char *dir, const char *const *names)
{
    char path[512];
    ck_assert_int_eq(mkdir(dir, 0755) == 0 || errno == EEXIST, 1);
    for (; *names; names++) {
        snprintf(path, sizeof(path), "%s/%s", dir, *names);
        write_file(path, "");
    }
}

static void setup_root(void)
{
    strcpy(root, "/tmp/check_cgroup_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void teardown_root(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

/* This machine's shape: v1 controllers and an empty v2 hierarchy. */
static void hybrid_tables(char *mi, char *cg)
{
    char text[2048];
    snprintf(text, sizeof(text),
             "30 22 0:27 / %s/fs rw,relatime - tmpfs tmpfs rw,mode=755\n"
             "31 30 0:28 / %s/fs/cpu rw,relatime - cgroup cgroup rw,cpu\n"
             "34 30 0:31 / %s/fs/memory rw,relatime - cgroup cgroup rw,memory\n"
             "38 30 0:35 / %s/fs/pids rw,relatime - cgroup cgroup rw,pids\n"
             "40 30 0:37 / %s/fs/unified rw,relatime - cgroup2 cgroup2 rw\n",
             root, root, root, root, root);
    snprintf(mi, 512, "%s/mountinfo", root);
    write_file(mi, text);
    snprintf(cg, 512, "%s/cgroup", root);
    write_file(cg, "8:pids:/\n4:memory:/process_api/abc\n1:cpu:/\n0::/\n");
    mk("%s/fs%s", "");
    mk("%s/fs/%s", "cpu");
    mk("%s/fs/%s", "memory");
    mk("%s/fs/memory/%s", "process_api");
    mk("%s/fs/memory/process_api/%s", "abc");
    mk("%s/fs/%s", "pids");
    mk("%s/fs/%s", "unified");
    snprintf(text, sizeof(text), "%s/fs/unified/cgroup.controllers", root);
    write_file(text, "\n");
}

START_TEST(detects_v1_beside_an_empty_v2)
{
    char mi[512], cg[512], want[512];
    ac_cgroup_layout_t lay;
    const char *why = NULL;

    setup_root();
    hybrid_tables(mi, cg);
    ck_assert_int_eq(ac_cgroup_detect(test_pool, mi, cg, &lay, &why), 0);
    ck_assert_int_eq(lay.version, 1);
    snprintf(want, sizeof(want), "%s/fs/memory/process_api/abc/aspnetcore", root);
    ck_assert_str_eq(lay.memory, want);
    snprintf(want, sizeof(want), "%s/fs/cpu/aspnetcore", root);
    ck_assert_str_eq(lay.cpu, want);
    snprintf(want, sizeof(want), "%s/fs/pids/aspnetcore", root);
    ck_assert_str_eq(lay.pids, want);
    teardown_root();
}
END_TEST

START_TEST(detects_v2_with_controllers)
{
    char mi[512], cg[512], text[1024], want[512];
    ac_cgroup_layout_t lay;
    const char *why = NULL;

    setup_root();
    snprintf(text, sizeof(text), "40 30 0:37 / %s/cg\\040two rw - cgroup2 cgroup2 rw,nsdelegate\n",
             root);
    snprintf(mi, sizeof(mi), "%s/mountinfo", root);
    write_file(mi, text);
    snprintf(cg, sizeof(cg), "%s/cgroup", root);
    write_file(cg, "0::/system.slice/apache2.service\n");
    mk("%s/cg two%s", "");
    mk("%s/cg two/%s", "system.slice");
    mk("%s/cg two/system.slice/%s", "apache2.service");
    snprintf(text, sizeof(text), "%s/cg two/system.slice/apache2.service/cgroup.controllers", root);
    write_file(text, "cpuset cpu io memory pids\n");
    ck_assert_int_eq(ac_cgroup_detect(test_pool, mi, cg, &lay, &why), 0);
    ck_assert_int_eq(lay.version, 2);
    snprintf(want, sizeof(want), "%s/cg two/system.slice/apache2.service/aspnetcore", root);
    ck_assert_str_eq(lay.memory, want);
    ck_assert_str_eq(lay.cpu, want);
    ck_assert_str_eq(lay.pids, want);
    /* v2 without the memory controller, and no v1: none */
    write_file(text, "cpu pids\n");
    ck_assert_int_eq(ac_cgroup_detect(test_pool, mi, cg, &lay, &why), -1);
    ck_assert_ptr_nonnull(strstr(why, "memory controller"));
    teardown_root();
}
END_TEST

START_TEST(app_ids_stable_and_distinct)
{
    const char *a = ac_cgroup_app_id(test_pool, "/srv/shop", "vhost:80", "/");
    ck_assert_str_eq(a, ac_cgroup_app_id(test_pool, "/srv/shop", "vhost:80", "/"));
    ck_assert_int_eq(strncmp(a, "srv-shop-", 9), 0);
    ck_assert_str_ne(a, ac_cgroup_app_id(test_pool, "/srv/shop", "vhost:80", "/b"));
    ck_assert_str_ne(a, ac_cgroup_app_id(test_pool, "/srv/shop", "other:80", "/"));
    ck_assert_ptr_null(strchr(a, '/'));
}
END_TEST

START_TEST(v1_limits_written_and_procs_given)
{
    char mi[512], cg[512], dir[512];
    static const char *const mem_files[] = { "cgroup.procs", "tasks", "memory.limit_in_bytes",
                                             "memory.oom_control", NULL };
    static const char *const cpu_files[] = { "cgroup.procs", "tasks", "cpu.cfs_quota_us",
                                             "cpu.cfs_period_us", NULL };
    static const char *const pids_files[] = { "cgroup.procs", "tasks", "pids.max", NULL };
    ac_cgroup_layout_t lay;
    ac_cgroup_limits_t lim = { 64, 50, 32 };
    ac_cgroup_dirs_t d;
    const char *why = NULL, *id = "srv-app-12345678-abcdef01";
    const char *keep[] = { "other", NULL };
    const char *join[4];
    struct stat st;

    setup_root();
    hybrid_tables(mi, cg);
    ck_assert_int_eq(ac_cgroup_detect(test_pool, mi, cg, &lay, &why), 0);
    ac_cgroup_app_dirs(test_pool, &lay, id, &lim, &d);
    mkdir(lay.memory, 0755);
    mkdir(lay.cpu, 0755);
    mkdir(lay.pids, 0755);
    fake_cgroup_files(d.memory, mem_files);
    fake_cgroup_files(d.cpu, cpu_files);
    fake_cgroup_files(d.pids, pids_files);
    ck_assert_msg(ac_cgroup_prepare(test_pool, &lay, id, &lim, getuid(), getgid(), &why) == 0,
                  "%s", why);
    ck_assert_str_eq(read_back(d.memory, "memory.limit_in_bytes"), "67108864");
    ck_assert_str_eq(read_back(d.cpu, "cpu.cfs_period_us"), "100000");
    ck_assert_str_eq(read_back(d.cpu, "cpu.cfs_quota_us"), "50000");
    ck_assert_str_eq(read_back(d.pids, "pids.max"), "32");
    snprintf(dir, sizeof(dir), "%s/cgroup.procs", d.memory);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_uint_eq(st.st_uid, getuid());
    /* a process joins: its pid in each cgroup.procs */
    join[0] = d.memory;
    join[1] = d.cpu;
    join[2] = d.pids;
    join[3] = NULL;
    ck_assert_int_eq(ac_cgroup_join(join), 0);
    snprintf(dir, sizeof(dir), "%ld\n", (long)getpid());
    ck_assert_str_eq(read_back(d.pids, "cgroup.procs"), dir);
    /* OOM kills counted from memory.oom_control */
    snprintf(dir, sizeof(dir), "%s/memory.oom_control", d.memory);
    write_file(dir, "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
    ck_assert_int_eq(ac_cgroup_oom_kills(d.memory), 3);
    /* a missing cgroup cannot be joined */
    join[0] = "/nonexistent/cgroup";
    join[1] = NULL;
    ck_assert_int_eq(ac_cgroup_join(join), -1);
    /* without the limits, only the memory one: cpu and pids go */
    lim.cpu_percent = 0;
    lim.tasks = 0;
    ck_assert_int_eq(ac_cgroup_prepare(test_pool, &lay, id, &lim, getuid(), getgid(), &why), 0);
    /* a sweep keeping only another app tries each of this app's three
     * directories: on the fake tree they hold files (on cgroupfs, processes),
     * so all three are counted as left */
    ck_assert_int_eq(ac_cgroup_sweep(&lay, keep), 3);
    /* emptied (as the kernel's are when no process is left), they go, and
     * the aspnetcore directories with them when nothing is kept */
    ck_assert_int_eq(system(apr_psprintf(test_pool, "find '%s/fs' -path '*aspnetcore/*' "
                                         "-type f -delete", root)), 0);
    ck_assert_int_eq(ac_cgroup_sweep(&lay, NULL), 0);
    ck_assert_int_eq(access(lay.memory, F_OK), -1);
    ck_assert_int_eq(access(lay.pids, F_OK), -1);
    teardown_root();
}
END_TEST

START_TEST(v1_without_pids_controller_refuses_task_limit)
{
    char mi[512], cg[512];
    ac_cgroup_layout_t lay;
    ac_cgroup_limits_t lim = { 0, 0, 10 };
    const char *why = NULL;

    setup_root();
    hybrid_tables(mi, cg);
    ck_assert_int_eq(ac_cgroup_detect(test_pool, mi, cg, &lay, &why), 0);
    lay.pids = NULL;
    ck_assert_int_eq(ac_cgroup_prepare(test_pool, &lay, "x", &lim, getuid(), getgid(), &why),
                     -1);
    ck_assert_ptr_nonnull(strstr(why, "pids"));
    teardown_root();
}
END_TEST

/* An app whose root starts with a dot (/.shop) has an id starting with one:
 * a sweep removes its cgroup like any other (it took only "." and ".." for
 * itself, and left such a cgroup, and the aspnetcore directory, for ever). */
START_TEST(sweep_removes_dot_prefixed_app_cgroup)
{
    char mi[512], cg[512];
    ac_cgroup_layout_t lay;
    ac_cgroup_limits_t lim = { 64, 0, 0 };
    ac_cgroup_dirs_t d;
    const char *why = NULL, *id = ac_cgroup_app_id(test_pool, "/.shop", NULL, "/");

    ck_assert_int_eq(id[0], '.');
    setup_root();
    hybrid_tables(mi, cg);
    ck_assert_int_eq(ac_cgroup_detect(test_pool, mi, cg, &lay, &why), 0);
    ac_cgroup_app_dirs(test_pool, &lay, id, &lim, &d);
    ck_assert_int_eq(mkdir(lay.memory, 0755), 0);
    ck_assert_int_eq(mkdir(d.memory, 0755), 0);     /* emptied by the kernel: no files */
    ck_assert_int_eq(ac_cgroup_sweep(&lay, NULL), 0);
    ck_assert_int_eq(access(d.memory, F_OK), -1);
    ck_assert_int_eq(access(lay.memory, F_OK), -1);
    teardown_root();
}
END_TEST

START_TEST(v2_limits_written)
{
    char dir[512], path[600];
    static const char *const files[] = { "cgroup.procs", "cgroup.subtree_control",
                                         "memory.max", "cpu.max", "pids.max", NULL };
    ac_cgroup_layout_t lay;
    ac_cgroup_limits_t lim = { 0, 150, 0 };
    ac_cgroup_dirs_t d;
    const char *why = NULL;

    setup_root();
    snprintf(dir, sizeof(dir), "%s/svc", root);
    mkdir(dir, 0755);
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
    write_file(path, "");
    memset(&lay, 0, sizeof(lay));
    lay.version = 2;
    lay.v2_parent = dir;
    lay.memory = lay.cpu = lay.pids = apr_pstrcat(test_pool, dir, "/aspnetcore", NULL);
    ac_cgroup_app_dirs(test_pool, &lay, "app", &lim, &d);
    ck_assert_ptr_nonnull(d.memory);       /* v2: one directory for every limit */
    ck_assert_ptr_null(d.cpu);
    mkdir(lay.memory, 0755);
    snprintf(path, sizeof(path), "%s/cgroup.subtree_control", lay.memory);
    write_file(path, "");
    fake_cgroup_files(d.memory, files);
    fake_cgroup_files(lay.memory, files);
    ck_assert_msg(ac_cgroup_prepare(test_pool, &lay, "app", &lim, getuid(), getgid(), &why) == 0,
                  "%s", why);
    /* the delegation v2 needs: the subtree's cgroup.procs the user's, the
     * supervisor's leaf there, root moving the supervisor into it */
    snprintf(path, sizeof(path), "%s/_supervisor", lay.memory);
    ck_assert_int_eq(access(path, F_OK), 0);
    fake_cgroup_files(path, files);
    ck_assert_int_eq(ac_cgroup_adopt_supervisor(test_pool, &lay, 4242, &why), 0);
    ck_assert_str_eq(read_back(path, "cgroup.procs"), "4242");
    ck_assert_str_eq(read_back(dir, "cgroup.subtree_control"), "+memory +cpu +pids");
    ck_assert_str_eq(read_back(lay.memory, "cgroup.subtree_control"), "+memory +cpu +pids");
    ck_assert_str_eq(read_back(d.memory, "memory.max"), "max");
    ck_assert_str_eq(read_back(d.memory, "cpu.max"), "150000 100000");
    ck_assert_str_eq(read_back(d.memory, "pids.max"), "max");
    snprintf(path, sizeof(path), "%s/memory.events", d.memory);
    write_file(path, "low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n");
    ck_assert_int_eq(ac_cgroup_oom_kills(d.memory), 1);
    teardown_root();
}
END_TEST

START_TEST(counters_parsed)
{
    ck_assert_int_eq(ac_cgroup_parse_counter("oom 1\noom_kill 7\n", "oom_kill"), 7);
    ck_assert_int_eq(ac_cgroup_parse_counter("oom_kill_disable 0\noom_kill 2", "oom_kill"), 2);
    ck_assert_int_eq(ac_cgroup_parse_counter("oom_kill x\n", "oom_kill"), -1);
    ck_assert_int_eq(ac_cgroup_parse_counter("", "oom_kill"), -1);
}
END_TEST

Suite *cgroup_suite(void)
{
    Suite *s = suite_create("cgroup");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, pool_setup, pool_teardown);
    tcase_add_test(tc, detects_v1_beside_an_empty_v2);
    tcase_add_test(tc, detects_v2_with_controllers);
    tcase_add_test(tc, app_ids_stable_and_distinct);
    tcase_add_test(tc, v1_limits_written_and_procs_given);
    tcase_add_test(tc, v1_without_pids_controller_refuses_task_limit);
    tcase_add_test(tc, v2_limits_written);
    tcase_add_test(tc, sweep_removes_dot_prefixed_app_cgroup);
    tcase_add_test(tc, counters_parsed);
    suite_add_tcase(s, tc);
    return s;
}
