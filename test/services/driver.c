/* A stand-in for the gateway, so that test/services.test.js can drive the
 * services as the gateway does, over real sockets. It listens on
 * 127.0.0.1 (a free port, printed as "port N" on stdout) and for each TCP
 * connection:
 *   relay <service socket> <stream|seqpacket|dgram> <address> <port>
 *       opens a relay connection (its socket bound to the gwproto name for
 *       <address> <port>) and pumps bytes: raw on stream; on seqpacket and
 *       dgram, the TCP side uses the "length" framing (5-byte header) and
 *       each message is one packet.
 *   direct <service socket> <stream|seqpacket|dgram> <address> <port> <protocol|-> <split 0|1>
 *       answers the WebSocket opening handshake with 101 (and <protocol>),
 *       then hands the TCP socket to the service with the gwproto record
 *       (pending bytes: what followed the request), in two writes when
 *       split is 1, and steps out; "0b" / "1b": the hand-off connection is
 *       bound to the gwproto name as well.
 * Test tool only: error handling is "say it and exit". */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "gwproto.h"
#include "handshake.h"
#include "utf8.h"

#define MAX_PACKET (16u * 1024 * 1024 + 64 * 1024)

static void die(const char *what) {
    fprintf(stderr, "driver: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int sock_type(const char *s) {
    if (strcmp(s, "seqpacket") == 0) return SOCK_SEQPACKET;
    if (strcmp(s, "dgram") == 0) return SOCK_DGRAM;
    return SOCK_STREAM;
}

static int connect_service(const char *path, int type, const char *address, int port, uint64_t id) {
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0) die("socket");
    if (address) {
        struct sockaddr_un b = {.sun_family = AF_UNIX};
        size_t n = ws_gw_bind_name(b.sun_path, sizeof b.sun_path, address, port, id);
        if (n == 0 || bind(fd, (struct sockaddr *)&b, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) != 0)
            die("bind");
    }
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect to the service");
    if (type != SOCK_STREAM) {
        int sz = 4 * 1024 * 1024;
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    }
    return fd;
}

static int write_all(int fd, const void *p, size_t n) {
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One relay connection: TCP <-> the service until either side closes. */
static void relay(int tcp, const char *path, int type, const char *address, int port, uint64_t id) {
    int u = connect_service(path, type, address, port, id);
    uint8_t *buf = malloc(MAX_PACKET + 8);
    uint8_t *acc = malloc(MAX_PACKET + 8);
    size_t acc_len = 0;
    if (!buf || !acc) die("malloc");
    for (;;) {
        struct pollfd p[2] = {{.fd = tcp, .events = POLLIN}, {.fd = u, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (p[0].revents) {
            ssize_t n = read(tcp, type == SOCK_STREAM ? buf : acc + acc_len,
                             type == SOCK_STREAM ? 65536 : MAX_PACKET + 5 - acc_len);
            if (n <= 0) break;
            if (type == SOCK_STREAM) {
                if (write_all(u, buf, (size_t)n) != 0) break;
            } else {
                acc_len += (size_t)n;
                while (acc_len >= WS_GW_LEN_HEADER) {
                    int t;
                    uint32_t len;
                    if (ws_gw_len_parse(acc, &t, &len) != 0 || len > MAX_PACKET) {
                        fprintf(stderr, "driver: bad length header from the test\n");
                        exit(1);
                    }
                    if (acc_len < WS_GW_LEN_HEADER + len) break;
                    if (send(u, acc + WS_GW_LEN_HEADER, len, 0) != (ssize_t)len) die("send packet");
                    memmove(acc, acc + WS_GW_LEN_HEADER + len, acc_len - WS_GW_LEN_HEADER - len);
                    acc_len -= WS_GW_LEN_HEADER + len;
                }
            }
        }
        if (p[1].revents) {
            ssize_t n = recv(u, buf + WS_GW_LEN_HEADER, MAX_PACKET, 0);
            if (n < 0) break;
            if (type == SOCK_STREAM) {
                if (n == 0 || write_all(tcp, buf + WS_GW_LEN_HEADER, (size_t)n) != 0) break;
            } else {
                if (n == 0 && (p[1].revents & POLLHUP)) break;
                int t = ws_utf8_is_valid(buf + WS_GW_LEN_HEADER, (size_t)n) ? WS_GW_TEXT : WS_GW_BINARY;
                ws_gw_len_header(buf, t, (uint32_t)n);
                if (write_all(tcp, buf, WS_GW_LEN_HEADER + (size_t)n) != 0) break;
            }
        }
    }
    exit(0);
}

/* The opening handshake on tcp, then the hand-off. */
static void direct(int tcp, const char *path, int type, const char *address, int port, const char *protocol,
                   int split, int bind) {
    char req[16384];
    size_t len = 0;
    char *end = NULL;
    while (!end) {
        if (len == sizeof req - 1) return;
        ssize_t n = read(tcp, req + len, sizeof req - 1 - len);
        if (n <= 0) return;
        len += (size_t)n;
        req[len] = '\0';
        end = strstr(req, "\r\n\r\n");
    }
    size_t head = (size_t)(end + 4 - req);
    const char *k = NULL;
    for (char *line = strstr(req, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n"))
        if (strncasecmp(line + 2, "Sec-WebSocket-Key:", 18) == 0) k = line + 20;
    if (!k) return;
    while (*k == ' ') k++;
    size_t klen = strcspn(k, " \r");
    char accept[WS_ACCEPT_LEN + 1] = {0};
    ws_accept_key(k, klen, accept);
    char resp[512];
    int rn = snprintf(resp, sizeof resp,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
                      accept, protocol ? "Sec-WebSocket-Protocol: " : "", protocol ? protocol : "",
                      protocol ? "\r\n" : "");
    if (write_all(tcp, resp, (size_t)rn) != 0) return;
    ws_gw_direct d = {.port = (uint16_t)port, .address = address, .address_len = strlen(address),
                      .protocol = protocol ? protocol : "", .protocol_len = protocol ? strlen(protocol) : 0,
                      .name = "echo", .name_len = 4, .pending = (const uint8_t *)req + head,
                      .pending_len = len - head};
    size_t size = ws_gw_direct_size(&d);
    uint8_t *rec = malloc(size);
    if (!rec || ws_gw_direct_encode(rec, size, &d) != size) die("encode");
    /* bind: the hand-off connection bound to a gwproto name too, as a relay one is */
    int u = connect_service(path, type, bind ? address : NULL, port, 1000000 + (uint64_t)getpid());
    size_t first = split && size > 10 ? 10 : size;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct iovec iov = {rec, first};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &tcp, sizeof tcp);
    if (sendmsg(u, &mh, 0) != (ssize_t)first) die("sendmsg");
    if (first < size) {
        usleep(20000);
        if (write_all(u, rec + first, size - first) != 0) die("write record");
    }
    free(rec);
    close(u);
}

int main(int argc, char **argv) {
    if (argc < 6 || (strcmp(argv[1], "direct") == 0 && argc < 8)) {
        fprintf(stderr, "usage: driver relay <socket> <type> <address> <port>\n"
                        "       driver direct <socket> <type> <address> <port> <protocol|-> <split>\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */
    int type = sock_type(argv[3]);
    int port = atoi(argv[5]);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, 64) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &alen) != 0)
        die("listen");
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    uint64_t id = 0;
    for (;;) {
        int tcp = accept(l, NULL, NULL);
        if (tcp < 0) {
            if (errno == EINTR) continue;
            die("accept");
        }
        id++;
        if (strcmp(argv[1], "relay") == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                prctl(PR_SET_PDEATHSIG, SIGTERM);
                close(l);
                relay(tcp, argv[2], type, argv[4], port, id);
            }
            close(tcp);
        } else {
            direct(tcp, argv[2], type, argv[4], port, strcmp(argv[6], "-") ? argv[6] : NULL, atoi(argv[7]),
                   strchr(argv[7], 'b') != NULL);
            close(tcp);
        }
    }
}
