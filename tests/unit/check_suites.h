/* The unit test suites of the httpd-free core. */
#ifndef CHECK_SUITES_H
#define CHECK_SUITES_H

#include <check.h>
#include <apr_pools.h>

Suite *http1_suite(void);
Suite *launch_suite(void);
Suite *channel_suite(void);
Suite *strays_suite(void);
Suite *parse_suite(void);
Suite *webconfig_suite(void);
Suite *connpool_suite(void);
Suite *sockio_suite(void);
Suite *debuglog_suite(void);
Suite *json_suite(void);
Suite *backoff_suite(void);
Suite *idle_suite(void);
Suite *lines_suite(void);
Suite *shared_suite(void);
Suite *event_suite(void);
Suite *statedir_suite(void);
Suite *affinity_suite(void);
Suite *pem_suite(void);
Suite *scrub_suite(void);
Suite *stdoutlog_suite(void);
Suite *procstat_suite(void);
Suite *cgroup_suite(void);
Suite *recycle_suite(void);
Suite *verdict_suite(void);
Suite *applevel_suite(void);
Suite *logtargets_suite(void);
Suite *health_suite(void);
Suite *ownerpolicy_suite(void);
Suite *identity_suite(void);
Suite *retry_suite(void);

/* A pool per test, destroyed by the fixture. */
extern apr_pool_t *test_pool;
void pool_setup(void);
void pool_teardown(void);

#endif
