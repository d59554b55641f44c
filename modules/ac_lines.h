/* ac_lines: a backend's output, cut into lines for the error log.
 *
 * Bytes come from a pipe in pieces of any size; a line ends at '\n' (a '\r'
 * before it is dropped) or when it reaches AC_LINE_MAX - 1 bytes (the rest
 * follows as the next line), so memory stays bounded whatever the app
 * writes. A NUL byte becomes '?' (a line is a C string). What is left when
 * the pipe closes is a line of its own. httpd-free.
 */
#ifndef AC_LINES_H
#define AC_LINES_H

#include <apr.h>

#define AC_LINE_MAX 2048             /* a line as logged, with its terminating NUL */

typedef struct {
    char line[AC_LINE_MAX];
    apr_size_t len;
} ac_lines_t;

/* Called with each complete line (NUL-terminated, no newline). */
typedef void (*ac_line_fn)(void *ctx, const char *line);

/* Adds `n` bytes; calls `emit` for every line they complete. */
void ac_lines_feed(ac_lines_t *lb, const char *buf, apr_size_t n, ac_line_fn emit, void *ctx);

/* The output ended: what is held (if anything) goes out as a line. */
void ac_lines_finish(ac_lines_t *lb, ac_line_fn emit, void *ctx);

#endif /* AC_LINES_H */
