/* ac_nss: passwd and group entries in a growing buffer (ac_nss.h). */
#include "ac_nss.h"

#include <errno.h>
#include <stdlib.h>

typedef struct {
    const char *name;            /* or NULL: by id */
    unsigned long id;
    void *entry;                 /* struct passwd or struct group */
} nss_key_t;

typedef int (*nss_try_fn)(const nss_key_t *k, char *buf, size_t size, int *found);

static int try_user(const nss_key_t *k, char *buf, size_t size, int *found)
{
    struct passwd *res = NULL;
    int rc = k->name ? getpwnam_r(k->name, k->entry, buf, size, &res)
                     : getpwuid_r((uid_t)k->id, k->entry, buf, size, &res);
    *found = res != NULL;
    return rc;
}

static int try_group(const nss_key_t *k, char *buf, size_t size, int *found)
{
    struct group *res = NULL;
    int rc = k->name ? getgrnam_r(k->name, k->entry, buf, size, &res)
                     : getgrgid_r((gid_t)k->id, k->entry, buf, size, &res);
    *found = res != NULL;
    return rc;
}

static int lookup(nss_try_fn try, const nss_key_t *k, char **buf)
{
    size_t size;

    for (size = AC_NSS_BUF_FIRST; size <= AC_NSS_BUF_MAX; size *= 2) {
        char *b = realloc(*buf, size);
        int found = 0, rc;

        if (!b) {
            return ENOMEM;
        }
        *buf = b;
        rc = try(k, b, size, &found);
        if (rc == ERANGE) {
            continue;
        }
        if (rc == 0) {
            return found ? 0 : ENOENT;
        }
        /* ESRCH, EBADF, EPERM may also mean "no such entry" (getpwnam_r(3)),
         * or a name service that failed: the caller decides */
        return rc;
    }
    return E2BIG;
}

int ac_nss_user(const char *name, uid_t uid, struct passwd *pw, char **buf)
{
    const nss_key_t k = { name, (unsigned long)uid, pw };
    return lookup(try_user, &k, buf);
}

int ac_nss_group(const char *name, gid_t gid, struct group *gr, char **buf)
{
    const nss_key_t k = { name, (unsigned long)gid, gr };
    return lookup(try_group, &k, buf);
}
