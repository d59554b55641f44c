/* ac_applevel: the level of an app's output line (see ac_applevel.h). */
#include "ac_applevel.h"

#include <string.h>

#define JSON_LOOK 256     /* how far into a JSON line "LogLevel" is looked for */
#define COLOUR_SKIP 64    /* colour codes passed over before a header */

/* Past ANSI colour sequences (ESC [ digits/; m) at the start, within COLOUR_SKIP. */
static const char *past_colours(const char *p)
{
    const char *start = p;
    while (p[0] == '\033' && p[1] == '[' && p - start < COLOUR_SKIP) {
        const char *q = p + 2;
        while ((*q >= '0' && *q <= '9') || *q == ';') {
            q++;
        }
        if (*q != 'm') {
            break;
        }
        p = q + 1;
    }
    return p;
}

/* The simple formatter's header "xxxx: ", or 0. Colour codes may close
 * between the level's name and its colon. */
static int simple_header(const char *line)
{
    static const struct { const char *name; int level; } names[] = {
        { "warn", AC_APPLEVEL_WARNING }, { "fail", AC_APPLEVEL_ERR },
        { "crit", AC_APPLEVEL_CRIT }, { "info", AC_APPLEVEL_INFO },
        { "dbug", AC_APPLEVEL_INFO }, { "trce", AC_APPLEVEL_INFO },
    };
    const char *p = past_colours(line);
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (!strncmp(p, names[i].name, 4)) {
            const char *after = past_colours(p + 4);
            if (after[0] == ':' && (after[1] == ' ' || after[1] == '\0')) {
                return names[i].level;
            }
        }
    }
    return 0;
}

static int systemd_level(const char *line)
{
    if (line[0] != '<' || line[1] < '0' || line[1] > '7' || line[2] != '>') {
        return 0;
    }
    switch (line[1]) {
    case '0': case '1': case '2':
        return AC_APPLEVEL_CRIT;
    case '3':
        return AC_APPLEVEL_ERR;
    case '4':
        return AC_APPLEVEL_WARNING;
    default:
        return AC_APPLEVEL_INFO;
    }
}

/* "LogLevel":"Warning" (spaces allowed around the colon) near the start
 * of a JSON line; 0 if it is not one. */
static int json_level(const char *line)
{
    static const char key[] = "\"LogLevel\"";
    size_t n = strnlen(line, JSON_LOOK), i;

    if (line[0] != '{') {
        return 0;
    }
    for (i = 1; i + sizeof(key) - 1 <= n; i++) {
        const char *p = line + i;
        if (memcmp(p, key, sizeof(key) - 1)) {
            continue;
        }
        p += sizeof(key) - 1;
        while (*p == ' ') {
            p++;
        }
        if (*p++ != ':') {
            return AC_APPLEVEL_INFO;
        }
        while (*p == ' ') {
            p++;
        }
        if (!strncmp(p, "\"Warning\"", 9)) {
            return AC_APPLEVEL_WARNING;
        }
        if (!strncmp(p, "\"Error\"", 7)) {
            return AC_APPLEVEL_ERR;
        }
        return !strncmp(p, "\"Critical\"", 10) ? AC_APPLEVEL_CRIT : AC_APPLEVEL_INFO;
    }
    return AC_APPLEVEL_INFO;
}

int ac_applevel_classify(ac_applevel_t *st, const char *line)
{
    int level;

    if ((line[0] == ' ' || line[0] == '\t') && st->entry_level) {
        return st->entry_level;     /* the message of the entry above */
    }
    st->entry_level = 0;
    if ((level = simple_header(line)) != 0) {
        st->entry_level = level;
        return level;
    }
    if ((level = systemd_level(line)) != 0) {
        return level;
    }
    return line[0] == '{' ? json_level(line) : AC_APPLEVEL_INFO;
}
