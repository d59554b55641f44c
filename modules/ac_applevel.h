/* ac_applevel: the level of a line an app wrote, as .NET's console logger
 * formats it, for the level it is logged at in Apache's error log.
 *
 *  - simple (the default): a header line "warn: Category[id]" and the
 *    message on indented lines after it, which take the header's level;
 *    "fail: " is an error, "crit: " critical, "info: ", "dbug: ", "trce: "
 *    info. Colour codes before the header are passed over.
 *  - systemd: "<4>Category[id] message", a syslog priority: 0-2 critical
 *    (nothing an app says is an emergency for Apache), 3 error, 4 warning,
 *    5-7 info.
 *  - JSON: one line, {"EventId":..,"LogLevel":"Warning",...}: "Warning",
 *    "Error", "Critical" looked for near its start.
 * Anything else is info and ends the header's entry. Bounded work per
 * line, no allocation. httpd-free.
 */
#ifndef AC_APPLEVEL_H
#define AC_APPLEVEL_H

/* the same numbers as syslog's and Apache's APLOG_* */
#define AC_APPLEVEL_CRIT 2
#define AC_APPLEVEL_ERR 3
#define AC_APPLEVEL_WARNING 4
#define AC_APPLEVEL_INFO 6

/* Per process: the level of the entry whose indented lines follow. */
typedef struct {
    int entry_level;     /* 0: no entry open */
} ac_applevel_t;

/* The level of `line` (without its newline); updates the state. */
int ac_applevel_classify(ac_applevel_t *st, const char *line);

#endif /* AC_APPLEVEL_H */
