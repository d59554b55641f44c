/* ac_webconfig: hardened import of the <aspNetCore> section of a web.config. */
#include "ac_webconfig.h"

#include <stdarg.h>
#include <string.h>

#include <apr_file_io.h>
#include <apr_hash.h>
#include <apr_lib.h>
#include <apr_strings.h>

#include <libxml/SAX2.h>
#include <libxml/encoding.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

/* The structured error callback takes a const error from libxml2 2.12 on. */
#if LIBXML_VERSION >= 21200
typedef const xmlError ac_xml_error_t;
#else
typedef xmlError ac_xml_error_t;
#endif

#define XML_MESSAGE_MAX 200     /* bytes of a libxml2 message kept in ours */

/* State of one import, reachable from the parser context (_private). */
typedef struct {
    apr_pool_t *p;
    const char *path;                  /* for messages */
    const char *xml_error;             /* first libxml2 error, formatted */
    int dtd_line;                      /* > 0: a DOCTYPE there stopped the parser */
    ac_env_lookup_fn lookup;
    void *lookup_ctx;
} import_t;

/* One IIS collection (environmentVariables, handlerSettings) being read:
 * entries in order, with an index by lower-cased name so that a duplicate
 * or a <remove> finds its entry in constant time even in a hostile file. */
typedef struct {
    const char *element;               /* "environmentVariables" */
    const char *add;                   /* "environmentVariable" */
    int expand;                        /* values are %VAR% expanded */
    int env_names;                     /* names end up in envp: no '=' */
} collection_kind_t;

static const collection_kind_t ENV_VARS = {
    "environmentVariables", "environmentVariable", 1, 1
};
static const collection_kind_t HANDLER_SETTINGS = {
    "handlerSettings", "handlerSetting", 0, 0
};

/* -------------------------------------------------------------- messages */

/* "<path>:<line>: " + the formatted message. `fmt` is always a literal of
 * this file; untrusted text only ever comes in as an argument. */
static const char *fail(const import_t *im, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static const char *fail(const import_t *im, int line, const char *fmt, ...)
{
    va_list ap;
    const char *msg;

    va_start(ap, fmt);
    msg = apr_pvsprintf(im->p, fmt, ap);
    va_end(ap);
    return apr_psprintf(im->p, "%s:%d: %s", im->path, line, msg);
}

/* A libxml2 message fit for ours: no trailing newline, no control bytes
 * (it may quote the document), at most XML_MESSAGE_MAX bytes. */
static const char *clean_message(apr_pool_t *p, const char *msg)
{
    apr_size_t n = strlen(msg), i;
    char *out;

    while (n > 0 && apr_isspace(msg[n - 1])) {
        n--;
    }
    if (n > XML_MESSAGE_MAX) {
        n = XML_MESSAGE_MAX;
    }
    out = apr_pstrmemdup(p, msg, n);
    for (i = 0; i < n; i++) {
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7F) {
            out[i] = ' ';
        }
    }
    return out;
}

/* ------------------------------------------------------- libxml2 callbacks */

/* Installed on the parser context only (never libxml2's global handlers,
 * which belong to whoever else in the process uses libxml2): keeps the
 * first error for our message, prints nothing. */
static void on_xml_error(void *data, ac_xml_error_t *err)
{
    xmlParserCtxtPtr ctxt = data;
    import_t *im = ctxt ? ctxt->_private : NULL;
    const char *msg;

    if (!im || !err || err->level < XML_ERR_ERROR || im->xml_error) {
        return;             /* warnings do not fail an import; the first error explains best */
    }
    msg = clean_message(im->p, err->message ? err->message : "unknown error");
    /* "Input is not proper UTF-8, indicate encoding !": the declaration
     * would not help, we read UTF-8 whatever it says (see check_encoding). */
    im->xml_error = fail(im, err->line > 0 ? err->line : 1, "XML error: %s%s", msg,
                         strstr(msg, "UTF-8") ? " (a web.config must be UTF-8, whatever its "
                                                "XML declaration says)" : "");
}

/* <!DOCTYPE ...: called before any of the internal subset is read. A
 * web.config has no use for a DTD, and a DTD is what entity attacks need
 * (billion laughs, external entities, parameter entities): stop here, so
 * nothing of it is ever declared, expanded or fetched. */
static void on_internal_subset(void *data, const xmlChar *name, const xmlChar *external_id,
                               const xmlChar *system_id)
{
    xmlParserCtxtPtr ctxt = data;
    import_t *im = ctxt->_private;

    (void)name;
    (void)external_id;
    (void)system_id;
    im->dtd_line = ctxt->input && ctxt->input->line > 0 ? ctxt->input->line : 1;
    xmlStopParser(ctxt);
}

/* libxml2 numbers an element with the line where its start tag ENDS; our
 * messages point at the '<' (the line a reader looks for when the
 * attributes are spread over several lines, as in published files). At
 * this call the whole start tag is still in the input buffer (libxml2
 * re-reads it from there if the buffer moves) and no raw '<' can occur
 * inside a tag, so counting newlines back to the '<' gives the start line.
 * It is kept in the node's _private, the field libxml2 leaves to
 * applications. */
static void on_start_element(void *data, const xmlChar *localname, const xmlChar *prefix,
                             const xmlChar *uri, int nb_namespaces,
                             const xmlChar **namespaces, int nb_attributes,
                             int nb_defaulted, const xmlChar **attributes)
{
    xmlParserCtxtPtr ctxt = data;
    xmlParserInputPtr in = ctxt->input;
    xmlNodePtr parent = ctxt->node;
    const xmlChar *c = in ? in->cur : NULL;
    int newlines = 0;

    xmlSAX2StartElementNs(data, localname, prefix, uri, nb_namespaces, namespaces,
                          nb_attributes, nb_defaulted, attributes);
    if (!c || !in->base || ctxt->node == parent || !ctxt->node) {
        return;             /* no input to look at, or the node was not created */
    }
    while (c > in->base && *--c != '<') {
        if (*c == '\n') {
            newlines++;
        }
    }
    if (*c == '<' && in->line - newlines > 0) {
        ctxt->node->_private = (void *)(apr_uintptr_t)(in->line - newlines);
    }
}

/* The line of an element's '<' (see on_start_element). */
static int node_line(xmlNodePtr n)
{
    long line;

    if (n->_private) {
        return (int)(apr_uintptr_t)n->_private;
    }
    line = xmlGetLineNo(n);
    return line > 0 && line < 0x7FFFFFFF ? (int)line : 1;
}

/* ------------------------------------------------------------ tree helpers */

/* An element or attribute name for a message. XML names hold no control
 * characters, but libxml2 allows them 50000 bytes long. */
static const char *name_of(apr_pool_t *p, const xmlChar *name)
{
    const char *s = (const char *)name;
    apr_size_t n = strlen(s);

    if (n <= AC_PARSE_SHOW_MAX) {
        return s;
    }
    n = AC_PARSE_SHOW_MAX;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) {
        n--;                                /* not inside a UTF-8 sequence */
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, s, n), "...", NULL);
}

static int is_element(xmlNodePtr n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* The value of an attribute, copied into the pool ("" for an empty one);
 * NULL only when libxml2 runs out of memory. */
static const char *attr_value(apr_pool_t *p, xmlAttrPtr a)
{
    xmlChar *v = xmlNodeGetContent((xmlNodePtr)a);
    const char *copy;

    if (!v) {
        return NULL;
    }
    copy = apr_pstrdup(p, (const char *)v);
    xmlFree(v);
    return copy;
}

/* The value of attribute `name` without a namespace, or NULL when absent;
 * *err is set (else NULL) when libxml2 runs out of memory. */
static const char *get_attr(import_t *im, xmlNodePtr n, const char *name, const char **err)
{
    xmlAttrPtr a;

    *err = NULL;
    for (a = n->properties; a; a = a->next) {
        if (!a->ns && strcmp((const char *)a->name, name) == 0) {
            const char *v = attr_value(im->p, a);
            if (!v) {
                *err = fail(im, node_line(n), "out of memory reading the web.config");
            }
            return v;
        }
    }
    return NULL;
}

/* Every attribute of `n` must be one of `allowed` (NULL-terminated).
 * Attributes in a namespace (xmlns:*, xdt:Transform, ...) belong to other
 * vocabularies and are not ours to judge. */
static const char *check_attributes(import_t *im, xmlNodePtr n, const char *const *allowed)
{
    xmlAttrPtr a;

    for (a = n->properties; a; a = a->next) {
        int i, known = 0;
        if (a->ns) {
            continue;
        }
        for (i = 0; allowed[i] && !known; i++) {
            known = strcmp((const char *)a->name, allowed[i]) == 0;
        }
        if (!known) {
            return fail(im, node_line(n), "unrecognized attribute '%s' on <%s> (attribute "
                        "names are case-sensitive)", name_of(im->p, a->name),
                        name_of(im->p, n->name));
        }
    }
    return NULL;
}

/* ------------------------------------------------------------- collections */

static const char *lower(apr_pool_t *p, const char *s)
{
    char *out = apr_pstrdup(p, s), *c;
    for (c = out; *c; c++) {
        *c = (char)apr_tolower(*c);
    }
    return out;
}

/* Reads one collection element into `list` (ac_env_entry_t) with IIS's
 * rules: <add-element name= value=> adds or, for a name already there
 * (ignoring case), replaces that entry in place; <remove name=> deletes;
 * <clear/> empties what came before (*cleared set). */
static const char *read_collection(import_t *im, xmlNodePtr coll, const collection_kind_t *kind,
                                   apr_array_header_t *list, int *cleared)
{
    static const char *const no_attributes[] = { NULL };
    static const char *const item_attributes[] = { "name", "value", NULL };
    static const char *const remove_attributes[] = { "name", NULL };
    apr_hash_t *index = apr_hash_make(im->p);     /* lower-cased name -> int* (position) */
    xmlNodePtr n;
    const char *err;
    int i, kept;

    if ((err = check_attributes(im, coll, no_attributes)) != NULL) {
        return err;
    }
    for (n = coll->children; n; n = n->next) {
        const char *name, *value = NULL, *key;
        ac_env_entry_t *entry;
        int *at, line;

        if (n->type != XML_ELEMENT_NODE) {
            continue;                       /* text, comments */
        }
        line = node_line(n);
        err = NULL;
        if (is_element(n, "clear")) {
            if ((err = check_attributes(im, n, no_attributes)) != NULL) {
                return err;
            }
            apr_array_clear(list);
            apr_hash_clear(index);
            *cleared = 1;
            continue;
        }
        if (!is_element(n, kind->add) && !is_element(n, "remove")) {
            return fail(im, line, "unrecognized element <%s> in <%s> (allowed: %s, remove, "
                        "clear)", name_of(im->p, n->name), kind->element,
                        kind->add);
        }
        if ((err = check_attributes(im, n, is_element(n, "remove") ? remove_attributes
                                                                   : item_attributes))
            != NULL) {
            return err;
        }
        name = get_attr(im, n, "name", &err);
        if (err) {
            return err;
        }
        if (!name || !*name) {
            return fail(im, line, "<%s> needs a non-empty 'name' attribute",
                        (const char *)n->name);
        }
        if (kind->env_names && strchr(name, '=')) {
            return fail(im, line, "environment variable name %s must not contain '='",
                        ac_parse_show(im->p, name));
        }
        key = lower(im->p, name);
        at = apr_hash_get(index, key, APR_HASH_KEY_STRING);
        if (is_element(n, "remove")) {
            if (at) {
                APR_ARRAY_IDX(list, *at, ac_env_entry_t).name = NULL;   /* compacted below */
                apr_hash_set(index, key, APR_HASH_KEY_STRING, NULL);
            }
            continue;
        }
        value = get_attr(im, n, "value", &err);
        if (err) {
            return err;
        }
        if (!value) {
            return fail(im, line, "<%s name=%s> needs a 'value' attribute", kind->add,
                        ac_parse_show(im->p, name));
        }
        if (kind->expand
            && (err = ac_expand_env(im->p, value, im->lookup, im->lookup_ctx, &value)) != NULL) {
            return fail(im, line, "%s %s: %s", kind->add, ac_parse_show(im->p, name), err);
        }
        if (at) {
            /* The later one wins, name spelling included, in the first's place. */
            entry = &APR_ARRAY_IDX(list, *at, ac_env_entry_t);
            entry->name = name;
            entry->value = value;
            continue;
        }
        at = apr_palloc(im->p, sizeof(*at));
        *at = list->nelts;
        apr_hash_set(index, key, APR_HASH_KEY_STRING, at);
        entry = apr_array_push(list);
        entry->name = name;
        entry->value = value;
    }
    /* Drop what <remove> left behind, keeping the order. */
    for (i = 0, kept = 0; i < list->nelts; i++) {
        ac_env_entry_t e = APR_ARRAY_IDX(list, i, ac_env_entry_t);
        if (e.name) {
            APR_ARRAY_IDX(list, kept++, ac_env_entry_t) = e;
        }
    }
    list->nelts = kept;
    return NULL;
}

/* --------------------------------------------------------------- aspNetCore */

/* A string attribute of ANCM's schema marked expanded="true": Windows
 * separators turned into ours first (so that a variable's Linux value is
 * never rewritten), then %VAR% references resolved. */
static const char *path_value(import_t *im, int line, const char *attr, const char *v,
                              const char **out)
{
    const char *err = ac_expand_env(im->p, ac_windows_path(im->p, v), im->lookup,
                                    im->lookup_ctx, out);
    return err ? fail(im, line, "%s: %s", attr, err) : NULL;
}

/* A whole-number attribute within [min, max]. */
static const char *int_value(import_t *im, int line, const char *attr, const char *v,
                             long min, long max, int *out)
{
    long n;
    const char *err = ac_parse_int_range(im->p, v, min, max, &n);
    if (err) {
        return fail(im, line, "%s %s", attr, err);
    }
    *out = (int)n;
    return NULL;
}

static const char *bool_value(import_t *im, int line, const char *attr, const char *v,
                              int *out)
{
    const char *err = ac_parse_bool(im->p, v, out);
    return err ? fail(im, line, "%s %s", attr, err) : NULL;
}

/* One attribute of <aspNetCore> (ANCM V2 schema, case-sensitive names). */
static const char *apply_attribute(import_t *im, int line, const char *name, const char *v,
                                   ac_webconfig_t *wc)
{
    const char *err;

    if (strcmp(name, "processPath") == 0) {
        const char *b = v;
        while (apr_isspace(*b)) {
            b++;
        }
        if (!*b) {
            return fail(im, line, "Attribute 'processPath' is required.");
        }
        if ((err = path_value(im, line, name, v, &wc->process_path)) != NULL) {
            return err;
        }
        if (!*wc->process_path) {
            return fail(im, line, "processPath %s is empty once expanded",
                        ac_parse_show(im->p, v));
        }
        return NULL;
    }
    if (strcmp(name, "arguments") == 0) {
        return path_value(im, line, name, v, &wc->arguments);
    }
    if (strcmp(name, "stdoutLogFile") == 0) {
        return path_value(im, line, name, v, &wc->stdout_log_file);
    }
    if (strcmp(name, "stdoutLogEnabled") == 0) {
        return bool_value(im, line, name, v, &wc->stdout_log_enabled);
    }
    if (strcmp(name, "disableStartUpErrorPage") == 0) {
        return bool_value(im, line, name, v, &wc->disable_startup_error_page);
    }
    if (strcmp(name, "forwardWindowsAuthToken") == 0) {
        return bool_value(im, line, name, v, &wc->forward_windows_auth_token);
    }
    if (strcmp(name, "startupTimeLimit") == 0) {
        return int_value(im, line, name, v, 0, AC_STARTUP_TIME_LIMIT_MAX, &wc->startup_time_limit);
    }
    if (strcmp(name, "shutdownTimeLimit") == 0) {
        return int_value(im, line, name, v, 0, AC_SHUTDOWN_TIME_LIMIT_MAX, &wc->shutdown_time_limit);
    }
    if (strcmp(name, "rapidFailsPerMinute") == 0) {
        return int_value(im, line, name, v, 0, AC_RAPID_FAILS_MAX, &wc->rapid_fails_per_minute);
    }
    if (strcmp(name, "processesPerApplication") == 0) {
        return int_value(im, line, name, v, 1, 100, &wc->processes_per_application);
    }
    if (strcmp(name, "requestTimeout") == 0) {
        err = ac_parse_timespan(im->p, v, AC_REQUEST_TIMEOUT_MAX, &wc->request_timeout);
        return err ? fail(im, line, "%s %s", name, err) : NULL;
    }
    if (strcmp(name, "hostingModel") == 0) {
        err = ac_parse_hosting_model(im->p, v, &wc->hosting_inprocess);
        return err ? fail(im, line, "%s %s", name, err) : NULL;
    }
    return fail(im, line, "unrecognized attribute '%s' on <aspNetCore> (attribute names are "
                "case-sensitive)", name_of(im->p, (const xmlChar *)name));
}

static const char *read_aspnetcore(import_t *im, xmlNodePtr el, ac_webconfig_t *wc)
{
    xmlNodePtr n;
    xmlAttrPtr a;
    int line = node_line(el), env_line = 0, handler_line = 0, recycle_line = 0;
    const char *err;

    wc->line = line;
    for (a = el->properties; a; a = a->next) {
        const char *v;
        if (a->ns) {
            continue;                       /* another vocabulary (see check_attributes) */
        }
        if (!(v = attr_value(im->p, a))) {
            return fail(im, line, "out of memory reading the web.config");
        }
        if ((err = apply_attribute(im, line, (const char *)a->name, v, wc)) != NULL) {
            return err;
        }
    }
    if (!wc->process_path) {
        return fail(im, line, "Attribute 'processPath' is required.");
    }
    for (n = el->children; n; n = n->next) {
        int *seen;
        if (n->type != XML_ELEMENT_NODE) {
            continue;
        }
        if (is_element(n, ENV_VARS.element)) {
            seen = &env_line;
        }
        else if (is_element(n, HANDLER_SETTINGS.element)) {
            seen = &handler_line;
        }
        else if (is_element(n, "recycleOnFileChange")) {
            /* ANCM in-process only (recycle when listed files change):
             * valid in the schema, nothing to do out of process. */
            seen = &recycle_line;
        }
        else {
            return fail(im, node_line(n), "unrecognized element <%s> in <aspNetCore> "
                        "(allowed: environmentVariables, handlerSettings, "
                        "recycleOnFileChange)", name_of(im->p, n->name));
        }
        if (*seen) {
            return fail(im, node_line(n), "a second <%s> in <aspNetCore> (the first is at "
                        "line %d)", (const char *)n->name, *seen);
        }
        *seen = node_line(n);
        if (seen == &env_line) {
            err = read_collection(im, n, &ENV_VARS, wc->env, &wc->env_cleared);
        }
        else if (seen == &handler_line) {
            int cleared = 0;
            err = read_collection(im, n, &HANDLER_SETTINGS, wc->handler_settings, &cleared);
        }
        else {
            err = NULL;
        }
        if (err) {
            return err;
        }
    }
    return NULL;
}

/* Records the <aspNetCore> children of a <system.webServer>; a second one
 * anywhere that applies to the app is an error (IIS: duplicate section). */
static const char *find_in_webserver(import_t *im, xmlNodePtr ws, xmlNodePtr *found)
{
    xmlNodePtr n;

    for (n = ws->children; n; n = n->next) {
        if (!is_element(n, "aspNetCore")) {
            continue;
        }
        if (*found) {
            return fail(im, node_line(n), "two <aspNetCore> elements apply to this app, at "
                        "lines %d and %d: keep one", node_line(*found), node_line(n));
        }
        *found = n;
    }
    return NULL;
}

/* Finds the <aspNetCore> that applies to the app at the web.config's own
 * directory: configuration/system.webServer, or the same inside a
 * <location> without a path, with path="" or path="." (what dotnet
 * publish writes). Other locations are for sub-paths: not ours. Names are
 * compared without their namespace: old Visual Studio templates put the
 * whole file in a default namespace, which IIS ignores. */
static const char *find_aspnetcore(import_t *im, xmlDocPtr doc, xmlNodePtr *found)
{
    xmlNodePtr root = xmlDocGetRootElement(doc), n, m;
    const char *err;

    *found = NULL;
    if (!root || !is_element(root, "configuration")) {
        return fail(im, root ? node_line(root) : 1, "the root element is <%s>, not "
                    "<configuration>: not a web.config",
                    root ? name_of(im->p, root->name) : "nothing");
    }
    for (n = root->children; n; n = n->next) {
        if (is_element(n, "system.webServer")) {
            if ((err = find_in_webserver(im, n, found)) != NULL) {
                return err;
            }
        }
        else if (is_element(n, "location")) {
            const char *path = get_attr(im, n, "path", &err);
            if (err) {
                return err;
            }
            if (path && *path && strcmp(path, ".") != 0) {
                continue;
            }
            for (m = n->children; m; m = m->next) {
                if (is_element(m, "system.webServer")
                    && (err = find_in_webserver(im, m, found)) != NULL) {
                    return err;
                }
            }
        }
    }
    if (!*found) {
        return fail(im, node_line(root), "no <aspNetCore> element in "
                    "configuration/system.webServer (or in a <location path=\".\">)");
    }
    return NULL;
}

/* ------------------------------------------------------------------ parse */

/* libxml2 would decode a declared or byte-order-marked non-UTF-8 encoding
 * with iconv, whose errors it prints to stderr past any context handler.
 * Published web.config files are UTF-8 (usually with a BOM): anything else
 * is refused here, and the parser is told to read UTF-8 whatever the XML
 * declaration says. */
static const char *check_encoding(import_t *im, const char *buf, apr_size_t len)
{
    const char *name = NULL;

    if (len < 4) {
        return NULL;                        /* too short to tell: the parser will say */
    }
    switch (xmlDetectCharEncoding((const unsigned char *)buf, 4)) {
    case XML_CHAR_ENCODING_UTF16LE:
    case XML_CHAR_ENCODING_UTF16BE:
        name = "UTF-16";
        break;
    case XML_CHAR_ENCODING_UCS4LE:
    case XML_CHAR_ENCODING_UCS4BE:
    case XML_CHAR_ENCODING_UCS4_2143:
    case XML_CHAR_ENCODING_UCS4_3412:
        name = "UCS-4";
        break;
    case XML_CHAR_ENCODING_EBCDIC:
        name = "EBCDIC";
        break;
    default:
        return NULL;
    }
    return fail(im, 1, "the file is encoded in %s: a web.config must be saved as UTF-8", name);
}

/* Parses the document into *doc, or returns the reason it cannot be used. */
static const char *parse_xml(import_t *im, const char *buf, apr_size_t len, xmlDocPtr *doc)
{
    xmlParserCtxtPtr ctxt;
    const char *err = NULL;

    *doc = NULL;
    ctxt = xmlNewParserCtxt();
    if (!ctxt) {
        return fail(im, 1, "out of memory creating an XML parser");
    }
    ctxt->_private = im;
#if LIBXML_VERSION >= 21300
    xmlCtxtSetErrorHandler(ctxt, on_xml_error, ctxt);
#else
    ctxt->sax->serror = on_xml_error;       /* used with ctxt->userData, which is ctxt */
#endif
    ctxt->sax->internalSubset = on_internal_subset;
    ctxt->sax->externalSubset = NULL;       /* belt and braces: never load a DTD */
    ctxt->sax->resolveEntity = NULL;
    ctxt->sax->startElementNs = on_start_element;

    /* No XML_PARSE_NOENT, DTDLOAD, DTDATTR, DTDVALID, XINCLUDE or HUGE (keeps
     * libxml2's depth and size limits); NONET in case anything tried. */
    *doc = xmlCtxtReadMemory(ctxt, buf, (int)len, NULL, "UTF-8",
                             XML_PARSE_NONET | XML_PARSE_IGNORE_ENC | XML_PARSE_BIG_LINES);
    if (im->dtd_line) {
        err = fail(im, im->dtd_line, "a web.config must not contain a DTD (<!DOCTYPE>): "
                   "entity declarations and external references are refused");
    }
    else if (!*doc || im->xml_error || !ctxt->wellFormed) {
        err = im->xml_error ? im->xml_error
                            : fail(im, 1, "not well-formed XML");
    }
    else if ((*doc)->intSubset || (*doc)->extSubset) {
        err = fail(im, 1, "a web.config must not contain a DTD");   /* cannot happen */
    }
    if (err && *doc) {
        xmlFreeDoc(*doc);
        *doc = NULL;
    }
    xmlFreeParserCtxt(ctxt);
    return err;
}

const char *ac_webconfig_parse(apr_pool_t *p, const char *path_for_messages,
                               const char *buf, apr_size_t len,
                               ac_env_lookup_fn lookup, void *lookup_ctx,
                               ac_webconfig_t **out)
{
    import_t im;
    ac_webconfig_t *wc;
    xmlDocPtr doc;
    xmlNodePtr el;
    const char *err;

    memset(&im, 0, sizeof(im));
    im.p = p;
    im.path = path_for_messages ? path_for_messages : "web.config";
    im.lookup = lookup;
    im.lookup_ctx = lookup_ctx;

    if (len > AC_WEBCONFIG_MAX_BYTES) {
        return apr_psprintf(p, "%s: %" APR_SIZE_T_FMT " bytes is more than the %d a "
                            "web.config may have", im.path, len, AC_WEBCONFIG_MAX_BYTES);
    }
    if ((err = check_encoding(&im, buf, len)) != NULL
        || (err = parse_xml(&im, buf, len, &doc)) != NULL) {
        return err;
    }

    wc = apr_pcalloc(p, sizeof(*wc));
    wc->path = im.path;
    wc->stdout_log_enabled = -1;
    wc->request_timeout = -1;
    wc->startup_time_limit = -1;
    wc->shutdown_time_limit = -1;
    wc->rapid_fails_per_minute = -1;
    wc->processes_per_application = -1;
    wc->disable_startup_error_page = -1;
    wc->forward_windows_auth_token = -1;
    wc->hosting_inprocess = -1;
    wc->env = apr_array_make(p, 4, sizeof(ac_env_entry_t));
    wc->handler_settings = apr_array_make(p, 2, sizeof(ac_env_entry_t));

    /* Everything read from the tree is copied into `p`: the document goes. */
    err = find_aspnetcore(&im, doc, &el);
    if (!err) {
        err = read_aspnetcore(&im, el, wc);
    }
    xmlFreeDoc(doc);
    if (err) {
        return err;
    }
    *out = wc;
    return NULL;
}

const char *ac_webconfig_load(apr_pool_t *p, const char *path,
                              ac_env_lookup_fn lookup, void *lookup_ctx,
                              ac_webconfig_t **out)
{
    apr_pool_t *scratch;
    apr_file_t *f;
    apr_finfo_t fi;
    apr_status_t rv;
    apr_size_t want, got = 0;
    char *buf, errbuf[120];
    const char *err;

    /* The file's bytes live only while they are parsed. */
    if ((rv = apr_pool_create(&scratch, p)) != APR_SUCCESS) {
        return apr_psprintf(p, "%s: cannot allocate: %s", path,
                            apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    /* NONBLOCK: opening a FIFO put in its place must not hang the server
     * (it is refused just below as not a regular file). */
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY | APR_FOPEN_NONBLOCK,
                       APR_OS_DEFAULT, scratch);
    if (rv == APR_SUCCESS) {
        rv = apr_file_info_get(&fi, APR_FINFO_TYPE | APR_FINFO_SIZE, f);
    }
    if (rv != APR_SUCCESS) {
        err = apr_psprintf(p, "%s: cannot read: %s", path,
                           apr_strerror(rv, errbuf, sizeof(errbuf)));
    }
    else if (fi.filetype != APR_REG) {
        err = apr_psprintf(p, "%s: not a regular file", path);
    }
    else if (fi.size > AC_WEBCONFIG_MAX_BYTES) {
        err = apr_psprintf(p, "%s: %" APR_OFF_T_FMT " bytes is more than the %d a "
                           "web.config may have", path, fi.size, AC_WEBCONFIG_MAX_BYTES);
    }
    else {
        /* One byte more than the size tells a file that grew meanwhile. */
        want = (apr_size_t)fi.size + 1;
        buf = apr_palloc(scratch, want);
        rv = apr_file_read_full(f, buf, want, &got);
        if (rv != APR_SUCCESS && rv != APR_EOF) {
            err = apr_psprintf(p, "%s: cannot read: %s", path,
                               apr_strerror(rv, errbuf, sizeof(errbuf)));
        }
        else if (got == want) {
            err = apr_psprintf(p, "%s: changed while it was read", path);
        }
        else {
            err = ac_webconfig_parse(p, path, buf, got, lookup, lookup_ctx, out);
        }
    }
    apr_pool_destroy(scratch);              /* closes the file too */
    return err;
}
