/* ac_channel: request datagrams and framed control messages. */
#include "ac_channel.h"
#include "ac_ownerrules.h"
#include "ac_sockio.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define REQUEST_MAGIC 0x41435251u   /* "ACRQ" */

apr_status_t ac_request_send(int fd, ac_request_type_e type, uint32_t app,
                             uint32_t slot, uint64_t incarnation,
                             const void *payload, apr_size_t len)
{
    ac_request_msg_t m;
    struct iovec iov[2];
    struct msghdr mh;
    ssize_t n;

    if (len > AC_REQ_MAX_PAYLOAD) {
        return APR_EINVAL;
    }
    memset(&m, 0, sizeof(m));
    m.magic = REQUEST_MAGIC;
    m.type = (uint32_t)type;
    m.app = app;
    m.slot = slot;
    m.incarnation = incarnation;
    iov[0].iov_base = &m;
    iov[0].iov_len = sizeof(m);
    iov[1].iov_base = (void *)payload;
    iov[1].iov_len = len;
    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = len ? 2 : 1;
    do {
        n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    return n == (ssize_t)(sizeof(m) + len) ? APR_SUCCESS : APR_EGENERAL;
}

apr_status_t ac_request_recv(int fd, ac_request_msg_t *msg, char *payload, apr_size_t *len)
{
    for (;;) {
        struct iovec iov[2];
        struct msghdr mh;
        ssize_t n;

        iov[0].iov_base = msg;
        iov[0].iov_len = sizeof(*msg);
        iov[1].iov_base = payload;
        iov[1].iov_len = AC_REQ_MAX_PAYLOAD;
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = iov;
        mh.msg_iovlen = 2;
        n = recvmsg(fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return APR_FROM_OS_ERROR(errno);
        }
        if (n >= (ssize_t)sizeof(*msg) && msg->magic == REQUEST_MAGIC
            && !(mh.msg_flags & MSG_TRUNC)) {
            *len = (apr_size_t)n - sizeof(*msg);
            return APR_SUCCESS;
        }
        /* a malformed or truncated datagram: drop it and look at the next one */
    }
}

static apr_status_t write_all(int fd, const char *buf, apr_size_t len,
                              apr_interval_time_t timeout)
{
    struct iovec iov;
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    return ac_sock_writev_all(fd, &iov, 1, timeout);
}

static apr_status_t read_all(int fd, char *buf, apr_size_t len, apr_interval_time_t timeout)
{
    while (len > 0) {
        apr_size_t n;
        apr_status_t rv = ac_sock_read(fd, buf, len, &n, timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        buf += n;
        len -= n;
    }
    return APR_SUCCESS;
}

apr_status_t ac_control_write(int fd, uint32_t type, const void *payload, uint32_t len,
                              apr_interval_time_t timeout)
{
    uint32_t head[2];
    apr_status_t rv;

    if (len > AC_CTL_MAX_PAYLOAD) {
        return APR_EINVAL;
    }
    head[0] = type;
    head[1] = len;
    rv = write_all(fd, (const char *)head, sizeof(head), timeout);
    if (rv == APR_SUCCESS && len) {
        rv = write_all(fd, payload, len, timeout);
    }
    return rv;
}

/* Takes the descriptors of a received message's control data into `fds`
 * (those beyond the room left are closed). */
static void take_fds(struct msghdr *mh, int *fds, unsigned *nfds)
{
    struct cmsghdr *c;
    for (c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        const unsigned char *data = CMSG_DATA(c);
        size_t i, n;
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < n; i++) {
            int got;
            memcpy(&got, data + i * sizeof(int), sizeof(int));
            if (*nfds < AC_CTL_MAX_FDS) {
                fds[(*nfds)++] = got;
            }
            else {
                close(got);
            }
        }
    }
}

/* The frame's header, with the descriptors that came with it. Read with
 * recvmsg: a plain read would drop them (the kernel closes them). */
static apr_status_t read_head(int fd, uint32_t head[2], apr_interval_time_t timeout,
                              int *fds, unsigned *nfds)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * AC_CTL_MAX_FDS)];
    } control;
    struct iovec iov;
    struct msghdr mh;
    ssize_t n;

    for (;;) {
        iov.iov_base = head;
        iov.iov_len = 2 * sizeof(uint32_t);
        memset(&mh, 0, sizeof(mh));
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof(control.buf);
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n > 0) {
            take_fds(&mh, fds, nfds);
            break;
        }
        if (n == 0) {
            return APR_EOF;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return APR_FROM_OS_ERROR(errno);
        }
        {
            apr_status_t rv = ac_sock_wait_readable(fd, timeout);
            if (rv != APR_SUCCESS) {
                return rv;
            }
        }
    }
    /* the rest of a header cut short carries nothing more */
    return (size_t)n < 2 * sizeof(uint32_t)
           ? read_all(fd, (char *)head + n, 2 * sizeof(uint32_t) - (size_t)n, timeout)
           : APR_SUCCESS;
}

apr_status_t ac_control_read(int fd, apr_pool_t *p, uint32_t *type, char **payload,
                             uint32_t *len, apr_interval_time_t timeout)
{
    int fds[AC_CTL_MAX_FDS];
    unsigned nfds = 0, i;
    apr_status_t rv = ac_control_read_fds(fd, p, type, payload, len, timeout, fds, &nfds);
    for (i = 0; i < nfds; i++) {
        close(fds[i]);
    }
    return rv;
}

apr_status_t ac_control_write_fds(int fd, uint32_t type, const void *payload, uint32_t len,
                                  const int *fds, unsigned nfds, apr_interval_time_t timeout)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * AC_CTL_MAX_FDS)];
    } control;
    uint32_t head[2];
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *c;
    ssize_t n;

    if (len > AC_CTL_MAX_PAYLOAD || nfds > AC_CTL_MAX_FDS) {
        return APR_EINVAL;
    }
    if (!nfds) {
        return ac_control_write(fd, type, payload, len, timeout);
    }
    head[0] = type;
    head[1] = len;
    iov.iov_base = head;
    iov.iov_len = sizeof(head);
    memset(&mh, 0, sizeof(mh));
    memset(&control, 0, sizeof(control));
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = control.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    /* the header alone: 8 bytes fit any socket buffer the peer has not
     * filled; the descriptors ride with its first byte */
    for (;;) {
        short revents;
        apr_status_t rv;
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n >= 0) {
            break;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            return APR_FROM_OS_ERROR(errno);
        }
        /* the peer has not read what came before: wait, within the timeout */
        rv = ac_sock_wait_watching(fd, POLLOUT, NULL, timeout, &revents);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    if ((size_t)n < sizeof(head)) {
        apr_status_t rv = write_all(fd, (const char *)head + n, sizeof(head) - (size_t)n, timeout);
        if (rv != APR_SUCCESS) {
            return rv;
        }
    }
    return len ? write_all(fd, payload, len, timeout) : APR_SUCCESS;
}

apr_status_t ac_control_read_fds(int fd, apr_pool_t *p, uint32_t *type, char **payload,
                                 uint32_t *len, apr_interval_time_t timeout,
                                 int *fds, unsigned *nfds)
{
    uint32_t head[2];
    apr_status_t rv;

    *nfds = 0;
    rv = read_head(fd, head, timeout, fds, nfds);
    if (rv != APR_SUCCESS) {
        return rv;
    }
    if (head[1] > AC_CTL_MAX_PAYLOAD) {
        return APR_EINVAL;
    }
    *type = head[0];
    *len = head[1];
    *payload = apr_palloc(p, head[1] + 1);
    (*payload)[head[1]] = '\0';
    return head[1] ? read_all(fd, *payload, head[1], timeout) : APR_SUCCESS;
}

static void push_u32(apr_array_header_t *a, uint32_t v)
{
    const char *b = (const char *)&v;
    int i;
    for (i = 0; i < 4; i++) {
        *(char *)apr_array_push(a) = b[i];
    }
}

void ac_config_payload_begin(apr_array_header_t *payload, uint32_t napps,
                             const ac_config_globals_t *globals)
{
    push_u32(payload, napps);
    push_u32(payload, globals->port_low);
    push_u32(payload, globals->port_high);
    push_u32(payload, globals->log_level);
    push_u32(payload, globals->module_log_level);
    push_u32(payload, globals->dynamic_idle);
}

void ac_config_payload_add(apr_array_header_t *payload, const apr_array_header_t *blob)
{
    int i;
    push_u32(payload, (uint32_t)blob->nelts);
    for (i = 0; i < blob->nelts; i++) {
        *(char *)apr_array_push(payload) = blob->elts[i];
    }
}

void ac_config_payload_end(apr_array_header_t *payload, const apr_array_header_t *owner_rules,
                           const char *state_root)
{
    ac_ownerrules_serialize(owner_rules, state_root, payload);
}

const char *ac_config_payload_parse(apr_pool_t *p, const char *payload, uint32_t len,
                                    ac_config_globals_t *globals, apr_array_header_t **blobs)
{
    uint32_t napps, i, n;
    const char *end = payload + len, *err;

    if (len < 24) {
        return "config message too short";
    }
    memcpy(&napps, payload, 4);
    memcpy(&globals->port_low, payload + 4, 4);
    memcpy(&globals->port_high, payload + 8, 4);
    memcpy(&globals->log_level, payload + 12, 4);
    memcpy(&globals->module_log_level, payload + 16, 4);
    memcpy(&globals->dynamic_idle, payload + 20, 4);
    payload += 24;
    if (napps > len / 4) {
        return "config message counts more apps than it holds";
    }
    *blobs = apr_array_make(p, (int)napps + 1, sizeof(apr_array_header_t *));
    for (i = 0; i < napps; i++) {
        apr_array_header_t *blob;
        if (end - payload < 4) {
            return "config message truncated";
        }
        memcpy(&n, payload, 4);
        payload += 4;
        if ((uint32_t)(end - payload) < n) {
            return "config message truncated";
        }
        blob = apr_array_make(p, (int)n + 1, 1);
        memcpy(blob->elts, payload, n);
        blob->nelts = (int)n;
        payload += n;
        APR_ARRAY_PUSH(*blobs, apr_array_header_t *) = blob;
    }
    err = ac_ownerrules_parse(p, &payload, end, &globals->owner_rules, &globals->state_root);
    if (err) {
        return err;
    }
    return payload == end ? NULL : "config message has trailing bytes";
}
