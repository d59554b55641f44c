/* ac_httpsport: AspNetCoreHttpsPort, and ASPNETCORE_ANCM_HTTPS_PORT derived
 * from the configuration where it is certain. */
#include "ac_httpsport.h"
#include "ac_parse.h"
#include "ac_resolve.h"

#include <stdlib.h>
#include <string.h>

#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <ap_listen.h>
#include <util_cfgtree.h>
#include <apr_strings.h>

#include "mod_aspnetcore.h"

APLOG_USE_MODULE(aspnetcore);

#define HTTPS_PORT_ENV "ASPNETCORE_ANCM_HTTPS_PORT"

const char *ac_httpsport_parse(apr_pool_t *p, const char *arg, int *port)
{
    long v;

    if (!strcasecmp(arg, "Off")) {
        *port = 0;
        return NULL;
    }
    if (ac_parse_int_range(p, arg, 0, AC_HTTPS_PORT_MAX, &v)) {
        return apr_psprintf(p, "%s is not a port: give 1-65535, or Off (or 0) to set no "
                            HTTPS_PORT_ENV, ac_parse_show(p, arg));
    }
    *port = (int)v;
    return NULL;
}

int ac_httpsport_for(const ac_dir_conf_t *eff, const ac_app_scope_t *scope)
{
    const ac_server_conf_t *sc;

    if (eff->https_port != AC_UNSET) {
        return eff->https_port;
    }
    if (scope->https_derived) {
        return scope->derived_https_port;
    }
    sc = scope->server ? ap_get_module_config(scope->server->module_config, &aspnetcore_module)
                       : NULL;
    return sc ? sc->tls_port : 0;
}

/* ---- which hosts run TLS, on which port ---------------------------------- */

typedef enum { TLS_NO = 0, TLS_YES, TLS_UNKNOWN } tls_e;

typedef struct {
    server_rec *s;
    tls_e tls;
    int port;                    /* its one port; 0: several, or any */
    const char *ports;           /* for the log: "443", "80, 8080", "any" */
    const char *why;             /* with TLS_UNKNOWN: why */
} host_t;

/* The argument of the last SSLEngine among `d` and its siblings (mod_ssl:
 * the last one wins), or NULL. Conditional sections (<IfModule>, <IfDefine>)
 * and Include are already flattened into their parent in the tree. */
static const char *last_ssl_engine(const ap_directive_t *d)
{
    const char *arg = NULL;
    for (; d; d = d->next) {
        if (!strcasecmp(d->directive, "SSLEngine")) {
            arg = d->args;
        }
    }
    return arg;
}

/* The SSLEngine said in the <VirtualHost> of `s` (the section httpd recorded
 * as its definition: file and line), "" when none, NULL when that section is
 * not in the tree. */
static const char *vhost_ssl_engine(const ap_directive_t *tree, const server_rec *s)
{
    const ap_directive_t *d;
    for (d = tree; d; d = d->next) {
        if (!strcasecmp(d->directive, "<VirtualHost") && s->defn_name && d->filename
            && (unsigned)d->line_num == s->defn_line_number && !strcmp(d->filename, s->defn_name)) {
            const char *arg = last_ssl_engine(d->first_child);
            return arg ? arg : "";
        }
    }
    return NULL;
}

/* Does `s` answer in TLS? mod_ssl's rule: its SSLEngine (said in its
 * <VirtualHost>, else inherited from the server level) decides; without one,
 * a host whose listener's protocol is "https" (`Listen 443`, `Listen 8443
 * https`) runs TLS. mod_ssl keeps its decision to itself, so this reads the
 * same configuration. */
static tls_e host_tls(apr_pool_t *p, const ap_directive_t *tree, server_rec *s,
                      const char *server_engine, const char **why)
{
    const char *own = s->is_virtual ? vhost_ssl_engine(tree, s) : "";
    const char *engine, *word, *proto;

    if (!own) {
        *why = "its <VirtualHost> section was not found";
        return TLS_UNKNOWN;
    }
    engine = *own ? own : server_engine;
    if (engine && *engine) {
        word = ap_getword_conf(p, &engine);
        if (*engine) {
            *why = "its SSLEngine names addresses";
            return TLS_UNKNOWN;
        }
        if (!strcasecmp(word, "on")) {
            return TLS_YES;
        }
        if (!strcasecmp(word, "off") || !strcasecmp(word, "optional")) {
            return TLS_NO;   /* optional: plain http that may upgrade (RFC 2817) */
        }
        *why = "its SSLEngine value is not on, off or optional";
        return TLS_UNKNOWN;
    }
    proto = ap_get_server_protocol(s);
    if (proto && !strcasecmp(proto, "https")
        && (ap_find_linked_module("mod_ssl.c") || ap_find_linked_module("mod_tls.c"))) {
        return TLS_YES;
    }
    return TLS_NO;
}

/* Is `port` in `list` ("443, 8443")? */
static int listed(apr_pool_t *p, const char *list, int port)
{
    char *copy = apr_pstrdup(p, list), *state, *w;
    for (w = apr_strtok(copy, ", ", &state); w; w = apr_strtok(NULL, ", ", &state)) {
        if (atoi(w) == port) {
            return 1;
        }
    }
    return 0;
}

/* Adds `port` to the host's ports: h->port stays the one port while there
 * is one. */
static void add_port(apr_pool_t *p, host_t *h, int port)
{
    if (!h->ports) {
        h->ports = apr_itoa(p, port);
        h->port = port;
    }
    else if (!listed(p, h->ports, port)) {
        h->ports = apr_psprintf(p, "%s, %d", h->ports, port);
        h->port = 0;
    }
}

/* The ports a host answers on: a <VirtualHost>'s addresses (port `*`: any);
 * for the main server, every listener's (it answers where no virtual host
 * matches, which can be on any of them). */
static void host_ports(apr_pool_t *p, host_t *h)
{
    const server_addr_rec *a;
    const ap_listen_rec *lr;

    if (!h->s->is_virtual) {
        for (lr = ap_listeners; lr; lr = lr->next) {
            if (lr->bind_addr) {
                add_port(p, h, lr->bind_addr->port);
            }
        }
    }
    for (a = h->s->is_virtual ? h->s->addrs : NULL; a; a = a->next) {
        if (!a->host_port) {
            h->ports = "any";
            h->port = 0;
            return;
        }
        add_port(p, h, a->host_port);
    }
    if (!h->ports) {
        h->ports = "none";
    }
}

static host_t *hosts_of(apr_pool_t *p, server_rec *base, int *n)
{
    const char *server_engine = last_ssl_engine(ap_conftree);
    server_rec *s;
    host_t *hosts;
    int i = 0;

    for (s = base; s; s = s->next) {
        i++;
    }
    hosts = apr_pcalloc(p, sizeof(*hosts) * (apr_size_t)i);
    for (s = base, i = 0; s; s = s->next, i++) {
        ac_server_conf_t *sc = ap_get_module_config(s->module_config, &aspnetcore_module);
        host_t *h = &hosts[i];
        h->s = s;
        h->tls = host_tls(p, ap_conftree, s, server_engine, &h->why);
        host_ports(p, h);
        if (sc) {
            sc->tls_port = h->tls == TLS_YES ? h->port : 0;
        }
    }
    *n = i;
    return hosts;
}

static const host_t *host_of(const host_t *hosts, int n, const server_rec *s)
{
    int i;
    for (i = 0; i < n; i++) {
        if (hosts[i].s == s) {
            return &hosts[i];
        }
    }
    return NULL;
}

/* ---- each app's port ------------------------------------------------------ */

static int same_str(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* Two declarations of the same app: program, app root and URL path. */
static int same_app(const ac_launch_t *a, const ac_launch_t *b)
{
    return same_str(a->process_path, b->process_path) && same_str(a->app_root, b->app_root)
           && same_str(a->virtual_path, b->virtual_path);
}

static const char *host_name(const server_rec *s)
{
    return s->server_hostname ? s->server_hostname : "";
}

/* An app in a host without TLS: the port of the TLS hosts of the same
 * ServerName that declare the same app, when they agree on one. */
static int port_from_twins(apr_pool_t *p, const ac_app_scope_t *scope, const host_t *hosts,
                           int n, const char **why)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    const ac_launch_t *l = scope->resolved->launch;
    host_t found;
    int i;

    memset(&found, 0, sizeof(found));
    for (i = 0; i < apps->nelts; i++) {
        const ac_app_scope_t *other = APR_ARRAY_IDX(apps, i, ac_app_scope_t *);
        const host_t *h = host_of(hosts, n, other->server);
        if (other == scope || !other->resolved || !h || h->tls != TLS_YES
            || strcasecmp(host_name(other->server), host_name(scope->server))
            || !same_app(other->resolved->launch, l)) {
            continue;
        }
        if (!h->port) {
            *why = apr_psprintf(p, "the https virtual host of %s at %s:%u answers on ports %s",
                                host_name(h->s), h->s->defn_name, h->s->defn_line_number,
                                h->ports);
            return 0;
        }
        add_port(p, &found, h->port);
    }
    if (!found.ports) {
        *why = NULL;     /* no https host runs it: nothing to say */
        return 0;
    }
    if (!found.port) {
        *why = apr_psprintf(p, "the https virtual hosts of %s that run it answer on ports %s",
                            host_name(scope->server), found.ports);
        return 0;
    }
    *why = apr_psprintf(p, "the https virtual host of %s that runs it answers on port %d",
                        host_name(scope->server), found.port);
    return found.port;
}

/* The derived port of an app of the main configuration; *why says how, or
 * why none (NULL: nothing worth saying). */
static int derive_port(apr_pool_t *p, const ac_app_scope_t *scope, const host_t *hosts, int n,
                       const char **why)
{
    const host_t *h = host_of(hosts, n, scope->server);

    *why = NULL;
    if (ac_pairs_get(scope->resolved->launch->env, HTTPS_PORT_ENV) || !h) {
        return 0;        /* configured as a variable: that wins anyway */
    }
    switch (h->tls) {
    case TLS_YES:
        if (!h->port) {
            *why = apr_psprintf(p, "its https host answers on ports %s", h->ports);
            return 0;
        }
        *why = apr_psprintf(p, "its host runs https on port %d", h->port);
        return h->port;
    case TLS_UNKNOWN:
        *why = apr_psprintf(p, "cannot tell whether its host runs https: %s", h->why);
        return 0;
    default:
        return port_from_twins(p, scope, hosts, n, why);
    }
}

void ac_httpsport_derive(apr_pool_t *ptemp, server_rec *base)
{
    apr_array_header_t *apps = ac_config_declared_apps();
    host_t *hosts;
    int n, i;

    hosts = hosts_of(ptemp, base, &n);
    for (i = 0; apps && i < apps->nelts; i++) {
        ac_app_scope_t *scope = APR_ARRAY_IDX(apps, i, ac_app_scope_t *);
        ac_resolved_t *res = scope->resolved;
        const char *why;
        int port;

        if (!res || !res->launch
            || ac_resolve_scope_conf(ptemp, scope)->https_port != AC_UNSET) {
            continue;    /* known only at request time, or said by AspNetCoreHttpsPort */
        }
        port = derive_port(ptemp, scope, hosts, n, &why);
        scope->https_derived = 1;
        scope->derived_https_port = port;
        if (port) {
            ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, base, "[%s] " HTTPS_PORT_ENV "=%d: %s",
                         res->label, port, why);
        }
        else if (why) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, base, "[%s] " HTTPS_PORT_ENV " is not set "
                         "(UseHttpsRedirection will not redirect): %s; AspNetCoreHttpsPort "
                         "says which port (the app declared at %s)", res->label, why,
                         scope->defined_at);
        }
        if (res->launch->https_port != port) {
            res->launch->https_port = port;
            if (!res->error) {
                ac_launch_key(res->launch, ptemp, res->key);
            }
        }
    }
}
