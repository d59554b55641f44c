/* libFuzzer target: what the supervisor reads from httpd, through real
 * socketpairs: request datagrams (ac_request_recv, then the launch settings
 * of a REGISTER), control frames (ac_control_read) and the CONFIG payload
 * (ac_config_payload_parse, then each app's launch settings).
 *
 * Input: one byte choosing the mode (low 2 bits; bit 7 in mode 1 pads the
 * datagram with zeros to AC_REQ_MAX_PAYLOAD - 8 + (last byte % 16) bytes of
 * payload), then the bytes. Besides memory
 * errors, UB and leaks, findings:
 * - CONFIG: an accepted payload that ac_config_payload_begin/_add do not
 *   write back exactly, or a blob count other than the announced one;
 * - datagrams: an accepted one whose header or payload is not what was
 *   sent, a dropped one followed by anything but "nothing there", a
 *   truncated one accepted, a datagram that ac_request_send made and
 *   ac_request_recv does not give back the same;
 * - control: a frame read that is not the bytes sent (header + payload),
 *   a stream ending with something else than EOF or "too large", a frame
 *   that ac_control_write made and ac_control_read does not give back.
 * Built and run by tests/fuzz/run.sh. */
#include "fuzz_common.h"

#include <errno.h>
#include <unistd.h>
#include <sys/socket.h>

#include <apr_strings.h>

#include "ac_channel.h"
#include "ac_launch.h"

#define T "fuzz_channel"

static int dgram[2];
static char *recv_payload;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_setup(T);
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram) < 0) {
        fuzz_found(T, "setup", "socketpair");
    }
    recv_payload = malloc(AC_REQ_MAX_PAYLOAD);
    return 0;
}

static void config_payload(apr_pool_t *p, const char *buf, size_t n)
{
    ac_config_globals_t g;
    apr_array_header_t *blobs = NULL, *again;
    uint32_t napps;
    int i;

    if (n > UINT32_MAX || ac_config_payload_parse(p, buf, (uint32_t)n, &g, &blobs)) {
        return;
    }
    memcpy(&napps, buf, 4);
    if (!blobs || (uint32_t)blobs->nelts != napps) {
        fuzz_found(T, "config: blob count differs from the announced one", NULL);
    }
    again = apr_array_make(p, (int)n + 1, 1);
    ac_config_payload_begin(again, napps, &g);
    for (i = 0; i < blobs->nelts; i++) {
        apr_array_header_t *blob = APR_ARRAY_IDX(blobs, i, apr_array_header_t *);
        ac_launch_t *l;
        ac_config_payload_add(again, blob);
        (void)ac_launch_deserialize(p, blob->elts, (apr_size_t)blob->nelts, &l);
    }
    ac_config_payload_end(again, g.owner_rules, g.state_root);
    if ((size_t)again->nelts != n || memcmp(again->elts, buf, n)) {
        fuzz_found(T, "config: written back differently", NULL);
    }
}

static void expect_nothing_left(void)
{
    ac_request_msg_t m;
    apr_size_t len;
    apr_status_t rv = ac_request_recv(dgram[1], &m, recv_payload, &len);
    if (!APR_STATUS_IS_EAGAIN(rv)) {
        fuzz_found(T, "datagram: something after the one sent", NULL);
    }
}

static void datagram(apr_pool_t *p, const char *buf, size_t n)
{
    ac_request_msg_t m;
    apr_size_t len = 0;
    apr_status_t rv;

    if (send(dgram[0], buf, n, 0) != (ssize_t)n) {
        fuzz_found(T, "setup", "send");
    }
    rv = ac_request_recv(dgram[1], &m, recv_payload, &len);
    if (rv == APR_SUCCESS) {
        if (n < sizeof(m) || n - sizeof(m) > AC_REQ_MAX_PAYLOAD) {
            fuzz_found(T, "datagram: accepted a short or truncated one", NULL);
        }
        if (memcmp(&m, buf, sizeof(m)) || len != n - sizeof(m)
            || memcmp(recv_payload, buf + sizeof(m), len)) {
            fuzz_found(T, "datagram: not what was sent", NULL);
        }
        if (m.type == AC_REQ_REGISTER) {
            ac_launch_t *l;
            char *copy = fuzz_copy(recv_payload, len);
            (void)ac_launch_deserialize(p, copy, len, &l);
            free(copy);
        }
    }
    else if (!APR_STATUS_IS_EAGAIN(rv)) {
        fuzz_found(T, "datagram: an error other than 'nothing there'", NULL);
    }
    expect_nothing_left();
}

static void datagram_round_trip(const char *buf, size_t n)
{
    ac_request_msg_t m;
    uint32_t f[3] = { 0, 0, 0 };
    uint64_t inc = 0;
    apr_size_t len = 0;

    if (n < 20) {
        return;
    }
    memcpy(f, buf, 12);
    memcpy(&inc, buf + 12, 8);
    buf += 20;
    n -= 20;
    if (n > AC_REQ_MAX_PAYLOAD) {
        n = AC_REQ_MAX_PAYLOAD;
    }
    if (ac_request_send(dgram[0], (ac_request_type_e)f[0], f[1], f[2], inc, buf, n)
        != APR_SUCCESS) {
        fuzz_found(T, "setup", "ac_request_send");
    }
    if (ac_request_recv(dgram[1], &m, recv_payload, &len) != APR_SUCCESS
        || m.type != f[0] || m.app != f[1] || m.slot != f[2] || m.incarnation != inc
        || len != n || memcmp(recv_payload, buf, n)) {
        fuzz_found(T, "datagram: not received as sent", NULL);
    }
    expect_nothing_left();
}

static void control_stream(apr_pool_t *p, const char *buf, size_t n)
{
    int s[2];
    size_t pos = 0;
    apr_status_t rv;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, s) < 0) {
        fuzz_found(T, "setup", "socketpair");
    }
    if (n && write(s[0], buf, n) != (ssize_t)n) {
        fuzz_found(T, "setup", "write");
    }
    shutdown(s[0], SHUT_WR);
    for (;;) {
        uint32_t type = 0, len = 0, head[2];
        char *payload = NULL;

        rv = ac_control_read(s[1], p, &type, &payload, &len, apr_time_from_sec(5));
        if (rv != APR_SUCCESS) {
            break;
        }
        if (n - pos < 8) {
            fuzz_found(T, "control: a frame from fewer bytes than its header", NULL);
        }
        memcpy(head, buf + pos, 8);
        if (head[0] != type || head[1] != len || len > n - pos - 8
            || memcmp(payload, buf + pos + 8, len) || payload[len] != '\0') {
            fuzz_found(T, "control: a frame that is not the bytes sent", NULL);
        }
        pos += 8 + len;
        /* written again, it reads back the same */
        if (ac_control_write(s[1], type, payload, len, apr_time_from_sec(5))
            != APR_SUCCESS) {
            fuzz_found(T, "setup", "ac_control_write");
        }
        {
            uint32_t t2 = 0, l2 = 0;
            char *p2 = NULL;
            if (ac_control_read(s[0], p, &t2, &p2, &l2, apr_time_from_sec(5)) != APR_SUCCESS
                || t2 != type || l2 != len || memcmp(p2, payload, len)) {
                fuzz_found(T, "control: a written frame read back differently", NULL);
            }
        }
    }
    if (rv != APR_EOF && rv != APR_EINVAL) {
        fuzz_found(T, "control: the stream ended with an unexpected status", NULL);
    }
    if (rv == APR_EOF && n - pos >= 8) {
        uint32_t head[2];
        memcpy(head, buf + pos, 8);
        if (head[1] <= n - pos - 8) {
            fuzz_found(T, "control: EOF with a whole frame unread", NULL);
        }
    }
    close(s[0]);
    close(s[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    apr_pool_t *p;
    char *buf;
    size_t n;

    if (size < 1) {
        return 0;
    }
    n = size - 1;
    if ((data[0] & 3) == 1 && (data[0] & 0x80)) {
        /* around the largest datagram: the bytes, then zeros */
        size_t want = sizeof(ac_request_msg_t) + AC_REQ_MAX_PAYLOAD - 8 + (n ? data[size - 1] % 16 : 0);
        buf = calloc(1, want > n ? want : n);
        memcpy(buf, data + 1, n);
        n = want > n ? want : n;
    }
    else {
        buf = fuzz_copy(data + 1, n);
    }
    p = fuzz_pool(T);
    switch (data[0] & 3) {
    case 0: config_payload(p, buf, n); break;
    case 1: datagram(p, buf, n); break;
    case 2: datagram_round_trip(buf, n); break;
    case 3: control_stream(p, buf, n); break;
    }
    apr_pool_destroy(p);
    free(buf);
    return 0;
}
