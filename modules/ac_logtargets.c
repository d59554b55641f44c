/* ac_logtargets: the LOG_TARGETS message (see ac_logtargets.h). */
#include "ac_logtargets.h"

#include <string.h>

static void push_u32(apr_array_header_t *a, uint32_t v)
{
    int i;
    /* byte by byte: the array's elements are chars */
    for (i = 0; i < 4; i++) {
        *(char *)apr_array_push(a) = ((const char *)&v)[i];
    }
}

void ac_log_targets_encode(apr_array_header_t *payload, const ac_log_targets_t *t,
                           int *fds, unsigned *nfds)
{
    uint32_t i;

    *nfds = 0;
    push_u32(payload, AC_LOG_TARGETS_VERSION);
    push_u32(payload, t->ntargets);
    for (i = 0; i < t->ntargets; i++) {
        push_u32(payload, t->level[i]);
        push_u32(payload, t->fd[i] >= 0);
        if (t->fd[i] >= 0) {
            fds[(*nfds)++] = t->fd[i];
        }
    }
    push_u32(payload, t->nservers);
    for (i = 0; i < t->nservers; i++) {
        push_u32(payload, t->server_target[i]);
    }
    push_u32(payload, t->napps);
    for (i = 0; i < t->napps; i++) {
        push_u32(payload, t->app_server[i]);
    }
}

typedef struct {
    const char *at, *end;
} reader_t;

static int take_u32(reader_t *r, uint32_t *v)
{
    if (r->end - r->at < 4) {
        return 0;
    }
    memcpy(v, r->at, 4);
    r->at += 4;
    return 1;
}

/* A counted array of words, each below `below`. */
static const char *take_array(apr_pool_t *p, reader_t *r, uint32_t max, uint32_t below,
                              uint32_t *n, uint32_t **out)
{
    uint32_t i;

    if (!take_u32(r, n) || *n > max || (uint32_t)(r->end - r->at) / 4 < *n) {
        return "log targets: a count is out of range or the message is truncated";
    }
    *out = apr_palloc(p, sizeof(uint32_t) * ((apr_size_t)*n + 1));
    for (i = 0; i < *n; i++) {
        take_u32(r, &(*out)[i]);
        if ((*out)[i] >= below) {
            return "log targets: an index is out of range";
        }
    }
    return NULL;
}

const char *ac_log_targets_parse(apr_pool_t *p, const char *payload, uint32_t len,
                                 const int *fds, unsigned nfds, ac_log_targets_t *t)
{
    reader_t r = { payload, payload + len };
    uint32_t version, i, has_fd;
    unsigned used = 0;
    const char *err;

    memset(t, 0, sizeof(*t));
    for (i = 0; i < AC_LOG_TARGETS_MAX; i++) {
        t->fd[i] = -1;
    }
    if (!take_u32(&r, &version) || version != AC_LOG_TARGETS_VERSION) {
        return "log targets: unknown version";
    }
    if (!take_u32(&r, &t->ntargets) || t->ntargets < 1 || t->ntargets > AC_LOG_TARGETS_MAX) {
        return "log targets: bad number of targets";
    }
    for (i = 0; i < t->ntargets; i++) {
        if (!take_u32(&r, &t->level[i]) || !take_u32(&r, &has_fd) || t->level[i] > 7
            || has_fd > 1) {
            return "log targets: bad target";
        }
        if (has_fd && used >= nfds) {
            return "log targets: fewer descriptors than targets with a file";
        }
        t->fd[i] = has_fd ? fds[used++] : -1;
    }
    err = take_array(p, &r, AC_LOG_SERVERS_MAX, t->ntargets, &t->nservers, &t->server_target);
    if (!err) {
        err = take_array(p, &r, AC_LOG_APPS_MAX, 0xFFFFFFFFu, &t->napps, &t->app_server);
    }
    if (!err && r.at != r.end) {
        err = "log targets: trailing bytes";
    }
    if (!err && used != nfds) {
        err = "log targets: more descriptors than targets with a file";
    }
    if (err) {
        for (i = 0; i < AC_LOG_TARGETS_MAX; i++) {
            t->fd[i] = -1;     /* still the caller's */
        }
    }
    return err;
}

uint32_t ac_log_target_of_server(const ac_log_targets_t *t, uint32_t server)
{
    return server < t->nservers && t->server_target[server] < t->ntargets
           ? t->server_target[server] : 0;
}
