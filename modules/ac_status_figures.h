/* ac_status_figures: the status page's figures per process (user, resident
 * memory, CPU time, tasks) and per app (rolling restarts), as the
 * supervisor publishes them (ac_sup_recycle.c), in JSON and HTML. */
#ifndef AC_STATUS_FIGURES_H
#define AC_STATUS_FIGURES_H

#include <httpd.h>

#include "ac_shared.h"

/* `, "user": ..., "uid": ..., "memory_kib": ..., "cpu_ms": ..., "tasks": ...`
 * (null: not known yet). */
void ac_status_json_process_figures(request_rec *r, const ac_slot_diag_t *d);
/* `"recycles": N, "last_recycle": {...} or null, ` */
void ac_status_json_recycles(request_rec *r, const ac_app_diag_t *d);

/* The head cells and one process's cells of the processes table. */
const char *ac_status_html_figures_head(void);
const char *ac_status_html_process_figures(apr_pool_t *p, const ac_slot_diag_t *d);
/* The app's "recycles" row's value (HTML). */
const char *ac_status_html_recycles(apr_pool_t *p, const ac_app_diag_t *d);

#endif /* AC_STATUS_FIGURES_H */
