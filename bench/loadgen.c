/* loadgen: a WebSocket load generator for benchmarking servers on loopback.
 *
 * One thread (or --threads T, echo mode: T threads, each with its own epoll
 * and its share of the connections, results summed), epoll
 * (level-triggered), non-blocking sockets. Every outgoing
 * data frame is pre-built and pre-masked: a frame is two iovecs, a small
 * per-slot head (header + the first <= 16 payload bytes, which carry a
 * sequence number) and a payload tail shared by every frame of the run. Each
 * connection keeps K slots (K = messages in flight); a slot is reused only
 * after its message came back, so nothing is allocated per message, and all
 * frames queued on a connection go out in one writev.
 *
 * It validates everything it receives, with its own client-side frame parser
 * (deliberately independent of the server's codec in native/): the
 * Sec-WebSocket-Accept value, the 101 status and Upgrade/Connection headers,
 * no unrequested extension, unmasked server frames, RSV bits clear, control
 * frame rules, message type (text/binary as sent), message length and every
 * payload byte (compared with what was sent), and message order. On any
 * mismatch it prints "loadgen: error: ..." and exits 1.
 *
 * --deflate (permessage-deflate, RFC 7692): the request offers
 * "permessage-deflate; client_no_context_takeover" and the 101 must accept it
 * with no parameter the client did not allow. The payload is then JSON-like
 * text, in enough variants used in turn that an exact repeat always lies
 * beyond a 2^15 window (so a server with context takeover compresses as with
 * real traffic), and every frame sent is compressed (RSV1) without
 * compressing anything per message: its payload is a stored deflate block
 * holding the sequence digits, patched per message as in plain mode,
 * followed by the rest of its variant compressed once at start-up (raw
 * deflate, 00 00 ff ff tail stripped). Each message is a deflate stream of
 * its own, valid to resend forever. Server frames with RSV1 go through a
 * per-connection inflater that keeps its window (the server may use context
 * takeover) into one shared buffer, and the inflated bytes are validated as
 * in plain mode; frames without RSV1 are validated as they are.
 *
 * --tls: wss:// (tls_client.c, OpenSSL on the socket). The TLS context is made
 * before anything starts and each connection's handshake is done while
 * connections open, outside the timed part (in connect mode it is part of
 * each cycle, as it is for a real client); the WebSocket bytes then go
 * through the same parser and checks as over plain TCP. --tls-ca FILE
 * verifies the server's certificate against that CA (for 127.0.0.1);
 * without it nothing is verified.
 *
 * Modes:
 *   echo       N connections, K messages in flight each, payload S bytes;
 *              round-trip messages/s and p50/p99/p999 latency.
 *   broadcast  N subscribers + 1 publisher on a resource that sends every
 *              message to all its clients; the publisher keeps K messages
 *              in flight (a message is done when all N subscribers have it);
 *              delivered messages/s and fan-out latency. --port A,B,...:
 *              one resource served by several servers (sharing a fan-out):
 *              subscriber i on the i % n-th port, the publisher on A.
 *   connect    C concurrent attempts, each: TCP connect, upgrade, close
 *              handshake, TCP close; completed cycles/s and handshake latency.
 *   idle       opens N idle connections and reads the server's VmRSS (from
 *              /proc/PID/status, --server-pid) before and after: bytes/conn.
 *
 * Output: one line of key=value pairs (starting with "mode="), then one
 * human-readable line starting with "# ".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#include "tls_client.h"

/* ------------------------------------------------------------------ */
/* configuration                                                       */

enum mode { M_ECHO, M_BROADCAST, M_CONNECT, M_IDLE };
#define MAX_PORTS 16
static const char *mode_names[] = {"echo", "broadcast", "connect", "idle"};

static struct {
    enum mode mode;
    unsigned conns;       /* echo: connections; broadcast: subscribers; connect: concurrency; idle: connections */
    unsigned inflight;    /* K */
    size_t size;          /* payload bytes */
    int binary;
    double duration;      /* seconds measured (idle: settle time before reading VmRSS) */
    double warmup;        /* seconds before measuring */
    int port;             /* the first of ports */
    int ports[MAX_PORTS]; /* --port A,B,...: a server listening on several ports; thread t uses ports[t % n_ports] */
    unsigned n_ports;
    const char *path;
    long server_pid;      /* 0 = unknown; the first of server_pids */
    long server_pids[16]; /* --server-pid A,B,...: a server of several processes (workers); CPU is summed */
    unsigned n_server_pids;
    int server_tree;      /* --server-tree: each server pid counts with all its descendants (a process per client) */
    unsigned concurrency; /* handshakes in progress at once while opening connections */
    int deflate;          /* permessage-deflate: offer it, send compressed frames, inflate replies */
    unsigned threads;     /* echo: threads, each its own epoll and conns / threads connections */
    int tls;              /* --tls: wss://, OpenSSL on every connection (tls_client.c) */
    const char *tls_ca;   /* --tls-ca FILE: verify the server's certificate against it (else no verification) */
} cfg = {
    .mode = M_ECHO, .conns = 100, .inflight = 1, .size = 16, .binary = 0, .duration = 5,
    .warmup = 1, .port = 0, .path = NULL, .server_pid = 0, .concurrency = 256, .threads = 1,
};

/* State of one generator thread; what is set up once (cfg, the payloads,
 * the mask) is shared and read-only while threads run. */
#define PER_THREAD _Thread_local
#define MAX_THREADS 16

#define MAX_INFLIGHT 256
#define MAX_SIZE (64u << 20)
#define SLAB_SIZE (256u << 10)
#define HS_MAX 2048
#define STORED_HDR 5 /* a stored deflate block's header: 3 bits padded to a byte, LEN, NLEN */
#define HEAD_MAX (14 + STORED_HDR + 16)
#define ZOUT_SIZE (64u << 10)
#define IOV_BATCH 512
#define HANDSHAKE_TIMEOUT_NS (10ull * 1000000000ull)
#define CLOSE_TIMEOUT_NS (3ull * 1000000000ull)
#define SETUP_TIMEOUT_NS (60ull * 1000000000ull)
#define DRAIN_TIMEOUT_NS (30ull * 1000000000ull)

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ------------------------------------------------------------------ */
/* small helpers                                                       */

static void die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void die(const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fputs("loadgen: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CPU seconds of the generator: the process, or with --threads this thread. */
static double cpu_self_s(void) {
    struct timespec ts;
    clock_gettime(cfg.threads > 1 ? CLOCK_THREAD_CPUTIME_ID : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* utime + stime of a process (all its threads), in seconds; -1 if unreadable. */
static double cpu_of_pid(long pid) {
    char path[64], buf[2048];
    if (pid <= 0) return -1;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p) return -1;
    p += 2; /* field 3, state */
    unsigned long long ut = 0, st = 0;
    for (int field = 3; field <= 15 && *p; field++) {
        if (field == 14) ut = strtoull(p, NULL, 10);
        if (field == 15) st = strtoull(p, NULL, 10);
        p = strchr(p, ' ');
        if (!p) break;
        p++;
    }
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* --server-tree: utime + stime of pid and every live descendant, in seconds
 * (one pass over /proc: each process's parent and CPU, then the ancestry of
 * each). A descendant that exits between two samples takes its CPU with it:
 * the scenarios that use this keep their processes for the whole run. */
#define TREE_MAX 65536
static double cpu_of_tree(long root) {
    static long pids[TREE_MAX], ppids[TREE_MAX];
    static double cpus[TREE_MAX];
    unsigned n = 0;
    DIR *d = opendir("/proc");
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)) && n < TREE_MAX) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (end == e->d_name || *end) continue;
        char path[64], buf[2048];
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f) continue; /* gone meanwhile */
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = 0;
        char *p = strrchr(buf, ')');
        if (!p) continue;
        long ppid = 0;
        unsigned long long ut = 0, st = 0;
        p += 2; /* field 3, state */
        for (int field = 3; field <= 15 && *p; field++) {
            if (field == 4) ppid = strtol(p, NULL, 10);
            if (field == 14) ut = strtoull(p, NULL, 10);
            if (field == 15) st = strtoull(p, NULL, 10);
            p = strchr(p, ' ');
            if (!p) break;
            p++;
        }
        pids[n] = pid;
        ppids[n] = ppid;
        cpus[n] = (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
        n++;
    }
    closedir(d);
    double sum = -1;
    for (unsigned i = 0; i < n; i++) {
        long a = pids[i];
        for (unsigned depth = 0; a > 1 && depth < 64; depth++) { /* walk up to root or init */
            if (a == root) break;
            unsigned j = 0;
            while (j < n && pids[j] != a) j++;
            a = j < n ? ppids[j] : 0;
        }
        if (a == root) sum = (sum < 0 ? 0 : sum) + cpus[i];
    }
    return sum;
}

/* The server's CPU seconds: summed over its processes (a primary and its
 * workers; with --server-tree, their descendants too); parts[i], when given,
 * gets each listed process's share. */
static double cpu_of_server_parts(double *parts) {
    double sum = 0;
    for (unsigned i = 0; i < cfg.n_server_pids; i++) {
        double s = cfg.server_tree ? cpu_of_tree(cfg.server_pids[i]) : cpu_of_pid(cfg.server_pids[i]);
        if (s < 0) return -1;
        if (parts) parts[i] = s;
        sum += s;
    }
    return cfg.n_server_pids ? sum : -1;
}

/* VmRSS of a process in bytes; -1 if unreadable. */
static long long rss_of_pid(long pid) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtoll(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static PER_THREAD uint64_t rng_state;
static uint64_t rng_next(void) { /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static const char HEX[] = "0123456789abcdef";

/* The first min(size,16) payload bytes carry v as hex digits (low digits
 * last), so every message is distinct and ASCII (valid UTF-8 as text). */
static inline void put_digits(uint8_t *out, unsigned dlen, uint64_t v) {
    for (unsigned i = 0; i < dlen; i++) out[dlen - 1 - i] = (uint8_t)HEX[(v >> (4 * i)) & 15];
}

/* ------------------------------------------------------------------ */
/* latency histogram: log-linear, 32 sub-buckets per power of two (~3%) */

#define HBUCKETS (64 + 58 * 32)
typedef struct {
    uint64_t b[HBUCKETS];
    uint64_t n, max;
} hist_t;
static PER_THREAD hist_t hist;

static inline unsigned hist_idx(uint64_t v) {
    if (v < 64) return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v);
    return 64 + (e - 6) * 32 + (unsigned)((v >> (e - 5)) & 31);
}
static uint64_t hist_val(unsigned i) {
    if (i < 64) return i;
    unsigned e = (i - 64) / 32 + 6, sub = (i - 64) % 32;
    return ((uint64_t)(32 + sub) << (e - 5)) + ((1ull << (e - 5)) >> 1);
}
static inline void hist_add(uint64_t v) {
    hist.b[hist_idx(v)]++;
    hist.n++;
    if (v > hist.max) hist.max = v;
}
static double hist_pct_us(double p) {
    if (!hist.n) return 0;
    uint64_t target = (uint64_t)(p * (double)hist.n + 0.999999);
    if (target < 1) target = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HBUCKETS; i++) {
        acc += hist.b[i];
        if (acc >= target) return (double)hist_val(i) / 1000.0;
    }
    return (double)hist.max / 1000.0;
}

/* ------------------------------------------------------------------ */
/* connections                                                         */

enum cstate { S_FREE, S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSING };
enum role { R_ECHO, R_SUB, R_PUB, R_IDLE, R_CONNECT };

typedef struct conn {
    int fd;
    uint32_t idx;
    uint8_t state, role, want_out;
    uint8_t close_sent, close_recv;
    uint64_t deadline; /* handshake or close deadline, 0 = none */
    uint64_t t_start;  /* connect mode: when the attempt began */

    /* handshake */
    char accept[32];
    char req[400];
    uint16_t req_len, req_off;
    uint16_t hs_len;
    char hs[HS_MAX];

    /* frame parser */
    uint8_t hdr[14];
    uint8_t hdr_have, in_payload, opcode, fin;
    uint8_t msg_op;      /* opcode of the data message in progress, 0 = none */
    uint8_t ctrl_len;
    uint8_t exp_head[16];
    uint64_t remaining;  /* payload left in the current frame */
    uint64_t msg_off;    /* bytes of the current data message seen so far */
    uint64_t msg_seq;    /* sequence number the current message must carry */
    uint8_t ctrl[125];
    uint8_t rsv1;        /* the frame being read has RSV1 set */
    uint8_t msg_z;       /* the current message is compressed (RSV1 on its first frame) */
    uint8_t z_end;       /* the inflater met a final block (BFINAL) in this message */
    z_stream *inf;       /* --deflate: raw inflater, made at the first compressed message */

    /* output: data frames are seqs [write_seq, send_seq); slot = seq % K */
    uint64_t send_seq, write_seq, recv_seq;
    size_t write_off;    /* bytes of frame write_seq already written */
    uint8_t ctl_out[2 + 4 + 125];
    uint8_t ctl_len, ctl_off; /* a pending control frame (pong or close), ctl_len 0 = none */
    uint8_t *heads;      /* K * HEAD_MAX bytes, or NULL */
    uint8_t *head_len;   /* K */
    uint8_t *var;        /* K: the payload variant of each slot's message */
    const uint8_t *exp_pat; /* the plain payload the current message must match */
    uint64_t *ts;        /* K send timestamps */

    tls_conn *tls;       /* --tls: the TLS layer under the WebSocket bytes, NULL before the TCP connect completes */
    uint8_t tls_hs;      /* the TLS handshake is in progress (state S_HANDSHAKE, before the upgrade request) */
} conn;

static PER_THREAD int ep = -1;
static PER_THREAD conn *conns;
static PER_THREAD unsigned nconns;         /* connections in conns[] */
static uint8_t mask[4];
#define MAX_VARIANTS 64
static unsigned nvar = 1;       /* distinct payloads, message seq using variant seq % nvar */
static uint8_t *pattern;        /* nvar plain payloads of size bytes (digits region overwritten per message) */
static uint8_t *tails[MAX_VARIANTS];   /* masked payload bytes after the digits, shared by all frames */
static size_t tail_lens[MAX_VARIANTS];
static size_t wire_sizes[MAX_VARIANTS]; /* payload bytes of each frame sent (size, or compressed size) */
static unsigned dlen;           /* min(size, 16) */
static unsigned pre_len;        /* payload bytes before the digits: --deflate's stored-block header */
static PER_THREAD uint8_t zout[ZOUT_SIZE]; /* --deflate: inflated bytes, validated then dropped */
static PER_THREAD uint8_t zdict[32768];    /* --deflate: a window kept across a final block */
static PER_THREAD uint8_t slab[SLAB_SIZE];
static PER_THREAD struct sockaddr_in srv_addr;
static PER_THREAD int srv_port; /* this thread's server port (--port A,B: thread t uses the t-th, in turn) */
static int bc_spread;           /* broadcast with --port A,B,...: subscriber i on ports[i % n], the publisher on A */

/* run state */
enum phase { P_SETUP, P_WARMUP, P_MEASURE, P_DRAIN, P_CLOSE, P_DONE };
static PER_THREAD enum phase phase = P_SETUP;
static PER_THREAD int measuring;            /* counters and histogram live */
static PER_THREAD unsigned open_count;      /* connections that completed the handshake and are not closed */
static PER_THREAD unsigned pending_count;   /* connections connecting / handshaking */
static PER_THREAD unsigned next_open;       /* setup: next conns[] index to open */
static PER_THREAD unsigned live_count;      /* fds open */
static PER_THREAD uint64_t cnt_msgs;        /* echo: round trips; broadcast: deliveries; connect: cycles */
static PER_THREAD uint64_t cnt_pub;         /* broadcast: messages published (measured) */
static PER_THREAD uint64_t cnt_bytes;       /* payload bytes received (measured) */
static PER_THREAD uint64_t cnt_wire;        /* data frame payload bytes received, as on the wire (measured) */
static PER_THREAD uint64_t cnt_zmsgs;       /* messages received compressed (measured) */
static PER_THREAD uint64_t cnt_handshakes;  /* all completed handshakes */
static PER_THREAD uint64_t close_timeouts;

/* broadcast */
static PER_THREAD conn *pub;
static PER_THREAD uint64_t bc_oldest;       /* oldest message not yet delivered to every subscriber */
static PER_THREAD uint32_t *bc_cnt;         /* deliveries per slot */

static void conn_flush(conn *c);
static void conn_close_fd(conn *c);
static void start_attempt(conn *c);

static void set_events(conn *c, int out) {
    if (c->want_out == out) return;
    struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    c->want_out = (uint8_t)out;
}

/* The connection's byte stream: the socket, or with --tls the plaintext over
 * it; a TLS call that would block reads as EAGAIN, so every caller keeps
 * the plain path's handling. */
static ssize_t conn_read(conn *c, void *buf, size_t len) {
    if (!c->tls) return read(c->fd, buf, len);
    ssize_t n = tls_read(c->tls, buf, len);
    if (n == TLS_WANT_READ || n == TLS_WANT_WRITE) {
        if (n == TLS_WANT_WRITE) set_events(c, 1);
        errno = EAGAIN;
        return -1;
    }
    return n;
}

static ssize_t conn_writev(conn *c, const struct iovec *iov, int n) {
    if (!c->tls) return writev(c->fd, iov, n);
    ssize_t w = tls_writev(c->tls, iov, n);
    if (w == TLS_WANT_READ || w == TLS_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    return w;
}

/* Bytes accepted by conn_writev() that --tls still holds (sent when writable). */
static int tls_held(const conn *c) { return c->tls && tls_pending(c->tls); }

static const char *io_error(const conn *c) { return c->tls ? tls_error() : strerror(errno); }

/* The protocol and cipher of the first TLS handshake, for the report. */
static pthread_mutex_t tls_note_lock = PTHREAD_MUTEX_INITIALIZER;
static char tls_proto[32], tls_cipher[64];
static void note_tls(const conn *c) {
    if (tls_proto[0]) return; /* a benign race: the first writer wins under the lock */
    pthread_mutex_lock(&tls_note_lock);
    if (!tls_proto[0]) {
        snprintf(tls_cipher, sizeof tls_cipher, "%s", tls_cipher_of(c->tls));
        snprintf(tls_proto, sizeof tls_proto, "%s", tls_version_of(c->tls));
    }
    pthread_mutex_unlock(&tls_note_lock);
}

static void base64(const uint8_t *in, int n, char *out) { EVP_EncodeBlock((unsigned char *)out, in, n); }

/* The server port of a connection: the thread's, or for a broadcast spread
 * over several servers, subscriber i's share (the publisher on the first). */
static int conn_port(const conn *c) {
    if (!bc_spread) return srv_port;
    return c->role == R_PUB ? cfg.ports[0] : cfg.ports[c->idx % cfg.n_ports];
}

static void make_request(conn *c) {
    uint8_t key[16], digest[SHA_DIGEST_LENGTH];
    char key64[32], buf[64];
    for (int i = 0; i < 16; i += 8) {
        uint64_t r = rng_next();
        memcpy(key + i, &r, 8);
    }
    base64(key, 16, key64);
    int kl = snprintf(buf, sizeof buf, "%s%s", key64, WS_GUID);
    SHA1((const unsigned char *)buf, (size_t)kl, digest);
    base64(digest, SHA_DIGEST_LENGTH, c->accept);
    /* No client_max_window_bits: the frames are compressed at start-up with a
     * 2^15 window, so the server must not ask for a smaller one (RFC 7692
     * 7.1.2.2: without the offer it may not). */
    int n = snprintf(c->req, sizeof c->req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s\r\n",
                     cfg.path, conn_port(c), key64,
                     cfg.deflate ? "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n" : "");
    if (n <= 0 || (size_t)n >= sizeof c->req) die("--path is too long");
    c->req_len = (uint16_t)n;
    c->req_off = 0;
}

static void conn_reset_parser(conn *c) {
    c->hdr_have = c->in_payload = 0;
    c->msg_op = 0;
    c->ctrl_len = 0;
    c->remaining = c->msg_off = 0;
    c->send_seq = c->write_seq = c->recv_seq = 0;
    c->write_off = 0;
    c->ctl_len = c->ctl_off = 0;
    c->close_sent = c->close_recv = 0;
    c->hs_len = 0;
    c->rsv1 = c->msg_z = c->z_end = 0;
    if (c->inf && inflateReset(c->inf) != Z_OK) die("inflateReset failed");
}

static void conn_open(conn *c) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die("socket: %s (open connections: %u)", strerror(errno), live_count);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->fd = fd;
    c->tls = NULL;
    c->tls_hs = 0;
    live_count++;
    conn_reset_parser(c);
    make_request(c);
    c->t_start = now_ns();
    c->deadline = c->t_start + HANDSHAKE_TIMEOUT_NS;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    c->want_out = 1;
    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl: %s", strerror(errno));
    struct sockaddr_in addr = srv_addr;
    addr.sin_port = htons((uint16_t)conn_port(c));
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect to 127.0.0.1:%d: %s", conn_port(c), strerror(errno));
    c->state = S_CONNECTING;
    pending_count++;
}

static void conn_close_fd(conn *c) {
    if (c->tls) {
        tls_free(c->tls);
        c->tls = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        live_count--;
    }
    c->fd = -1;
    if (c->state == S_OPEN || c->state == S_CLOSING) open_count--;
    if (c->state == S_CONNECTING || c->state == S_HANDSHAKE) pending_count--;
    c->state = S_FREE;
    c->deadline = 0;
}

/* ---- handshake -------------------------------------------------- */

static void feed(conn *c, uint8_t *buf, size_t len);
static void on_open(conn *c);

static const char *header_value(char *head, const char *name, char *out, size_t outsz) {
    size_t nl = strlen(name);
    char *p = strstr(head, "\r\n");
    while (p && p[2] != '\r') {
        char *line = p + 2;
        char *eol = strstr(line, "\r\n");
        if (!eol) break;
        if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            char *v = line + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t')) v++;
            char *e = eol;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t')) e--;
            size_t n = (size_t)(e - v);
            if (n >= outsz) n = outsz - 1;
            memcpy(out, v, n);
            out[n] = 0;
            return out;
        }
        p = eol;
    }
    return NULL;
}

static int contains_token_ci(const char *s, const char *tok) {
    size_t tl = strlen(tok);
    for (const char *p = s; *p; p++)
        if (strncasecmp(p, tok, tl) == 0) return 1;
    return 0;
}

static unsigned header_count(const char *head, const char *name) {
    size_t nl = strlen(name);
    unsigned n = 0;
    for (const char *p = strstr(head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n"))
        if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') n++;
    return n;
}

/* --deflate: the 101 must accept permessage-deflate, alone, with only the
 * parameters a server may answer to our offer (RFC 7692 7.1): the two
 * no_context_takeover flags and server_max_window_bits=8..15. Any inflater
 * with a 2^15 window reads a smaller server window. */
static void check_deflate_answer(conn *c) {
    char v[256];
    if (!header_value(c->hs, "Sec-WebSocket-Extensions", v, sizeof v))
        die("connection %u: --deflate: the server did not accept permessage-deflate (no Sec-WebSocket-Extensions "
            "in its 101)", c->idx);
    if (header_count(c->hs, "Sec-WebSocket-Extensions") > 1 || strchr(v, ','))
        die("connection %u: --deflate: the server accepted more than one extension: \"%s\"", c->idx, v);
    char *save = NULL, *tok = strtok_r(v, ";", &save);
    unsigned seen = 0; /* bits: server_no_context_takeover, client_no_context_takeover, server_max_window_bits */
    for (int first = 1; tok; tok = strtok_r(NULL, ";", &save), first = 0) {
        while (*tok == ' ' || *tok == '\t') tok++;
        char *e = tok + strlen(tok);
        while (e > tok && (e[-1] == ' ' || e[-1] == '\t')) *--e = 0;
        if (first) {
            if (strcmp(tok, "permessage-deflate") != 0)
                die("connection %u: --deflate: the server answered extension \"%s\", not permessage-deflate", c->idx,
                    tok);
            continue;
        }
        char *val = strchr(tok, '=');
        if (val) {
            char *ne = val++;
            while (ne > tok && (ne[-1] == ' ' || ne[-1] == '\t')) ne--;
            *ne = 0;
            while (*val == ' ' || *val == '\t') val++;
            size_t vl = strlen(val);
            if (vl >= 2 && val[0] == '"' && val[vl - 1] == '"') val[vl - 1] = 0, val++;
        }
        unsigned bit = !strcmp(tok, "server_no_context_takeover")   ? 1
                     : !strcmp(tok, "client_no_context_takeover") ? 2
                     : !strcmp(tok, "server_max_window_bits")     ? 4
                                                                  : 0;
        if (!bit)
            die("connection %u: --deflate: the server answered parameter \"%s\", which the client did not allow%s",
                c->idx, tok,
                !strcmp(tok, "client_max_window_bits") ? " (it was not offered: the frames sent are compressed with a "
                                                         "2^15 window)"
                                                       : "");
        if (seen & bit) die("connection %u: --deflate: parameter %s answered twice", c->idx, tok);
        seen |= bit;
        if (bit == 4) {
            char *end;
            long b = val ? strtol(val, &end, 10) : 0;
            if (!val || end == val || *end || b < 8 || b > 15)
                die("connection %u: --deflate: server_max_window_bits needs a value from 8 to 15, got %s%s%s", c->idx,
                    val ? "\"" : "none", val ? val : "", val ? "\"" : "");
        } else if (val) {
            die("connection %u: --deflate: parameter %s takes no value, got \"%s\"", c->idx, tok, val);
        }
    }
}

static void handshake_input(conn *c, uint8_t *buf, size_t len) {
    /* copy at most what fits; frames that follow the head are fed from buf */
    size_t old = c->hs_len, room = HS_MAX - 1 - old, take = len < room ? len : room;
    memcpy(c->hs + old, buf, take);
    c->hs_len = (uint16_t)(old + take);
    char *end = memmem(c->hs, c->hs_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->hs_len == HS_MAX - 1)
            die("connection %u: handshake response longer than %d bytes without an end", c->idx, HS_MAX - 1);
        return;
    }
    size_t head_len = (size_t)(end - c->hs) + 4;
    c->hs[head_len] = 0;
    if (strlen(c->hs) != head_len) die("connection %u: NUL byte in the handshake response", c->idx);
    if (strncmp(c->hs, "HTTP/1.1 101 ", 13) != 0) {
        *strstr(c->hs, "\r\n") = 0;
        die("connection %u: expected \"HTTP/1.1 101\", server answered \"%s\" (path %s)", c->idx, c->hs, cfg.path);
    }
    char v[256];
    if (!header_value(c->hs, "Upgrade", v, sizeof v) || strcasecmp(v, "websocket") != 0)
        die("connection %u: 101 response without \"Upgrade: websocket\"", c->idx);
    if (!header_value(c->hs, "Connection", v, sizeof v) || !contains_token_ci(v, "upgrade"))
        die("connection %u: 101 response without \"Connection: Upgrade\"", c->idx);
    if (!header_value(c->hs, "Sec-WebSocket-Accept", v, sizeof v))
        die("connection %u: 101 response without Sec-WebSocket-Accept", c->idx);
    if (strcmp(v, c->accept) != 0)
        die("connection %u: wrong Sec-WebSocket-Accept: got \"%s\", expected \"%s\"", c->idx, v, c->accept);
    if (!cfg.deflate && header_value(c->hs, "Sec-WebSocket-Extensions", v, sizeof v))
        die("connection %u: server accepted an extension that was not offered: %s", c->idx, v);
    if (cfg.deflate) check_deflate_answer(c);
    c->state = S_OPEN;
    c->deadline = 0;
    pending_count--;
    open_count++;
    cnt_handshakes++;
    c->hs_len = 0;
    size_t used = head_len - old; /* bytes of buf that belonged to the head */
    on_open(c);
    if (used < len && c->fd >= 0) feed(c, buf + used, len - used);
}

/* ---- outgoing frames -------------------------------------------- */

/* Writes the head of a frame carrying payload variant v (header, mask,
 * --deflate's stored-block header; the digits follow); returns its length
 * with the digits. */
static uint8_t build_head(uint8_t *h, unsigned v) {
    size_t n = 0, ws = wire_sizes[v];
    h[n++] = (uint8_t)(0x80 | (cfg.deflate ? 0x40 : 0) | (cfg.binary ? 2 : 1));
    if (ws < 126) {
        h[n++] = (uint8_t)(0x80 | ws);
    } else if (ws <= 0xffff) {
        h[n++] = 0x80 | 126;
        h[n++] = (uint8_t)(ws >> 8);
        h[n++] = (uint8_t)ws;
    } else {
        h[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--) h[n++] = (uint8_t)((uint64_t)ws >> (8 * i));
    }
    memcpy(h + n, mask, 4);
    n += 4;
    if (cfg.deflate) { /* a non-final stored block of dlen bytes: the digits */
        uint8_t sb[STORED_HDR] = {0x00, (uint8_t)dlen, 0x00, (uint8_t)~dlen, 0xff};
        for (unsigned i = 0; i < STORED_HDR; i++) h[n++] = sb[i] ^ mask[i & 3];
    }
    return (uint8_t)(n + dlen);
}

static void alloc_slots(conn *c) {
    unsigned k = cfg.inflight;
    c->heads = malloc((size_t)k * HEAD_MAX);
    c->head_len = malloc(k);
    c->var = calloc(k, 1);
    c->ts = calloc(k, sizeof *c->ts);
    if (!c->heads || !c->head_len || !c->var || !c->ts) die("out of memory");
    for (unsigned s = 0; s < k; s++) c->head_len[s] = build_head(c->heads + (size_t)s * HEAD_MAX, 0);
}

static inline uint64_t seq_value(const conn *c, uint64_t seq) {
    if (c->role == R_ECHO) return ((uint64_t)c->idx << 40) | (seq & ((1ull << 40) - 1));
    return seq;
}

/* Queues message send_seq in its slot: patches the masked digits, stamps it. */
static inline void make_message(conn *c, uint64_t t) {
    uint64_t seq = c->send_seq++;
    unsigned s = (unsigned)(seq % cfg.inflight);
    uint8_t *h = c->heads + (size_t)s * HEAD_MAX;
    if (nvar > 1) { /* the variants' compressed sizes differ, so the header too */
        c->var[s] = (uint8_t)(seq % nvar);
        c->head_len[s] = build_head(h, c->var[s]);
    }
    uint8_t *p = h + c->head_len[s] - dlen;
    put_digits(p, dlen, seq_value(c, seq));
    for (unsigned i = 0; i < dlen; i++) p[i] ^= mask[(pre_len + i) & 3];
    c->ts[s] = t;
}

static void queue_control(conn *c, int opcode, const uint8_t *payload, size_t len) {
    if (c->ctl_len) {
        if (c->ctl_off) return; /* one already on the wire: a later pong may be dropped (RFC 6455 5.5.3) */
        if ((c->ctl_out[0] & 0x0f) == 0x8) return; /* never replace a close */
    }
    uint8_t *o = c->ctl_out;
    o[0] = (uint8_t)(0x80 | opcode);
    o[1] = (uint8_t)(0x80 | len);
    memcpy(o + 2, mask, 4);
    for (size_t i = 0; i < len; i++) o[6 + i] = payload[i] ^ mask[i & 3];
    c->ctl_len = (uint8_t)(6 + len);
    c->ctl_off = 0;
}

static void send_close(conn *c) {
    if (c->close_sent || c->fd < 0) return;
    if (c->state != S_OPEN) {
        conn_close_fd(c);
        return;
    }
    uint8_t p[2] = {1000 >> 8, 1000 & 0xff};
    queue_control(c, 0x8, p, 2);
    c->close_sent = 1;
    c->state = S_CLOSING;
    c->deadline = now_ns() + CLOSE_TIMEOUT_NS;
    conn_flush(c);
}

static inline size_t frame_len(const conn *c, uint64_t seq) {
    unsigned s = (unsigned)(seq % cfg.inflight);
    return c->head_len[s] + tail_lens[c->var[s]];
}

static void conn_flush(conn *c) {
    if (c->fd < 0 || c->state == S_CONNECTING) return;
    for (;;) {
        struct iovec iov[IOV_BATCH];
        int n = 0;
        /* a control frame goes first when no data frame is half written */
        int ctl_first = c->ctl_len && c->write_off == 0;
        if (ctl_first) iov[n++] = (struct iovec){c->ctl_out + c->ctl_off, (size_t)(c->ctl_len - c->ctl_off)};
        uint64_t seq = c->write_seq;
        size_t off = c->write_off;
        while (seq < c->send_seq && n + 2 <= IOV_BATCH) {
            unsigned s = (unsigned)(seq % cfg.inflight);
            size_t hl = c->head_len[s], tl = tail_lens[c->var[s]];
            uint8_t *h = c->heads + (size_t)s * HEAD_MAX;
            if (off < hl) iov[n++] = (struct iovec){h + off, hl - off};
            size_t toff = off > hl ? off - hl : 0;
            if (tl > toff) iov[n++] = (struct iovec){tails[c->var[s]] + toff, tl - toff};
            off = 0;
            seq++;
        }
        if (n == 0 && !tls_held(c)) break;
        ssize_t w = conn_writev(c, iov, n);
        if (w < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            if (c->state == S_CLOSING) {
                conn_close_fd(c);
                return;
            }
            die("connection %u: write: %s", c->idx, io_error(c));
        }
        if (n == 0) break; /* --tls: what it held went out */
        size_t left = (size_t)w;
        if (ctl_first) {
            size_t cl = (size_t)(c->ctl_len - c->ctl_off);
            if (left < cl) {
                c->ctl_off = (uint8_t)(c->ctl_off + left);
                break;
            }
            left -= cl;
            c->ctl_len = c->ctl_off = 0;
        }
        while (left && c->write_seq < c->send_seq) {
            size_t fl = frame_len(c, c->write_seq) - c->write_off;
            if (left < fl) {
                c->write_off += left;
                left = 0;
                break;
            }
            left -= fl;
            c->write_off = 0;
            c->write_seq++;
        }
        if (c->write_off) break; /* short write: wait for EPOLLOUT */
    }
    int pending = c->ctl_len || c->write_seq < c->send_seq || tls_held(c);
    set_events(c, pending);
}

/* ---- incoming frames -------------------------------------------- */

static void fail_payload(conn *c, const uint8_t *p, size_t n) {
    uint64_t off = c->msg_off;
    for (size_t i = 0; i < n; i++, off++) {
        uint8_t want = off < dlen ? c->exp_head[off] : c->exp_pat[off];
        if (p[i] != want)
            die("connection %u: payload mismatch in message #%" PRIu64 " at byte %" PRIu64
                ": got 0x%02x, expected 0x%02x (%s)",
                c->idx, c->msg_seq, off, p[i], want,
                off < dlen ? "the sequence digits: a message was lost, repeated or reordered"
                           : "the payload body");
    }
}

static inline void check_payload(conn *c, const uint8_t *p, size_t n) {
    uint64_t off = c->msg_off;
    size_t i = 0;
    for (; i < n && off < dlen; i++, off++)
        if (p[i] != c->exp_head[off]) fail_payload(c, p, n);
    if (i < n && memcmp(p + i, c->exp_pat + off, n - i) != 0) fail_payload(c, p, n);
}

/* Inflates n bytes of the current compressed message into zout and validates
 * what comes out as check_payload does; fails on data that does not inflate
 * or inflates past the size sent. The stream keeps its window for the next
 * message (the server may use context takeover). */
static void inflate_payload(conn *c, const uint8_t *in, size_t n) {
    z_stream *z = c->inf;
    z->next_in = (Bytef *)in;
    z->avail_in = (uInt)n;
    while (z->avail_in) {
        if (c->z_end)
            die("connection %u: message #%" PRIu64 ": compressed data after the final deflate block", c->idx,
                c->msg_seq);
        z->next_out = zout;
        z->avail_out = ZOUT_SIZE;
        int r = inflate(z, Z_SYNC_FLUSH);
        if (r == Z_STREAM_END) c->z_end = 1;
        else if (r != Z_OK && r != Z_BUF_ERROR)
            die("connection %u: message #%" PRIu64 ": compressed payload does not inflate: %s", c->idx, c->msg_seq,
                z->msg ? z->msg : zError(r));
        size_t got = ZOUT_SIZE - z->avail_out;
        if (c->msg_off + got > cfg.size)
            die("connection %u: message #%" PRIu64 " inflates to more than the %zu bytes sent", c->idx, c->msg_seq,
                cfg.size);
        if (got) {
            check_payload(c, zout, got);
            c->msg_off += got;
        } else if (r == Z_BUF_ERROR) {
            break; /* no progress: the input ends inside a block */
        }
    }
}

/* The end of a compressed message: inflates the 00 00 ff ff that the sender
 * stripped (RFC 7692 7.2.2). After a final block (BFINAL, which a sender may
 * use instead of a flush) the stream restarts with its window kept. */
static void inflate_end(conn *c) {
    static const uint8_t flush_tail[4] = {0x00, 0x00, 0xff, 0xff};
    if (!c->z_end) inflate_payload(c, flush_tail, sizeof flush_tail);
    if (c->z_end) {
        uInt dl = sizeof zdict;
        if (inflateGetDictionary(c->inf, zdict, &dl) != Z_OK || inflateReset(c->inf) != Z_OK ||
            (dl && inflateSetDictionary(c->inf, zdict, dl) != Z_OK))
            die("connection %u: cannot restart the inflater after a final block", c->idx);
        c->z_end = 0;
    }
}

static void begin_message(conn *c, int opcode) {
    int want_op = cfg.binary ? 2 : 1;
    uint64_t limit;
    switch (c->role) {
    case R_ECHO:
        limit = c->send_seq;
        break;
    case R_SUB:
    case R_PUB:
        limit = pub ? pub->send_seq : 0;
        break;
    default:
        die("connection %u: unexpected %s message from the server on an %s connection", c->idx,
            opcode == 1 ? "text" : "binary", mode_names[cfg.mode]);
    }
    if (c->recv_seq >= limit)
        die("connection %u: unexpected message from the server (received %" PRIu64 " of %" PRIu64 " sent)",
            c->idx, c->recv_seq + 1, limit);
    if (opcode != want_op)
        die("connection %u: message #%" PRIu64 " came back as %s, was sent as %s", c->idx, c->recv_seq,
            opcode == 1 ? "text" : "binary", want_op == 1 ? "text" : "binary");
    c->msg_op = (uint8_t)opcode;
    c->msg_off = 0;
    c->msg_seq = c->recv_seq;
    c->exp_pat = pattern + (size_t)(c->recv_seq % nvar) * cfg.size;
    put_digits(c->exp_head, dlen, seq_value(c, c->recv_seq));
}

static void on_message(conn *c, uint64_t t) {
    unsigned s = (unsigned)(c->recv_seq % cfg.inflight);
    if (c->role == R_ECHO) {
        if (measuring) {
            hist_add(t - c->ts[s]);
            cnt_msgs++;
            cnt_zmsgs += c->msg_z;
            cnt_bytes += cfg.size;
        }
    } else if (c->role == R_SUB) {
        uint64_t seq = c->recv_seq;
        if (seq < bc_oldest) die("connection %u: broadcast message #%" PRIu64 " delivered twice", c->idx, seq);
        if (measuring) {
            hist_add(t - pub->ts[s]);
            cnt_msgs++;
            cnt_zmsgs += c->msg_z;
            cnt_bytes += cfg.size;
        }
        if (++bc_cnt[s] == cfg.conns) {
            while (bc_oldest < pub->send_seq && bc_cnt[bc_oldest % cfg.inflight] == cfg.conns) {
                bc_cnt[bc_oldest % cfg.inflight] = 0;
                bc_oldest++;
            }
        }
    }
    c->recv_seq++;
    c->msg_op = 0;
}

static void on_control(conn *c) {
    switch (c->opcode) {
    case 0x9: /* ping */
        queue_control(c, 0xA, c->ctrl, c->ctrl_len);
        conn_flush(c);
        break;
    case 0xA:
        break;
    case 0x8: {
        unsigned code = c->ctrl_len >= 2 ? (unsigned)(c->ctrl[0] << 8 | c->ctrl[1]) : 1005;
        if (c->ctrl_len == 1) die("connection %u: close frame with a 1-byte payload", c->idx);
        c->close_recv = 1;
        if (!c->close_sent) {
            if (phase < P_CLOSE && cfg.mode != M_CONNECT)
                die("connection %u: server closed the connection: code %u, reason \"%.*s\"", c->idx, code,
                    c->ctrl_len > 2 ? c->ctrl_len - 2 : 0, (const char *)c->ctrl + 2);
            if (cfg.mode == M_CONNECT) die("connection %u: server sent close %u first", c->idx, code);
            send_close(c);
        }
        if (code != 1000 && code != 1001 && code != 1005)
            die("connection %u: server answered our close with code %u", c->idx, code);
        break;
    }
    }
}

/* Parses and validates buf; stops early if the connection went away. */
static void feed(conn *c, uint8_t *buf, size_t len) {
    uint64_t t = 0;
    while (len && c->fd >= 0) {
        if (!c->in_payload) {
            if (c->close_recv) die("connection %u: data after the server's close frame", c->idx);
            size_t need = 2;
            if (c->hdr_have >= 2) {
                uint8_t l7 = c->hdr[1] & 0x7f;
                need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
            }
            while (c->hdr_have < need && len) {
                c->hdr[c->hdr_have++] = *buf++;
                len--;
                if (c->hdr_have == 2) {
                    if (c->hdr[1] & 0x80) die("connection %u: the server sent a masked frame", c->idx);
                    if (c->hdr[0] & (cfg.deflate ? 0x30 : 0x70))
                        die("connection %u: frame with RSV bits 0x%x set, %s", c->idx, c->hdr[0] & 0x70,
                            cfg.deflate ? "only RSV1 is negotiated (permessage-deflate)" : "no extension negotiated");
                    uint8_t l7 = c->hdr[1] & 0x7f;
                    need = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
                }
            }
            if (c->hdr_have < need) return;
            uint64_t plen = c->hdr[1] & 0x7f;
            if (plen == 126) plen = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            else if (plen == 127) {
                plen = 0;
                for (int i = 2; i < 10; i++) plen = plen << 8 | c->hdr[i];
                if (plen >> 63) die("connection %u: frame length with the top bit set", c->idx);
            }
            c->hdr_have = 0;
            c->fin = c->hdr[0] >> 7;
            c->opcode = c->hdr[0] & 0x0f;
            c->rsv1 = (c->hdr[0] >> 6) & 1;
            c->remaining = plen;
            c->in_payload = 1;
            if (c->rsv1 && (c->opcode == 0 || c->opcode >= 0x8))
                die("connection %u: RSV1 on a %s frame (permessage-deflate sets it on a message's first frame only)",
                    c->idx, c->opcode ? "control" : "continuation");
            if (c->opcode >= 0x8) {
                if (c->opcode > 0xA) die("connection %u: unknown control opcode 0x%x", c->idx, c->opcode);
                if (!c->fin) die("connection %u: fragmented control frame", c->idx);
                if (plen > 125) die("connection %u: control frame of %" PRIu64 " bytes", c->idx, plen);
                c->ctrl_len = 0;
            } else if (c->opcode == 0) {
                if (!c->msg_op) die("connection %u: continuation frame with no message in progress", c->idx);
            } else if (c->opcode <= 2) {
                if (c->msg_op) die("connection %u: new data frame inside a fragmented message", c->idx);
                begin_message(c, c->opcode);
                c->msg_z = c->rsv1;
                if (c->msg_z) {
                    if (!c->inf) {
                        c->inf = calloc(1, sizeof *c->inf);
                        if (!c->inf || inflateInit2(c->inf, -15) != Z_OK) die("out of memory (inflater)");
                    }
                }
            } else {
                die("connection %u: unknown opcode 0x%x", c->idx, c->opcode);
            }
            if (c->opcode < 0x8 && !c->msg_z && c->msg_off + plen > cfg.size)
                die("connection %u: message #%" PRIu64 " is longer than the %zu bytes sent", c->idx, c->msg_seq,
                    cfg.size);
        }
        size_t take = c->remaining < len ? (size_t)c->remaining : len;
        if (c->opcode >= 0x8) {
            memcpy(c->ctrl + c->ctrl_len, buf, take);
            c->ctrl_len = (uint8_t)(c->ctrl_len + take);
        } else if (take) {
            if (measuring && c->role != R_PUB) cnt_wire += take;
            if (c->msg_z) {
                inflate_payload(c, buf, take);
            } else {
                check_payload(c, buf, take);
                c->msg_off += take;
            }
        }
        buf += take;
        len -= take;
        c->remaining -= take;
        if (c->remaining) return;
        c->in_payload = 0;
        if (c->opcode >= 0x8) {
            on_control(c);
        } else if (c->fin) {
            if (c->msg_z) inflate_end(c);
            if (c->msg_off != cfg.size)
                die("connection %u: message #%" PRIu64 " has %" PRIu64 " bytes, %zu were sent", c->idx, c->msg_seq,
                    c->msg_off, cfg.size);
            if (!t) t = now_ns();
            on_message(c, t);
        }
    }
}

/* ---- events ----------------------------------------------------- */

static void on_open(conn *c) {
    switch (cfg.mode) {
    case M_CONNECT:
        if (measuring) {
            hist_add(now_ns() - c->t_start);
        }
        send_close(c);
        break;
    default:
        set_events(c, 0);
        break;
    }
}

/* --tls: one step of the TLS handshake; 1 once it is done (the upgrade
 * request may go), 0 while it waits for the socket. */
static int tls_step(conn *c) {
    int r = tls_handshake(c->tls);
    if (r == TLS_WANT_READ || r == TLS_WANT_WRITE) {
        set_events(c, r == TLS_WANT_WRITE);
        return 0;
    }
    if (r != 1) die("connection %u: %s (127.0.0.1:%d)", c->idx, tls_error(), conn_port(c));
    c->tls_hs = 0;
    note_tls(c);
    return 1;
}

static void on_readable(conn *c);

static void on_writable(conn *c) {
    if (c->state == S_CONNECTING) {
        int err = 0;
        socklen_t el = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
        if (err) die("connect to 127.0.0.1:%d: %s", conn_port(c), strerror(err));
        c->state = S_HANDSHAKE;
        if (cfg.tls) {
            c->tls = tls_new(c->fd);
            if (!c->tls) die("connection %u: %s", c->idx, tls_error());
            c->tls_hs = 1;
        }
    }
    if (c->state == S_HANDSHAKE) {
        if (c->tls_hs && !tls_step(c)) return;
        while (c->req_off < c->req_len || tls_held(c)) {
            struct iovec iov = {c->req + c->req_off, (size_t)(c->req_len - c->req_off)};
            ssize_t w = conn_writev(c, &iov, c->req_off < c->req_len);
            if (w < 0) {
                if (errno == EAGAIN) {
                    set_events(c, 1);
                    return;
                }
                if (errno == EINTR) continue;
                die("connection %u: sending the upgrade request: %s", c->idx, io_error(c));
            }
            c->req_off = (uint16_t)(c->req_off + w);
        }
        set_events(c, 0);
        return;
    }
    conn_flush(c);
    if (c->fd >= 0 && c->tls && tls_read_wants_write(c->tls)) on_readable(c);
}

static void on_cycle_done(conn *c, int ok);

static void read_once(conn *c);

static void on_readable(conn *c) {
    if (c->tls_hs) {
        if (tls_step(c)) on_writable(c);
        return;
    }
    /* --tls: decrypted bytes past a full slab stay in OpenSSL, where epoll
     * does not see them */
    do read_once(c);
    while (c->fd >= 0 && c->tls && tls_has_pending(c->tls));
}

static void read_once(conn *c) {
    ssize_t n = conn_read(c, slab, sizeof slab);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) return;
        if (errno == ECONNRESET && c->state == S_CLOSING && c->close_recv) {
            conn_close_fd(c);
            on_cycle_done(c, 1);
            return;
        }
        die("connection %u: read: %s", c->idx, io_error(c));
    }
    if (n == 0) {
        if (c->state == S_CLOSING) {
            if (!c->close_recv) die("connection %u: server closed TCP without answering our close frame", c->idx);
            conn_close_fd(c);
            on_cycle_done(c, 1);
            return;
        }
        if (c->state == S_HANDSHAKE || c->state == S_CONNECTING)
            die("connection %u: server closed the connection during the handshake%s", c->idx,
                c->hs_len ? "" : " (no response)");
        die("connection %u: server closed TCP without a close frame", c->idx);
    }
    if (c->state == S_HANDSHAKE) {
        handshake_input(c, slab, (size_t)n);
        return;
    }
    if (c->state == S_CONNECTING) die("connection %u: data before connect completed", c->idx);
    feed(c, slab, (size_t)n);
    if (c->role == R_ECHO && c->fd >= 0 && (phase == P_WARMUP || phase == P_MEASURE)) {
        if (c->send_seq - c->recv_seq < cfg.inflight) {
            uint64_t t = now_ns();
            while (c->send_seq - c->recv_seq < cfg.inflight) make_message(c, t);
            conn_flush(c);
        }
    }
}

static void on_cycle_done(conn *c, int ok) {
    if (cfg.mode != M_CONNECT) return;
    if (measuring && ok) cnt_msgs++;
    if (phase == P_WARMUP || phase == P_MEASURE) start_attempt(c);
}

static void start_attempt(conn *c) { conn_open(c); }

/* ------------------------------------------------------------------ */
/* main                                                                */

/* Deterministic JSON-like text (an array of user records, as an API might
 * send), n bytes: compressible as real text is, not as a repeated byte. */
static void fill_json(uint8_t *p, size_t n, unsigned variant) {
    static const char *const names[] = {"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"};
    static const char *const tags[] = {"admin", "beta", "ops", "sales", "dev", "support"};
    static const char *const cities[] = {"Paris", "Lyon", "Berlin", "Oslo", "Madrid", "Turin", "Porto"};
    uint32_t x = 20260521u + 7919u * variant;
    char rec[256];
    size_t off = 0;
    for (unsigned i = 0; off < n; i++) {
        x = x * 1103515245u + 12345u;
        uint32_t r = x >> 8;
        int len = snprintf(rec, sizeof rec,
                           "%s{\"id\":%u,\"user\":\"%s%u\",\"email\":\"%s%u@example.com\",\"active\":%s,"
                           "\"score\":%u.%02u,\"city\":\"%s\",\"tags\":[\"%s\",\"%s\"]}",
                           i ? "," : "[", 1000 + 100 * variant + i, names[r % 8], r % 97, names[(r >> 3) % 8], r % 997,
                           (r >> 5) & 1 ? "true" : "false", (r >> 6) % 1000, (r >> 9) % 100, cities[(r >> 11) % 7],
                           tags[(r >> 14) % 6], tags[(r >> 17) % 6]);
        size_t take = (size_t)len < n - off ? (size_t)len : n - off;
        memcpy(p + off, rec, take);
        off += take;
    }
}

/* --deflate: the payload after the digits as raw deflate (window 2^15, zlib's
 * default level), sync-flushed with its 00 00 ff ff removed (RFC 7692 7.2.1).
 * The stream starts on a byte boundary, so it may follow a stored block. */
static uint8_t *deflate_body(const uint8_t *in, size_t n, size_t *out_len) {
    z_stream z = {0};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        die("deflateInit2 failed");
    size_t cap = deflateBound(&z, (uLong)n) + 16;
    uint8_t *out = malloc(cap);
    if (!out) die("out of memory");
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    if (deflate(&z, Z_SYNC_FLUSH) != Z_OK || z.avail_in || !z.avail_out) die("deflate of the payload failed");
    size_t len = cap - z.avail_out;
    deflateEnd(&z);
    if (len < 4 || memcmp(out + len - 4, "\x00\x00\xff\xff", 4) != 0) die("deflate: no sync-flush tail");
    *out_len = len - 4;
    return out;
}

/* --deflate: inflates message v (variant v) as a server would (a fresh
 * inflater, 00 00 ff ff appended) and compares it with the payload, before
 * anything is sent. */
static void check_compressed_frame(unsigned v) {
    size_t n = wire_sizes[v] + 4;
    uint8_t *msg = malloc(n), *plain = malloc(cfg.size), *back = malloc(cfg.size + 1);
    if (!msg || !plain || !back) die("out of memory");
    uint8_t sb[STORED_HDR] = {0x00, (uint8_t)dlen, 0x00, (uint8_t)~dlen, 0xff};
    memcpy(msg, sb, STORED_HDR);
    put_digits(msg + STORED_HDR, dlen, v);
    memcpy(msg + STORED_HDR + dlen, tails[v], tail_lens[v]);
    memcpy(msg + wire_sizes[v], "\x00\x00\xff\xff", 4);
    memcpy(plain, pattern + (size_t)v * cfg.size, cfg.size);
    put_digits(plain, dlen, v);
    z_stream z = {0};
    if (inflateInit2(&z, -15) != Z_OK) die("inflateInit2 failed");
    z.next_in = msg;
    z.avail_in = (uInt)n;
    z.next_out = back;
    z.avail_out = (uInt)cfg.size + 1;
    int r = inflate(&z, Z_SYNC_FLUSH);
    size_t got = cfg.size + 1 - z.avail_out;
    if (r != Z_OK || z.avail_in || got != cfg.size || memcmp(back, plain, cfg.size) != 0)
        die("internal: pre-compressed payload %u does not inflate to the payload (zlib %d, %zu bytes)", v, r, got);
    inflateEnd(&z);
    free(msg);
    free(plain);
    free(back);
}

static void usage(void) {
    fprintf(stderr,
            "usage: loadgen --port P[,P...] [--mode echo|broadcast|connect|idle] [--conns N] [--inflight K]\n"
            "               [--size S] [--binary] [--duration SEC] [--warmup SEC] [--path /res]\n"
            "               [--server-pid PID[,PID...]] [--server-tree] [--concurrency C] [--deflate] [--threads T]\n"
            "               [--tls] [--tls-ca FILE]\n"
            "  echo:      N connections, K messages in flight each, S-byte payloads (default path /echo)\n"
            "  broadcast: N subscribers + 1 publisher, K messages in flight (default path /broadcast)\n"
            "  connect:   N concurrent open/upgrade/close cycles (default path /echo)\n"
            "  idle:      N idle connections; --server-pid required; --duration = settle time\n"
            "  --deflate: offer permessage-deflate (client_no_context_takeover), send JSON-like payloads\n"
            "             compressed, inflate and check the server's compressed replies\n"
            "  --server-pid: the server's CPU is summed over these processes (server_cpu_parts: each one's);\n"
            "             --server-tree: each with all its descendants (a server that forks per client)\n"
            "  broadcast with --port A,B,...: subscriber i on the i%%n-th port, the publisher on A\n"
            "  --threads: echo only: T threads, each its own epoll and N/T connections; results summed,\n"
            "             gen_cpu is the busiest thread's share of a core\n"
            "  --tls:     wss:// (OpenSSL, TLS 1.2+, ALPN http/1.1, a full handshake per connection), certificate\n"
            "             not verified; --tls-ca FILE: verified against that CA and required to name 127.0.0.1\n");
    exit(2);
}

static double parse_num(const char *opt, const char *v, double lo, double hi) {
    char *end;
    if (!v) die("%s needs a value", opt);
    double d = strtod(v, &end);
    if (end == v || *end || d < lo || d > hi) die("%s: bad value \"%s\" (expected %g..%g)", opt, v, lo, hi);
    return d;
}

static void raise_nofile(unsigned need) {
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0) die("getrlimit: %s", strerror(errno));
    rlim_t want = (rlim_t)need + 64;
    if (rl.rlim_cur >= want) return;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        die("need %u file descriptors, the hard limit is %llu (raise it with ulimit -Hn)", need + 64,
            (unsigned long long)rl.rlim_max);
    }
    rl.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0) die("setrlimit(RLIMIT_NOFILE, %u): %s", need + 64, strerror(errno));
}

/* One generator thread (or the whole run, with one): open its connections,
 * warm up, measure, drain, close; its counters are left in *r. */
typedef struct {
    unsigned index;
    unsigned first, count; /* its connections: conns first .. first + count - 1 of the run */
    uint64_t seed;
    pthread_t thread;
    uint64_t msgs, pub, bytes, wire, zmsgs, handshakes, close_timeouts;
    hist_t hist;
    unsigned nconns;
    uint64_t t_meas0, t_meas1;
    double gen_cpu0, gen_cpu1, srv_cpu0, srv_cpu1;
    double srv_part0[16], srv_part1[16]; /* each --server-pid process (with --server-tree: and its descendants) */
    long long rss_before, rss_after;
} thread_run;

static pthread_barrier_t start_line;

static void *run_thread(void *arg) {
    thread_run *r = arg;
    nconns = r->count + (cfg.mode == M_BROADCAST ? 1 : 0);
    rng_state = r->seed | 1;
    srv_port = cfg.ports[r->index % cfg.n_ports];
    srv_addr.sin_family = AF_INET;
    srv_addr.sin_port = htons((uint16_t)srv_port);
    srv_addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    conns = calloc(nconns, sizeof *conns);
    if (!conns) die("out of memory");
    for (unsigned i = 0; i < nconns; i++) {
        conn *c = &conns[i];
        c->fd = -1;
        c->idx = r->first + i;
        c->role = cfg.mode == M_ECHO ? R_ECHO
                : cfg.mode == M_BROADCAST ? (i == cfg.conns ? R_PUB : R_SUB)
                : cfg.mode == M_CONNECT ? R_CONNECT : R_IDLE;
        if (c->role == R_ECHO || c->role == R_PUB) alloc_slots(c);
    }
    if (cfg.mode == M_BROADCAST) {
        pub = &conns[cfg.conns];
        bc_cnt = calloc(cfg.inflight, sizeof *bc_cnt);
        if (!bc_cnt) die("out of memory");
    }

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1: %s", strerror(errno));

    long long rss_before = -1, rss_after = -1;
    if (cfg.mode == M_IDLE) rss_before = rss_of_pid(cfg.server_pid);

    uint64_t t0 = now_ns(), t_run = 0, t_meas0 = 0, t_meas1 = 0, t_phase_end = 0, t_sweep = t0;
    double gen_cpu0 = 0, gen_cpu1 = 0, srv_cpu0 = -1, srv_cpu1 = -1;
    unsigned setup_target = cfg.mode == M_CONNECT ? 0 : nconns;
    struct epoll_event evs[1024];

    if (cfg.mode == M_CONNECT) {
        /* no setup phase: the attempts are the work */
        phase = P_WARMUP;
        t_run = t0;
        t_phase_end = t_run + (uint64_t)(cfg.warmup * 1e9);
        for (unsigned i = 0; i < nconns; i++) start_attempt(&conns[i]);
    }

    while (phase != P_DONE) {
        /* setup: keep up to `concurrency` handshakes in progress */
        while (phase == P_SETUP && next_open < nconns && pending_count < cfg.concurrency)
            conn_open(&conns[next_open++]);

        int n = epoll_wait(ep, evs, 1024, 5);
        if (n < 0) {
            if (errno == EINTR) continue;
            die("epoll_wait: %s", strerror(errno));
        }
        for (int i = 0; i < n; i++) {
            conn *c = evs[i].data.ptr;
            if (c->fd < 0) continue;
            uint32_t e = evs[i].events;
            if (e & (EPOLLOUT | EPOLLERR)) on_writable(c);
            if (c->fd >= 0 && (e & (EPOLLIN | EPOLLHUP | EPOLLERR))) on_readable(c);
        }
        /* broadcast: keep the publisher K messages ahead of the slowest subscriber */
        if (pub && pub->fd >= 0 && (phase == P_WARMUP || phase == P_MEASURE) &&
            pub->send_seq - bc_oldest < cfg.inflight) {
            uint64_t t = now_ns();
            while (pub->send_seq - bc_oldest < cfg.inflight) make_message(pub, t);
            conn_flush(pub);
        }

        uint64_t now = now_ns();
        if (now - t_sweep > 100000000ull) { /* deadlines */
            t_sweep = now;
            for (unsigned i = 0; i < nconns; i++) {
                conn *c = &conns[i];
                if (c->fd < 0 || !c->deadline || now < c->deadline) continue;
                if (c->state == S_CLOSING) {
                    close_timeouts++;
                    conn_close_fd(c);
                    on_cycle_done(c, 0);
                } else {
                    die("connection %u: handshake not completed within %llu s", c->idx,
                        HANDSHAKE_TIMEOUT_NS / 1000000000ull);
                }
            }
        }

        switch (phase) {
        case P_SETUP:
            if (open_count == setup_target) {
                if (cfg.threads > 1) { /* every thread's connections are open: warm up and measure together */
                    pthread_barrier_wait(&start_line);
                    now = now_ns();
                }
                t_run = now;
                if (cfg.mode == M_IDLE) {
                    phase = P_MEASURE;
                    t_phase_end = now + (uint64_t)(cfg.duration * 1e9);
                    break;
                }
                phase = P_WARMUP;
                t_phase_end = now + (uint64_t)(cfg.warmup * 1e9);
                if (cfg.mode == M_ECHO)
                    for (unsigned i = 0; i < nconns; i++) {
                        conn *c = &conns[i];
                        while (c->send_seq - c->recv_seq < cfg.inflight) make_message(c, now);
                        conn_flush(c);
                    }
            } else if (now - t0 > SETUP_TIMEOUT_NS) {
                die("only %u of %u connections opened within %llu s", open_count, setup_target,
                    SETUP_TIMEOUT_NS / 1000000000ull);
            }
            break;
        case P_WARMUP:
            if (now >= t_phase_end) {
                phase = P_MEASURE;
                measuring = 1;
                memset(&hist, 0, sizeof hist);
                cnt_msgs = cnt_bytes = cnt_wire = cnt_zmsgs = 0;
                cnt_pub = pub ? pub->send_seq : 0;
                t_meas0 = now;
                gen_cpu0 = cpu_self_s();
                srv_cpu0 = cpu_of_server_parts(r->srv_part0);
                t_phase_end = now + (uint64_t)(cfg.duration * 1e9);
            }
            break;
        case P_MEASURE:
            if (now >= t_phase_end) {
                measuring = 0;
                t_meas1 = now;
                gen_cpu1 = cpu_self_s();
                srv_cpu1 = cpu_of_server_parts(r->srv_part1);
                if (pub) cnt_pub = pub->send_seq - cnt_pub;
                if (cfg.mode == M_IDLE) {
                    rss_after = rss_of_pid(cfg.server_pid);
                    if (rss_after < 0) die("server process %ld is gone", cfg.server_pid);
                    if (open_count != nconns) die("%u of %u idle connections were lost", nconns - open_count, nconns);
                }
                phase = P_DRAIN;
                t_phase_end = now + DRAIN_TIMEOUT_NS;
            }
            break;
        case P_DRAIN: {
            /* wait for every message sent to come back */
            uint64_t outstanding = 0;
            if (cfg.mode == M_ECHO)
                for (unsigned i = 0; i < nconns; i++) outstanding += conns[i].send_seq - conns[i].recv_seq;
            else if (cfg.mode == M_BROADCAST)
                outstanding = pub->send_seq - bc_oldest;
            else if (cfg.mode == M_CONNECT)
                outstanding = pending_count + open_count;
            if (outstanding == 0 || cfg.mode == M_IDLE) {
                phase = P_CLOSE;
                t_phase_end = now + CLOSE_TIMEOUT_NS + 1000000000ull;
                for (unsigned i = 0; i < nconns; i++)
                    if (conns[i].fd >= 0) send_close(&conns[i]);
            } else if (now >= t_phase_end) {
                die("%" PRIu64 " %s still outstanding %llu s after the run", outstanding,
                    cfg.mode == M_CONNECT ? "connection attempts" : "messages",
                    DRAIN_TIMEOUT_NS / 1000000000ull);
            }
            break;
        }
        case P_CLOSE:
            if (live_count == 0 || now >= t_phase_end) {
                for (unsigned i = 0; i < nconns; i++)
                    if (conns[i].fd >= 0) {
                        close_timeouts++;
                        conn_close_fd(&conns[i]);
                    }
                phase = P_DONE;
            }
            break;
        default:
            break;
        }
    }

    r->msgs = cnt_msgs;
    r->pub = cnt_pub;
    r->bytes = cnt_bytes;
    r->wire = cnt_wire;
    r->zmsgs = cnt_zmsgs;
    r->handshakes = cnt_handshakes;
    r->close_timeouts = close_timeouts;
    r->hist = hist;
    r->nconns = nconns;
    r->t_meas0 = t_meas0;
    r->t_meas1 = t_meas1;
    r->gen_cpu0 = gen_cpu0;
    r->gen_cpu1 = gen_cpu1;
    r->srv_cpu0 = srv_cpu0;
    r->srv_cpu1 = srv_cpu1;
    r->rss_before = rss_before;
    r->rss_after = rss_after;
    (void)t_run;
    return NULL;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--mode")) {
            if (!v) usage();
            int found = 0;
            for (int m = 0; m < 4; m++)
                if (!strcmp(v, mode_names[m])) cfg.mode = (enum mode)m, found = 1;
            if (!found) die("--mode: unknown mode \"%s\"", v);
            i++;
        } else if (!strcmp(a, "--conns")) cfg.conns = (unsigned)parse_num(a, v, 1, 200000), i++;
        else if (!strcmp(a, "--inflight")) cfg.inflight = (unsigned)parse_num(a, v, 1, MAX_INFLIGHT), i++;
        else if (!strcmp(a, "--size")) cfg.size = (size_t)parse_num(a, v, 1, MAX_SIZE), i++;
        else if (!strcmp(a, "--binary")) cfg.binary = 1;
        else if (!strcmp(a, "--text")) cfg.binary = 0;
        else if (!strcmp(a, "--duration")) cfg.duration = parse_num(a, v, 0.01, 7 * 86400), i++; /* a soak runs for hours */
        else if (!strcmp(a, "--warmup")) cfg.warmup = parse_num(a, v, 0, 3600), i++;
        else if (!strcmp(a, "--port")) {
            if (!v) usage();
            for (const char *q = v; *q;) { /* P or P,P,...: one per generator thread, in turn */
                char *end;
                long port = strtol(q, &end, 10);
                if (end == q || port < 1 || port > 65535 || (*end && *end != ',')) die("--port: bad value \"%s\" (expected 1..65535)", v);
                if (cfg.n_ports == MAX_PORTS) die("--port: at most %d ports", MAX_PORTS);
                cfg.ports[cfg.n_ports++] = (int)port;
                q = *end ? end + 1 : end;
            }
            cfg.port = cfg.n_ports ? cfg.ports[0] : 0;
            i++;
        }
        else if (!strcmp(a, "--path")) {
            if (!v || v[0] != '/') die("--path must start with /");
            for (const char *p = v; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f) die("--path: no spaces or control characters");
            cfg.path = v, i++;
        } else if (!strcmp(a, "--server-pid")) {
            if (!v) usage();
            for (const char *q = v; *q;) { /* PID or PID,PID,... */
                char *end;
                long pid = strtol(q, &end, 10);
                if (end == q || pid < 1 || pid > 1000000000 || (*end && *end != ',')) die("--server-pid: bad value \"%s\"", v);
                if (cfg.n_server_pids == sizeof cfg.server_pids / sizeof cfg.server_pids[0]) die("--server-pid: at most 16 processes");
                cfg.server_pids[cfg.n_server_pids++] = pid;
                q = *end ? end + 1 : end;
            }
            cfg.server_pid = cfg.n_server_pids ? cfg.server_pids[0] : 0;
            i++;
        }
        else if (!strcmp(a, "--server-tree")) cfg.server_tree = 1;
        else if (!strcmp(a, "--concurrency")) cfg.concurrency = (unsigned)parse_num(a, v, 1, 100000), i++;
        else if (!strcmp(a, "--deflate")) cfg.deflate = 1;
        else if (!strcmp(a, "--threads")) cfg.threads = (unsigned)parse_num(a, v, 1, MAX_THREADS), i++;
        else if (!strcmp(a, "--tls")) cfg.tls = 1;
        else if (!strcmp(a, "--tls-ca")) {
            if (!v || !*v) die("--tls-ca needs a file (the CA certificate in PEM)");
            cfg.tls = 1, cfg.tls_ca = v, i++;
        }
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) usage();
        else die("unknown option \"%s\" (see --help)", a);
    }
    if (!cfg.port) usage();
    if (!cfg.path) cfg.path = cfg.mode == M_BROADCAST ? "/broadcast" : "/echo";
    if (cfg.mode == M_IDLE && !cfg.server_pid) die("idle mode needs --server-pid to read the server's VmRSS");
    for (unsigned k = 0; k < cfg.n_server_pids; k++)
        if (cpu_of_pid(cfg.server_pids[k]) < 0) die("--server-pid %ld: no such process", cfg.server_pids[k]);
    if (cfg.threads > 1 && cfg.mode != M_ECHO) die("--threads applies to --mode echo only");
    if (cfg.threads > cfg.conns) die("--threads %u: more threads than the %u connections", cfg.threads, cfg.conns);
    signal(SIGPIPE, SIG_IGN);
    /* the TLS context and its certificates: set up before anything is timed */
    if (cfg.tls && tls_setup(cfg.tls_ca, cfg.mode == M_IDLE) != 0) die("--tls: %s", tls_error());

    uint64_t seed;
    if (getrandom(&seed, sizeof seed, 0) != sizeof seed) seed = now_ns();
    rng_state = seed | 1;
    uint64_t m = rng_next();
    memcpy(mask, &m, 4);

    /* payload: digits region then 'a'..'z' repeated (--deflate: JSON-like
     * text); tail pre-masked (and pre-compressed) once */
    dlen = cfg.size < 16 ? (unsigned)cfg.size : 16;
    /* --deflate: enough distinct payloads, used in turn, that the previous
     * copy of each lies beyond a 2^15 window: a server with context takeover
     * then compresses from what messages share (the keys, the names), as
     * with real traffic, not from an exact repeat of the last message (for
     * payloads of 520 B and more: at most MAX_VARIANTS variants). */
    if (cfg.deflate) nvar = cfg.size >= 32768 ? 1 : 32768 / (unsigned)cfg.size + 1;
    if (nvar > MAX_VARIANTS) nvar = MAX_VARIANTS;
    pattern = malloc((size_t)nvar * cfg.size);
    if (!pattern) die("out of memory");
    for (unsigned v = 0; v < nvar; v++) {
        uint8_t *pv = pattern + (size_t)v * cfg.size;
        if (cfg.deflate) {
            fill_json(pv, cfg.size, v);
            pre_len = STORED_HDR;
            tails[v] = deflate_body(pv + dlen, cfg.size - dlen, &tail_lens[v]);
        } else {
            for (size_t i = 0; i < cfg.size; i++) pv[i] = (uint8_t)('a' + i % 26);
            tail_lens[v] = cfg.size - dlen;
            tails[v] = malloc(tail_lens[v] ? tail_lens[v] : 1);
            if (!tails[v]) die("out of memory");
            memcpy(tails[v], pv + dlen, tail_lens[v]);
        }
        wire_sizes[v] = pre_len + dlen + tail_lens[v];
        if (cfg.deflate) check_compressed_frame(v);
        for (size_t i = 0; i < tail_lens[v]; i++) tails[v][i] ^= mask[(pre_len + dlen + i) & 3];
    }
    size_t wire_total = 0;
    for (unsigned v = 0; v < nvar; v++) wire_total += wire_sizes[v];

    unsigned total = cfg.conns + (cfg.mode == M_BROADCAST ? 1 : 0);
    raise_nofile(total + 16);
    bc_spread = cfg.mode == M_BROADCAST && cfg.n_ports > 1;
    if (bc_spread && cfg.conns < cfg.n_ports) die("--port: %u ports for %u subscribers", cfg.n_ports, cfg.conns);
    if (!bc_spread && cfg.n_ports > cfg.threads) die("--port: %u ports for %u thread(s): give each thread one (--threads), or --mode broadcast", cfg.n_ports, cfg.threads);

    thread_run runs[MAX_THREADS];
    memset(runs, 0, sizeof runs);
    for (unsigned t = 0, first = 0; t < cfg.threads; t++) {
        runs[t].index = t;
        runs[t].first = first;
        runs[t].count = cfg.conns / cfg.threads + (t < cfg.conns % cfg.threads ? 1 : 0);
        runs[t].seed = rng_next();
        first += runs[t].count;
    }
    if (cfg.threads == 1) {
        run_thread(&runs[0]);
    } else {
        if (pthread_barrier_init(&start_line, NULL, cfg.threads) != 0) die("pthread_barrier_init failed");
        for (unsigned t = 0; t < cfg.threads; t++)
            if (pthread_create(&runs[t].thread, NULL, run_thread, &runs[t]) != 0) die("pthread_create failed");
        for (unsigned t = 0; t < cfg.threads; t++) pthread_join(runs[t].thread, NULL);
        pthread_barrier_destroy(&start_line);
    }

    /* The sums; times, the server's CPU and RSS as thread 0 saw them; the
     * generator's CPU as the busiest thread's share of one core. */
    uint64_t t_meas0 = runs[0].t_meas0, t_meas1 = runs[0].t_meas1;
    double gen_cpu0 = runs[0].gen_cpu0, gen_cpu1 = runs[0].gen_cpu1;
    double srv_cpu0 = runs[0].srv_cpu0, srv_cpu1 = runs[0].srv_cpu1;
    long long rss_before = runs[0].rss_before, rss_after = runs[0].rss_after;
    double rate_sum = 0, gen_cpu_max = 0, gen_cpu_sum = 0;
    /* With one thread the run happened on this one: its counters are in runs[0] as well. */
    cnt_msgs = cnt_pub = cnt_bytes = cnt_wire = cnt_zmsgs = cnt_handshakes = close_timeouts = 0;
    memset(&hist, 0, sizeof hist);
    nconns = 0;
    for (unsigned t = 0; t < cfg.threads; t++) {
        thread_run *r = &runs[t];
        cnt_msgs += r->msgs;
        cnt_pub += r->pub;
        cnt_bytes += r->bytes;
        cnt_wire += r->wire;
        cnt_zmsgs += r->zmsgs;
        cnt_handshakes += r->handshakes;
        close_timeouts += r->close_timeouts;
        nconns += r->nconns;
        for (unsigned b = 0; b < HBUCKETS; b++) hist.b[b] += r->hist.b[b];
        hist.n += r->hist.n;
        if (r->hist.max > hist.max) hist.max = r->hist.max;
        double s_t = (double)(r->t_meas1 - r->t_meas0) / 1e9;
        if (s_t > 0) {
            double cpu = (r->gen_cpu1 - r->gen_cpu0) / s_t;
            rate_sum += (double)r->msgs / s_t;
            gen_cpu_sum += cpu;
            if (cpu > gen_cpu_max) gen_cpu_max = cpu;
        }
    }

    /* ---- report --------------------------------------------------- */
    double secs = (double)(t_meas1 - t_meas0) / 1e9;
    double gen_cpu = cfg.threads > 1 ? gen_cpu_max : secs > 0 ? (gen_cpu1 - gen_cpu0) / secs : 0;
    double srv_cpu = (srv_cpu0 >= 0 && srv_cpu1 >= 0) ? srv_cpu1 - srv_cpu0 : -1;
    char line[1536];
    int L = 0;
#define KV(...) L += snprintf(line + L, sizeof line - (size_t)L, __VA_ARGS__)
    KV("mode=%s", mode_names[cfg.mode]);
    if (cfg.mode == M_IDLE) {
        double per = (double)(rss_after - rss_before) / (double)nconns;
        KV(" conns=%u settle_s=%.2f rss_before=%lld rss_after=%lld bytes_per_conn=%.0f", nconns, cfg.duration,
           rss_before, rss_after, per);
        KV(" close_timeouts=%" PRIu64, close_timeouts);
        if (cfg.tls) KV(" tls=1 tls_version=%s tls_cipher=%s tls_verified=%d", tls_proto, tls_cipher, cfg.tls_ca != NULL);
        printf("%s\n", line);
        printf("# idle       %6u conns  server RSS %7.1f MiB -> %7.1f MiB  = %8.0f bytes/conn\n", nconns,
               (double)rss_before / 1048576.0, (double)rss_after / 1048576.0, per);
        return 0;
    }
    double rate = cfg.threads > 1 ? rate_sum : secs > 0 ? (double)cnt_msgs / secs : 0;
    double p50 = hist_pct_us(0.50), p99 = hist_pct_us(0.99), p999 = hist_pct_us(0.999);
    double mx = (double)hist.max / 1000.0;
    double cpu_per_m = srv_cpu >= 0 && cnt_msgs ? srv_cpu / ((double)cnt_msgs / 1e6) : -1;
    if (cfg.mode == M_ECHO || cfg.mode == M_BROADCAST)
        KV(" conns=%u inflight=%u size=%zu binary=%d", cfg.conns, cfg.inflight, cfg.size, cfg.binary);
    else
        KV(" conns=%u", cfg.conns);
    if (cfg.deflate) KV(" deflate=1");
    if (cfg.tls) KV(" tls=1 tls_version=%s tls_cipher=%s tls_verified=%d", tls_proto, tls_cipher, cfg.tls_ca != NULL);
    KV(" duration_s=%.3f msgs=%" PRIu64 " rate=%.0f", secs, cnt_msgs, rate);
    if (cfg.mode == M_BROADCAST) KV(" published=%" PRIu64 " publish_rate=%.0f", cnt_pub, secs > 0 ? (double)cnt_pub / secs : 0);
    if (cfg.mode != M_CONNECT) KV(" mbytes_per_s=%.2f", secs > 0 ? (double)cnt_bytes / secs / 1e6 : 0);
    KV(" p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f", p50, p99, p999, mx);
    KV(" gen_cpu=%.3f", gen_cpu);
    if (cfg.threads > 1) KV(" threads=%u gen_cpu_sum=%.3f", cfg.threads, gen_cpu_sum);
    if (srv_cpu >= 0) KV(" server_cpu_s=%.3f server_cpu_s_per_mmsg=%.3f", srv_cpu, cpu_per_m);
    if (srv_cpu >= 0 && cfg.n_server_pids > 1) { /* the split: CPU seconds of each --server-pid process */
        KV(" server_cpu_parts=");
        for (unsigned k = 0; k < cfg.n_server_pids; k++)
            KV("%s%.3f", k ? "," : "", runs[0].srv_part1[k] - runs[0].srv_part0[k]);
    }
    if (cfg.mode == M_CONNECT) KV(" handshakes=%" PRIu64 " close_timeouts=%" PRIu64, cnt_handshakes, close_timeouts);
    /* deflate: replies that came compressed, and payload bytes per message both ways on the wire */
    if (cfg.deflate && cfg.mode != M_CONNECT)
        KV(" payloads=%u compressed_msgs=%" PRIu64 " compressed_pct=%.1f sent_wire_bytes=%.0f recv_wire_bytes=%.0f",
           nvar, cnt_zmsgs, cnt_msgs ? 100.0 * (double)cnt_zmsgs / (double)cnt_msgs : 0,
           (double)wire_total / nvar,
           cnt_msgs ? (double)cnt_wire / (double)cnt_msgs : 0);
#undef KV
    printf("%s\n", line);
    const char *unit = cfg.mode == M_ECHO ? "msg/s" : cfg.mode == M_BROADCAST ? "deliveries/s" : "conn/s";
    char what[64];
    if (cfg.mode == M_CONNECT)
        snprintf(what, sizeof what, "C=%u", cfg.conns);
    else
        snprintf(what, sizeof what, "N=%u K=%u %zuB %s", cfg.conns, cfg.inflight, cfg.size, cfg.binary ? "bin" : "text");
    printf("# %-9s %-24s %12.0f %-12s p50 %8.1f us  p99 %8.1f us  p99.9 %8.1f us  gen cpu %3.0f%%%s", mode_names[cfg.mode],
           what, rate, unit, p50, p99, p999, gen_cpu * 100, gen_cpu > 0.95 ? " (saturated)" : "");
    if (srv_cpu >= 0) printf("  server %.2f cpu-s/M", cpu_per_m);
    if (cfg.tls) printf("  %s %s%s", tls_proto, tls_cipher, cfg.tls_ca ? " (verified)" : "");
    if (cfg.deflate && cfg.mode != M_CONNECT)
        printf("  deflate: sent %.0f B/msg, %.0f%% of replies compressed, %.0f B/msg", (double)wire_total / nvar,
               cnt_msgs ? 100.0 * (double)cnt_zmsgs / (double)cnt_msgs : 0,
               cnt_msgs ? (double)cnt_wire / (double)cnt_msgs : 0);
    printf("\n");
    return 0;
}
