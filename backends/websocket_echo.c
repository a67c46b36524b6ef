/* websocket_echo: each message back to its sender, with its type, through
 * the gateway's relay or in direct mode (libwsservice hides which). */
#include <stdio.h>

#include "wsservice.h"

static void on_message(wss_client *c, int opcode, const uint8_t *data, size_t len, void *user) {
    (void)user;
    wss_send(c, opcode, data, len);
}

int main(int argc, char **argv) {
    wss_config cfg = {.name = "echo"};
    wss_parse_args(argc, argv, &cfg, "", "  (-n defaults to \"echo\")\n", NULL, NULL);
    wss_handlers h = {.on_message = on_message};
    char err[512];
    wss_server *s = wss_listen(&cfg, &h, NULL, err, sizeof err);
    if (s == NULL) {
        fprintf(stderr, "websocket_echo: %s\n", err);
        return 2;
    }
    return wss_run(s);
}
