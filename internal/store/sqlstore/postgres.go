package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL.
//
// Several stateless server processes (replicas) may share one PostgreSQL database; nothing
// elects a leader. Every Update begins under READ COMMITTED and, as its first statement, takes
// the advisory transaction locks of its scope (store.Scope), all keyed by the store's schema:
//
//	BEGIN ISOLATION LEVEL READ COMMITTED;
//	SELECT pg_advisory_xact_lock_shared(<everything>), pg_advisory_xact_lock(<tenant>);
//	... fn's statements ...   -- each sees every earlier commit
//	COMMIT;                   -- releases the locks
//
// An Update of one tenant (an account in a region) holds the lock on everything in shared mode
// and its tenant's lock exclusively; one of several tenants (a region copy, a cluster made from
// another account's backup) takes their locks one by one in ascending key order, so two such
// Updates never wait for each other in a cycle; an Update of Everything (moving the clock,
// Reset, imports) holds the lock on everything exclusively. So Updates of the same tenant are
// serial across all replicas, Updates of different tenants run at once, and an Update of
// Everything runs alone.
//
// Because READ COMMITTED takes a new snapshot for each statement, every statement after the
// locks sees everything committed before they were granted (PostgreSQL makes a commit visible
// before it releases the committing transaction's locks): fn observes the latest state of its
// tenants and nothing changes it before the commit, which makes Update serializable per scope.
// (REPEATABLE READ or SERIALIZABLE would be wrong here: their snapshot could be taken before
// the lock is granted and be stale.) This is what the lifecycle needs: an Update settles the
// due transitions of its own scope first, so a daily backup or an expiry is applied by exactly
// one writer, the one holding the tenant's lock. A writer that dies releases its locks with
// its session; one that hangs inside a transaction is cut off by
// idle_in_transaction_session_timeout (set unless the DSN sets it).
//
// A View is REPEATABLE READ, READ ONLY: one consistent snapshot, no lock, so reads run in
// parallel with each other and with the writers.
//
// Lock keys are hashes of the schema the store lives in (current_schema(), from the DSN's
// search_path) and of the tenant, so stores in different schemas of one database do not wait
// for each other; two tenants whose keys collide merely share a lock. Migrations take another
// advisory lock, then re-check the applied version.

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
	d.beginLocked = advisoryLocks{schema: schema, everything: lockKey("write", schema), connLost: postgresConnLost}.begin
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

// advisoryLocks are the write locks of the stores in one schema (see the top of this file).
type advisoryLocks struct {
	schema     string
	everything int64            // the key of the lock on everything
	connLost   func(error) bool // whether a failed begin found its connection dead
}

// lockStatements returns the statements that take the locks of an Update of scope: the lock
// on everything, exclusive for Everything and shared otherwise, then each tenant's lock in
// ascending key order. The keys are numbers the store computed, so they are written into
// the text, which lets BEGIN and the locks go to the server as one simple query.
func (l advisoryLocks) lockStatements(scope store.Scope) []string {
	if scope.All() {
		return []string{fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", l.everything)}
	}
	stmts := []string{fmt.Sprintf("SELECT pg_advisory_xact_lock_shared(%d)", l.everything)}
	for _, k := range l.tenantKeys(scope) {
		stmts = append(stmts, fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", k))
	}
	return stmts
}

// begin begins an Update of scope on a connection of db and takes its locks, in one round
// trip: a simple query (pgx sends a text without arguments as one) of several statements,
// which the server runs in order. If the connection turns out dead, it tries another, up to
// attempts in all: nothing has run yet.
func (l advisoryLocks) begin(ctx context.Context, db *sql.DB, scope store.Scope, attempts int) (txn, error) {
	text := "BEGIN ISOLATION LEVEL READ COMMITTED; " + strings.Join(l.lockStatements(scope), "; ")
	for attempt := 1; ; attempt++ {
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		t := &connTxn{ctx: ctx, conn: conn}
		if err = t.exec(text); err == nil {
			return t, nil
		}
		t.discard()
		if attempt >= attempts || ctx.Err() != nil || !l.connLost(err) {
			return nil, err
		}
	}
}

// connTxn is a transaction begun by hand on one pooled connection: database/sql does not know
// of it, so it ends it itself and returns the connection to the pool only when the connection
// is outside any transaction; on any doubt the connection is closed instead.
type connTxn struct {
	ctx  context.Context
	conn *sql.Conn
}

var _ txn = (*connTxn)(nil)

// ExecContext runs a statement in the transaction.
func (t *connTxn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.conn.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction.
func (t *connTxn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.conn.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a single-row query in the transaction.
func (t *connTxn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.conn.QueryRowContext(ctx, query, args...)
}

// errCommitRolledBack: PostgreSQL answered COMMIT with ROLLBACK, because a statement of the
// transaction had failed.
var errCommitRolledBack = errors.New("the transaction was rolled back: one of its statements had failed")

// Commit commits the transaction and returns the connection to the pool.
func (t *connTxn) Commit() error {
	var tag pgconn.CommandTag
	err := t.conn.Raw(func(dc any) error {
		var err error
		tag, err = dc.(*stdlib.Conn).Conn().Exec(context.WithoutCancel(t.ctx), "COMMIT")
		return err
	})
	if err == nil && tag.String() != "COMMIT" {
		err = errCommitRolledBack
	}
	if err != nil {
		t.discard()
		return err
	}
	return t.conn.Close()
}

// Rollback rolls the transaction back and returns the connection to the pool.
func (t *connTxn) Rollback() error {
	if err := t.exec("ROLLBACK"); err != nil {
		t.discard()
		return err
	}
	return t.conn.Close()
}

// exec runs text as one simple query on the connection (several statements may be sent at
// once).
func (t *connTxn) exec(text string) error {
	return t.conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().Exec(t.ctx, text)
		return err
	})
}

// discard closes the connection rather than return it to the pool, whatever state it is in.
func (t *connTxn) discard() {
	_ = t.conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = t.conn.Close()
}

// tenantKeys returns the lock keys of scope's tenants in ascending order, without
// duplicates: the canonical order every Update takes them in.
func (l advisoryLocks) tenantKeys(scope store.Scope) []int64 {
	tenants := scope.List()
	keys := make([]int64, len(tenants))
	for i, t := range tenants {
		keys[i] = lockKey("tenant\x00"+t.Account+"\x00"+t.Region, l.schema)
	}
	slices.Sort(keys)
	return slices.Compact(keys)
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
