/* ac_launch: launch settings, their serialized form and key, argv and envp. */
#include "ac_launch.h"
#include "ac_cgroup.h"
#include "ac_shared.h"
#include "ac_stdoutlog.h"

#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <apr_strings.h>
#include <apr_sha1.h>

#define LAUNCH_FORMAT 8u
#define NULL_STRING 0xFFFFFFFFu

static void put_u32(apr_array_header_t *out, apr_uint32_t v)
{
    unsigned char b[4] = { (unsigned char)(v >> 24), (unsigned char)(v >> 16),
                           (unsigned char)(v >> 8), (unsigned char)v };
    memcpy(apr_array_push(out), &b[0], 1);
    memcpy(apr_array_push(out), &b[1], 1);
    memcpy(apr_array_push(out), &b[2], 1);
    memcpy(apr_array_push(out), &b[3], 1);
}

static void put_bytes(apr_array_header_t *out, const char *s, apr_size_t n)
{
    apr_size_t i;
    for (i = 0; i < n; i++) {
        *(char *)apr_array_push(out) = s[i];
    }
}

static void put_str(apr_array_header_t *out, const char *s)
{
    if (!s) {
        put_u32(out, NULL_STRING);
        return;
    }
    put_u32(out, (apr_uint32_t)strlen(s));
    put_bytes(out, s, strlen(s));
}

static void put_pairs(apr_array_header_t *out, const apr_array_header_t *pairs)
{
    int i, n = pairs ? pairs->nelts : 0;
    put_u32(out, (apr_uint32_t)n);
    for (i = 0; i < n; i++) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(pairs, i, ac_env_entry_t);
        put_str(out, e->name);
        put_str(out, e->value);
    }
}

static void put_recycle(apr_array_header_t *out, const ac_recycle_t *rc)
{
    unsigned i;
    put_u32(out, rc->requests);
    put_u32(out, rc->time_s);
    put_u32(out, rc->memory_mib);
    put_u32(out, rc->nschedule);
    for (i = 0; i < rc->nschedule && i < AC_RECYCLE_SCHEDULE_MAX; i++) {
        put_u32(out, rc->schedule[i]);
    }
}

void ac_launch_serialize(const ac_launch_t *l, apr_array_header_t *out)
{
    put_u32(out, LAUNCH_FORMAT);
    put_str(out, l->process_path);
    put_str(out, l->arguments);
    put_str(out, l->app_root);
    put_str(out, l->virtual_path);
    put_str(out, l->site);
    put_pairs(out, l->env);
    put_u32(out, (apr_uint32_t)l->stdout_log_enabled);
    put_str(out, l->stdout_log_file);
    put_u32(out, (apr_uint32_t)l->stdout_log_max_kib);
    put_u32(out, (apr_uint32_t)l->stdout_log_keep);
    put_pairs(out, l->handler_settings);
    put_u32(out, (apr_uint32_t)l->ondemand);
    put_u32(out, (apr_uint32_t)l->processes);
    put_u32(out, (apr_uint32_t)l->startup_time_limit);
    put_u32(out, (apr_uint32_t)l->shutdown_time_limit);
    put_u32(out, (apr_uint32_t)l->rapid_fails_per_minute);
    put_u32(out, (apr_uint32_t)l->websockets);
    put_str(out, l->web_config);
    put_str(out, l->state_dir);
    put_u32(out, (apr_uint32_t)l->https_port);
    put_u32(out, (apr_uint32_t)l->idle_timeout);
    put_u32(out, (apr_uint32_t)l->memory_limit_mib);
    put_u32(out, (apr_uint32_t)l->cpu_limit_percent);
    put_u32(out, (apr_uint32_t)l->max_tasks);
    put_str(out, l->health.path);
    put_str(out, l->health.host);
    put_u32(out, (apr_uint32_t)l->health.interval);
    put_u32(out, (apr_uint32_t)l->health.timeout);
    put_u32(out, (apr_uint32_t)l->health.failures);
    put_recycle(out, &l->recycle);
    put_u32(out, (apr_uint32_t)l->user_source);
    put_u32(out, (apr_uint32_t)l->user.uid);
    put_u32(out, (apr_uint32_t)l->user.gid);
    put_str(out, l->user_source != AC_USER_APACHE ? l->user.name : NULL);
}

typedef struct {
    const unsigned char *p;
    apr_size_t left;
    int bad;
} reader_t;

static apr_uint32_t get_u32(reader_t *r)
{
    apr_uint32_t v;
    if (r->bad || r->left < 4) {
        r->bad = 1;
        return 0;
    }
    v = ((apr_uint32_t)r->p[0] << 24) | ((apr_uint32_t)r->p[1] << 16)
        | ((apr_uint32_t)r->p[2] << 8) | (apr_uint32_t)r->p[3];
    r->p += 4;
    r->left -= 4;
    return v;
}

static const char *get_str(reader_t *r, apr_pool_t *p)
{
    apr_uint32_t n = get_u32(r);
    const char *s;
    if (r->bad || n == NULL_STRING) {
        return NULL;
    }
    if (n > r->left || memchr(r->p, '\0', n)) {
        r->bad = 1;
        return NULL;
    }
    s = apr_pstrmemdup(p, (const char *)r->p, n);
    r->p += n;
    r->left -= n;
    return s;
}

static apr_array_header_t *get_pairs(reader_t *r, apr_pool_t *p, apr_size_t len)
{
    apr_uint32_t i, n = get_u32(r);
    apr_array_header_t *pairs;

    if (r->bad || n > len / 8) {
        r->bad = 1;
        return NULL;
    }
    pairs = apr_array_make(p, (int)n + 1, sizeof(ac_env_entry_t));
    for (i = 0; i < n && !r->bad; i++) {
        ac_env_entry_t *e = apr_array_push(pairs);
        e->name = get_str(r, p);
        e->value = get_str(r, p);
        if (!e->name || !e->value) {
            r->bad = 1;
        }
    }
    return pairs;
}

/* The count is checked before the entries are read (ac_recycle_valid checks
 * the rest); an entry above 65535 is made invalid (24 * 60), not cut. */
static void get_recycle(reader_t *r, ac_recycle_t *rc)
{
    unsigned i;
    rc->requests = get_u32(r);
    rc->time_s = get_u32(r);
    rc->memory_mib = get_u32(r);
    rc->nschedule = get_u32(r);
    if (rc->nschedule > AC_RECYCLE_SCHEDULE_MAX) {
        r->bad = 1;
        return;
    }
    for (i = 0; i < rc->nschedule; i++) {
        apr_uint32_t m = get_u32(r);
        rc->schedule[i] = (unsigned short)(m < 24 * 60 ? m : 24 * 60);
    }
}

/* Paths and names that go into log lines and file names: no control
 * character (a line break would forge a log line). */
static int has_control(const char *s)
{
    for (; s && *s; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            return 1;
        }
    }
    return 0;
}

/* Names that are names: "A=B" would set A, whatever a check of "A=B"
 * said (the configuration and web.config refuse them too). */
static int env_names_valid(const apr_array_header_t *env)
{
    int i;
    for (i = 0; env && i < env->nelts; i++) {
        const char *name = APR_ARRAY_IDX(env, i, ac_env_entry_t).name;
        if (!*name || strchr(name, '=')) {
            return 0;
        }
    }
    return 1;
}

/* Who the processes run as; a name that fits and names no path. */
static void get_user(reader_t *r, apr_pool_t *p, ac_launch_t *l)
{
    const char *name;

    l->user_source = (int)get_u32(r);
    l->user.uid = (uid_t)get_u32(r);
    l->user.gid = (gid_t)get_u32(r);
    name = get_str(r, p);
    if (r->bad) {
        return;
    }
    if (l->user_source == AC_USER_APACHE) {
        /* nothing else said: one form only (no ids that would be dropped) */
        r->bad = name != NULL || l->user.uid != 0 || l->user.gid != 0;
        memset(&l->user, 0, sizeof(l->user));
        return;
    }
    r->bad = (l->user_source != AC_USER_CONFIG && l->user_source != AC_USER_OWNER) || !name
             || !*name || strlen(name) >= sizeof(l->user.name) || strchr(name, '/')
             || !strcmp(name, ".") || !strcmp(name, "..");
    if (!r->bad) {
        apr_cpystrn(l->user.name, name, sizeof(l->user.name));
    }
}

const char *ac_launch_deserialize(apr_pool_t *p, const char *buf, apr_size_t len,
                                  ac_launch_t **out)
{
    reader_t r = { (const unsigned char *)buf, len, 0 };
    ac_launch_t *l = apr_pcalloc(p, sizeof(*l));

    if (get_u32(&r) != LAUNCH_FORMAT) {
        return "unknown launch settings format";
    }
    l->process_path = get_str(&r, p);
    l->arguments = get_str(&r, p);
    l->app_root = get_str(&r, p);
    l->virtual_path = get_str(&r, p);
    l->site = get_str(&r, p);
    l->env = get_pairs(&r, p, len);
    l->stdout_log_enabled = (int)get_u32(&r);
    l->stdout_log_file = get_str(&r, p);
    l->stdout_log_max_kib = (int)get_u32(&r);
    l->stdout_log_keep = (int)get_u32(&r);
    l->handler_settings = get_pairs(&r, p, len);
    l->ondemand = (int)get_u32(&r);
    l->processes = (int)get_u32(&r);
    l->startup_time_limit = (int)get_u32(&r);
    l->shutdown_time_limit = (int)get_u32(&r);
    l->rapid_fails_per_minute = (int)get_u32(&r);
    l->websockets = (int)get_u32(&r);
    l->web_config = get_str(&r, p);
    l->state_dir = get_str(&r, p);
    l->https_port = (int)get_u32(&r);
    l->idle_timeout = (int)get_u32(&r);
    l->memory_limit_mib = (int)get_u32(&r);
    l->cpu_limit_percent = (int)get_u32(&r);
    l->max_tasks = (int)get_u32(&r);
    l->health.path = get_str(&r, p);
    l->health.host = get_str(&r, p);
    l->health.interval = (int)get_u32(&r);
    l->health.timeout = (int)get_u32(&r);
    l->health.failures = (int)get_u32(&r);
    get_recycle(&r, &l->recycle);
    get_user(&r, p, l);
    if (r.bad || r.left != 0) {
        return "malformed launch settings";
    }
    if (!l->process_path || !l->app_root || !l->virtual_path || !l->site) {
        return "launch settings lack a process path, app root, virtual path or site";
    }
    if (l->processes < 1 || l->processes > AC_MAX_PROCESSES) {
        return "launch settings ask for no process or too many";
    }
    if (l->startup_time_limit < 0 || l->startup_time_limit > AC_STARTUP_TIME_LIMIT_MAX
        || l->shutdown_time_limit < 0 || l->shutdown_time_limit > AC_SHUTDOWN_TIME_LIMIT_MAX
        || l->rapid_fails_per_minute < 0 || l->rapid_fails_per_minute > AC_RAPID_FAILS_MAX) {
        return "launch settings hold a time limit or rapid-fail count out of range";
    }
    if ((unsigned)l->stdout_log_enabled > 1 || (unsigned)l->ondemand > 1
        || (unsigned)l->websockets > 1) {
        return "launch settings hold a flag other than 0 or 1";
    }
    if (l->stdout_log_max_kib < 0 || (apr_uint32_t)l->stdout_log_max_kib > AC_STDOUTLOG_MAX_KIB
        || l->stdout_log_keep < 0 || (apr_uint32_t)l->stdout_log_keep > AC_STDOUTLOG_KEEP_MAX) {
        return "launch settings hold a stdout log limit out of range";
    }
    if (l->state_dir && l->state_dir[0] != '/') {
        return "launch settings hold a state directory that is not an absolute path";
    }
    if (l->https_port < 0 || l->https_port > AC_HTTPS_PORT_MAX) {
        return "launch settings hold an https port out of range";
    }
    if (l->idle_timeout < 0 || l->idle_timeout > AC_IDLE_TIMEOUT_MAX) {
        return "launch settings hold an idle timeout out of range";
    }
    if (l->memory_limit_mib < 0 || l->memory_limit_mib > AC_CGROUP_MEMORY_MAX_MIB
        || l->cpu_limit_percent < 0 || l->cpu_limit_percent > AC_CGROUP_CPU_MAX_PERCENT
        || l->max_tasks < 0 || l->max_tasks > AC_CGROUP_TASKS_MAX) {
        return "launch settings hold a memory, CPU or task limit out of range";
    }
    if (ac_health_check_conf(&l->health)) {
        return "launch settings hold a health check out of range";
    }
    if (!ac_recycle_valid(&l->recycle)) {
        return "launch settings hold a recycling limit or schedule out of range";
    }
    if (l->user_source != AC_USER_APACHE && (l->user.uid == 0 || l->user.gid == 0)) {
        return "launch settings name root as the app's user";
    }
    if (has_control(l->app_root) || has_control(l->virtual_path) || has_control(l->site)
        || has_control(l->state_dir) || has_control(l->web_config)) {
        return "launch settings hold a path or site with a control character";
    }
    if (!env_names_valid(l->env)) {
        return "launch settings hold an environment variable name that is empty or has '='";
    }
    *out = l;
    return NULL;
}

void ac_launch_key(const ac_launch_t *l, apr_pool_t *scratch,
                   unsigned char key[AC_KEY_BYTES])
{
    apr_array_header_t *buf = apr_array_make(scratch, 256, 1);
    apr_sha1_ctx_t sha;

    ac_launch_serialize(l, buf);
    apr_sha1_init(&sha);
    apr_sha1_update_binary(&sha, (const unsigned char *)buf->elts,
                           (unsigned int)buf->nelts);
    apr_sha1_final(key, &sha);
}

const char *ac_launch_path_env(const ac_launch_t *l, const char *fallback)
{
    const char *found = fallback;
    int i;

    for (i = 0; l->env && i < l->env->nelts; i++) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(l->env, i, ac_env_entry_t);
        if (!strcmp(e->name, "PATH")) {
            found = e->value;
        }
    }
    return found;
}

const char *ac_launch_label(apr_pool_t *p, const ac_launch_t *l)
{
    return apr_psprintf(p, "%s at %s", l->app_root, l->virtual_path);
}

static int is_executable_file(const char *path)
{
    struct stat st;
    /* AT_EACCESS: as the file-system user, which is the app's while the
     * supervisor looks for an app's program (ac_identity_fs_begin) */
    return stat(path, &st) == 0 && S_ISREG(st.st_mode)
           && faccessat(AT_FDCWD, path, X_OK, AT_EACCESS) == 0;
}

const char *ac_launch_resolve_program(apr_pool_t *p, const ac_launch_t *l,
                                      const char *path_env, const char **resolved)
{
    const char *prog = l->process_path;
    const char *candidate;
    char *dirs, *dir, *state;

    if (!prog || !*prog) {
        return "no process path is configured";
    }
    if (strchr(prog, '/')) {
        candidate = prog[0] == '/' ? prog : apr_pstrcat(p, l->app_root, "/", prog, NULL);
        if (!is_executable_file(candidate)) {
            return apr_psprintf(p, "process path %s is not an executable file", candidate);
        }
        *resolved = candidate;
        return NULL;
    }
    candidate = apr_pstrcat(p, l->app_root, "/", prog, NULL);
    if (is_executable_file(candidate)) {
        *resolved = candidate;
        return NULL;
    }
    dirs = apr_pstrdup(p, path_env ? path_env : "/usr/local/bin:/usr/bin:/bin");
    for (dir = apr_strtok(dirs, ":", &state); dir; dir = apr_strtok(NULL, ":", &state)) {
        candidate = apr_pstrcat(p, *dir ? dir : ".", "/", prog, NULL);
        if (is_executable_file(candidate)) {
            *resolved = candidate;
            return NULL;
        }
    }
    return apr_psprintf(p, "process path '%s' was found neither in the app root %s "
                        "nor on PATH (%s)", prog, l->app_root,
                        path_env ? path_env : "default");
}

const char *ac_launch_build_argv(apr_pool_t *p, const ac_launch_t *l,
                                 const char *program, char ***argv)
{
    char **args = NULL;
    int n = 0, i;
    char **all;

    if (l->arguments && *l->arguments) {
        if (apr_tokenize_to_argv(l->arguments, &args, p) != APR_SUCCESS) {
            return apr_psprintf(p, "cannot split arguments: %s", l->arguments);
        }
        while (args[n]) {
            n++;
        }
    }
    all = apr_pcalloc(p, sizeof(char *) * (apr_size_t)(n + 2));
    all[0] = apr_pstrdup(p, program);
    for (i = 0; i < n; i++) {
        all[i + 1] = args[i];
    }
    *argv = all;
    return NULL;
}

/* Is `entry` ("NAME=value") an assignment to a name in `names`? */
static int names_entry(apr_table_t *names, const char *entry)
{
    const char *eq = strchr(entry, '=');
    char name[256];
    apr_size_t n;

    if (!eq) {
        return 1;   /* malformed: drop it */
    }
    n = (apr_size_t)(eq - entry);
    if (n >= sizeof(name)) {
        return 0;
    }
    memcpy(name, entry, n);
    name[n] = '\0';
    return apr_table_get(names, name) != NULL;
}

/* The sanitizer runtime is not the apps' business: a sanitizer build of the
 * module (./configure --enable-sanitizers) runs in an Apache started with
 * libasan preloaded and ASAN_OPTIONS etc. set, which the backends would
 * inherit (a preloaded libasan in dotnet, reports in Apache's log_path).
 * Returns `entry` without them: NULL to leave it out, or LD_PRELOAD without
 * the sanitizer runtimes (other preloaded libraries stay). */
static char *without_sanitizer(apr_pool_t *p, char *entry)
{
    static const char *const options[] = { "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=" };
    char *list, *word, *state, *kept = NULL;
    apr_size_t i;

    for (i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
        if (!strncmp(entry, options[i], strlen(options[i]))) {
            return NULL;
        }
    }
    if (strncmp(entry, "LD_PRELOAD=", 11)) {
        return entry;
    }
    list = apr_pstrdup(p, entry + 11);
    for (word = apr_strtok(list, ": ", &state); word; word = apr_strtok(NULL, ": ", &state)) {
        const char *slash = strrchr(word, '/');
        const char *file = slash ? slash + 1 : word;
        if (strncmp(file, "libasan.so", 10) && strncmp(file, "libubsan.so", 11)
            && strncmp(file, "liblsan.so", 10)) {
            kept = kept ? apr_pstrcat(p, kept, ":", word, NULL) : word;
        }
    }
    return kept ? apr_pstrcat(p, "LD_PRELOAD=", kept, NULL) : NULL;
}

char **ac_launch_build_env(apr_pool_t *p, const ac_launch_t *l, char *const *base,
                           unsigned port, const char *token)
{
    /* apr_table compares names case-insensitively; environment names are
     * case-sensitive on Linux, but two names differing only in case are a
     * configuration mistake we resolve in favour of the configured one. */
    apr_table_t *set = apr_table_make(p, 16);
    apr_array_header_t *env = apr_array_make(p, 64, sizeof(char *));
    const char *hosting = NULL;
    int i;

    apr_table_setn(set, "ASPNETCORE_PORT", apr_psprintf(p, "%u", port));
    apr_table_setn(set, "ASPNETCORE_APPL_PATH", l->virtual_path);
    apr_table_setn(set, "ASPNETCORE_TOKEN", token);
    apr_table_setn(set, "ASPNETCORE_IIS_HTTPAUTH", "anonymous;");
    apr_table_setn(set, "ASPNETCORE_IIS_WEBSOCKETS_SUPPORTED",
                   l->websockets ? "true" : "false");
    if (l->https_port > 0) {
        /* UseHttpsRedirection's port (ANCM: the site's one https binding) */
        apr_table_setn(set, "ASPNETCORE_ANCM_HTTPS_PORT", apr_psprintf(p, "%d", l->https_port));
    }
    for (i = 0; base && base[i]; i++) {
        if (!strncmp(base[i], "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES=", 36)) {
            hosting = base[i] + 36;
        }
    }
    apr_table_setn(set, "ASPNETCORE_HOSTINGSTARTUPASSEMBLIES",
                   hosting && *hosting
                   ? apr_pstrcat(p, hosting, ";Microsoft.AspNetCore.Server.IISIntegration", NULL)
                   : "Microsoft.AspNetCore.Server.IISIntegration");
    for (i = 0; l->env && i < l->env->nelts; i++) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(l->env, i, ac_env_entry_t);
        apr_table_set(set, e->name, e->value);
    }

    for (i = 0; base && base[i]; i++) {
        char *entry = without_sanitizer(p, base[i]);
        if (entry && !names_entry(set, entry)) {
            APR_ARRAY_PUSH(env, char *) = entry;
        }
    }
    {
        const apr_array_header_t *arr = apr_table_elts(set);
        const apr_table_entry_t *te = (const apr_table_entry_t *)arr->elts;
        for (i = 0; i < arr->nelts; i++) {
            APR_ARRAY_PUSH(env, char *) = apr_pstrcat(p, te[i].key, "=", te[i].val, NULL);
        }
    }
    APR_ARRAY_PUSH(env, char *) = NULL;
    return (char **)env->elts;
}

const char *ac_pairs_get(const apr_array_header_t *pairs, const char *name)
{
    int i;
    for (i = pairs ? pairs->nelts - 1 : -1; i >= 0; i--) {
        const ac_env_entry_t *e = &APR_ARRAY_IDX(pairs, i, ac_env_entry_t);
        if (!strcasecmp(e->name, name)) {
            return e->value;
        }
    }
    return NULL;
}

const char *ac_launch_env_value(const ac_launch_t *l, char *const *base, const char *name)
{
    const char *v = ac_pairs_get(l->env, name);
    apr_size_t n = strlen(name);
    int i;

    if (v) {
        return v;
    }
    for (i = 0; base && base[i]; i++) {
        if (!strncmp(base[i], name, n) && base[i][n] == '=') {
            return base[i] + n + 1;
        }
    }
    return NULL;
}
