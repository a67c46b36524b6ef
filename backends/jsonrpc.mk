# websocket_jsonrpc and its auth method library, included by the Makefile
# (which defines N, OUT, CC, CFLAGS, LDFLAGS, LIBWSSERVICE, WSSERVICE_LIBS).
#   $(OUT)/websocket_jsonrpc   the service (libwsservice + jsonrpc.c, loads -L <library>)
#   $(OUT)/libauth.so          the auth library (SQLite, OpenSSL)
JSONRPC_LIBS := -ljansson -ldl
AUTH_LIBS := -lsqlite3 -lcrypto -ljansson
JSONRPC_HDR := jsonrpc.h jsonrpc_methods.h

PROGRAMS += $(OUT)/websocket_jsonrpc $(OUT)/libauth.so

# Say which Debian packages are missing rather than fail on an #include.
.PHONY: jsonrpc-deps
jsonrpc-deps:
	@printf '#include <jansson.h>\n#include <sqlite3.h>\n#include <openssl/evp.h>\n' | $(CC) -E -x c - >/dev/null 2>&1 || { \
		echo "backends: websocket_jsonrpc needs the jansson, SQLite and OpenSSL headers:" \
			"install the Debian packages libjansson-dev libsqlite3-dev libssl-dev" >&2; exit 1; }

$(OUT)/websocket_jsonrpc: websocket_jsonrpc.c jsonrpc.c $(JSONRPC_HDR) wsservice.h $(LIBWSSERVICE) | jsonrpc-deps
	$(CC) $(CFLAGS) -o $@ websocket_jsonrpc.c jsonrpc.c $(LIBWSSERVICE) $(WSSERVICE_LIBS) $(JSONRPC_LIBS) $(LDFLAGS)

$(OUT)/libauth.so: auth.c jsonrpc_methods.h | jsonrpc-deps
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ auth.c $(AUTH_LIBS) $(LDFLAGS)
