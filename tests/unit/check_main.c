/* Runs every unit suite of the httpd-free core. */
#include <stdlib.h>
#include <apr_general.h>

#include "check_suites.h"

apr_pool_t *test_pool;

void pool_setup(void)
{
    apr_pool_create(&test_pool, NULL);
}

void pool_teardown(void)
{
    apr_pool_destroy(test_pool);
    test_pool = NULL;
}

int main(void)
{
    SRunner *sr;
    int failed;

    apr_initialize();
    sr = srunner_create(http1_suite());
    srunner_add_suite(sr, launch_suite());
    srunner_add_suite(sr, channel_suite());
    srunner_add_suite(sr, strays_suite());
    srunner_add_suite(sr, parse_suite());
    srunner_add_suite(sr, webconfig_suite());
    srunner_add_suite(sr, connpool_suite());
    srunner_add_suite(sr, sockio_suite());
    srunner_add_suite(sr, debuglog_suite());
    srunner_add_suite(sr, json_suite());
    srunner_add_suite(sr, backoff_suite());
    srunner_add_suite(sr, idle_suite());
    srunner_add_suite(sr, lines_suite());
    srunner_add_suite(sr, shared_suite());
    srunner_add_suite(sr, event_suite());
    srunner_add_suite(sr, statedir_suite());
    srunner_add_suite(sr, affinity_suite());
    srunner_add_suite(sr, pem_suite());
    srunner_add_suite(sr, scrub_suite());
    srunner_add_suite(sr, stdoutlog_suite());
    srunner_add_suite(sr, procstat_suite());
    srunner_add_suite(sr, cgroup_suite());
    srunner_add_suite(sr, recycle_suite());
    srunner_add_suite(sr, verdict_suite());
    srunner_add_suite(sr, applevel_suite());
    srunner_add_suite(sr, logtargets_suite());
    srunner_add_suite(sr, health_suite());
    srunner_add_suite(sr, ownerpolicy_suite());
    srunner_add_suite(sr, identity_suite());
    srunner_add_suite(sr, retry_suite());
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    apr_terminate();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
