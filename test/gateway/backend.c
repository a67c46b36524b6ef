/* A test service for the gateway, on a UNIX socket of any type.
 *   backend <stream|seqpacket|dgram> <socket path> <echo|flood|slow|direct|peer>
 * echo: each packet (or stream read) back as it came; flood: writes 64 KiB
 * records as fast as the socket takes them (length framing on a stream)
 * and reports on stdout how many it wrote when the peer goes; slow: echo
 * after 50 ms per read; stuck: never accepts (a full backlog); peer: answers each connection with the client
 * address it was bound to ("<address> <port>"); direct: takes a client
 * socket with the gwproto record (SCM_RIGHTS) and echoes WebSocket messages
 * on it with native/frame.c, answering pings and the close handshake.
 * Prints "ready" once listening; a child per connection (stream, seqpacket);
 * each connection's EOF is reported as "eof" on stdout. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "frame.h"
#include "gwproto.h"

static int type;
static const char *mode;

static int write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t r = send(fd, c, n, MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

static uint8_t buf[1 << 22];

static void serve_flood(int fd) {
    static uint8_t rec[WS_GW_LEN_HEADER + 65536];
    ws_gw_len_header(rec, WS_GW_BINARY, 65536);
    memset(rec + WS_GW_LEN_HEADER, 'x', 65536);
    unsigned long n = 0;
    for (;;) {
        ssize_t r = type == SOCK_STREAM ? (write_all(fd, rec, sizeof rec) == 0 ? 1 : -1)
                                        : send(fd, rec + WS_GW_LEN_HEADER, 65536, MSG_NOSIGNAL);
        if (r < 0) break;
        n++;
    }
    printf("flooded %lu\n", n);
    fflush(stdout);
}

static void serve_peer(int fd, const struct sockaddr_un *from, socklen_t len) {
    char address[64] = "?";
    int port = -1;
    size_t path_len = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    ws_gw_bind_parse(from->sun_path, path_len, address, sizeof address, &port);
    char line[128];
    int n = snprintf(line, sizeof line, "%s %d", address, port);
    if (type == SOCK_STREAM) write_all(fd, line, (size_t)n);
    else send(fd, line, (size_t)n, MSG_NOSIGNAL);
    while (recv(fd, buf, sizeof buf, 0) > 0) {
    }
}

/* ---- direct mode: a WebSocket echo on the client's own socket -------- */

static int send_frame(int fd, int opcode, const uint8_t *p, size_t n) {
    uint8_t h[WS_MAX_HEADER];
    size_t hl = ws_frame_header(h, 1, 0, opcode, n, NULL);
    return write_all(fd, h, hl) == 0 && (n == 0 || write_all(fd, p, n) == 0) ? 0 : -1;
}

static uint8_t *msg;
static size_t msg_len, msg_cap;

/* 1: go on; 0: closed; -1: failed. */
static int ws_feed(int fd, ws_parser *p, uint8_t *in, size_t n) {
    for (;;) {
        ws_event ev;
        ssize_t r = ws_parser_next(p, in, n, &ev);
        if (r < 0) {
            uint8_t pl[2] = {(uint8_t)(p->close_code >> 8), (uint8_t)p->close_code};
            send_frame(fd, WS_OP_CLOSE, pl, 2);
            return -1;
        }
        in += r;
        n -= (size_t)r;
        switch (ev.type) {
        case WS_EV_NEED_MORE:
            return 1;
        case WS_EV_DATA:
            if (msg_len + ev.len > msg_cap) {
                msg_cap = (msg_len + ev.len) * 2;
                msg = realloc(msg, msg_cap);
                if (!msg) return -1;
            }
            memcpy(msg + msg_len, ev.data, ev.len);
            msg_len += ev.len;
            break;
        case WS_EV_MESSAGE:
            if (send_frame(fd, ev.opcode, msg, msg_len) != 0) return -1;
            msg_len = 0;
            break;
        case WS_EV_PING:
            send_frame(fd, WS_OP_PONG, ev.data, ev.len);
            break;
        case WS_EV_PONG:
            break;
        case WS_EV_CLOSE: {
            uint8_t pl[2] = {(uint8_t)(ev.close_code >> 8), (uint8_t)ev.close_code};
            send_frame(fd, WS_OP_CLOSE, pl, ev.close_code == WS_CLOSE_NO_STATUS ? 0 : 2);
            return 0;
        }
        }
    }
}

static void serve_direct(int fd) {
    static uint8_t rec[WS_GW_DIRECT_MAX];
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = rec, .iov_len = sizeof rec};
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.space, .msg_controllen = sizeof ctl.space};
    ssize_t got = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    size_t have = got > 0 ? (size_t)got : 0;
    int client = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) memcpy(&client, CMSG_DATA(c), sizeof client);
    ws_gw_direct d;
    long r;
    while ((r = ws_gw_direct_parse(rec, have, &d)) == -2) { /* the rest of the record */
        ssize_t k = recv(fd, rec + have, sizeof rec - have, 0);
        if (k <= 0) break;
        have += (size_t)k;
    }
    close(fd);
    if (r < 0 || client < 0) {
        printf("bad record\n");
        fflush(stdout);
        return;
    }
    printf("direct %.*s %u %.*s pending %zu\n", (int)d.address_len, d.address, d.port, (int)d.name_len, d.name,
           d.pending_len);
    fflush(stdout);
    ws_parser p;
    ws_parser_init(&p, d.max_payload, 1);
    memcpy(buf, d.pending, d.pending_len);
    int go = d.pending_len ? ws_feed(client, &p, buf, d.pending_len) : 1;
    while (go > 0) {
        ssize_t k = recv(client, buf, sizeof buf, 0);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        go = ws_feed(client, &p, buf, (size_t)k);
    }
    ws_parser_free(&p);
    shutdown(client, SHUT_WR);
    while (recv(client, buf, sizeof buf, 0) > 0) {
    }
    close(client);
}

static void serve(int fd, const struct sockaddr_un *from, socklen_t from_len) {
    if (strcmp(mode, "flood") == 0) return serve_flood(fd);
    if (strcmp(mode, "peer") == 0) return serve_peer(fd, from, from_len);
    if (strcmp(mode, "direct") == 0) return serve_direct(fd);
    int slow = strcmp(mode, "slow") == 0;
    for (;;) {
        if (slow) usleep(50000);
        ssize_t n = recv(fd, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 || (n == 0 && type != SOCK_DGRAM)) break;
        if (type == SOCK_STREAM ? write_all(fd, buf, (size_t)n) != 0 : send(fd, buf, (size_t)n, MSG_NOSIGNAL) < 0) break;
    }
    printf("eof\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: backend <stream|seqpacket|dgram> <path> <echo|flood|slow|peer|direct>\n");
        return 2;
    }
    type = strcmp(argv[1], "dgram") == 0 ? SOCK_DGRAM : strcmp(argv[1], "seqpacket") == 0 ? SOCK_SEQPACKET : SOCK_STREAM;
    mode = argv[3];
    signal(SIGCHLD, SIG_IGN);
    int s = socket(AF_UNIX, type, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", argv[2]);
    unlink(argv[2]);
    int big = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    int stuck = strcmp(mode, "stuck") == 0; /* listens with the smallest backlog and never accepts */
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0 || (type != SOCK_DGRAM && listen(s, stuck ? 0 : 16) != 0)) {
        perror("bind/listen");
        return 2;
    }
    printf("ready\n");
    fflush(stdout);
    while (stuck) pause();
    if (type == SOCK_DGRAM) { /* one socket, answers to each sender */
        for (;;) {
            struct sockaddr_un from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            if (n < 0) continue;
            if (strcmp(mode, "peer") == 0) {
                char address[64] = "?", line[128];
                int port = -1;
                ws_gw_bind_parse(from.sun_path, fl - offsetof(struct sockaddr_un, sun_path), address, sizeof address, &port);
                n = snprintf(line, sizeof line, "%s %d", address, port);
                sendto(s, line, (size_t)n, 0, (struct sockaddr *)&from, fl);
            } else {
                sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
            }
        }
    }
    for (;;) {
        struct sockaddr_un from;
        socklen_t fl = sizeof from;
        int c = accept(s, (struct sockaddr *)&from, &fl);
        if (c < 0) continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(s);
            setsockopt(c, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
            serve(c, &from, fl);
            _exit(0);
        }
        close(c);
    }
}
