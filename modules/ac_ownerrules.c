/* ac_ownerrules: the AspNetCoreUserFromOwner rules the supervisor checks. */
#include "ac_ownerrules.h"

#include <string.h>

#include <apr_strings.h>

const char *ac_ownerrules_set(apr_array_header_t *rules, apr_pool_t *p, const char *dir,
                              int on, long min_uid)
{
    apr_size_t n = strlen(dir);
    ac_owner_rule_t *r;
    int i;

    if (dir[0] != '/' || dir[strcspn(dir, "*?[]()|^$+{}\\~")] || n >= AC_OWNER_RULE_PATH_MAX) {
        return "a <Directory> given by its absolute path (no wildcard or regular expression: "
               "the supervisor looks app roots up by path)";
    }
    while (n > 1 && dir[n - 1] == '/') {
        n--;
    }
    for (i = 0; i < rules->nelts; i++) {
        r = &APR_ARRAY_IDX(rules, i, ac_owner_rule_t);
        if (strlen(r->dir) == n && !strncmp(r->dir, dir, n)) {
            break;
        }
    }
    if (i == rules->nelts) {
        if (rules->nelts >= AC_OWNER_RULES_MAX) {
            return "too many scopes set AspNetCoreUserFromOwner or AspNetCoreMinUid";
        }
        r = apr_array_push(rules);
        r->dir = apr_pstrmemdup(p, dir, n);
        r->on = -1;
        r->min_uid = -1;
    }
    r = &APR_ARRAY_IDX(rules, i, ac_owner_rule_t);
    if (on >= 0) {
        r->on = r->on == 1 ? 1 : on;
    }
    if (min_uid >= 0 && min_uid > r->min_uid) {
        r->min_uid = min_uid;
    }
    return NULL;
}

static void push_u32(apr_array_header_t *out, apr_uint32_t v)
{
    unsigned char *b = apr_array_push(out);
    b[0] = (unsigned char)(v >> 24);
    b = apr_array_push(out);
    b[0] = (unsigned char)(v >> 16);
    b = apr_array_push(out);
    b[0] = (unsigned char)(v >> 8);
    b = apr_array_push(out);
    b[0] = (unsigned char)v;
}

void ac_ownerrules_serialize(const apr_array_header_t *rules, const char *state_root,
                             apr_array_header_t *out)
{
    apr_size_t k, n = state_root ? strlen(state_root) : 0;
    int i;

    push_u32(out, (apr_uint32_t)n);
    for (k = 0; k < n; k++) {
        *(char *)apr_array_push(out) = state_root[k];
    }
    push_u32(out, rules ? (apr_uint32_t)rules->nelts : 0);
    for (i = 0; rules && i < rules->nelts; i++) {
        const ac_owner_rule_t *r = &APR_ARRAY_IDX(rules, i, ac_owner_rule_t);
        apr_size_t n = strlen(r->dir), k;
        push_u32(out, (apr_uint32_t)(r->on + 1));
        push_u32(out, (apr_uint32_t)(r->min_uid + 1));
        push_u32(out, (apr_uint32_t)n);
        for (k = 0; k < n; k++) {
            *(char *)apr_array_push(out) = r->dir[k];
        }
    }
}

static int get_u32(const char **buf, const char *end, apr_uint32_t *v)
{
    const unsigned char *b = (const unsigned char *)*buf;
    if (end - *buf < 4) {
        return 0;
    }
    *v = ((apr_uint32_t)b[0] << 24) | ((apr_uint32_t)b[1] << 16) | ((apr_uint32_t)b[2] << 8)
         | (apr_uint32_t)b[3];
    *buf += 4;
    return 1;
}

const char *ac_ownerrules_parse(apr_pool_t *p, const char **buf, const char *end,
                                apr_array_header_t **rules, const char **state_root)
{
    apr_uint32_t count, i, n;

    if (!get_u32(buf, end, &n) || n >= AC_OWNER_RULE_PATH_MAX || (apr_uint32_t)(end - *buf) < n
        || (n && ((*buf)[0] != '/' || memchr(*buf, '\0', n)))) {
        return "owner rules: a malformed state root";
    }
    *state_root = n ? apr_pstrmemdup(p, *buf, n) : NULL;
    *buf += n;
    if (!get_u32(buf, end, &count) || count > AC_OWNER_RULES_MAX) {
        return "owner rules: a count missing or out of range";
    }
    *rules = apr_array_make(p, (int)count + 1, sizeof(ac_owner_rule_t));
    for (i = 0; i < count; i++) {
        apr_uint32_t on, min_uid, n;
        ac_owner_rule_t *r;
        if (!get_u32(buf, end, &on) || !get_u32(buf, end, &min_uid) || !get_u32(buf, end, &n)
            || on > 2 || min_uid > (apr_uint32_t)AC_MIN_UID_MAX + 1
            || n == 0 || n >= AC_OWNER_RULE_PATH_MAX || (apr_uint32_t)(end - *buf) < n
            || (*buf)[0] != '/' || memchr(*buf, '\0', n)) {
            return "owner rules: a malformed rule";
        }
        r = apr_array_push(*rules);
        r->on = (int)on - 1;
        r->min_uid = (long)min_uid - 1;
        r->dir = apr_pstrmemdup(p, *buf, n);
        *buf += n;
    }
    return NULL;
}

/* Is `dir` `path` or one of the directories above it? */
static int covers(const char *dir, const char *path)
{
    apr_size_t n = strlen(dir);
    if (!strcmp(dir, "/")) {
        return path[0] == '/';
    }
    return !strncmp(dir, path, n) && (path[n] == '\0' || path[n] == '/');
}

void ac_ownerrules_for(const apr_array_header_t *rules, const char *app_root, int *on,
                       uid_t *min_uid)
{
    apr_size_t last = 0;
    long uid = AC_DEFAULT_MIN_UID;
    int i, state = 0;

    /* the covering rules from the shortest path to the longest, each
     * overriding what it sets */
    for (;;) {
        apr_size_t next = (apr_size_t)-1;
        for (i = 0; rules && i < rules->nelts; i++) {
            const ac_owner_rule_t *r = &APR_ARRAY_IDX(rules, i, ac_owner_rule_t);
            apr_size_t n = strlen(r->dir);
            if (n > last && n < next && covers(r->dir, app_root)) {
                next = n;
            }
        }
        if (next == (apr_size_t)-1) {
            break;
        }
        for (i = 0; i < rules->nelts; i++) {
            const ac_owner_rule_t *r = &APR_ARRAY_IDX(rules, i, ac_owner_rule_t);
            if (strlen(r->dir) == next && covers(r->dir, app_root)) {
                state = r->on >= 0 ? r->on : state;
                uid = r->min_uid >= 0 ? r->min_uid : uid;
            }
        }
        last = next;
    }
    *on = state == 1;
    *min_uid = (uid_t)uid;
}
