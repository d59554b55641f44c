/* ac_supervisor: the process that owns every backend.
 *
 * Forked by the httpd parent (ac_registry), it runs as Apache's User/Group
 * in its own process group and never returns. It applies the app lists the
 * parent sends (keeping unchanged apps, starting new ones, stopping removed
 * ones), starts backends on free loopback ports with fresh tokens, publishes
 * their state in the shared segment, probes them until they listen, restarts
 * them after a crash (with back-off and the rapid-fail limit), relays their
 * output to the error log, and stops them all when httpd goes away.
 */
#ifndef AC_SUPERVISOR_H
#define AC_SUPERVISOR_H

#include <httpd.h>
#include "ac_shared.h"

typedef struct {
    server_rec *server;          /* for logging */
    ac_shared_t *shared;
    int control_fd;              /* stream to the parent; EOF = httpd is gone */
    int request_fd;              /* datagrams from the children */
    unsigned port_low, port_high;
    const char *runtime_dir;     /* ours, owned by the User; NULL if unusable */
    const char *record_path;     /* ac_strays record of running backends, or NULL */
    int keep_caps;               /* apps run as other users (AspNetCoreUser...): keep what
                                  * starting them takes (ac_identity.h) */
} ac_supervisor_args_t;

void ac_supervisor_run(const ac_supervisor_args_t *args) __attribute__((noreturn));

#endif /* AC_SUPERVISOR_H */
