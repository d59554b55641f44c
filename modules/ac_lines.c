/* ac_lines: the output line splitter. */
#include "ac_lines.h"

void ac_lines_feed(ac_lines_t *lb, const char *buf, apr_size_t n, ac_line_fn emit, void *ctx)
{
    apr_size_t i;
    for (i = 0; i < n; i++) {
        if (buf[i] == '\n' || lb->len == sizeof(lb->line) - 1) {
            if (lb->len && lb->line[lb->len - 1] == '\r') {
                lb->len--;
            }
            lb->line[lb->len] = '\0';
            emit(ctx, lb->line);
            lb->len = 0;
            if (buf[i] == '\n') {
                continue;
            }
        }
        lb->line[lb->len++] = buf[i] ? buf[i] : '?';
    }
}

void ac_lines_finish(ac_lines_t *lb, ac_line_fn emit, void *ctx)
{
    if (lb->len) {
        lb->line[lb->len] = '\0';
        emit(ctx, lb->line);
        lb->len = 0;
    }
}
