/* ac_debuglog: an app's module debug log, the way ANCM configures it.
 *
 * Owns the meaning of the handler settings debugLevel and debugFile and of
 * the variables ASPNETCORE_MODULE_DEBUG and ASPNETCORE_MODULE_DEBUG_FILE:
 * parsing a level/sink list ("FILE,TRACE"), combining the variables with
 * the handler settings in ANCM's order, the resulting file path, opening
 * that file and formatting its timestamped lines. The supervisor writes the
 * lines (ac_supervisor.c). httpd-free.
 */
#ifndef AC_DEBUGLOG_H
#define AC_DEBUGLOG_H

#include <apr_pools.h>
#include <apr_time.h>

#include "ac_launch.h"

/* Levels, least to most verbose; each includes the ones before it. */
typedef enum {
    AC_DEBUG_OFF = 0,
    AC_DEBUG_ERROR,
    AC_DEBUG_WARNING,
    AC_DEBUG_INFO,
    AC_DEBUG_TRACE
} ac_debug_level_e;

/* Sinks (ANCM's locations); several may be named. */
#define AC_DEBUG_SINK_CONSOLE  0x1u
#define AC_DEBUG_SINK_FILE     0x2u
#define AC_DEBUG_SINK_EVENTLOG 0x4u

#define AC_DEBUG_DEFAULT_FILE "aspnetcore-debug.log"   /* in the app root */

typedef struct {
    ac_debug_level_e level;      /* the most verbose level asked for */
    unsigned sinks;              /* AC_DEBUG_SINK_* */
} ac_debug_spec_t;

/* What an app's debug log is. */
typedef struct {
    ac_debug_spec_t spec;
    const char *file;            /* absolute path, or NULL: no file */
} ac_debug_conf_t;

/* Adds a debugLevel / ASPNETCORE_MODULE_DEBUG value ("FILE,TRACE") to
 * *spec: comma-separated words, case-insensitive, each recognised by how it
 * starts (error, warning, info, trace, console, file, eventlog), as ANCM
 * does; blanks around a word are ignored. A list that names a sink and no
 * level (so far) means INFO. Returns NULL, or a message naming the words
 * that mean nothing (they are ignored). */
const char *ac_debug_parse(apr_pool_t *p, const char *value, ac_debug_spec_t *spec);

/* The debug log of the app `l`: ASPNETCORE_MODULE_DEBUG then the handler
 * setting debugLevel (both add levels and sinks), and as the file, in this
 * order: the handler setting debugFile; aspnetcore-debug.log when the FILE
 * sink is asked for; ASPNETCORE_MODULE_DEBUG_FILE. The variables are looked
 * up in the app's configured environment first, then in `environ` (the
 * supervisor's, i.e. Apache's). A relative file is relative to the app
 * root. Returns NULL, or a warning to log (words not understood). */
const char *ac_debug_resolve(apr_pool_t *p, const ac_launch_t *l, char *const *environ,
                             ac_debug_conf_t *out);

/* Does a message at `level` go to the file? */
int ac_debug_wants(const ac_debug_conf_t *conf, ac_debug_level_e level);

/* The level's name in the file ("ERROR", "WARNING", "INFO", "TRACE"). */
const char *ac_debug_level_name(ac_debug_level_e level);

/* One line of the file into buf (at most size bytes, always terminated):
 * "<UTC time> [LEVEL] [pid N] message\n"; control characters in the
 * message become '?', so a message is always one line; a message too long
 * for the buffer is cut. Returns the line's length. */
apr_size_t ac_debug_format(char *buf, apr_size_t size, apr_time_t when,
                           ac_debug_level_e level, long pid, const char *msg);

/* Opens the file for appending (created 0640 with its folders 0750, never
 * through a symbolic link, close-on-exec). Returns the descriptor, or -1
 * with errno set. */
int ac_debug_open(const char *path);

#endif /* AC_DEBUGLOG_H */
