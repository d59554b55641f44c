/* ac_http1: strict in-place parsing of backend response heads and chunked bodies. */
#include "ac_http1.h"

#include <string.h>
#include <apr_lib.h>
#include <apr_strings.h>

apr_size_t ac_http1_head_length(const char *buf, apr_size_t len, apr_size_t *scanned)
{
    apr_size_t i = *scanned;

    /* The head ends with an empty line: "\n\r\n" or "\n\n". */
    for (; i < len; i++) {
        if (buf[i] != '\n') {
            continue;
        }
        if (i + 1 < len && buf[i + 1] == '\n') {
            return i + 2;
        }
        if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
            return i + 3;
        }
        if (i + 2 >= len) {
            break;      /* the empty line may still be arriving */
        }
    }
    *scanned = i;
    return 0;
}

static int is_tchar(unsigned char c)
{
    return apr_isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Cuts the next line out of [*pos, end): NUL-terminates it in place and
 * strips the CR of a CRLF. Returns NULL at a malformed line ending. */
static char *next_line(char **pos, char *end, const char **err)
{
    char *start = *pos, *lf = memchr(start, '\n', (size_t)(end - start));
    char *stop;

    if (!lf) {
        *err = "response head line without an end";
        return NULL;
    }
    stop = lf;
    if (stop > start && stop[-1] == '\r') {
        stop--;
    }
    if (memchr(start, '\r', (size_t)(stop - start))) {
        *err = "bare CR in the response head";
        return NULL;
    }
    *stop = '\0';
    *pos = lf + 1;
    return start;
}

const char *ac_http1_parse_response(apr_pool_t *p, char *buf, apr_size_t head_len,
                                    int max_fields, ac_response_head_t *out)
{
    char *pos = buf, *end = buf + head_len, *line, *c;
    const char *err = NULL;

    if (memchr(buf, '\0', head_len)) {
        return "NUL byte in the response head";
    }
    line = next_line(&pos, end, &err);
    if (!line) {
        return err;
    }
    if (strncmp(line, "HTTP/1.", 7) || (line[7] != '0' && line[7] != '1') || line[8] != ' '
        || !apr_isdigit(line[9]) || !apr_isdigit(line[10]) || !apr_isdigit(line[11])
        || (line[12] != ' ' && line[12] != '\0')) {
        return "malformed status line";
    }
    out->minor = line[7] - '0';
    out->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (out->status < 100) {
        return "status code below 100";
    }
    out->reason = line[12] ? line + 13 : "";
    for (c = (char *)out->reason; *c; c++) {
        if ((apr_iscntrl(*c) && *c != '\t')) {
            return "control character in the reason phrase";
        }
    }
    out->headers = apr_array_make(p, 16, sizeof(ac_header_t));
    for (;;) {
        ac_header_t *h;
        char *colon, *v, *ve;

        line = next_line(&pos, end, &err);
        if (!line) {
            return err;
        }
        if (!*line) {
            break;
        }
        if (*line == ' ' || *line == '\t') {
            return "obsolete line folding in the response head";
        }
        colon = strchr(line, ':');
        if (!colon || colon == line) {
            return "header field without a name";
        }
        for (c = line; c < colon; c++) {
            if (!is_tchar((unsigned char)*c)) {
                return "invalid character in a header field name";
            }
        }
        *colon = '\0';
        v = colon + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t')) {
            *--ve = '\0';
        }
        for (c = v; *c; c++) {
            if (apr_iscntrl(*c) && *c != '\t') {
                return "control character in a header field value";
            }
        }
        if (out->headers->nelts >= max_fields) {
            return "too many header fields in the response";
        }
        h = apr_array_push(out->headers);
        h->name = line;
        h->value = v;
    }
    return NULL;
}

int ac_http1_is_hop_by_hop(const char *name)
{
    static const char *const hop[] = {
        "Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
        "TE", "Trailer", "Transfer-Encoding", "Upgrade", NULL
    };
    int i;
    for (i = 0; hop[i]; i++) {
        if (!strcasecmp(name, hop[i])) {
            return 1;
        }
    }
    return 0;
}

int ac_http1_has_token(const char *value, const char *token)
{
    apr_size_t tlen = strlen(token);
    const char *s = value;

    while (s && *s) {
        const char *e;
        while (*s == ' ' || *s == '\t' || *s == ',') {
            s++;
        }
        e = s;
        while (*e && *e != ',') {
            e++;
        }
        {
            const char *te = e;
            while (te > s && (te[-1] == ' ' || te[-1] == '\t')) {
                te--;
            }
            if ((apr_size_t)(te - s) == tlen && !strncasecmp(s, token, tlen)) {
                return 1;
            }
        }
        s = e;
    }
    return 0;
}

enum {
    CH_SIZE = 0,     /* reading hex digits */
    CH_SIZE_REST,    /* whitespace / extension up to the line end */
    CH_SIZE_LF,      /* saw CR after the size line */
    CH_DATA,
    CH_DATA_END,     /* CR or LF after the data */
    CH_DATA_LF,
    CH_TRAILER,      /* start of a trailer line (or the final empty line) */
    CH_TRAILER_LINE,
    CH_TRAILER_LF,   /* CR seen inside trailer section */
    CH_FINAL_LF,     /* CR of the final empty line seen */
    CH_DONE
};

void ac_chunked_init(ac_chunked_t *c)
{
    memset(c, 0, sizeof(*c));
}

int ac_chunked_done(const ac_chunked_t *c)
{
    return c->state == CH_DONE;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* The end of a chunk-size line: the chunk's data next, or the trailers
 * after the last chunk. */
static void size_line_done(ac_chunked_t *c)
{
    c->digits = 0;
    c->line = 0;
    c->in_extension = 0;
    c->state = c->remaining ? CH_DATA : CH_TRAILER;
}

/* One byte of a chunk-size line (CH_SIZE, CH_SIZE_REST, CH_SIZE_LF); *in
 * advances past it when it is taken. NULL, or why the body is broken. */
static const char *size_line_byte(ac_chunked_t *c, char ch, apr_size_t *in)
{
    int v;

    switch (c->state) {
    case CH_SIZE:
        v = hexval(ch);
        if (v >= 0) {
            if (c->digits >= 15) {
                return "chunk size too large";
            }
            c->remaining = (c->remaining << 4) | (apr_uint64_t)v;
            c->digits++;
            (*in)++;
            return NULL;
        }
        if (!c->digits) {
            return "chunk size missing";
        }
        c->state = CH_SIZE_REST;    /* the byte is looked at again there */
        c->line = 0;
        return NULL;
    case CH_SIZE_REST:
        (*in)++;
        /* the whole line counts (size, every extension, the line end),
         * so no number of extensions makes it longer */
        if ((apr_size_t)c->digits + ++c->line > AC_CHUNKED_MAX_LINE) {
            return "chunk size line too long";
        }
        if (ch == '\r') {
            c->state = CH_SIZE_LF;
        }
        else if (ch == '\n') {
            size_line_done(c);
        }
        else if (ch == ';') {
            c->in_extension = 1;   /* anything printable goes from here on */
        }
        else if (!c->in_extension && ch != ' ' && ch != '\t') {
            return "invalid character after the chunk size";
        }
        else if (apr_iscntrl(ch) && ch != '\t') {
            return "control character in a chunk extension";
        }
        return NULL;
    default:                        /* CH_SIZE_LF */
        if (ch != '\n') {
            return "chunk size line not ended by CRLF";
        }
        if ((apr_size_t)c->digits + ++c->line > AC_CHUNKED_MAX_LINE) {
            return "chunk size line too long";
        }
        (*in)++;
        size_line_done(c);
        return NULL;
    }
}

/* One byte of the line end after a chunk's data (CH_DATA_END, CH_DATA_LF). */
static const char *data_end_byte(ac_chunked_t *c, char ch, apr_size_t *in)
{
    if (c->state == CH_DATA_END && ch == '\r') {
        c->state = CH_DATA_LF;
    }
    else if (ch == '\n') {
        c->state = CH_SIZE;
    }
    else {
        return "chunk data not followed by CRLF";
    }
    (*in)++;
    return NULL;
}

/* One byte of the trailer section (CH_TRAILER, CH_FINAL_LF,
 * CH_TRAILER_LINE, CH_TRAILER_LF): lines are only counted and checked. */
static const char *trailer_byte(ac_chunked_t *c, char ch, apr_size_t *in)
{
    switch (c->state) {
    case CH_TRAILER:
        if (ch == '\r') {
            c->state = CH_FINAL_LF;
        }
        else if (ch == '\n') {
            c->state = CH_DONE;
        }
        else if (ch == '\0') {
            return "NUL byte in a trailer";
        }
        else {
            c->state = CH_TRAILER_LINE;
            c->line = 1;
            c->trailer_bytes++;
        }
        break;
    case CH_FINAL_LF:
        if (ch != '\n') {
            return "final chunk not ended by CRLF";
        }
        c->state = CH_DONE;
        break;
    case CH_TRAILER_LINE:
        if (++c->trailer_bytes > AC_CHUNKED_MAX_TRAILERS) {
            return "trailer section too large";
        }
        if (ch == '\r') {
            c->state = CH_TRAILER_LF;
        }
        else if (ch == '\n') {
            c->state = CH_TRAILER;
        }
        else if (ch == '\0') {
            return "NUL byte in a trailer";
        }
        break;
    default:                        /* CH_TRAILER_LF */
        if (ch != '\n') {
            return "bare CR in a trailer";
        }
        c->state = CH_TRAILER;
        break;
    }
    (*in)++;
    return NULL;
}

const char *ac_chunked_decode(ac_chunked_t *c, char *buf, apr_size_t len,
                              apr_size_t *consumed, apr_size_t *out_len)
{
    apr_size_t in = 0, out = 0, n;
    const char *err = NULL;

    while (in < len && c->state != CH_DONE && !err) {
        switch (c->state) {
        case CH_SIZE:
        case CH_SIZE_REST:
        case CH_SIZE_LF:
            err = size_line_byte(c, buf[in], &in);
            break;
        case CH_DATA:
            n = len - in;
            if ((apr_uint64_t)n > c->remaining) {
                n = (apr_size_t)c->remaining;
            }
            if (out != in) {
                memmove(buf + out, buf + in, n);
            }
            in += n;
            out += n;
            c->remaining -= n;
            if (!c->remaining) {
                c->state = CH_DATA_END;
            }
            break;
        case CH_DATA_END:
        case CH_DATA_LF:
            err = data_end_byte(c, buf[in], &in);
            break;
        default:
            err = trailer_byte(c, buf[in], &in);
            break;
        }
    }
    if (err) {
        return err;
    }
    *consumed = in;
    *out_len = out;
    return NULL;
}
