/* TLS over memory BIOs: see tls.h. */
#include "tls.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/buffer.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

/* TLS 1.2 cipher suites: Node's default list, so wss:// offers what an
 * https server of the same Node would. TLS 1.3 keeps OpenSSL's suites. */
#define TLS_CIPHERS_12                                                              \
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256:"                    \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES256-GCM-SHA384:"                    \
    "DHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA256:DHE-RSA-AES128-SHA256:"      \
    "ECDHE-RSA-AES256-SHA384:DHE-RSA-AES256-SHA384:ECDHE-RSA-AES256-SHA256:"        \
    "DHE-RSA-AES256-SHA256:HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:!PSK:!SRP:!CAMELLIA"

/* Resumed sessions must come from this server's contexts (all of them share
 * it, so a session survives the SNI switch). */
#define TLS_SESSION_ID_CONTEXT "node.websocket"

static const char tls_alpn_http11[] = "http/1.1";

typedef struct {
    char *name;    /* "host.example.com" or "*.example.com" */
    SSL_CTX *ssl_ctx;
} tls_sni;

struct ws_tls_ctx {
    size_t refs;
    SSL_CTX *main;
    size_t n_sni;
    tls_sni sni[];
};

/* Allocated with OPENSSL_zalloc like everything else a session owns, so that
 * CRYPTO_set_mem_functions sees (and the test measures) all of it. */
struct ws_tls {
    SSL *ssl;
    BIO *rbio, *wbio;       /* owned by ssl */
    ws_tls_ctx *ctx;        /* a reference */
    const char *error;      /* static string once failed */
    uint8_t *early;         /* plaintext written before the handshake finished */
    size_t early_len;
    unsigned shut : 1;      /* ws_tls_shutdown was called */
    unsigned peer_closed : 1;
};

/* ---- errors ---- */

/* The reason of the most recent OpenSSL error, then the queue is cleared
 * (it is shared with Node's own crypto code on this thread). */
static const char *tls_reason(const char *fallback) {
    unsigned long e = ERR_peek_last_error();
    const char *r = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return r ? r : fallback;
}

static void tls_set_err(char *err, size_t errlen, const char *prefix, const char *what, const char *reason) {
    if (errlen == 0) return;
    snprintf(err, errlen, "%s%s%s%s", prefix, what, reason ? ": " : "", reason ? reason : "");
}

/* ---- context ---- */

static int tls_alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                           unsigned int inlen, void *arg) {
    (void)ssl;
    (void)arg;
    const size_t n = sizeof tls_alpn_http11 - 1;
    for (unsigned int i = 0; i < inlen;) {
        unsigned int len = in[i];
        if (len > inlen - i - 1) break;
        if (len == n && memcmp(in + i + 1, tls_alpn_http11, n) == 0) {
            *out = (const unsigned char *)tls_alpn_http11;
            *outlen = (unsigned char)n;
            return SSL_TLSEXT_ERR_OK;
        }
        i += 1 + len;
    }
    return SSL_TLSEXT_ERR_NOACK; /* proceed without ALPN */
}

/* "a.example.com" matches "*.example.com"; "example.com" and
 * "a.b.example.com" do not. */
static int tls_name_matches(const char *pattern, const char *name) {
    if (pattern[0] == '*' && pattern[1] == '.') {
        const char *dot = strchr(name, '.');
        return dot && dot != name && strcasecmp(dot + 1, pattern + 2) == 0;
    }
    return strcasecmp(pattern, name) == 0;
}

static int tls_servername(SSL *ssl, int *alert, void *arg) {
    (void)alert;
    const ws_tls_ctx *ctx = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (!name) return SSL_TLSEXT_ERR_OK;
    SSL_CTX *pick = NULL;
    for (size_t i = 0; i < ctx->n_sni && !pick; i++)
        if (ctx->sni[i].name[0] != '*' && tls_name_matches(ctx->sni[i].name, name)) pick = ctx->sni[i].ssl_ctx;
    for (size_t i = 0; i < ctx->n_sni && !pick; i++)
        if (ctx->sni[i].name[0] == '*' && tls_name_matches(ctx->sni[i].name, name)) pick = ctx->sni[i].ssl_ctx;
    if (pick && SSL_set_SSL_CTX(ssl, pick) != pick) return SSL_TLSEXT_ERR_ALERT_FATAL;
    return SSL_TLSEXT_ERR_OK; /* unknown names get the main certificate */
}

typedef struct {
    const char *passphrase;
    int asked; /* OpenSSL asked for a passphrase: the key is encrypted */
} tls_pass;

/* Never prompts on the terminal (OpenSSL's default callback would). */
static int tls_pass_cb(char *buf, int size, int rwflag, void *u) {
    (void)rwflag;
    tls_pass *p = u;
    p->asked = 1;
    if (!p->passphrase) return -1;
    size_t n = strlen(p->passphrase);
    if (n > (size_t)size) return -1;
    memcpy(buf, p->passphrase, n);
    return (int)n;
}

static BIO *tls_pem_bio(const char *pem, size_t len) {
    if (!pem || len > INT_MAX) return NULL;
    return BIO_new_mem_buf(pem, (int)len);
}

/* Loads the certificate chain and key of c into ssl_ctx. Returns 0, or -1
 * with err filled in (prefixed with prefix). */
static int tls_load_cert(SSL_CTX *ssl_ctx, const ws_tls_cert *c, const char *prefix, char *err, size_t errlen) {
    int rc = -1;
    X509 *x = NULL, *extra = NULL;
    EVP_PKEY *key = NULL;
    BIO *bio = NULL;

    if (!c->cert_pem || c->cert_len == 0) {
        tls_set_err(err, errlen, prefix, "certificate", "missing");
        goto out;
    }
    if (!c->key_pem || c->key_len == 0) {
        tls_set_err(err, errlen, prefix, "private key", "missing");
        goto out;
    }

    /* The certificate, then intermediates in the same PEM. */
    bio = tls_pem_bio(c->cert_pem, c->cert_len);
    x = bio ? PEM_read_bio_X509_AUX(bio, NULL, NULL, NULL) : NULL;
    if (!x) {
        tls_set_err(err, errlen, prefix, "certificate", tls_reason("cannot read it"));
        goto out;
    }
    if (SSL_CTX_use_certificate(ssl_ctx, x) != 1) {
        tls_set_err(err, errlen, prefix, "certificate", tls_reason("not usable"));
        goto out;
    }
    for (int pass = 0; pass < 2; pass++) {
        const char *what = pass == 0 ? "certificate" : "ca";
        if (pass == 1) {
            BIO_free(bio);
            bio = NULL;
            if (!c->ca_pem || c->ca_len == 0) break;
            if (!(bio = tls_pem_bio(c->ca_pem, c->ca_len))) {
                tls_set_err(err, errlen, prefix, what, "cannot read it");
                goto out;
            }
        }
        int n = 0;
        ERR_clear_error();
        while ((extra = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
            if (SSL_CTX_add0_chain_cert(ssl_ctx, extra) != 1) {
                tls_set_err(err, errlen, prefix, what, tls_reason("cannot add to the chain"));
                goto out;
            }
            extra = NULL; /* owned by ssl_ctx now */
            n++;
        }
        /* The end of the PEM is "no start line"; anything else is damage. */
        unsigned long e = ERR_peek_last_error();
        if ((e && !(ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)) ||
            (pass == 1 && n == 0)) {
            tls_set_err(err, errlen, prefix, what, tls_reason("no certificate in it"));
            goto out;
        }
        ERR_clear_error();
    }

    BIO_free(bio);
    tls_pass pw = {c->passphrase, 0};
    if (!(bio = tls_pem_bio(c->key_pem, c->key_len))) {
        tls_set_err(err, errlen, prefix, "private key", "cannot read it");
        goto out;
    }
    key = PEM_read_bio_PrivateKey(bio, NULL, tls_pass_cb, &pw);
    if (!key) {
        const char *reason = tls_reason("cannot read it");
        if (pw.asked)
            reason = c->passphrase ? "bad passphrase" : "encrypted and no passphrase given";
        tls_set_err(err, errlen, prefix, "private key", reason);
        goto out;
    }
    if (X509_check_private_key(x, key) != 1) {
        ERR_clear_error();
        tls_set_err(err, errlen, prefix, "private key does not match the certificate", NULL);
        goto out;
    }
    if (SSL_CTX_use_PrivateKey(ssl_ctx, key) != 1) {
        tls_set_err(err, errlen, prefix, "private key", tls_reason("not usable"));
        goto out;
    }
    rc = 0;
out:
    X509_free(extra);
    X509_free(x);
    EVP_PKEY_free(key);
    BIO_free(bio);
    return rc;
}

static SSL_CTX *tls_ssl_ctx_new(const ws_tls_cert *c, int min_version, const char *prefix, char *err,
                                size_t errlen) {
    SSL_CTX *s = SSL_CTX_new(TLS_server_method());
    if (!s) {
        tls_set_err(err, errlen, prefix, "tls context", tls_reason("out of memory"));
        return NULL;
    }
    SSL_CTX_set_options(s, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(s, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(s, SSL_SESS_CACHE_OFF);
    if (SSL_CTX_set_min_proto_version(s, min_version) != 1 ||
        SSL_CTX_set_max_proto_version(s, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(s, TLS_CIPHERS_12) != 1 ||
        SSL_CTX_set_session_id_context(s, (const unsigned char *)TLS_SESSION_ID_CONTEXT,
                                       sizeof TLS_SESSION_ID_CONTEXT - 1) != 1 ||
        SSL_CTX_set_dh_auto(s, 1) != 1) {
        tls_set_err(err, errlen, prefix, "tls context", tls_reason("cannot configure"));
        SSL_CTX_free(s);
        return NULL;
    }
    SSL_CTX_set_alpn_select_cb(s, tls_alpn_select, NULL);
    if (tls_load_cert(s, c, prefix, err, errlen) != 0) {
        SSL_CTX_free(s);
        return NULL;
    }
    return s;
}

static void tls_ctx_free(ws_tls_ctx *ctx) {
    for (size_t i = 0; i < ctx->n_sni; i++) {
        SSL_CTX_free(ctx->sni[i].ssl_ctx);
        OPENSSL_free(ctx->sni[i].name);
    }
    SSL_CTX_free(ctx->main);
    OPENSSL_free(ctx);
}

/* A name is a host name, or "*." followed by one. */
static int tls_sni_name_ok(const char *name) {
    if (!name) return 0;
    const char *p = name[0] == '*' && name[1] == '.' ? name + 2 : name;
    if (!*p) return 0;
    for (; *p; p++)
        if (*p == '*' || *p <= ' ' || *p == 0x7f) return 0;
    return 1;
}

ws_tls_ctx *ws_tls_ctx_new(const ws_tls_config *cfg, char *err, size_t errlen) {
    if (errlen) err[0] = '\0';
    ERR_clear_error();
    int min_version = cfg->min_version ? cfg->min_version : TLS1_2_VERSION;
    if (min_version != TLS1_2_VERSION && min_version != TLS1_3_VERSION) {
        tls_set_err(err, errlen, "", "min version", "must be TLS 1.2 (0x0303) or TLS 1.3 (0x0304)");
        return NULL;
    }
    if (cfg->n_sni && (!cfg->sni_names || !cfg->sni_certs)) {
        tls_set_err(err, errlen, "", "sni", "names and certificates missing");
        return NULL;
    }
    if (cfg->n_sni > (SIZE_MAX - sizeof(ws_tls_ctx)) / sizeof(tls_sni)) {
        tls_set_err(err, errlen, "", "sni", "too many names");
        return NULL;
    }
    ws_tls_ctx *ctx = OPENSSL_zalloc(sizeof *ctx + cfg->n_sni * sizeof(tls_sni));
    if (!ctx) {
        tls_set_err(err, errlen, "", "tls context", "out of memory");
        return NULL;
    }
    ctx->refs = 1;
    if (!(ctx->main = tls_ssl_ctx_new(&cfg->main, min_version, "", err, errlen))) goto fail;
    for (size_t i = 0; i < cfg->n_sni; i++) {
        const char *name = cfg->sni_names[i];
        char prefix[300];
        snprintf(prefix, sizeof prefix, "sni '%.255s': ", name ? name : "");
        if (!tls_sni_name_ok(name)) {
            tls_set_err(err, errlen, prefix, "not a host name or *.domain", NULL);
            goto fail;
        }
        tls_sni *e = &ctx->sni[ctx->n_sni];
        if (!(e->name = OPENSSL_strdup(name))) {
            tls_set_err(err, errlen, prefix, "out of memory", NULL);
            goto fail;
        }
        ctx->n_sni++;
        if (!(e->ssl_ctx = tls_ssl_ctx_new(&cfg->sni_certs[i], min_version, prefix, err, errlen))) goto fail;
    }
    if (ctx->n_sni) {
        SSL_CTX_set_tlsext_servername_callback(ctx->main, tls_servername);
        SSL_CTX_set_tlsext_servername_arg(ctx->main, ctx);
    }
    return ctx;
fail:
    tls_ctx_free(ctx);
    ERR_clear_error();
    return NULL;
}

void ws_tls_ctx_ref(ws_tls_ctx *ctx) { ctx->refs++; }

void ws_tls_ctx_unref(ws_tls_ctx *ctx) {
    if (ctx && --ctx->refs == 0) tls_ctx_free(ctx);
}

/* ---- sessions ---- */

static BIO *tls_mem_bio(void) {
    BIO *b = BIO_new(BIO_s_mem());
    if (b) BIO_set_mem_eof_return(b, -1); /* empty means "retry", not end of stream */
    return b;
}

/* Gives back the buffer of a drained memory BIO that grew beyond
 * WS_TLS_BIO_RETAIN (a handshake flight, a large message). */
static void tls_bio_trim(BIO *b) {
    BUF_MEM *bm = NULL;
    if (BIO_ctrl_pending(b) != 0) return;
    BIO_get_mem_ptr(b, &bm);
    if (!bm || bm->max <= WS_TLS_BIO_RETAIN) return;
    BUF_MEM *fresh = BUF_MEM_new();
    if (fresh) BIO_set_mem_buf(b, fresh, BIO_CLOSE); /* frees the old one */
}

ws_tls *ws_tls_new(ws_tls_ctx *ctx) {
    ws_tls *t = OPENSSL_zalloc(sizeof *t);
    if (!t) return NULL;
    ERR_clear_error();
    t->ssl = SSL_new(ctx->main);
    t->rbio = tls_mem_bio();
    t->wbio = tls_mem_bio();
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        OPENSSL_free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    t->ctx = ctx;
    ws_tls_ctx_ref(ctx);
    return t;
}

void ws_tls_free(ws_tls *t) {
    if (!t) return;
    SSL_free(t->ssl);
    OPENSSL_free(t->early);
    ws_tls_ctx_unref(t->ctx);
    OPENSSL_free(t);
}

static int tls_fail(ws_tls *t, const char *fallback) {
    if (!t->error) t->error = tls_reason(fallback);
    ERR_clear_error();
    OPENSSL_free(t->early);
    t->early = NULL;
    t->early_len = 0;
    return WS_TLS_ERROR;
}

int ws_tls_feed(ws_tls *t, const uint8_t *in, size_t len) {
    if (t->error) return WS_TLS_ERROR;
    while (len > 0) {
        int n = len > INT_MAX ? INT_MAX : (int)len;
        ERR_clear_error();
        if (BIO_write(t->rbio, in, n) != n) return tls_fail(t, "out of memory");
        in += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Encrypts all of in (the memory BIO takes any amount). */
static int tls_encrypt(ws_tls *t, const uint8_t *in, size_t len) {
    size_t done;
    ERR_clear_error();
    if (SSL_write_ex(t->ssl, in, len, &done) != 1 || done != len) return tls_fail(t, "write failed");
    return 0;
}

/* The OpenSSL result of an SSL call that returned failure: 0 to wait for
 * more ciphertext, WS_TLS_CLOSED or WS_TLS_ERROR. */
static int tls_result(ws_tls *t, int ret) {
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        ERR_clear_error();
        tls_bio_trim(t->rbio);
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        ERR_clear_error();
        t->peer_closed = 1;
        return WS_TLS_CLOSED;
    case SSL_ERROR_SYSCALL:
        return tls_fail(t, "unexpected end of the stream");
    default:
        return tls_fail(t, "handshake failed");
    }
}

ssize_t ws_tls_read(ws_tls *t, uint8_t *out, size_t cap) {
    if (t->error) return WS_TLS_ERROR;
    if (t->peer_closed) return WS_TLS_CLOSED;
    if (!SSL_is_init_finished(t->ssl)) {
        ERR_clear_error();
        int r = SSL_do_handshake(t->ssl);
        if (r != 1) return tls_result(t, r);
        if (t->early) {
            int rc = tls_encrypt(t, t->early, t->early_len);
            OPENSSL_free(t->early);
            t->early = NULL;
            t->early_len = 0;
            if (rc) return rc;
        }
    }
    if (cap > SSIZE_MAX) cap = SSIZE_MAX;
    size_t n = 0;
    ERR_clear_error();
    int r = SSL_read_ex(t->ssl, out, cap, &n);
    if (r == 1) return (ssize_t)n;
    if (cap == 0) return 0;
    return tls_result(t, r);
}

int ws_tls_write(ws_tls *t, const uint8_t *in, size_t len) {
    if (t->error || t->shut) return WS_TLS_ERROR;
    if (len == 0) return 0;
    if (SSL_is_init_finished(t->ssl) && !t->early) return tls_encrypt(t, in, len);
    if (len > SIZE_MAX - t->early_len) return WS_TLS_ERROR;
    uint8_t *p = OPENSSL_realloc(t->early, t->early_len + len);
    if (!p) return WS_TLS_ERROR;
    memcpy(p + t->early_len, in, len);
    t->early = p;
    t->early_len += len;
    return 0;
}

size_t ws_tls_pending(const ws_tls *t) { return BIO_ctrl_pending(t->wbio); }

size_t ws_tls_take(ws_tls *t, uint8_t *out, size_t cap) {
    size_t total = 0;
    while (cap > total) {
        size_t want = cap - total > INT_MAX ? INT_MAX : cap - total;
        int n = BIO_read(t->wbio, out + total, (int)want);
        if (n <= 0) break;
        total += (size_t)n;
    }
    tls_bio_trim(t->wbio);
    return total;
}

void ws_tls_shutdown(ws_tls *t) {
    if (t->shut || t->error || !SSL_is_init_finished(t->ssl)) return;
    t->shut = 1;
    ERR_clear_error();
    SSL_shutdown(t->ssl); /* 0: close_notify sent, the peer's not yet seen */
    ERR_clear_error();
}

int ws_tls_established(const ws_tls *t) { return !t->error && SSL_is_init_finished(t->ssl); }

const char *ws_tls_error(const ws_tls *t) { return t->error; }

const char *ws_tls_version(const ws_tls *t) { return SSL_get_version(t->ssl); }

const char *ws_tls_alpn(const ws_tls *t) {
    const unsigned char *p = NULL;
    unsigned int len = 0;
    SSL_get0_alpn_selected(t->ssl, &p, &len);
    return len == sizeof tls_alpn_http11 - 1 && memcmp(p, tls_alpn_http11, len) == 0 ? tls_alpn_http11 : NULL;
}

const char *ws_tls_servername(const ws_tls *t) { return SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name); }
