package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL.
//
// Several stateless server processes (replicas) may share one PostgreSQL database; nothing
// elects a leader. Every Update begins under READ COMMITTED and, as its first statement, takes a
// transaction-level advisory lock that all writers of the schema share:
//
//	BEGIN ISOLATION LEVEL READ COMMITTED;
//	SELECT pg_advisory_xact_lock(<key of the schema>);  -- waits for the writer before
//	... fn's statements ...                              -- each sees every earlier commit
//	COMMIT;                                              -- releases the lock
//
// Writers are therefore serial across all replicas, and because READ COMMITTED takes a new
// snapshot for each statement, every statement after the lock sees everything committed before
// the lock was granted: fn observes the latest state and nothing changes it before the commit,
// which makes Update serializable. (REPEATABLE READ or SERIALIZABLE would be wrong here: their
// snapshot could be taken before the lock is granted and be stale.) This is what the lifecycle
// needs: every Update settles due transitions first, so all writers touch the same rows, and a
// daily backup or an expiry is applied by exactly one of them. A writer that dies releases the
// lock with its session; one that hangs inside a transaction is cut off by
// idle_in_transaction_session_timeout (set unless the DSN sets it).
//
// A View is REPEATABLE READ, READ ONLY: one consistent snapshot, no lock, so reads run in
// parallel with each other and with the writer.
//
// The key of the lock is a hash of the schema the store lives in (current_schema(), from the
// DSN's search_path), so stores in different schemas of one database do not wait for each
// other. Migrations take another advisory lock, then re-check the applied version.

// Connection settings of a PostgreSQL store.
const (
	postgresConns          = 16              // pool size unless the DSN sets pool_max_conns
	postgresConnectTimeout = 5 * time.Second // unless the DSN sets connect_timeout
	postgresIdleInTx       = "60000"         // idle_in_transaction_session_timeout, ms
	postgresConnMaxIdle    = 5 * time.Minute
	postgresConnMaxLife    = 30 * time.Minute
	// poolMaxConnsParam is the DSN parameter that sizes the pool (the name pgxpool uses). It
	// is removed from the DSN before it reaches the server.
	poolMaxConnsParam = "pool_max_conns"
)

// postgresDialect is PostgreSQL through pgx v5's database/sql adapter. Open copies it and sets
// the two lock statements, which name the store's schema.
var postgresDialect = &dialect{
	name:      "postgres",
	dollar:    true,
	ddl:       byteOrderText,
	writeTx:   &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	readTx:    &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
	retryable: postgresRetryable,
	connLost:  postgresConnLost,
	inList:    func(col string) string { return col + " = ANY(?)" },
	listArg:   func(values []string) any { return values }, // pgx sends a []string as text[]
	backupTags: `(SELECT json_agg(json_build_array(tag_key, tag_value) ORDER BY tag_key)::text
	FROM tags WHERE resource_id = backups.id)`,
}

// isPostgresDSN reports whether dsn names a PostgreSQL database.
func isPostgresDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openPostgres connects to the database of a postgres:// or postgresql:// URL, checks that its
// search_path names an existing schema, and migrates that schema.
func openPostgres(ctx context.Context, dsn string, durability Durability) (*Store, error) {
	cfg, conns, err := parsePostgresDSN(dsn, durability)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	where := fmt.Sprintf("postgres store %s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
	// OpenDB uses the parsed configuration directly: no driver name, no registration.
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	db.SetConnMaxIdleTime(postgresConnMaxIdle)
	db.SetConnMaxLifetime(postgresConnMaxLife)

	var schema string
	if err := db.QueryRowContext(ctx, "SELECT coalesce(current_schema(), '')").Scan(&schema); err != nil {
		return nil, errors.Join(fmt.Errorf("open %s: %w", where, err), db.Close())
	}
	if schema == "" {
		return nil, errors.Join(fmt.Errorf("open %s: its search_path names no existing schema (create it, or set search_path in the DSN)", where), db.Close())
	}
	d := *postgresDialect
	d.writeLock = fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockKey("write", schema))
	d.migrationLock = fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", lockKey("migrate", schema))
	if err := migrate(ctx, db, &d); err != nil {
		return nil, errors.Join(fmt.Errorf("open %s, schema %s: %w", where, schema, err), db.Close())
	}
	// No statements are prepared through database/sql: pgx already prepares each statement text
	// once per connection and caches it (QueryExecModeCacheStatement), and preparing all of them
	// at Open measured ≈ 30 ms more per start for no faster request.
	return &Store{kind: "postgres", d: &d, writer: db, reader: db, beginAttempts: conns + 1, obs: noObserver{}}, nil
}

// parsePostgresDSN parses a PostgreSQL URL with pgx, taking out pool_max_conns, and fills in
// the defaults the DSN does not set: connect_timeout, idle_in_transaction_session_timeout,
// application_name, and synchronous_commit from durability. Every other parameter is pgx's
// (sslmode, ...) or a server setting (search_path, ...).
func parsePostgresDSN(dsn string, durability Durability) (*pgx.ConnConfig, int, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, 0, fmt.Errorf("parse DSN: %w", redactURLError(err))
	}
	conns := postgresConns
	if q := u.Query(); q.Has(poolMaxConnsParam) {
		n, err := strconv.Atoi(q.Get(poolMaxConnsParam))
		if err != nil || n < 1 {
			return nil, 0, fmt.Errorf("%s=%q: want a positive integer", poolMaxConnsParam, q.Get(poolMaxConnsParam))
		}
		conns = n
		q.Del(poolMaxConnsParam)
		u.RawQuery = q.Encode()
	}
	connectTimeoutSet := u.Query().Has("connect_timeout")
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		// pgx's parse errors do not repeat the password.
		return nil, 0, fmt.Errorf("parse DSN: %w", err)
	}
	if !connectTimeoutSet && cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = postgresConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["idle_in_transaction_session_timeout"]; !ok {
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = postgresIdleInTx
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "cloudhsm-local"
	}
	sync, err := durability.postgresSynchronousCommit(cfg.RuntimeParams["synchronous_commit"])
	if err != nil {
		return nil, 0, err
	}
	cfg.RuntimeParams["synchronous_commit"] = sync
	return cfg, conns, nil
}

// redactURLError drops the URL (which may hold a password) from a url.Parse error.
func redactURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// lockKey is the advisory lock key for a purpose ("write", "migrate") in a schema.
func lockKey(purpose, schema string) int64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, "cloudhsm-local\x00"+purpose+"\x00"+schema)
	return int64(h.Sum64())
}

// postgresRetryable: serialization_failure and deadlock_detected. Update's advisory lock
// should make both impossible; retrying them is harmless.
func postgresRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// postgresConnLost reports whether a begin failed because its pooled connection was dead: the
// server had ended the session (a FATAL error such as 57P01 after pg_terminate_backend or a
// restart) or the socket was gone. A failure to connect is not: trying again at once would
// not help.
func postgresConnLost(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Severity == "FATAL" || pe.Severity == "PANIC"
	}
	return pgconn.SafeToRetry(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
