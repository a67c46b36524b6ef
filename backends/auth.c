/* libauth.so: a JSON-RPC method library (jsonrpc_methods.h) keeping users
 * and passwords in a SQLite database (-C <file>, created with its schema
 * when missing). Passwords are stored as PBKDF2-HMAC-SHA256 hashes with a
 * random 16-byte salt and AUTH_ITERATIONS rounds, compared in constant time.
 *
 * Methods (params are objects; a bad one is -32602 naming it):
 *   auth    {user, password}        -> true; the client is logged in as user
 *   logout  {}                      -> true
 *   whoami  {}                      -> {user, admin} or null
 *   passwd  {user?, old, new}       -> true; user defaults to the logged-in one; old is always checked
 *   adduser {user, password, admin?} -> true; only for a logged-in admin
 *   rmuser  {user}                  -> true; only for a logged-in admin, never the caller itself
 * Errors of its own: AUTH_E_* below; a database failure is -32603. Failed
 * password checks are throttled per connection (AUTH_THROTTLE_*).
 *
 * The first admin: when the database holds no admin and the environment has
 * AUTH_ADMIN_PASSWORD (and optionally AUTH_ADMIN_USER, default "admin"),
 * init creates that admin. Both variables are then removed from the
 * environment. A password never travels on the command line.
 */
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonrpc_methods.h"

#define AUTH_ITERATIONS 100000
#define AUTH_ITERATIONS_MAX 10000000 /* what a stored row may ask for: a bound on one check's cost */
#define AUTH_SALT_LEN 16
#define AUTH_HASH_LEN 32
#define AUTH_USER_MAX 64       /* bytes of UTF-8 */
#define AUTH_PASSWORD_MAX 1024 /* bytes of UTF-8 */
#define AUTH_BUSY_TIMEOUT_MS 2000
#define AUTH_SCHEMA_VERSION 1

#define AUTH_E_FAILED -32001     /* wrong user or password */
#define AUTH_E_NOT_LOGGED_IN -32002
#define AUTH_E_FORBIDDEN -32003  /* not an admin */
#define AUTH_E_EXISTS -32004
#define AUTH_E_NO_USER -32005
#define AUTH_E_SELF -32006       /* rmuser of oneself */
#define AUTH_E_THROTTLED -32007  /* too many failed attempts on this connection */

/* After this many failed password checks in a row on one connection, each
 * further one waits 1 s, then 2, 4, ... up to AUTH_THROTTLE_MAX_S: a brute
 * force (or a batch of a thousand guesses) costs time, not the service's CPU. */
#define AUTH_THROTTLE_AFTER 3
#define AUTH_THROTTLE_MAX_S 60

typedef struct {
    sqlite3 *db;
    char *path;
} auth_state;

/* The per-client state: who logged in. */
typedef struct {
    char user[AUTH_USER_MAX + 1];
    unsigned failures;   /* failed password checks in a row */
    double retry_at;     /* CLOCK_MONOTONIC seconds before which no check runs */
} auth_session;

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS users ("
    " name TEXT PRIMARY KEY NOT NULL,"
    " salt BLOB NOT NULL,"
    " hash BLOB NOT NULL,"
    " iterations INTEGER NOT NULL,"
    " admin INTEGER NOT NULL DEFAULT 0)";

static void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void errf(char *err, size_t errlen, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static int derive(const char *password, size_t len, const unsigned char *salt, int iterations,
                  unsigned char out[AUTH_HASH_LEN]) {
    return PKCS5_PBKDF2_HMAC(password, (int)len, salt, AUTH_SALT_LEN, iterations, EVP_sha256(), AUTH_HASH_LEN, out) == 1
               ? 0
               : -1;
}

/* ---- database helpers: every statement with bound parameters ---- */

typedef struct {
    int found;
    unsigned char salt[AUTH_SALT_LEN], hash[AUTH_HASH_LEN];
    int iterations;
    int admin;
} user_row;

/* 0 with row->found set or not; -1 on a database error. */
static int load_user(auth_state *st, const char *name, user_row *row) {
    memset(row, 0, sizeof *row);
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT salt, hash, iterations, admin FROM users WHERE name = ?1", -1, &q, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q), ret = 0;
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_bytes(q, 0) == AUTH_SALT_LEN && sqlite3_column_bytes(q, 1) == AUTH_HASH_LEN) {
            memcpy(row->salt, sqlite3_column_blob(q, 0), AUTH_SALT_LEN);
            memcpy(row->hash, sqlite3_column_blob(q, 1), AUTH_HASH_LEN);
            row->iterations = sqlite3_column_int(q, 2);
            row->admin = sqlite3_column_int(q, 3) != 0;
            row->found = row->iterations > 0 && row->iterations <= AUTH_ITERATIONS_MAX;
        }
    } else if (rc != SQLITE_DONE) {
        ret = -1;
    }
    sqlite3_finalize(q);
    return ret;
}

/* Hashes password with a fresh salt into the row for name: inserts it
 * (insert = 1; SQLITE_CONSTRAINT when the name is taken) or updates it. */
static int store_password(auth_state *st, const char *name, const char *password, size_t len, int admin, int insert) {
    unsigned char salt[AUTH_SALT_LEN], hash[AUTH_HASH_LEN];
    if (RAND_bytes(salt, sizeof salt) != 1 || derive(password, len, salt, AUTH_ITERATIONS, hash) < 0) return SQLITE_ERROR;
    const char *sql = insert ? "INSERT INTO users (name, salt, hash, iterations, admin) VALUES (?1, ?2, ?3, ?4, ?5)"
                             : "UPDATE users SET salt = ?2, hash = ?3, iterations = ?4 WHERE name = ?1";
    sqlite3_stmt *q;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(q, 2, salt, sizeof salt, SQLITE_STATIC);
    sqlite3_bind_blob(q, 3, hash, sizeof hash, SQLITE_STATIC);
    sqlite3_bind_int(q, 4, AUTH_ITERATIONS);
    if (insert) sqlite3_bind_int(q, 5, admin ? 1 : 0);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    OPENSSL_cleanse(hash, sizeof hash);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* 1 when password is user's, 0 when not (or no such user), -1 on a
 * database error. An unknown user costs the same hashing as a known one. */
static int check_password(auth_state *st, const char *name, const char *password, size_t len) {
    static const unsigned char dummy_salt[AUTH_SALT_LEN] = {0};
    user_row row;
    if (load_user(st, name, &row) < 0) return -1;
    unsigned char hash[AUTH_HASH_LEN];
    if (derive(password, len, row.found ? row.salt : dummy_salt, row.found ? row.iterations : AUTH_ITERATIONS, hash) < 0)
        return -1;
    int same = CRYPTO_memcmp(hash, row.hash, AUTH_HASH_LEN) == 0;
    OPENSSL_cleanse(hash, sizeof hash);
    return row.found && same;
}

static int count_admins(auth_state *st) {
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM users WHERE admin != 0", -1, &q, NULL) != SQLITE_OK) return -1;
    int n = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int(q, 0) : -1;
    sqlite3_finalize(q);
    return n;
}

/* ---- params ---- */

/* The string member key of params, 1..max bytes; NULL with a -32602 in err
 * naming it. optional: a missing member is NULL without an error. */
static const char *param_string(json_t *params, const char *key, size_t max, int optional, size_t *len, jsonrpc_error *err) {
    json_t *v = json_object_get(params, key);
    if (!v) {
        if (!optional) jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params.%s is missing", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params.%s must be a string", key);
        return NULL;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n > max) {
        jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params.%s must be 1 to %zu bytes long", key, max);
        return NULL;
    }
    if (len) *len = n;
    return json_string_value(v);
}

/* params must be an object (absent: an empty one, for methods without params). */
static int params_object(json_t *params, int may_be_absent, const char *shape, jsonrpc_error *err) {
    if ((params == NULL && may_be_absent) || json_is_object(params)) return 0;
    jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params must be an object %s", shape);
    return -1;
}

static json_t *db_error(auth_state *st, jsonrpc_error *err) {
    return jsonrpc_set_error(err, JSONRPC_INTERNAL_ERROR, "internal error: database: %s", sqlite3_errmsg(st->db));
}

static auth_session *session(jsonrpc_client *c) { return c->state; }

/* The client's session, made on first use; NULL when out of memory. */
static auth_session *session_make(jsonrpc_client *c) {
    if (!c->state) c->state = calloc(1, sizeof(auth_session));
    return c->state;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Checks user's password under the connection's throttle: 1 right, 0 wrong,
 * -1 with err set (throttled, database error). */
static int throttled_check(auth_state *st, auth_session *s, const char *user, const char *password, size_t len,
                           jsonrpc_error *err) {
    double now = now_s();
    if (now < s->retry_at) {
        jsonrpc_set_error(err, AUTH_E_THROTTLED, "too many failed attempts: retry in %.0f s", s->retry_at - now + 0.5);
        return -1;
    }
    int ok = check_password(st, user, password, len);
    if (ok < 0) {
        db_error(st, err);
        return -1;
    }
    if (ok) {
        s->failures = 0;
        s->retry_at = 0;
    } else if (++s->failures >= AUTH_THROTTLE_AFTER) {
        unsigned shift = s->failures - AUTH_THROTTLE_AFTER;
        double wait = shift >= 6 ? AUTH_THROTTLE_MAX_S : (double)(1u << shift);
        s->retry_at = now_s() + (wait > AUTH_THROTTLE_MAX_S ? AUTH_THROTTLE_MAX_S : wait);
    }
    return ok;
}

/* The logged-in user's row, checked afresh (a removed user is logged out);
 * NULL name with err set when nobody (or a removed user) is logged in. */
static const char *logged_in(auth_state *st, jsonrpc_client *c, user_row *row, jsonrpc_error *err) {
    auth_session *s = session(c);
    if (!s || !s->user[0]) {
        jsonrpc_set_error(err, AUTH_E_NOT_LOGGED_IN, "not authenticated: call auth first");
        return NULL;
    }
    if (load_user(st, s->user, row) < 0) {
        db_error(st, err);
        return NULL;
    }
    if (!row->found) {
        s->user[0] = '\0';
        jsonrpc_set_error(err, AUTH_E_NOT_LOGGED_IN, "not authenticated: the user was removed");
        return NULL;
    }
    return s->user;
}

static const char *require_admin(auth_state *st, jsonrpc_client *c, const char *method, jsonrpc_error *err) {
    user_row row;
    const char *me = logged_in(st, c, &row, err);
    if (!me) return NULL;
    if (!row.admin) {
        jsonrpc_set_error(err, AUTH_E_FORBIDDEN, "permission denied: %s is for admins", method);
        return NULL;
    }
    return me;
}

/* ---- methods ---- */

static json_t *m_auth(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    auth_state *st = lib;
    size_t plen;
    if (params_object(params, 0, "{user, password}", err) < 0) return NULL;
    const char *user = param_string(params, "user", AUTH_USER_MAX, 0, NULL, err);
    if (!user) return NULL;
    const char *password = param_string(params, "password", AUTH_PASSWORD_MAX, 0, &plen, err);
    if (!password) return NULL;
    auth_session *s = session_make(c);
    if (!s) return jsonrpc_set_error(err, JSONRPC_INTERNAL_ERROR, "internal error: out of memory");
    s->user[0] = '\0'; /* any attempt logs out first */
    int ok = throttled_check(st, s, user, password, plen, err);
    if (ok < 0) return NULL;
    if (!ok) return jsonrpc_set_error(err, AUTH_E_FAILED, "authentication failed: wrong user or password");
    memcpy(s->user, user, strlen(user) + 1);
    return json_true();
}

static json_t *m_logout(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    (void)lib;
    if (params_object(params, 1, "{}", err) < 0) return NULL;
    if (session(c)) session(c)->user[0] = '\0';
    return json_true();
}

static json_t *m_whoami(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    if (params_object(params, 1, "{}", err) < 0) return NULL;
    user_row row;
    const char *me = logged_in(lib, c, &row, err);
    if (!me) {
        if (err->code != AUTH_E_NOT_LOGGED_IN) return NULL;
        err->code = 0;
        return json_null();
    }
    return json_pack("{s:s, s:b}", "user", me, "admin", row.admin);
}

static json_t *m_passwd(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    auth_state *st = lib;
    size_t olen, nlen;
    if (params_object(params, 0, "{user?, old, new}", err) < 0) return NULL;
    const char *user = param_string(params, "user", AUTH_USER_MAX, 1, NULL, err);
    if (!user && err->code) return NULL;
    const char *old = param_string(params, "old", AUTH_PASSWORD_MAX, 0, &olen, err);
    if (!old) return NULL;
    const char *new = param_string(params, "new", AUTH_PASSWORD_MAX, 0, &nlen, err);
    if (!new) return NULL;
    auth_session *s = session(c);
    if (!user) {
        if (!s || !s->user[0])
            return jsonrpc_set_error(err, AUTH_E_NOT_LOGGED_IN, "not authenticated: give params.user or call auth first");
        user = s->user;
    }
    if (!(s = session_make(c))) return jsonrpc_set_error(err, JSONRPC_INTERNAL_ERROR, "internal error: out of memory");
    int ok = throttled_check(st, s, user, old, olen, err);
    if (ok < 0) return NULL;
    if (!ok) return jsonrpc_set_error(err, AUTH_E_FAILED, "authentication failed: wrong user or password");
    if (store_password(st, user, new, nlen, 0, 0) != SQLITE_OK) return db_error(st, err);
    return json_true();
}

static json_t *m_adduser(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    auth_state *st = lib;
    size_t plen;
    if (params_object(params, 0, "{user, password, admin?}", err) < 0) return NULL;
    const char *user = param_string(params, "user", AUTH_USER_MAX, 0, NULL, err);
    if (!user) return NULL;
    const char *password = param_string(params, "password", AUTH_PASSWORD_MAX, 0, &plen, err);
    if (!password) return NULL;
    json_t *admin = json_object_get(params, "admin");
    if (admin && !json_is_boolean(admin))
        return jsonrpc_set_error(err, JSONRPC_INVALID_PARAMS, "params.admin must be true or false");
    if (!require_admin(st, c, "adduser", err)) return NULL;
    int rc = store_password(st, user, password, plen, json_is_true(admin), 1);
    if (rc == SQLITE_CONSTRAINT) return jsonrpc_set_error(err, AUTH_E_EXISTS, "user exists");
    if (rc != SQLITE_OK) return db_error(st, err);
    return json_true();
}

static json_t *m_rmuser(json_t *params, void *lib, jsonrpc_client *c, jsonrpc_error *err) {
    auth_state *st = lib;
    if (params_object(params, 0, "{user}", err) < 0) return NULL;
    const char *user = param_string(params, "user", AUTH_USER_MAX, 0, NULL, err);
    if (!user) return NULL;
    const char *me = require_admin(st, c, "rmuser", err);
    if (!me) return NULL;
    /* So that at least one admin always remains. */
    if (strcmp(me, user) == 0) return jsonrpc_set_error(err, AUTH_E_SELF, "an admin cannot remove themself");
    sqlite3_stmt *q;
    if (sqlite3_prepare_v2(st->db, "DELETE FROM users WHERE name = ?1", -1, &q, NULL) != SQLITE_OK) return db_error(st, err);
    sqlite3_bind_text(q, 1, user, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) return db_error(st, err);
    if (sqlite3_changes(st->db) == 0) return jsonrpc_set_error(err, AUTH_E_NO_USER, "no such user");
    return json_true();
}

/* ---- the library ---- */

static void auth_destroy(void *lib) {
    auth_state *st = lib;
    if (!st) return;
    sqlite3_close(st->db);
    free(st->path);
    free(st);
}

static int exec(auth_state *st, const char *sql, char *err, size_t errlen) {
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) == SQLITE_OK) return 0;
    errf(err, errlen, "auth: %s: %s", st->path, msg ? msg : sqlite3_errmsg(st->db));
    sqlite3_free(msg);
    return -1;
}

/* Creates the first admin from the environment when there is none. */
static int bootstrap_admin(auth_state *st, char *err, size_t errlen) {
    const char *password = getenv("AUTH_ADMIN_PASSWORD");
    const char *user = getenv("AUTH_ADMIN_USER");
    if (!user || !*user) user = "admin";
    int admins = count_admins(st), ret = 0;
    if (admins < 0) {
        errf(err, errlen, "auth: %s: %s", st->path, sqlite3_errmsg(st->db));
        return -1;
    }
    if (admins == 0 && password) {
        size_t ulen = strlen(user), plen = strlen(password);
        if (ulen > AUTH_USER_MAX || plen == 0 || plen > AUTH_PASSWORD_MAX) {
            errf(err, errlen, "auth: AUTH_ADMIN_USER must be 1 to %d bytes and AUTH_ADMIN_PASSWORD 1 to %d", AUTH_USER_MAX,
                 AUTH_PASSWORD_MAX);
            ret = -1;
        } else {
            int rc = store_password(st, user, password, plen, 1, 1);
            if (rc == SQLITE_CONSTRAINT) {
                errf(err, errlen, "auth: %s: AUTH_ADMIN_USER %s is an existing user who is not an admin", st->path, user);
                ret = -1;
            } else if (rc != SQLITE_OK) {
                errf(err, errlen, "auth: %s: cannot create the admin: %s", st->path, sqlite3_errmsg(st->db));
                ret = -1;
            }
        }
    } else if (admins == 0) {
        fprintf(stderr, "auth: %s holds no admin: adduser and rmuser are refused until one is made "
                        "(start once with AUTH_ADMIN_PASSWORD set)\n", st->path);
    }
    unsetenv("AUTH_ADMIN_PASSWORD");
    unsetenv("AUTH_ADMIN_USER");
    return ret;
}

static int auth_init(const char *config, void **lib, char *err, size_t errlen) {
    if (!config || !*config) {
        errf(err, errlen, "auth: -C <database file> is required");
        return -1;
    }
    auth_state *st = calloc(1, sizeof *st);
    if (!st || !(st->path = strdup(config))) {
        free(st);
        errf(err, errlen, "auth: out of memory");
        return -1;
    }
    int rc = sqlite3_open_v2(config, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        errf(err, errlen, "auth: cannot open the database %s: %s", config, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
        auth_destroy(st);
        return -1;
    }
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        errf(err, errlen, "auth: the database %s is not writable", config);
        auth_destroy(st);
        return -1;
    }
    sqlite3_busy_timeout(st->db, AUTH_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(st->db, 0);
    /* A write at every start, so that a database (or a directory, for the
     * journal) that cannot be written is reported now, not at the first adduser. */
    char sql[sizeof schema + 128];
    snprintf(sql, sizeof sql, "BEGIN IMMEDIATE; %s; PRAGMA user_version = %d; COMMIT", schema, AUTH_SCHEMA_VERSION);
    if (exec(st, sql, err, errlen) < 0) {
        int code = sqlite3_errcode(st->db);
        size_t n = strlen(err);
        if (code == SQLITE_READONLY || code == SQLITE_CANTOPEN || code == SQLITE_PERM || code == SQLITE_IOERR)
            snprintf(err + n, errlen - n, " (the database and its directory must be writable)");
        auth_destroy(st);
        return -1;
    }
    if (bootstrap_admin(st, err, errlen) < 0) {
        auth_destroy(st);
        return -1;
    }
    *lib = st;
    return 0;
}

static void auth_client_close(void *lib, jsonrpc_client *c) {
    (void)lib;
    free(c->state);
    c->state = NULL;
}

static const struct jsonrpc_method auth_methods[] = {
    {"auth", m_auth},       {"logout", m_logout}, {"whoami", m_whoami}, {"passwd", m_passwd},
    {"adduser", m_adduser}, {"rmuser", m_rmuser}, {NULL, NULL},
};

const struct jsonrpc_library jsonrpc_library = {
    .version = JSONRPC_LIBRARY_VERSION,
    .init = auth_init,
    .destroy = auth_destroy,
    .client_close = auth_client_close,
    .methods = auth_methods,
};
