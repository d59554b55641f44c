/* ac_verdict: what became of a process that reset a connection before it
 * read the request sent on it.
 *
 * A process killed (or crashing) while a request is on its way to it resets
 * the connections it had not read yet: the request never reached the app
 * and may go to another process, but only once the process is known to be
 * gone. A process that lives on and resets a connection (an app that aborts
 * it) must not get the request a second time, nor another process. The
 * child marks the slot suspect and asks the supervisor to check it (as after
 * a failed connect); the supervisor either replaces the process (the slot
 * leaves READY, or gets a new incarnation) or clears the mark (it still
 * listens). This waits for that answer on the app's wake word. Also here:
 * whether the supervisor itself is alive (a request's other way to learn
 * that a process will not answer). httpd-free.
 */
#ifndef AC_VERDICT_H
#define AC_VERDICT_H

#include "ac_shared.h"

typedef enum {
    AC_VERDICT_GONE,       /* the process is replaced or being replaced */
    AC_VERDICT_ALIVE,      /* the supervisor found it still listening */
    AC_VERDICT_UNKNOWN     /* no answer within the time given (or unreadable state) */
} ac_verdict_e;

/* Marks the slot's process `incarnation` suspect (no new connection to it)
 * and asks the supervisor, over the request datagram socket `request_fd`,
 * to check it. */
void ac_verdict_ask(int request_fd, ac_slot_t *slot, uint32_t app_index, uint32_t slot_index,
                    uint64_t incarnation);

/* Waits at most `timeout` for the supervisor's verdict on the process
 * `incarnation` of `slot` (of `app`), which the caller marked suspect and
 * reported. */
ac_verdict_e ac_verdict_wait(ac_app_t *app, ac_slot_t *slot, uint64_t incarnation,
                             apr_interval_time_t timeout);

/* Is the supervisor alive? A killed one stays a zombie until the parent
 * reaps it (up to a second), so its process state counts, not just its pid. */
int ac_verdict_supervisor_alive(const ac_shared_t *sh);

#endif /* AC_VERDICT_H */
