/* Unit tests of libwsservice's pure parts (backends/): the relay framings
 * (wsservice_relay.c) and the direct-mode hand-off reading
 * (wsservice_handoff.c), each input in an exact-size copy and fed in every
 * split, as the service gets it from recv(). */
#include "harness.h"

#include "../../backends/wsservice.h"
#include "../../backends/wsservice_handoff.h"
#include "../../backends/wsservice_relay.h"
#include "gwproto.h"

/* Feeds in[0..len) as a stream cut at `cut`, the way libwsservice keeps an
 * unfinished tail: returns the messages found, their payloads joined with '|'. */
static int split_messages(int framing, const uint8_t *in, size_t len, size_t cut, char *out, size_t cap) {
    uint8_t buf[256];
    size_t have = 0, scan = 0, o = 0;
    int count = 0;
    size_t pos = 0;
    while (pos < len || have) {
        size_t take = pos < cut ? cut - pos : len - pos;
        memcpy(buf + have, in + pos, take);
        have += take;
        pos += take;
        unsigned char *copy = test_exact_copy(buf, have);
        size_t off = 0;
        for (;;) {
            wss_relay_msg m;
            long r = wss_relay_parse(framing, copy + off, have - off, 64, &scan, &m);
            if (r < 0) {
                free(copy);
                return (int)r;
            }
            if (r == 0) break;
            if (o && o < cap) out[o++] = '|';
            for (size_t i = 0; i < m.len && o < cap; i++) out[o++] = (char)m.data[i];
            off += (size_t)r;
            count++;
        }
        memmove(buf, buf + off, have - off);
        have -= off;
        free(copy);
        if (pos == len) break;
    }
    out[o < cap ? o : cap - 1] = '\0';
    return have ? -100 : count;
}

static void test_framings(void) {
    char out[256];
    const uint8_t line[] = "one\n\ntwo three\n";
    for (size_t cut = 0; cut <= sizeof line - 1; cut++) {
        int n = split_messages(WSS_FRAMING_LINE, line, sizeof line - 1, cut, out, sizeof out);
        test_cond("line: three messages in any split", n == 3 && strcmp(out, "one||two three") == 0);
    }
    const uint8_t nul[] = {'a', 0, 0, 'b', 'c', 0};
    for (size_t cut = 0; cut <= sizeof nul; cut++) {
        int n = split_messages(WSS_FRAMING_NUL, nul, sizeof nul, cut, out, sizeof out);
        test_cond("nul: three messages in any split", n == 3 && strcmp(out, "a||bc") == 0);
    }
    const uint8_t len[] = {1, 0, 0, 0, 2, 'h', 'i', 2, 0, 0, 0, 0, 1, 0, 0, 0, 1, '!'};
    for (size_t cut = 0; cut <= sizeof len; cut++) {
        int n = split_messages(WSS_FRAMING_LENGTH, len, sizeof len, cut, out, sizeof out);
        test_cond("length: three messages in any split", n == 3 && strcmp(out, "hi||!") == 0);
    }

    wss_relay_msg m;
    size_t scan = 0;
    const uint8_t bin[] = {2, 0, 0, 0, 1, 0xff};
    test_cond("length: the type is kept", wss_relay_parse(WSS_FRAMING_LENGTH, bin, 6, 0, &scan, &m) == 6 && m.opcode == 2);
    const uint8_t bad[] = {3, 0, 0, 0, 0};
    test_cond("length: type 3 is refused", wss_relay_parse(WSS_FRAMING_LENGTH, bad, 5, 0, &scan, &m) == WSS_RELAY_BAD_TYPE);
    const uint8_t big[] = {1, 0, 0, 1, 0};
    test_cond("length: over max refused from the header",
              wss_relay_parse(WSS_FRAMING_LENGTH, big, 5, 255, &scan, &m) == WSS_RELAY_TOO_BIG);
    uint8_t longline[100];
    memset(longline, 'x', sizeof longline);
    scan = 0;
    test_cond("line: no newline within max is refused",
              wss_relay_parse(WSS_FRAMING_LINE, longline, sizeof longline, 64, &scan, &m) == WSS_RELAY_TOO_BIG);
    const uint8_t notutf8[] = {0xc3, 0x28, '\n'};
    scan = 0;
    test_cond("line: bytes that are not UTF-8 are binary",
              wss_relay_parse(WSS_FRAMING_LINE, notutf8, 3, 0, &scan, &m) == 3 && m.opcode == 2 && m.len == 2);
    scan = 0;
    test_cond("ouistiti: one read is one message", wss_relay_parse(WSS_FRAMING_OUISTITI, line, 5, 0, &scan, &m) == 5);
    test_cond("ouistiti: nothing is no message", wss_relay_parse(WSS_FRAMING_OUISTITI, line, 0, 0, &scan, &m) == 0);

    uint8_t pre[5], post[1];
    test_cond("length prefix", wss_relay_prefix(WSS_FRAMING_LENGTH, 2, 258, pre) == 5 && pre[0] == 2 && pre[3] == 1 && pre[4] == 2);
    test_cond("line suffix", wss_relay_suffix(WSS_FRAMING_LINE, post) == 1 && post[0] == '\n');
    test_cond("no prefix on line", wss_relay_prefix(WSS_FRAMING_LINE, 1, 3, pre) == 0);
    test_cond("framing names", wss_relay_framing("nul") == WSS_FRAMING_NUL && wss_relay_framing("json") == -1);
}

static void test_handoff(void) {
    uint8_t rec[512];
    ws_gw_direct d = {.port = 4242, .address = "2001:db8::1", .address_len = 11, .protocol = "chat.v2",
                      .protocol_len = 7, .name = "echo", .name_len = 4, .pending = (const uint8_t *)"\x81\x80",
                      .pending_len = 2, .max_payload = 1000};
    size_t n = ws_gw_direct_encode(rec, sizeof rec, &d);
    test_cond("encoded", n > 0);
    for (size_t i = 0; i <= n; i++) {
        unsigned char *copy = test_exact_copy(rec, i);
        wss_handoff h;
        long r = wss_handoff_read(copy, i, &h);
        if (i < n) test_cond("a prefix wants more", r == -2);
        else
            test_cond("the whole record", r == (long)n && strcmp(h.address, "2001:db8::1") == 0 && h.port == 4242 &&
                                              strcmp(h.protocol, "chat.v2") == 0 && h.pending_len == 2 &&
                                              h.pending[0] == 0x81 && h.max_payload == 1000);
        free(copy);
    }
    wss_handoff h;
    d.address = "1.2.3.4\r\n";
    d.address_len = 9;
    n = ws_gw_direct_encode(rec, sizeof rec, &d);
    test_cond("an address with CR LF is refused", wss_handoff_read(rec, n, &h) == -1);
    d.address = "";
    d.address_len = 0;
    d.protocol = "a b";
    d.protocol_len = 3;
    n = ws_gw_direct_encode(rec, sizeof rec, &d);
    test_cond("a protocol that is not a token is refused", wss_handoff_read(rec, n, &h) == -1);
    d.protocol_len = 0;
    n = ws_gw_direct_encode(rec, sizeof rec, &d);
    test_cond("no address reads as unknown", wss_handoff_read(rec, n, &h) == (long)n && strcmp(h.address, "unknown") == 0 &&
                                              h.protocol[0] == '\0');
    memcpy(rec, "WSD2", 4);
    test_cond("bad magic", wss_handoff_read(rec, n, &h) == -1);
}

int main(void) {
    test_framings();
    test_handoff();
    return test_report();
}
