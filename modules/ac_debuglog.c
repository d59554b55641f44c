/* ac_debuglog: ANCM's debugLevel/debugFile settings and the lines of the file. */
#include "ac_debuglog.h"
#include "ac_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <apr_lib.h>
#include <apr_strings.h>

typedef struct {
    const char *word;
    ac_debug_level_e level;      /* AC_DEBUG_OFF for a sink */
    unsigned sink;
} debug_word_t;

static const debug_word_t WORDS[] = {
    { "error", AC_DEBUG_ERROR, 0 },
    { "warning", AC_DEBUG_WARNING, 0 },
    { "info", AC_DEBUG_INFO, 0 },
    { "trace", AC_DEBUG_TRACE, 0 },
    { "console", AC_DEBUG_OFF, AC_DEBUG_SINK_CONSOLE },
    { "file", AC_DEBUG_OFF, AC_DEBUG_SINK_FILE },
    { "eventlog", AC_DEBUG_OFF, AC_DEBUG_SINK_EVENTLOG },
};

#define NWORDS (sizeof(WORDS) / sizeof(WORDS[0]))

/* ANCM recognises a word by its start ("information" is info, "warn" is
 * nothing): the same here, so a value means what it means under IIS. */
static const debug_word_t *find_word(const char *token)
{
    apr_size_t i;
    for (i = 0; i < NWORDS; i++) {
        if (!strncasecmp(token, WORDS[i].word, strlen(WORDS[i].word))) {
            return &WORDS[i];
        }
    }
    return NULL;
}

const char *ac_debug_parse(apr_pool_t *p, const char *value, ac_debug_spec_t *spec)
{
    char *copy = apr_pstrdup(p, value), *state = NULL, *token;
    const char *unknown = NULL;

    for (token = apr_strtok(copy, ",", &state); token; token = apr_strtok(NULL, ",", &state)) {
        const debug_word_t *w;
        char *end;
        /* unlike ANCM, "FILE, TRACE" means FILE and TRACE */
        while (apr_isspace(*token)) {
            token++;
        }
        end = token + strlen(token);
        while (end > token && apr_isspace(end[-1])) {
            *--end = '\0';
        }
        if (!*token) {
            continue;
        }
        w = find_word(token);
        if (!w) {
            unknown = unknown ? apr_pstrcat(p, unknown, ", '", token, "'", NULL)
                              : apr_pstrcat(p, "'", token, "'", NULL);
            continue;
        }
        if (w->level > spec->level) {
            spec->level = w->level;
        }
        spec->sinks |= w->sink;
    }
    if (spec->sinks && spec->level == AC_DEBUG_OFF) {
        spec->level = AC_DEBUG_INFO;
    }
    return unknown ? apr_pstrcat(p, unknown, " ignored (known: error, warning, info, trace, "
                                 "console, file, eventlog)", NULL)
                   : NULL;
}

static const char *add_warning(apr_pool_t *p, const char *warnings, const char *source,
                               const char *problem)
{
    const char *w;
    if (!problem) {
        return warnings;
    }
    w = apr_pstrcat(p, source, ": ", problem, NULL);
    return warnings ? apr_pstrcat(p, warnings, "; ", w, NULL) : w;
}

const char *ac_debug_resolve(apr_pool_t *p, const ac_launch_t *l, char *const *environ,
                             ac_debug_conf_t *out)
{
    const char *env_level = ac_launch_env_value(l, environ, "ASPNETCORE_MODULE_DEBUG");
    const char *setting_level = ac_pairs_get(l->handler_settings, "debugLevel");
    const char *file = ac_pairs_get(l->handler_settings, "debugFile");
    const char *warnings = NULL;

    memset(out, 0, sizeof(*out));
    /* ANCM: the variable is read when the module loads, the handler
     * setting when the app starts; both add to the levels and sinks. */
    if (env_level) {
        warnings = add_warning(p, warnings, "ASPNETCORE_MODULE_DEBUG",
                               ac_debug_parse(p, env_level, &out->spec));
    }
    if (setting_level) {
        warnings = add_warning(p, warnings, "debugLevel",
                               ac_debug_parse(p, setting_level, &out->spec));
    }
    if (file && *file) {
        /* a web.config path: .\logs\debug.log */
        char *c;
        file = apr_pstrdup(p, file);
        for (c = (char *)file; *c; c++) {
            if (*c == '\\') {
                *c = '/';
            }
        }
    }
    else if (out->spec.sinks & AC_DEBUG_SINK_FILE) {
        /* ANCM: the FILE sink without debugFile writes aspnetcore-debug.log
         * in the app root, even when ASPNETCORE_MODULE_DEBUG_FILE is set */
        file = AC_DEBUG_DEFAULT_FILE;
    }
    else {
        file = ac_launch_env_value(l, environ, "ASPNETCORE_MODULE_DEBUG_FILE");
        if (file && !*file) {
            file = NULL;
        }
    }
    if (file && file[0] != '/') {
        file = apr_pstrcat(p, l->app_root, "/", file, NULL);
    }
    out->file = file;
    return warnings;
}

int ac_debug_wants(const ac_debug_conf_t *conf, ac_debug_level_e level)
{
    return conf->file && level != AC_DEBUG_OFF && level <= conf->spec.level;
}

const char *ac_debug_level_name(ac_debug_level_e level)
{
    switch (level) {
    case AC_DEBUG_ERROR:
        return "ERROR";
    case AC_DEBUG_WARNING:
        return "WARNING";
    case AC_DEBUG_INFO:
        return "INFO";
    case AC_DEBUG_TRACE:
        return "TRACE";
    default:
        return "OFF";
    }
}

apr_size_t ac_debug_format(char *buf, apr_size_t size, apr_time_t when,
                           ac_debug_level_e level, long pid, const char *msg)
{
    apr_time_exp_t t;
    apr_size_t n;

    if (size < 2) {
        if (size) {
            buf[0] = '\0';
        }
        return 0;
    }
    if (apr_time_exp_gmt(&t, when) != APR_SUCCESS) {
        memset(&t, 0, sizeof(t));
    }
    n = (apr_size_t)apr_snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ [%s] [pid %ld] ",
                                 t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour,
                                 t.tm_min, t.tm_sec, t.tm_usec, ac_debug_level_name(level), pid);
    /* apr_snprintf returns what it wrote: the prefix fits or is cut; the
     * newline and the terminator always have room */
    if (n > size - 2) {
        n = size - 2;
    }
    for (; *msg && n < size - 2; msg++) {
        unsigned char c = (unsigned char)*msg;
        buf[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    buf[n++] = '\n';
    buf[n] = '\0';
    return n;
}

int ac_debug_open(const char *path)
{
    if (ac_spawn_make_parents(path) < 0) {
        return -1;
    }
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
}
