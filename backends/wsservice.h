/* libwsservice: what a system service behind the gateway needs. It listens
 * on the UNIX socket <dir>/<name> and serves both kinds of connection the
 * gateway makes, with the same handlers:
 *  - relay connections: messages framed per -t / -f (ouistiti, line, nul,
 *    length on SOCK_STREAM; one message per packet on SOCK_SEQPACKET and
 *    SOCK_DGRAM), the client's address read from the peer's abstract bind
 *    name (native/gwproto.h);
 *  - direct mode: the gateway passes the client's TCP socket (SCM_RIGHTS)
 *    with a hand-off record, and the service speaks RFC 6455 on it itself.
 * One thread, one poll loop; every queue bounded. */
#ifndef WSSERVICE_H
#define WSSERVICE_H

#include <stddef.h>
#include <stdint.h>

typedef struct wss_server wss_server;
typedef struct wss_client wss_client;

/* -f: how messages are delimited on a SOCK_STREAM relay connection.
 * OUISTITI: raw bytes, one read is one message (ouistiti's own behaviour);
 * LINE: each message ends with '\n'; NUL: each message ends with '\0';
 * LENGTH: the gwproto "length" header (type, u32 length) before each. */
enum { WSS_FRAMING_OUISTITI = 0, WSS_FRAMING_LINE, WSS_FRAMING_NUL, WSS_FRAMING_LENGTH };

typedef struct {
    const char *dir;        /* -R: socket directory (required) */
    const char *name;       /* -n: socket name (required) */
    int type;               /* -t stream|seqpacket|dgram: SOCK_STREAM (default), SOCK_SEQPACKET, SOCK_DGRAM */
    int framing;            /* -f ouistiti|line|nul|length (SOCK_STREAM relay connections only) */
    unsigned max_clients;   /* -m: 0 = no limit; past it a new client is refused (closed at once; in direct mode with close code 1013) */
    const char *user;       /* -u: drop privileges to this user after binding */
    int daemonize;          /* -D */
    uint64_t max_message;   /* largest message accepted (default 16 MiB + some); larger: client closed (1009 in direct mode) */
} wss_config;

typedef struct {
    void (*on_open)(wss_client *c, void *user);                 /* may be NULL */
    void (*on_message)(wss_client *c, int opcode, const uint8_t *data, size_t len, void *user); /* opcode 1 text, 2 binary */
    void (*on_close)(wss_client *c, void *user);                /* may be NULL; c is freed after it returns */
} wss_handlers;

/* Parses the common options -R -n -m -u -D -t -f -h plus the service's own (extra_opts, getopt syntax, handed to on_opt, which returns 0 or -1 for a bad value).
 * -h prints usage (common options + extra_usage) and exits 0; a bad or unknown option prints a clear message and exits 2.
 * Fields of cfg the caller set before are the defaults (e.g. .name = "echo"); -R and a name are required in the end;
 * type 0 becomes SOCK_STREAM, max_message 0 the default (16 MiB + 64 KiB). */
void wss_parse_args(int argc, char **argv, wss_config *cfg, const char *extra_opts, const char *extra_usage,
                    int (*on_opt)(int opt, const char *arg, void *user), void *user);

/* Creates the socket <dir>/<name> (a stale socket file is replaced; a name bound by a LIVE server -> error; a bad dir -> error), listens, drops privileges (-u), daemonizes (-D). NULL on error with a one-line message in err. */
wss_server *wss_listen(const wss_config *cfg, const wss_handlers *h, void *user, char *err, size_t errlen);
/* Runs the event loop until SIGTERM/SIGINT; removes the socket file; returns 0. Direct clients get close code 1001,
 * every open client its on_close; s is freed. */
int wss_run(wss_server *s);

/* Queues a whole message (opcode 1 text or 2 binary) to the client; 0, or -1 when the client is closing / its bounded queue is full (the client is then closed). */
int wss_send(wss_client *c, int opcode, const void *data, size_t len);
/* Closes the client (direct mode: a close frame with code/reason; relay: the unix connection is closed). */
void wss_close(wss_client *c, uint16_t code, const char *reason);
const char *wss_client_address(const wss_client *c); /* client's numeric address ("unknown" when the gateway did not say) */
int wss_client_port(const wss_client *c);
const char *wss_client_protocol(const wss_client *c); /* direct mode: the negotiated subprotocol, else "" */
int wss_client_is_direct(const wss_client *c);
void wss_client_set_data(wss_client *c, void *p);
void *wss_client_data(const wss_client *c);
/* Every open client, for broadcasts: fn for each (safe if fn closes the client it is given). */
void wss_foreach(wss_server *s, void (*fn)(wss_client *c, void *arg), void *arg);

#endif
