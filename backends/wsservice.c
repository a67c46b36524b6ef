/* libwsservice: the options, the listening socket, the poll loop, the
 * clients and their bounded send queues (see wsservice.h). Relay framings
 * are in wsservice_relay.c, the hand-off record in wsservice_handoff.c,
 * RFC 6455 in wsservice_direct.c. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gwproto.h"
#include "wsservice_int.h"
#include "wsservice_relay.h"

static const char *progname = "wsservice";

int64_t wss_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- options ---- */

static void usage(FILE *f, const char *extra_usage) {
    fprintf(f,
            "usage: %s -R <dir> [-n <name>] [-m <max>] [-u <user>] [-D] [-t stream|seqpacket|dgram]\n"
            "          [-f ouistiti|line|nul|length]%s\n"
            "  -R <dir>   directory of the service sockets (the gateway's services directory)\n"
            "  -n <name>  socket name in that directory (the URL path clients ask for)\n"
            "  -m <max>   most clients at once (0: no limit); past it a client is refused\n"
            "  -u <user>  run as this user once the socket is bound\n"
            "  -D         run in the background (daemon)\n"
            "  -t <type>  socket type: stream (default), seqpacket or dgram\n"
            "  -f <fmt>   message framing on a stream: ouistiti (default: one read is one\n"
            "             message), line ('\\n' after each), nul ('\\0' after each), length\n"
            "             (1 byte type, 4 bytes big-endian length, then the message)\n"
            "  -h         this help\n"
            "%s",
            progname, extra_usage && *extra_usage ? " [service options]" : "", extra_usage ? extra_usage : "");
}

static void die_usage(const char *fmt, const char *arg) {
    fprintf(stderr, "%s: ", progname);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (see %s -h)\n", progname);
    exit(2);
}

static int parse_uint(const char *s, unsigned max, unsigned *out) {
    if (*s == '\0') return -1;
    unsigned long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9') return -1;
        v = v * 10 + (unsigned long)(*p - '0');
        if (v > max) return -1;
    }
    *out = (unsigned)v;
    return 0;
}

void wss_parse_args(int argc, char **argv, wss_config *cfg, const char *extra_opts, const char *extra_usage,
                    int (*on_opt)(int opt, const char *arg, void *user), void *user) {
    if (argc > 0 && argv[0]) {
        const char *slash = strrchr(argv[0], '/');
        progname = slash ? slash + 1 : argv[0];
    }
    if (cfg->type == 0) cfg->type = SOCK_STREAM;
    if (cfg->max_message == 0) cfg->max_message = WSS_DEFAULT_MAX_MESSAGE;
    char opts[128];
    int n = snprintf(opts, sizeof opts, ":R:n:m:u:Dt:f:h%s", extra_opts ? extra_opts : "");
    if (n < 0 || (size_t)n >= sizeof opts) die_usage("%s", "too many service options");
    opterr = 0;
    int opt;
    while ((opt = getopt(argc, argv, opts)) != -1) {
        char o[3] = {'-', (char)optopt, 0};
        switch (opt) {
        case 'R': cfg->dir = optarg; break;
        case 'n': cfg->name = optarg; break;
        case 'm':
            if (parse_uint(optarg, 1000000, &cfg->max_clients) != 0)
                die_usage("-m wants a number of clients from 0 to 1000000, not \"%s\"", optarg);
            break;
        case 'u': cfg->user = optarg; break;
        case 'D': cfg->daemonize = 1; break;
        case 't':
            if (strcmp(optarg, "stream") == 0) cfg->type = SOCK_STREAM;
            else if (strcmp(optarg, "seqpacket") == 0) cfg->type = SOCK_SEQPACKET;
            else if (strcmp(optarg, "dgram") == 0) cfg->type = SOCK_DGRAM;
            else die_usage("-t wants stream, seqpacket or dgram, not \"%s\"", optarg);
            break;
        case 'f': {
            int f = wss_relay_framing(optarg);
            if (f < 0) die_usage("-f wants ouistiti, line, nul or length, not \"%s\"", optarg);
            cfg->framing = f;
            break;
        }
        case 'h':
            usage(stdout, extra_usage);
            exit(0);
        case ':':
            die_usage("option %s needs a value", o);
            break;
        case '?':
            if (optopt) die_usage("unknown option %s", o);
            die_usage("unknown option %s", argv[optind - 1]);
            break;
        default: {
            o[1] = (char)opt;
            if (on_opt == NULL || on_opt(opt, optarg, user) != 0) {
                if (optarg) {
                    fprintf(stderr, "%s: bad value \"%s\" for option %s (see %s -h)\n", progname, optarg, o,
                            progname);
                    exit(2);
                }
                die_usage("option %s was refused", o);
            }
        }
        }
    }
    if (optind < argc) die_usage("unexpected argument \"%s\"", argv[optind]);
    if (cfg->dir == NULL || *cfg->dir == '\0') die_usage("%s", "-R <dir> (the socket directory) is required");
    if (cfg->name == NULL || *cfg->name == '\0') die_usage("%s", "-n <name> (the socket name) is required");
    if (strchr(cfg->name, '/')) die_usage("-n wants a name, not a path: \"%s\"", cfg->name);
}

/* ---- the listening socket ---- */

/* Releases a server that never ran; err holds the message already. */
static wss_server *discard(wss_server *s) {
    if (s) {
        if (s->fd >= 0) close(s->fd);
        if (s->sigfd >= 0) close(s->sigfd);
        free(s->slab);
        free(s);
    }
    return NULL;
}

static wss_server *fail(wss_server *s, char *err, size_t errlen, const char *fmt, const char *a, const char *b) {
    snprintf(err, errlen, fmt, a, b);
    return discard(s);
}

/* A socket file left at path: 0 when there was none or it was stale (and
 * is gone now), -1 when a live server holds it or it is not a socket. */
static int clear_stale(const char *path, int type, char *err, size_t errlen) {
    struct stat st;
    if (lstat(path, &st) != 0) return 0;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", path);
        return -1;
    }
    /* non-blocking: a live server with a full backlog answers EAGAIN, not a wait */
    int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return 0;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, path, strlen(path) + 1);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    if (r == 0 || e == EPROTOTYPE || e == EAGAIN) {
        snprintf(err, errlen, "%s is in use by a running server", path);
        return -1;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -1;
    }
    if (unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove the stale socket %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

static int drop_privileges(const char *user, char *err, size_t errlen, const char *path) {
    struct passwd *pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "-u: no such user \"%s\"", user);
        return -1;
    }
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid) return 0;
    /* the socket stays the service's to remove at the end */
    if (chown(path, pw->pw_uid, pw->pw_gid) != 0 || initgroups(pw->pw_name, pw->pw_gid) != 0 ||
        setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        snprintf(err, errlen, "-u %s: cannot switch to that user: %s", user, strerror(errno));
        return -1;
    }
    return 0;
}

static int daemonize(char *err, size_t errlen) {
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(err, errlen, "-D: fork: %s", strerror(errno));
        return -1;
    }
    if (pid > 0) _exit(0);
    setsid();
    int fd = open("/dev/null", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    return 0;
}

wss_server *wss_listen(const wss_config *cfg, const wss_handlers *h, void *user, char *err, size_t errlen) {
    wss_server *s = calloc(1, sizeof *s);
    if (s == NULL) return fail(NULL, err, errlen, "%s%s", "out of memory", "");
    s->fd = s->sigfd = -1;
    s->cfg = *cfg;
    s->h = *h;
    s->user = user;
    if (s->cfg.type == 0) s->cfg.type = SOCK_STREAM;
    if (s->cfg.max_message == 0) s->cfg.max_message = WSS_DEFAULT_MAX_MESSAGE;
    s->queue_max = WSS_QUEUE_FACTOR * (size_t)s->cfg.max_message + (1u << 20);
    if (cfg->dir == NULL || cfg->name == NULL) return fail(s, err, errlen, "%s%s", "no socket directory or name", "");

    /* absolute, so that -D (which leaves the directory) can still remove it */
    char dir[PATH_MAX];
    if (realpath(cfg->dir, dir) == NULL)
        return fail(s, err, errlen, "socket directory %s: %s", cfg->dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return fail(s, err, errlen, "socket directory %s: %s", cfg->dir, "not a directory");
    int n = snprintf(s->path, sizeof s->path, "%s/%s", dir, cfg->name);
    if (n < 0 || (size_t)n >= sizeof s->path)
        return fail(s, err, errlen, "socket path %s/%s is too long for a UNIX socket", dir, cfg->name);
    if (clear_stale(s->path, s->cfg.type, err, errlen) != 0) return discard(s);

    /* SIGTERM and SIGINT are blocked before the socket is there: one sent as
     * soon as it appears waits for the signalfd (a clean stop) instead of
     * killing the service with its socket file left behind. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    s->fd = socket(AF_UNIX, s->cfg.type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0) return fail(s, err, errlen, "socket: %s%s", strerror(errno), "");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    memcpy(a.sun_path, s->path, strlen(s->path) + 1);
    if (bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0)
        return fail(s, err, errlen, "cannot bind %s: %s", s->path, strerror(errno));
    /* as ouistiti's services: who may connect is the directory's business */
    chmod(s->path, 0777);
    if (s->cfg.type != SOCK_DGRAM && listen(s->fd, 128) != 0) {
        unlink(s->path);
        return fail(s, err, errlen, "cannot listen on %s: %s", s->path, strerror(errno));
    }
    if (lstat(s->path, &st) == 0) {
        s->dev = st.st_dev;
        s->ino = st.st_ino;
    }
    if ((cfg->user && drop_privileges(cfg->user, err, errlen, s->path) != 0) ||
        (cfg->daemonize && daemonize(err, errlen) != 0)) {
        unlink(s->path);
        return discard(s);
    }
    s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);
    s->slab_cap = WSS_READ_CHUNK;
    if (s->cfg.type != SOCK_STREAM) s->slab_cap = (size_t)s->cfg.max_message + 1;
    s->slab = malloc(s->slab_cap);
    if (s->slab == NULL || s->sigfd < 0) {
        unlink(s->path);
        return fail(s, err, errlen, "%s%s", s->sigfd < 0 ? "signalfd failed" : "out of memory", "");
    }
    return s;
}

/* ---- clients ---- */

static wss_client *client_new(wss_server *s, int fd) {
    wss_client *c = calloc(1, sizeof *c);
    if (c == NULL) return NULL;
    c->s = s;
    c->fd = fd;
    c->passed_fd = -1;
    strcpy(c->address, "unknown");
    c->last_active = wss_now_ms();
    /* at the end: clients are served in the order they came */
    c->prev = s->clients_tail;
    if (s->clients_tail) s->clients_tail->next = c;
    else s->clients = c;
    s->clients_tail = c;
    return c;
}

static void queue_free(wss_client *c) {
    while (c->out) {
        wss_chunk *k = c->out;
        c->out = k->next;
        free(k);
    }
    c->out_tail = NULL;
    c->out_bytes = 0;
}

void wss_teardown(wss_client *c) {
    if (c->dead) return;
    c->dead = 1;
    c->closing = 1;
    if (c->fd >= 0) close(c->fd);
    if (c->passed_fd >= 0) close(c->passed_fd);
    c->fd = c->passed_fd = -1;
    queue_free(c);
}

/* on_close for a client the service saw open: called from the loop only,
 * never inside another handler. */
static void notify_close(wss_client *c) {
    if (c->open && !c->notified) {
        c->notified = 1;
        c->s->nopen--;
        if (c->s->h.on_close) c->s->h.on_close(c, c->s->user);
    }
}

static void client_free(wss_client *c) {
    wss_server *s = c->s;
    if (c->prev) c->prev->next = c->next;
    else s->clients = c->next;
    if (c->next) c->next->prev = c->prev;
    else s->clients_tail = c->prev;
    wss_direct_free(c);
    free(c->in);
    free(c);
}

/* A relay client becomes visible to the service; refused past -m. */
static int relay_open(wss_client *c) {
    wss_server *s = c->s;
    if (s->cfg.max_clients && s->nopen >= s->cfg.max_clients) {
        wss_teardown(c);
        return -1;
    }
    c->kind = WSS_RELAY;
    c->deadline = 0;
    c->open = 1;
    s->nopen++;
    if (s->h.on_open) s->h.on_open(c, s->user);
    return 0;
}

void wss_deliver(wss_client *c, int opcode, const uint8_t *data, size_t len) {
    if (!c->open || c->closing || c->dead) return;
    c->last_active = wss_now_ms();
    c->s->h.on_message(c, opcode, data, len, c->s->user);
}

/* ---- the send queue ---- */

static void after_flush(wss_client *c) {
    if (!c->closing || c->out || c->dead) return;
    if (c->kind == WSS_DIRECT) {
        if (!c->wr_shut) {
            shutdown(c->fd, SHUT_WR);
            c->wr_shut = 1;
            c->deadline = wss_now_ms() + WSS_DRAIN_MS;
        }
    } else {
        wss_teardown(c);
    }
}

/* Drops n sent bytes (a stream) or n sent packets from the front of the queue. */
static void consumed(wss_client *c, int stream, size_t n) {
    while (n && c->out) {
        wss_chunk *k = c->out;
        size_t rest = k->len - k->off;
        if (stream && n < rest) {
            k->off += n;
            return;
        }
        n -= stream ? rest : 1;
        c->out = k->next;
        if (c->out == NULL) c->out_tail = NULL;
        c->out_bytes -= k->len;
        free(k);
    }
}

/* Everything queued in as few calls as the socket takes: one sendmsg of up
 * to WSS_FLUSH_BATCH chunks on a stream, one sendmmsg of as many packets. */
static void flush(wss_client *c) {
    wss_server *s = c->s;
    int type = c->kind == WSS_DIRECT ? SOCK_STREAM : s->cfg.type;
    c->flush_due = 0;
    while (c->out && !c->dead) {
        struct iovec iov[WSS_FLUSH_BATCH];
        struct mmsghdr mm[WSS_FLUSH_BATCH];
        unsigned n = 0;
        for (wss_chunk *k = c->out; k && n < WSS_FLUSH_BATCH; k = k->next, n++)
            iov[n] = (struct iovec){.iov_base = k->data + k->off, .iov_len = k->len - k->off};
        ssize_t r;
        if (type == SOCK_STREAM) {
            struct msghdr mh = {.msg_iov = iov, .msg_iovlen = n};
            r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        } else {
            int dgram = type == SOCK_DGRAM;
            for (unsigned i = 0; i < n; i++)
                mm[i] = (struct mmsghdr){.msg_hdr = {.msg_name = dgram ? &c->peer : NULL,
                                                     .msg_namelen = dgram ? c->peer_len : 0,
                                                     .msg_iov = &iov[i], .msg_iovlen = 1}};
            r = sendmmsg(dgram ? s->fd : c->fd, mm, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        }
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) return;
            wss_teardown(c); /* the peer is gone, or a packet it cannot take */
            return;
        }
        consumed(c, type == SOCK_STREAM, (size_t)r);
    }
    after_flush(c);
}

int wss_queue(wss_client *c, const void *a, size_t alen, const void *b, size_t blen, const void *t, size_t tlen) {
    if (c->dead) return -1;
    size_t len = alen + blen + tlen;
    if (len > c->s->queue_max || c->out_bytes > c->s->queue_max - len) {
        wss_close(c, 1008, "send queue full");
        return -1;
    }
    wss_chunk *k = malloc(sizeof *k + len);
    if (k == NULL) {
        wss_teardown(c);
        return -1;
    }
    k->next = NULL;
    k->len = len;
    k->off = 0;
    if (alen) memcpy(k->data, a, alen);
    if (blen) memcpy(k->data + alen, b, blen);
    if (tlen) memcpy(k->data + alen + blen, t, tlen);
    if (c->out_tail) c->out_tail->next = k;
    else c->out = k;
    c->out_tail = k;
    c->out_bytes += len;
    /* Sent at the end of the poll round with what else comes (one call for
     * a read's worth of replies); at once past WSS_FLUSH_BYTES, so that the
     * queue's bound still meets a socket that was given the chance. */
    c->flush_due = 1;
    if (c->out_bytes >= WSS_FLUSH_BYTES) flush(c);
    return 0;
}

void wss_begin_close(wss_client *c) {
    if (c->dead) return;
    if (!c->closing) {
        c->closing = 1;
        c->deadline = wss_now_ms() + WSS_FLUSH_MS;
    }
    after_flush(c);
}

/* ---- the public client API ---- */

int wss_send(wss_client *c, int opcode, const void *data, size_t len) {
    if (c == NULL || c->closing || c->dead || !c->open) return -1;
    if (opcode != WS_GW_TEXT && opcode != WS_GW_BINARY) return -1;
    if (c->kind == WSS_DIRECT) return wss_direct_send(c, opcode, data, len);
    int framing = c->s->cfg.type == SOCK_STREAM ? c->s->cfg.framing : -1;
    if (framing == WSS_FRAMING_LENGTH && len > UINT32_MAX) {
        wss_close(c, 1009, "message too big for the length framing");
        return -1;
    }
    uint8_t pre[5], post[1];
    size_t np = wss_relay_prefix(framing, opcode, len, pre), ns = wss_relay_suffix(framing, post);
    return wss_queue(c, pre, np, data, len, post, ns);
}

void wss_close(wss_client *c, uint16_t code, const char *reason) {
    if (c == NULL || c->dead || c->closing) return;
    if (c->kind == WSS_DIRECT) wss_direct_close(c, code, reason);
    else wss_begin_close(c);
}

const char *wss_client_address(const wss_client *c) { return c->address; }
int wss_client_port(const wss_client *c) { return c->port; }
const char *wss_client_protocol(const wss_client *c) { return c->kind == WSS_DIRECT ? c->protocol : ""; }
int wss_client_is_direct(const wss_client *c) { return c->kind == WSS_DIRECT; }
void wss_client_set_data(wss_client *c, void *p) { c->data = p; }
void *wss_client_data(const wss_client *c) { return c->data; }

void wss_foreach(wss_server *s, void (*fn)(wss_client *c, void *arg), void *arg) {
    for (wss_client *c = s->clients, *next; c; c = next) {
        next = c->next; /* the loop frees clients later, never during this */
        if (c->open && !c->closing && !c->dead) fn(c, arg);
    }
}

/* ---- reading ---- */

static void relay_stream_input(wss_client *c, const uint8_t *buf, size_t len) {
    wss_server *s = c->s;
    const uint8_t *p = buf;
    size_t n = len;
    if (c->in_len) { /* an unfinished message: the new bytes join it */
        /* a whole message, its header or delimiter, and the next read's start */
        size_t bound = (size_t)s->cfg.max_message + WS_GW_LEN_HEADER + 1 + WSS_READ_CHUNK;
        if (c->in_len + len > c->in_cap) {
            size_t cap = c->in_cap ? c->in_cap : 4096;
            while (cap < c->in_len + len) cap *= 2;
            if (cap > bound && c->in_len + len <= bound) cap = bound;
            uint8_t *q = c->in_len + len <= bound ? realloc(c->in, cap) : NULL;
            if (q == NULL) {
                wss_teardown(c);
                return;
            }
            c->in = q;
            c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, buf, len);
        c->in_len += len;
        p = c->in;
        n = c->in_len;
    }
    size_t off = 0;
    while (!c->dead && !c->closing) {
        wss_relay_msg m;
        long r = wss_relay_parse(s->cfg.framing, p + off, n - off, s->cfg.max_message, &c->scan, &m);
        if (r < 0) {
            wss_teardown(c);
            return;
        }
        if (r == 0) break;
        off += (size_t)r;
        wss_deliver(c, m.opcode, m.data, m.len);
    }
    if (c->dead || c->closing) return;
    size_t rest = n - off;
    if (p == c->in) {
        if (off) memmove(c->in, c->in + off, rest);
        c->in_len = rest;
        if (rest == 0 && c->in_cap > (1u << 20)) {
            free(c->in);
            c->in = NULL;
            c->in_cap = 0;
        }
    } else if (rest) {
        /* c->in may still hold an emptied buffer: reuse or grow it, never drop it */
        if (rest > c->in_cap) {
            size_t cap = rest < 4096 ? 4096 : rest;
            uint8_t *q = realloc(c->in, cap);
            if (q == NULL) {
                wss_teardown(c);
                return;
            }
            c->in = q;
            c->in_cap = cap;
        }
        memcpy(c->in, p + off, rest);
        c->in_len = rest;
    }
}

static int take_fd(struct msghdr *mh) {
    int fd = -1;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) continue;
        size_t nfd = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < nfd; i++) {
            int f;
            memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof f);
            if (fd < 0) fd = f;
            else close(f); /* one socket per hand-off */
        }
    }
    return fd;
}

/* The hand-off record is whole: the client socket becomes the client. */
static void handoff_done(wss_client *c, const wss_handoff *h) {
    close(c->fd);
    c->fd = c->passed_fd;
    c->passed_fd = -1;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    fcntl(c->fd, F_SETFD, FD_CLOEXEC);
    memcpy(c->address, h->address, sizeof c->address);
    c->port = h->port;
    memcpy(c->protocol, h->protocol, sizeof c->protocol);
    c->kind = WSS_DIRECT;
    c->deadline = 0;
    wss_server *s = c->s;
    int refuse = s->cfg.max_clients && s->nopen >= s->cfg.max_clients;
    wss_direct_start(c, h, refuse);
    if (!c->dead) {
        free(c->in); /* the pending bytes were parsed out of it */
        c->in = NULL;
        c->in_len = c->in_cap = 0;
    }
}

static void handoff_input(wss_client *c, const uint8_t *buf, size_t len) {
    if (c->in_len + len > WS_GW_DIRECT_MAX) {
        wss_teardown(c);
        return;
    }
    if (c->in_len + len > c->in_cap) {
        size_t cap = c->in_len + len < 4096 ? 4096 : c->in_len + len;
        uint8_t *q = realloc(c->in, cap);
        if (q == NULL) {
            wss_teardown(c);
            return;
        }
        c->in = q;
        c->in_cap = cap;
    }
    memcpy(c->in + c->in_len, buf, len);
    c->in_len += len;
    wss_handoff h;
    long r = wss_handoff_read(c->in, c->in_len, &h);
    if (r == -1) wss_teardown(c);
    else if (r > 0) handoff_done(c, &h);
}

/* One read (again: not the first of this poll round); 1 when it was a
 * non-empty packet of a relay connection that can take another read now. */
static int read_connection(wss_client *c, short revents, int again) {
    wss_server *s = c->s;
    if (c->kind == WSS_DIRECT) {
        ssize_t n = recv(c->fd, s->slab, WSS_READ_CHUNK < s->slab_cap ? WSS_READ_CHUNK : s->slab_cap, 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
        if (n <= 0) {
            wss_teardown(c);
            return 0;
        }
        if (c->closing) return 0; /* after our close frame, the rest is read and dropped */
        wss_direct_input(c, s->slab, (size_t)n);
        return 0;
    }
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(4 * sizeof(int))];
    } ctl;
    struct iovec iov = {s->slab, s->cfg.type == SOCK_STREAM ? WSS_READ_CHUNK : s->slab_cap};
    if (iov.iov_len > s->slab_cap) iov.iov_len = s->slab_cap;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
    int trunc = s->cfg.type == SOCK_SEQPACKET ? MSG_TRUNC : 0;
    ssize_t n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT | trunc);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    int first = c->reads++ == 0;
    int fd = n >= 0 ? take_fd(&mh) : -1;
    if (fd >= 0 && !first) {
        close(fd); /* a relay connection never carries one */
        fd = -1;
    }
    if (fd >= 0) {
        if (c->open) { /* a named connection turns out to be a hand-off */
            notify_close(c);
            c->open = c->notified = 0;
            c->data = NULL;
            queue_free(c);
        }
        c->kind = WSS_PENDING;
        c->passed_fd = fd;
        c->deadline = wss_now_ms() + WSS_PENDING_MS; /* for the rest of the record */
    }
    if (c->passed_fd >= 0) {
        if (n <= 0) wss_teardown(c);
        else handoff_input(c, s->slab, (size_t)n);
        return 0;
    }
    /* on seqpacket, 0 is an empty packet too: the end is when the peer hung up
     * (asked afresh on a read after the first of the round: revents is older) */
    if (n == 0 && s->cfg.type == SOCK_SEQPACKET && again) {
        struct pollfd p = {.fd = c->fd, .events = POLLIN | POLLRDHUP};
        revents = poll(&p, 1, 0) == 1 ? p.revents : 0;
    }
    int empty_packet = n == 0 && s->cfg.type == SOCK_SEQPACKET && !(revents & (POLLHUP | POLLRDHUP));
    if (n < 0 || (n == 0 && !empty_packet)) {
        wss_teardown(c);
        return 0;
    }
    if (c->kind == WSS_PENDING && relay_open(c) != 0) return 0;
    if (c->closing) return 0;
    if (s->cfg.type == SOCK_SEQPACKET) {
        if ((mh.msg_flags & MSG_TRUNC) || (uint64_t)n > s->cfg.max_message) {
            wss_teardown(c);
            return 0;
        }
        wss_relay_msg m;
        size_t scan = 0;
        wss_relay_parse(WSS_FRAMING_OUISTITI, s->slab, (size_t)n, 0, &scan, &m);
        wss_deliver(c, n ? m.opcode : WS_GW_TEXT, s->slab, (size_t)n);
        return n > 0 && !c->dead && !c->closing && c->out_bytes < WSS_FLUSH_BYTES;
    }
    relay_stream_input(c, s->slab, (size_t)n);
    return 0;
}

static void accept_connections(wss_server *s) {
    for (int i = 0; i < 64; i++) {
        struct sockaddr_un a;
        socklen_t alen = sizeof a;
        int fd = accept4(s->fd, (struct sockaddr *)&a, &alen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;
        wss_client *c = client_new(s, fd);
        if (c == NULL) {
            close(fd);
            return;
        }
        size_t plen = alen > offsetof(struct sockaddr_un, sun_path) ? alen - offsetof(struct sockaddr_un, sun_path) : 0;
        if (ws_gw_bind_parse(a.sun_path, plen, c->address, sizeof c->address, &c->port) == 0) {
            relay_open(c); /* a relay connection: the service sees it now */
        } else {
            strcpy(c->address, "unknown");
            c->deadline = wss_now_ms() + WSS_PENDING_MS;
        }
    }
}

static wss_client *dgram_session(wss_server *s, const struct sockaddr_un *a, socklen_t alen) {
    for (wss_client *c = s->clients; c; c = c->next)
        if (!c->dead && c->kind == WSS_RELAY && c->peer_len == alen && memcmp(&c->peer, a, alen) == 0) return c;
    return NULL;
}

static void read_datagrams(wss_server *s) {
    for (int i = 0; i < 64; i++) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(4 * sizeof(int))];
        } ctl;
        struct sockaddr_un a;
        struct iovec iov = {s->slab, s->slab_cap};
        struct msghdr mh = {.msg_name = &a, .msg_namelen = sizeof a, .msg_iov = &iov, .msg_iovlen = 1,
                            .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
        ssize_t n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC | MSG_TRUNC | MSG_DONTWAIT);
        if (n < 0) return;
        int fd = take_fd(&mh);
        if (fd >= 0) { /* a hand-off in one datagram */
            wss_client *c = client_new(s, -1);
            if (c == NULL) {
                close(fd);
                continue;
            }
            c->passed_fd = fd;
            c->reads = 1;
            if ((mh.msg_flags & MSG_TRUNC) || (size_t)n > WS_GW_DIRECT_MAX) wss_teardown(c);
            else {
                handoff_input(c, s->slab, (size_t)n);
                if (c->kind != WSS_DIRECT) wss_teardown(c);
            }
            continue;
        }
        size_t plen = mh.msg_namelen > offsetof(struct sockaddr_un, sun_path)
                          ? mh.msg_namelen - offsetof(struct sockaddr_un, sun_path)
                          : 0;
        if (plen == 0) continue; /* an unbound sender cannot be answered */
        wss_client *c = dgram_session(s, &a, mh.msg_namelen);
        if (c == NULL) {
            c = client_new(s, -1);
            if (c == NULL) continue;
            memcpy(&c->peer, &a, mh.msg_namelen);
            c->peer_len = mh.msg_namelen;
            if (ws_gw_bind_parse(a.sun_path, plen, c->address, sizeof c->address, &c->port) != 0)
                strcpy(c->address, "unknown");
            if (relay_open(c) != 0) continue; /* past -m: the datagram is dropped */
        }
        c->last_active = wss_now_ms();
        if ((mh.msg_flags & MSG_TRUNC) || (uint64_t)n > s->cfg.max_message) {
            wss_teardown(c);
            continue;
        }
        wss_relay_msg m;
        size_t scan = 0;
        wss_relay_parse(WSS_FRAMING_OUISTITI, s->slab, (size_t)n, 0, &scan, &m);
        wss_deliver(c, n ? m.opcode : WS_GW_TEXT, s->slab, (size_t)n);
    }
}

/* ---- the loop ---- */

static void timers(wss_server *s, int64_t now) {
    for (wss_client *c = s->clients; c; c = c->next) {
        if (c->dead) continue;
        if (c->kind == WSS_RELAY && c->fd < 0 && !c->closing && now - c->last_active >= WSS_DGRAM_IDLE_MS)
            wss_teardown(c);
        else if (c->deadline && now >= c->deadline) {
            if (c->kind == WSS_PENDING && c->passed_fd < 0 && !c->closing) relay_open(c);
            else wss_teardown(c);
        }
    }
}

static int next_timeout(wss_server *s, int64_t now) {
    int64_t t = -1;
    for (wss_client *c = s->clients; c; c = c->next) {
        if (c->dead) continue;
        int64_t d = c->deadline;
        if (c->kind == WSS_RELAY && c->fd < 0) {
            int64_t idle = c->last_active + WSS_DGRAM_IDLE_MS;
            if (!d || idle < d) d = idle;
        }
        if (d && (t < 0 || d < t)) t = d;
    }
    if (t < 0) return -1;
    return t <= now ? 0 : (int)(t - now > 60000 ? 60000 : t - now);
}

static void sweep(wss_server *s) {
    for (wss_client *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->dead || c->closing) notify_close(c);
    }
    for (wss_client *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->dead) client_free(c);
    }
}

static void stop(wss_server *s) {
    /* The socket goes first: a gateway that sees a relay connection end
     * finds it gone and tells the client 1001 (going away), not 1011. */
    struct stat st;
    if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino) unlink(s->path);
    for (wss_client *c = s->clients; c; c = c->next) {
        if (c->dead) continue;
        if (c->kind == WSS_DIRECT && !c->close_sent) wss_direct_close(c, WS_CLOSE_GOING_AWAY, "service stopping");
        flush(c);
        wss_teardown(c);
    }
    sweep(s);
    close(s->fd);
    close(s->sigfd);
    free(s->slab);
    free(s);
}

int wss_run(wss_server *s) {
    struct pollfd *pfd = NULL;
    wss_client **who = NULL;
    size_t cap = 0;
    for (;;) {
        size_t n = 2;
        for (wss_client *c = s->clients; c; c = c->next)
            if (!c->dead && c->fd >= 0) n++;
        if (n > cap) {
            size_t ncap = n * 2;
            struct pollfd *p = realloc(pfd, ncap * sizeof *p);
            if (p) pfd = p;
            wss_client **w = p ? realloc(who, ncap * sizeof *w) : NULL;
            if (w) who = w;
            if (p == NULL || w == NULL) { /* no memory for the poll set: wait and retry */
                poll(NULL, 0, 100);
                continue;
            }
            cap = ncap;
        }
        int dgram_out = 0;
        size_t k = 2;
        for (wss_client *c = s->clients; c; c = c->next) {
            if (c->dead) continue;
            if (c->fd < 0) {
                dgram_out |= c->out != NULL;
                continue;
            }
            short ev = c->out ? POLLOUT : 0;
            if (!c->closing || (c->kind == WSS_DIRECT && !c->out)) ev |= POLLIN | POLLRDHUP;
            pfd[k] = (struct pollfd){.fd = c->fd, .events = ev};
            who[k++] = c;
        }
        pfd[0] = (struct pollfd){.fd = s->sigfd, .events = POLLIN};
        pfd[1] = (struct pollfd){.fd = s->fd, .events = (short)(POLLIN | (dgram_out ? POLLOUT : 0))};
        int r = poll(pfd, k, next_timeout(s, wss_now_ms()));
        if (r < 0 && errno != EINTR) break;
        if (r > 0 && (pfd[0].revents & POLLIN)) break;
        if (r > 0) {
            if (pfd[1].revents & POLLIN) {
                if (s->cfg.type == SOCK_DGRAM) read_datagrams(s);
                else accept_connections(s);
            }
            if (pfd[1].revents & POLLOUT)
                for (wss_client *c = s->clients; c; c = c->next)
                    if (!c->dead && c->fd < 0 && c->out) flush(c);
            for (size_t i = 2; i < k; i++) {
                wss_client *c = who[i];
                if (c->dead || pfd[i].revents == 0) continue;
                if (pfd[i].revents & POLLOUT) flush(c);
                if (c->dead || !(pfd[i].revents & (POLLIN | POLLHUP | POLLERR | POLLRDHUP))) continue;
                int more = read_connection(c, pfd[i].revents, 0);
                for (int m = 1; more && m < WSS_READ_PACKETS; m++) more = read_connection(c, pfd[i].revents, 1);
            }
        }
        timers(s, wss_now_ms());
        sweep(s);
        /* the round's replies (and what on_close sent): one send per client */
        for (wss_client *c = s->clients; c; c = c->next)
            if (c->flush_due && !c->dead) flush(c);
    }
    free(pfd);
    free(who);
    stop(s);
    return 0;
}
