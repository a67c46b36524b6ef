/* tls_client: the load generator's TLS layer (--tls), OpenSSL on a
 * non-blocking socket, shaped like read()/writev() so that loadgen.c keeps
 * one I/O path and every check it makes on the plaintext stays the same. */
#ifndef LOADGEN_TLS_CLIENT_H
#define LOADGEN_TLS_CLIENT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct tls_conn tls_conn;

/* Results besides byte counts: the call would block (wait for the socket to
 * be readable, resp. writable), the peer closed, or a failure (tls_error()). */
enum { TLS_WANT_READ = -2, TLS_WANT_WRITE = -3, TLS_ERROR = -1 };

/* Makes the one client context, before any thread starts. ca_file: verify the
 * server's certificate against it (and that it names 127.0.0.1); NULL: no
 * verification. small_buffers: release OpenSSL's record buffers while a
 * connection is idle (idle mode: memory for many connections). Returns 0, or
 * -1 with tls_error() set. */
int tls_setup(const char *ca_file, int small_buffers);

/* A TLS client on a connected socket; NULL with tls_error() set. */
tls_conn *tls_new(int fd);

/* Drives the handshake: 1 done, TLS_WANT_READ / TLS_WANT_WRITE, TLS_ERROR. */
int tls_handshake(tls_conn *t);

/* Reads plaintext into buf until it is full or the socket has nothing more:
 * > 0 bytes; 0 end of stream (close_notify or TCP EOF); TLS_WANT_READ or
 * TLS_WANT_WRITE when nothing was read; TLS_ERROR (errno: ECONNRESET for a
 * reset, EPROTO for a TLS failure, see tls_error()). */
ssize_t tls_read(tls_conn *t, void *buf, size_t len);

/* 1 when decrypted bytes wait inside OpenSSL (epoll does not see them). */
int tls_has_pending(const tls_conn *t);

/* Accepts up to TLS_CHUNK bytes of the iovecs for sending and returns how many:
 * bytes that could not go out yet are kept (tls_pending()) and sent first by
 * the next call or tls_flush(), so the caller may treat them as written.
 * TLS_WANT_READ / TLS_WANT_WRITE when earlier bytes are still held and none
 * were taken; TLS_ERROR with errno set (EPIPE, ECONNRESET, EPROTO). */
ssize_t tls_writev(tls_conn *t, const struct iovec *iov, int n);

/* Sends what tls_writev() kept: 1 nothing left, TLS_WANT_*, TLS_ERROR. */
int tls_flush(tls_conn *t);

/* 1 while bytes accepted by tls_writev() wait to be sent. */
int tls_pending(const tls_conn *t);

/* 1 when the last TLS_WANT_WRITE came from a read (the read is to be retried
 * when the socket is writable). */
int tls_read_wants_write(const tls_conn *t);

/* Frees the connection; sends close_notify (best effort, never blocks)
 * unless the peer's end of stream was seen. Does not close fd. */
void tls_free(tls_conn *t);

/* The negotiated protocol ("TLSv1.3") and cipher, for the report. */
const char *tls_version_of(const tls_conn *t);
const char *tls_cipher_of(const tls_conn *t);

/* The last failure of this thread, as text. */
const char *tls_error(void);

#define TLS_CHUNK (64u << 10)

#endif
