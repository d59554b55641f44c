/* ac_sup_apps: the supervisor's app table.
 *
 * Applies what the parent sends (a CONFIG per generation: unchanged apps are
 * kept, new ones added, removed ones retired) and what requests register
 * (apps of .htaccess files, or whose web.config changed). An app declared
 * again by the same scope for the same path with other settings is a new
 * version: the old one serves until the new one has a ready process (a
 * rolling restart). Entries a supervisor before us ran are adopted by key,
 * so that children keep their indexes. Watches app_offline.htm (no process
 * runs while it is there) and, after it goes, whether web.config changed.
 * Retires request-registered apps that get no request for the idle timeout,
 * or none after a new configuration (no longer declared?): ac_idle.h.
 */
#include "ac_sup_private.h"
#include "ac_ownerrules.h"
#include "ac_channel.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <http_log.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

extern char **environ;

/* What a configuration did to an app, for the summary of a reload. */
typedef enum { ACT_FAILED = 0, ACT_KEPT, ACT_ADDED, ACT_CHANGED } activation_e;

int ac_sup_any_ready(int ai)
{
    int i;
    for (i = 0; i < AC_MAX_PROCESSES; i++) {
        if (ac_sup.apps[ai].slots[i].state == AC_SLOT_READY) {
            return 1;
        }
    }
    return 0;
}

/* ---- app_offline.htm and web.config ------------------------------------ */

/* Did the app's imported web.config change since the app was registered? */
static int web_config_changed(ac_sup_app_t *a)
{
    struct stat now;
    if (!a->launch->web_config) {
        return 0;
    }
    if (stat(a->launch->web_config, &now) < 0) {
        memset(&now, 0, sizeof(now));
    }
    return now.st_ino != a->web_config_seen.st_ino || now.st_size != a->web_config_seen.st_size
           || now.st_mtim.tv_sec != a->web_config_seen.st_mtim.tv_sec
           || now.st_mtim.tv_nsec != a->web_config_seen.st_mtim.tv_nsec;
}

apr_size_t ac_sup_pid_list(int ai, char *pids, apr_size_t size)
{
    const ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_size_t n = 0;
    int si;

    pids[0] = '\0';
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        if (a->slots[si].pid && a->slots[si].state != AC_SLOT_STOPPING && n + 24 < size) {
            n += (apr_size_t)apr_snprintf(pids + n, size - n, "%s%ld", n ? ", " : "",
                                          (long)a->slots[si].pid);
        }
    }
    return n;
}

static void offline_appeared(int ai, const char *path)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    char pids[256];
    apr_size_t n = ac_sup_pid_list(ai, pids, sizeof(pids));
    int si;

    ac_sup_app_log(ai, APLOG_NOTICE, 0, "%s: appeared, stopping the app (%s%s)", path,
                   n ? "process " : "no process runs", pids);
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_stop_slot(ai, si, 0);
    }
    a->wanted = 0;
}

static void offline_removed(int ai, const char *path)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];

    ac_sup_app_log(ai, APLOG_NOTICE, 0, "%s: removed, the app starts again (%s)", path,
                   a->launch->ondemand ? "with the next request" : "now");
    apr_cpystrn(a->start_note, "app_offline.htm was removed", sizeof(a->start_note));
    if (web_config_changed(a)) {
        /* A deploy replaced web.config too: its settings (registered by the
         * parent or a request) replace this app; do not start the old
         * settings meanwhile. If none come (a broken file), start these. */
        a->backoff.not_before = ac_sup_mono() + AC_SUP_WEB_CONFIG_GRACE;
        ac_sup_app_log(ai, APLOG_INFO, 0, "%s changed while the app was offline: waiting up to "
                       "%ld s for its new settings", a->launch->web_config,
                       (long)apr_time_sec(AC_SUP_WEB_CONFIG_GRACE));
    }
}

/* app_offline.htm (ANCM): while it is in the app root the app runs no
 * process and every request gets the file (children serve it). Looked at
 * twice a second. Published before the processes are stopped, so that no
 * request is sent to a stopping app in between. */
void ac_sup_check_offline(int ai, apr_time_t now)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_app_t *app = ac_sup_shared_app(ai);
    char path[4096];
    int present;

    if (now - a->offline_checked < AC_SUP_OFFLINE_CHECK_INTERVAL) {
        return;
    }
    a->offline_checked = now;
    if (apr_snprintf(path, sizeof(path), "%s/app_offline.htm", a->launch->app_root)
        >= (int)sizeof(path) - 1) {
        return;
    }
    present = access(path, F_OK) == 0;
    if (present == a->offline) {
        return;
    }
    a->offline = present;
    ac_app_publish_offline(app, (uint32_t)present);
    ac_app_notify(app);
    /* a deploy starts afresh: no back-off, no rapid-fail count */
    ac_backoff_reset(&a->backoff);
    ac_sup_publish_trip(ai, 0);
    if (present) {
        offline_appeared(ai, path);
    }
    else {
        offline_removed(ai, path);
    }
}

/* ---- the table --------------------------------------------------------- */

static int find_app(const unsigned char *key)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        if (ac_sup.apps[i].in_use && !memcmp(ac_sup.apps[i].key, key, AC_KEY_BYTES)) {
            return i;
        }
    }
    return -1;
}

/* An app a supervisor before us ran (active in the table, not ours yet). */
static int adoptable_app(const unsigned char *key)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_view_t v;
        if (ac_sup.apps[i].in_use) {
            continue;
        }
        if (ac_app_read(ac_sup_shared_app(i), &v) && v.state == AC_APP_ACTIVE
            && !memcmp(v.key, key, AC_KEY_BYTES)) {
            return i;
        }
    }
    return -1;
}

static int allocate_app(void)
{
    int i;
    /* entries never used first, so that a stale index in an old child
     * cannot land on a new app */
    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_app_t *app = ac_sup_shared_app(i);
        if (!ac_sup.apps[i].in_use && app->state == AC_APP_FREE && !app->seq) {
            return i;
        }
    }
    for (i = 0; i < AC_MAX_APPS; i++) {
        if (!ac_sup.apps[i].in_use && ac_sup_shared_app(i)->state == AC_APP_FREE) {
            return i;
        }
    }
    return -1;
}

static void retire_app(int i, const char *why)
{
    int si;

    ac_sup_app_log(i, APLOG_INFO, 0, "%s: stopping it", why);
    ac_sup.apps[i].active = 0;
    ac_app_publish_state(ac_sup_shared_app(i), AC_APP_RETIRED);
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        ac_sup_stop_slot(i, si, 0);
    }
    ac_app_notify(ac_sup_shared_app(i));
    ac_shared_table_notify(ac_sup.sh);
}

void ac_sup_retire_predecessors(int ai)
{
    int i;
    for (i = 0; i < AC_MAX_APPS; i++) {
        if (ac_sup.apps[i].in_use && ac_sup.apps[i].active && ac_sup.apps[i].replaced_by == ai) {
            retire_app(i, "replaced, and the new version is ready");
        }
    }
    if (ac_sup_shared_app(ai)->predecessor >= 0) {
        ac_app_publish_predecessor(ac_sup_shared_app(ai), -1);
        ac_app_notify(ac_sup_shared_app(ai));
    }
}

void ac_sup_free_app(int ai)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    ac_app_t *app = ac_sup_shared_app(ai);

    ac_sup_app_log(ai, APLOG_INFO, 0, "removed");
    ac_sup.table_full_said = 0;     /* a new episode of a full table is said again */
    ac_app_publish_state(app, AC_APP_FREE);
    ac_app_notify(app);
    ac_shared_table_notify(ac_sup.sh);
    apr_pool_destroy(a->pool);
    memset(a, 0, sizeof(*a));
}

/* ---- request-registered apps ------------------------------------------- */

void ac_sup_app_requested(int ai, apr_time_t now)
{
    if (ac_sup.apps[ai].dynamic) {
        ac_idle_touch(&ac_sup.apps[ai].idle, now);
    }
    ac_sup_idle_requested(ai, now);
}

/* What the children published about the app's requests: the served
 * counters' sum, and whether one is in flight or waiting. */
uint64_t ac_sup_requests_seen(int ai, int *busy)
{
    const ac_app_t *app = ac_sup_shared_app(ai);
    uint64_t sum = 0;
    int si;

    *busy = __atomic_load_n(&app->waiters, __ATOMIC_RELAXED) != 0;
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        sum += ac_slot_served(&app->slots[si]);
        if (ac_slot_inflight(&app->slots[si])) {
            *busy = 1;
        }
    }
    return sum;
}

void ac_sup_check_idle(int ai, int live, apr_time_t now, apr_interval_time_t *sleep)
{
    ac_sup_app_t *a = &ac_sup.apps[ai];
    apr_interval_time_t next = AC_IDLE_CHECK_INTERVAL;
    ac_idle_verdict_e verdict;
    uint64_t seen;
    int busy;
    char why[160];

    if (!a->dynamic || !a->active || a->replaced_by >= 0) {
        return;     /* configured, draining, or stepping down for a new version */
    }
    if (now - a->idle_checked < AC_IDLE_CHECK_INTERVAL) {
        return;
    }
    a->idle_checked = now;
    seen = ac_sup_requests_seen(ai, &busy);
    ac_idle_observe(&a->idle, seen, busy, now);
    verdict = ac_idle_verdict(&a->idle, ac_sup.dynamic_idle, live, now, &next);
    if (verdict == AC_IDLE_KEEP) {
        if (*sleep > next) {
            *sleep = next;
        }
        return;
    }
    if (verdict == AC_IDLE_RETIRE_IDLE) {
        apr_snprintf(why, sizeof(why), "registered by a request, and no request for %ld s "
                     "(AspNetCoreDynamicAppIdleTimeout)", (long)apr_time_sec(ac_sup.dynamic_idle));
    }
    else {
        apr_snprintf(why, sizeof(why), "registered by a request, and none came since the "
                     "configuration was reloaded (%s): no longer declared?",
                     live ? "grace period over" : "no process runs");
    }
    retire_app(ai, why);
}

/* After a configuration: request-registered apps it does not name are not
 * known to be declared any more (a deleted .htaccess, AllowOverride None):
 * they start nothing until a request confirms them (ac_idle.h). */
static void unconfirm_dynamic(const int *seen)
{
    apr_time_t now = ac_sup_mono();
    int i;

    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_sup_app_t *a = &ac_sup.apps[i];
        if (a->in_use && a->active && a->dynamic && !seen[i]) {
            ac_idle_unconfirm(&a->idle, now);
            a->wanted = 0;
            a->idle_checked = 0;
        }
    }
}

/* ---- activation -------------------------------------------------------- */

/* Apps declared by the same scope for the same path are versions of one
 * site: a new version replaces the old one. */
static int same_site(const ac_launch_t *a, const ac_launch_t *b)
{
    return !strcmp(a->site, b->site) && !strcmp(a->virtual_path, b->virtual_path);
}

/* The app is ours already: configured again (or registered again by a
 * request: declared, as far as we know). */
static void keep_app(int i, int dynamic)
{
    if (!dynamic) {
        ac_sup.apps[i].dynamic = 0;    /* now part of the configuration */
        ac_sup.apps[i].from_child = 0;
    }
    else {
        ac_idle_touch(&ac_sup.apps[i].idle, ac_sup_mono());
    }
    if (!ac_sup.apps[i].active) {
        /* configured again while it was draining: keep it */
        ac_sup.apps[i].active = 1;
        ac_app_publish_state(ac_sup_shared_app(i), AC_APP_ACTIVE);
        ac_shared_table_notify(ac_sup.sh);
    }
}

/* The host of the app being activated (its lines go to that host's log). */
static uint32_t new_app_host;

/* Our side of a new entry `i` for settings `l` (pool `p` is the app's). */
static void set_up_entry(int i, apr_pool_t *p, ac_launch_t *l, const unsigned char *key,
                         int dynamic)
{
    ac_sup_app_t *a = &ac_sup.apps[i];
    int si;

    memset(a, 0, sizeof(*a));
    a->in_use = 1;
    a->active = 1;
    a->dynamic = dynamic;
    a->from_child = dynamic;
    a->pool = p;
    a->launch = l;
    a->label = ac_launch_label(p, l);
    memcpy(a->key, key, AC_KEY_BYTES);
    a->replaced_by = -1;
    a->log_host = new_app_host;
    ac_idle_start(&a->idle, 0, ac_sup_mono());     /* the entry's counts start at zero */
    if (!l->web_config || stat(l->web_config, &a->web_config_seen) < 0) {
        memset(&a->web_config_seen, 0, sizeof(a->web_config_seen));
    }
    for (si = 0; si < AC_MAX_PROCESSES; si++) {
        a->slots[si].out_fd = -1;
        a->slots[si].stdout_log_fd = -1;
        a->slots[si].shutdown_fd = -1;
    }
    a->debug_fd = -1;
    apr_pool_cleanup_register(p, a, ac_sup_close_debug_log, apr_pool_cleanup_null);
}

/* The new app's first lines: its debug log, then what it is. */
static void announce_app(int i, int dynamic)
{
    ac_sup_app_t *a = &ac_sup.apps[i];
    const ac_launch_t *l = a->launch;
    /* first, so that the debug log has the app from its first line */
    const char *warning = ac_debug_resolve(a->pool, l, environ, &a->debug);

    if (warning) {
        ac_sup_app_log(i, APLOG_WARNING, 0, "debug log settings: %s", warning);
    }
    if (a->debug.file && a->debug.spec.level != AC_DEBUG_OFF) {
        ac_sup_app_log(i, APLOG_INFO, 0, "debug log: %s, level %s", a->debug.file,
                       ac_debug_level_name(a->debug.spec.level));
    }
    ac_sup_app_log(i, APLOG_INFO, 0, "%s: %s %s, %d process(es), %s",
                   dynamic ? "registered by a request" : "configured", l->process_path,
                   l->arguments, l->processes, l->ondemand ? "OnDemand" : "AlwaysRunning");
}

/* An older version of the same site steps down: at once if it has no
 * ready process, else once app `i` has (a rolling restart). Returns
 * whether there was one; *configured: one was in the configuration. */
static int replace_older_versions(int i, int *configured)
{
    const ac_launch_t *l = ac_sup.apps[i].launch;
    int si, replaced = 0;

    *configured = 0;
    for (si = 0; si < AC_MAX_APPS; si++) {
        if (si == i || !ac_sup.apps[si].in_use || !ac_sup.apps[si].active
            || !same_site(ac_sup.apps[si].launch, l)) {
            continue;
        }
        replaced = 1;
        *configured |= !ac_sup.apps[si].dynamic;
        if (!ac_sup_any_ready(si)) {
            retire_app(si, "replaced by new settings");
            continue;
        }
        ac_sup_app_log(si, APLOG_INFO, 0, "replaced by new settings: serving until the new "
                       "version is ready");
        ac_sup.apps[si].replaced_by = i;
        ac_app_publish_successor(ac_sup_shared_app(si), i);
        ac_app_publish_predecessor(ac_sup_shared_app(i), si);
    }
    return replaced;
}

/* Makes the app with these settings active (adding it if new). Returns its
 * index, or AC_APP_NO_INDEX. */
static uint32_t activate(const char *blob, apr_size_t len, int dynamic, int *seen,
                         activation_e *outcome)
{
    apr_pool_t *p;
    ac_launch_t *l;
    unsigned char key[AC_KEY_BYTES];
    const char *err;
    int i, adopted, configured;

    *outcome = ACT_FAILED;
    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        return AC_APP_NO_INDEX;
    }
    err = ac_launch_deserialize(p, blob, len, &l);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ac_sup.s, "bad app settings from httpd: %s", err);
        apr_pool_destroy(p);
        return AC_APP_NO_INDEX;
    }
    if (!dynamic && l->user_source == AC_USER_CONFIG) {
        ac_sup_identity_remember(l);
    }
    ac_launch_key(l, p, key);
    i = find_app(key);
    if (i >= 0 && dynamic && l->user_source != AC_USER_APACHE
        && (!ac_sup.apps[i].active || ac_sup.apps[i].from_child)
        && (err = ac_sup_identity_refusal(p, l, NULL))) {
        /* known settings, but not the configuration's own: checked again */
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ac_sup.s, "[%s] app settings from a request "
                     "refused: %s", ac_launch_label(p, l), err);
        apr_pool_destroy(p);
        return AC_APP_NO_INDEX;
    }
    if (i >= 0) {
        if (seen) {
            seen[i] = 1;
        }
        keep_app(i, dynamic);
        apr_pool_destroy(p);
        *outcome = ACT_KEPT;
        return (uint32_t)i;
    }
    /* new settings from a child: as whom they may run is ours to say */
    if (dynamic && (err = ac_sup_identity_refusal(p, l, NULL))) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ac_sup.s, "[%s] app settings from a request "
                     "refused: %s", ac_launch_label(p, l), err);
        apr_pool_destroy(p);
        return AC_APP_NO_INDEX;
    }
    /* a supervisor before us ran it: children know it by that index */
    i = adoptable_app(key);
    adopted = i >= 0;
    if (i < 0) {
        i = allocate_app();
    }
    if (i < 0) {
        /* said once until an entry frees: every request for the app may ask */
        ap_log_error(APLOG_MARK, ac_sup.table_full_said ? APLOG_DEBUG : APLOG_ERR, 0, ac_sup.s,
                     "no room for %s: the app table is full (at most %d apps)",
                     ac_launch_label(p, l), AC_MAX_APPS);
        ac_sup.table_full_said = 1;
        ac_shared_table_notify(ac_sup.sh);     /* the waiting requests see it is full */
        apr_pool_destroy(p);
        return AC_APP_NO_INDEX;
    }
    set_up_entry(i, p, l, key, dynamic);
    if (seen) {
        seen[i] = 1;
    }
    if (!adopted) {
        /* the startup output of an app that had this entry before is not ours */
        ac_sup_remove_startup_output(i);
    }
    ac_app_publish_new(ac_sup_shared_app(i), key, (uint32_t)ac_sup_app_slots(l),
                       ac_sup.apps[i].label, l->app_root ? l->app_root : "",
                       l->virtual_path ? l->virtual_path : "/");
    ac_app_publish_processes(ac_sup_shared_app(i), (uint32_t)l->processes);
    ac_app_notify(ac_sup_shared_app(i));
    announce_app(i, dynamic);
    *outcome = replace_older_versions(i, &configured) ? ACT_CHANGED : ACT_ADDED;
    if (configured) {
        /* new settings (a changed web.config) of an app the configuration
         * declares: declared as the configuration's are, not retired as
         * idle; the next configuration names it or retires it */
        ac_sup.apps[i].dynamic = 0;
    }
    ac_shared_table_notify(ac_sup.sh);
    return (uint32_t)i;
}

void ac_sup_register(const char *blob, apr_size_t len, uint32_t host)
{
    activation_e ignored;
    new_app_host = host;     /* from a child: checked where it is used */
    activate(blob, len, 1, NULL, &ignored);
}

/* ---- reloads ----------------------------------------------------------- */

/* After a configuration: what it no longer names goes. Returns how many. */
static unsigned retire_unconfigured(const int *seen)
{
    unsigned removed = 0;
    int i;

    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_sup_app_t *a = &ac_sup.apps[i];
        if (a->in_use && a->active && !a->dynamic && !seen[i] && a->replaced_by < 0) {
            retire_app(i, "no longer configured");
            removed++;
        }
        else if (!a->in_use && ac_sup_shared_app(i)->state == AC_APP_ACTIVE) {
            /* Registered by requests with a supervisor before us, whose
             * settings died with it: freed, so that the children, finding it
             * gone, register it again. */
            ac_app_publish_state(ac_sup_shared_app(i), AC_APP_FREE);
            ac_app_notify(ac_sup_shared_app(i));
            ac_shared_table_notify(ac_sup.sh);
        }
    }
    return removed;
}

/* After a configuration: settings from a child that run as another user
 * than Apache's go when the configuration no longer allows that user there
 * (its AspNetCoreUser or AspNetCoreUserFromOwner removed). Returns how many. */
static unsigned retire_disallowed_users(apr_pool_t *p)
{
    unsigned removed = 0;
    const char *why;
    int i;

    for (i = 0; i < AC_MAX_APPS; i++) {
        ac_sup_app_t *a = &ac_sup.apps[i];
        if (a->in_use && a->active && a->from_child && a->replaced_by < 0
            && a->launch->user_source != AC_USER_APACHE
            && (why = ac_sup_identity_refusal(p, a->launch, NULL))) {
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ac_sup.s, "[%s] its settings, from a "
                         "request, are no longer allowed: %s", a->label, why);
            retire_app(i, "its user is no longer allowed by the configuration");
            removed++;
        }
    }
    return removed;
}

/* What this configuration says about apps as other users (NULL: nothing,
 * after a configuration that could not be read), kept until the next one:
 * the AspNetCoreUserFromOwner rules, the state root; the apps with an
 * AspNetCoreUser are added as they are activated. */
static void set_identity_rules(const ac_config_globals_t *globals)
{
    int i;

    if (ac_sup.rules_pool) {
        apr_pool_destroy(ac_sup.rules_pool);
    }
    ac_sup.rules_pool = NULL;
    ac_sup.owner_rules = NULL;
    ac_sup.state_root = NULL;
    ac_sup.configured_users = NULL;
    if (apr_pool_create(&ac_sup.rules_pool, ac_sup.pool) != APR_SUCCESS) {
        ac_sup.rules_pool = NULL;
        return;
    }
    ac_sup.configured_users = apr_array_make(ac_sup.rules_pool, 4, sizeof(ac_launch_t *));
    if (!globals || !globals->owner_rules) {
        return;
    }
    ac_sup.state_root = globals->state_root ? apr_pstrdup(ac_sup.rules_pool, globals->state_root)
                                            : NULL;
    ac_sup.owner_rules = apr_array_make(ac_sup.rules_pool, globals->owner_rules->nelts + 1,
                                        sizeof(ac_owner_rule_t));
    for (i = 0; i < globals->owner_rules->nelts; i++) {
        ac_owner_rule_t *r = apr_array_push(ac_sup.owner_rules);
        *r = APR_ARRAY_IDX(globals->owner_rules, i, ac_owner_rule_t);
        r->dir = apr_pstrdup(ac_sup.rules_pool, r->dir);
    }
}

/* The configuration's global settings: port range, log levels, the idle
 * timeout of request-registered apps, the AspNetCoreUserFromOwner rules. */
static void apply_globals(const ac_config_globals_t *globals)
{
    if (globals->port_low >= 1 && globals->port_low <= globals->port_high
        && globals->port_high <= 65535) {
        ac_sup.port_low = globals->port_low;
        ac_sup.port_high = globals->port_high;
    }
    if (globals->log_level <= APLOG_LEVELMASK && globals->module_log_level <= APLOG_LEVELMASK) {
        /* forked once, we keep the LogLevel of that generation unless told */
        ac_sup.s->log.level = (int)globals->log_level;
        ap_set_module_loglevel(ac_sup.pool, &ac_sup.s->log, APLOG_MODULE_INDEX,
                               (int)globals->module_log_level);
    }
    ac_sup.dynamic_idle = apr_time_from_sec(globals->dynamic_idle);
    set_identity_rules(globals);
}

void ac_sup_apply_config(const char *payload, uint32_t len)
{
    apr_pool_t *p;
    apr_array_header_t *blobs;
    ac_config_globals_t globals;
    uint32_t *reply;
    int seen[AC_MAX_APPS];
    unsigned counts[ACT_CHANGED + 1] = { 0 }, removed;
    const char *err;
    int i;

    if (apr_pool_create(&p, ac_sup.pool) != APR_SUCCESS) {
        return;
    }
    memset(seen, 0, sizeof(seen));
    err = ac_config_payload_parse(p, payload, len, &globals, &blobs);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, ac_sup.s, "bad configuration from httpd: %s", err);
        blobs = apr_array_make(p, 1, sizeof(apr_array_header_t *));
        set_identity_rules(NULL);   /* no other user, until a configuration says */
    }
    else {
        apply_globals(&globals);
    }
    reply = apr_pcalloc(p, sizeof(uint32_t) * (apr_size_t)(blobs->nelts + 1));
    for (i = 0; i < blobs->nelts; i++) {
        apr_array_header_t *blob = APR_ARRAY_IDX(blobs, i, apr_array_header_t *);
        activation_e outcome;
        new_app_host = ac_sup_config_app_host((uint32_t)i);
        reply[i] = activate(blob->elts, (apr_size_t)blob->nelts, 0, seen, &outcome);
        counts[outcome]++;
        if (reply[i] != AC_APP_NO_INDEX) {
            /* a kept app's host may have a new place in the list */
            ac_sup.apps[reply[i]].log_host = new_app_host;
        }
    }
    removed = retire_unconfigured(seen) + retire_disallowed_users(p);
    unconfirm_dynamic(seen);
    ac_sup.held = 0;
    /* one line per configuration httpd sends (start, graceful, hard restart) */
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, ac_sup.s, "configuration applied: %u app(s) kept, "
                 "%u added, %u changed, %u removed%s", counts[ACT_KEPT], counts[ACT_ADDED],
                 counts[ACT_CHANGED], removed,
                 counts[ACT_FAILED] ? " (some could not be taken: see above)" : "");
    if (ac_control_write(ac_sup.control_fd, AC_CTL_CONFIG_ACK, reply,
                         (uint32_t)(sizeof(uint32_t) * (apr_size_t)blobs->nelts),
                         apr_time_from_sec(5)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, ac_sup.s, "could not answer httpd");
    }
    apr_pool_destroy(p);
}
