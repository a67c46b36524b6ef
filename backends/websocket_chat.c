/* websocket_chat: each message goes to every other member. With -w, the
 * commands of ouistiti's chat (text messages only):
 *   WSHello <name>              take a name; a taken one gets a numeric
 *                               suffix (alice -> alice001); answer
 *                               "WSWelcome <name>"
 *   WSPrivate <name> <message>  <message> to that member only; an unknown
 *                               name: "WSError no member named <name>"
 *   WSWhois <name>              "WSIs <name> <address>" or "WSIs <name> undefined"
 * Names end at a space, '\r', '\n' or NUL and keep at most 27 bytes (30
 * with the suffix, as ouistiti's). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"
#include "wsservice.h"

#define NAME_MAX_LEN 27

typedef struct {
    char name[NAME_MAX_LEN + 4]; /* "" until WSHello */
} member;

static wss_server *server;
static int commands; /* -w */

typedef struct {
    wss_client *from;
    int opcode;
    const uint8_t *data;
    size_t len;
} broadcast;

static void send_other(wss_client *c, void *arg) {
    broadcast *b = arg;
    if (c != b->from) wss_send(c, b->opcode, b->data, b->len);
}

typedef struct {
    const char *name;
    wss_client *self; /* skipped */
    wss_client *found;
} lookup;

static void find_name(wss_client *c, void *arg) {
    lookup *l = arg;
    member *m = wss_client_data(c);
    if (c != l->self && m && !l->found && strcmp(m->name, l->name) == 0) l->found = c;
}

static wss_client *member_named(const char *name, wss_client *self) {
    lookup l = {name, self, NULL};
    wss_foreach(server, find_name, &l);
    return l.found;
}

static void reply(wss_client *c, const char *text) { wss_send(c, 1, text, strlen(text)); }

/* The name at p[0..len): up to a space, '\r', '\n' or NUL; its length. */
static size_t name_token(const uint8_t *p, size_t len) {
    size_t n = 0;
    while (n < len && p[n] != ' ' && p[n] != '\r' && p[n] != '\n' && p[n] != '\0') n++;
    return n;
}

static int starts(const uint8_t *d, size_t len, const char *cmd) {
    size_t n = strlen(cmd);
    return len >= n && memcmp(d, cmd, n) == 0;
}

static void hello(wss_client *c, const uint8_t *p, size_t len) {
    char name[NAME_MAX_LEN + 4], buf[64];
    size_t n = name_token(p, len);
    if (n > NAME_MAX_LEN) n = NAME_MAX_LEN;
    while (n > 0 && !ws_utf8_is_valid(p, n)) n--; /* a cut name stays UTF-8 */
    if (n == 0) {
        reply(c, "WSError WSHello needs a name");
        return;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    if (member_named(name, c)) {
        for (int i = 1; i < 1000; i++) {
            snprintf(name + n, sizeof name - n, "%03d", i);
            if (!member_named(name, c)) break;
        }
    }
    member *m = wss_client_data(c);
    memcpy(m->name, name, sizeof m->name);
    snprintf(buf, sizeof buf, "WSWelcome %s", m->name);
    reply(c, buf);
}

static void private_message(wss_client *c, const uint8_t *p, size_t len) {
    char name[NAME_MAX_LEN + 4], buf[96];
    size_t n = name_token(p, len);
    if (n == 0 || n >= len || p[n] != ' ') {
        reply(c, "WSError WSPrivate needs a name and a message");
        return;
    }
    if (n > NAME_MAX_LEN + 3) {
        snprintf(buf, sizeof buf, "WSError no member named %.*s", NAME_MAX_LEN + 3, (const char *)p);
        reply(c, buf);
        return;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    wss_client *to = member_named(name, NULL);
    if (to == NULL) {
        snprintf(buf, sizeof buf, "WSError no member named %s", name);
        reply(c, buf);
        return;
    }
    wss_send(to, 1, p + n + 1, len - n - 1);
}

static void whois(wss_client *c, const uint8_t *p, size_t len) {
    char name[NAME_MAX_LEN + 4], buf[160];
    size_t n = name_token(p, len);
    if (n == 0 || n > NAME_MAX_LEN + 3) {
        reply(c, n ? "WSIs undefined" : "WSError WSWhois needs a name");
        return;
    }
    memcpy(name, p, n);
    name[n] = '\0';
    wss_client *who = member_named(name, NULL);
    snprintf(buf, sizeof buf, "WSIs %s %s", name, who ? wss_client_address(who) : "undefined");
    reply(c, buf);
}

static void on_open(wss_client *c, void *user) {
    (void)user;
    member *m = calloc(1, sizeof *m);
    if (m == NULL) {
        wss_close(c, 1011, "out of memory");
        return;
    }
    wss_client_set_data(c, m);
}

static void on_close(wss_client *c, void *user) {
    (void)user;
    free(wss_client_data(c));
    wss_client_set_data(c, NULL);
}

static void on_message(wss_client *c, int opcode, const uint8_t *d, size_t len, void *user) {
    (void)user;
    if (wss_client_data(c) == NULL) return;
    if (commands && opcode == 1) {
        if (starts(d, len, "WSHello ")) return hello(c, d + 8, len - 8);
        if (starts(d, len, "WSPrivate ")) return private_message(c, d + 10, len - 10);
        if (starts(d, len, "WSWhois ")) return whois(c, d + 8, len - 8);
    }
    broadcast b = {c, opcode, d, len};
    wss_foreach(server, send_other, &b);
}

static int on_opt(int opt, const char *arg, void *user) {
    (void)arg;
    (void)user;
    if (opt != 'w') return -1;
    commands = 1;
    return 0;
}

int main(int argc, char **argv) {
    wss_config cfg = {.name = "chat"};
    wss_parse_args(argc, argv, &cfg, "w",
                   "  -w         ouistiti's chat commands: WSHello <name>, WSPrivate <name> <message>,\n"
                   "             WSWhois <name>\n"
                   "  (-n defaults to \"chat\")\n",
                   on_opt, NULL);
    wss_handlers h = {.on_open = on_open, .on_message = on_message, .on_close = on_close};
    char err[512];
    server = wss_listen(&cfg, &h, NULL, err, sizeof err);
    if (server == NULL) {
        fprintf(stderr, "websocket_chat: %s\n", err);
        return 2;
    }
    return wss_run(server);
}
