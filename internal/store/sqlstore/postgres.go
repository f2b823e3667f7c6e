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
	locks := advisoryLocks{schema: schema, everything: lockKey("write", schema), connLost: postgresConnLost}
	d.beginUpdate, d.beginView = locks.beginUpdate, locks.beginView
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

// statement is one SQL statement with its arguments.
type statement struct {
	text string
	args []any
}

// Statements that begin a transaction by hand.
var (
	beginWrite = statement{text: "BEGIN ISOLATION LEVEL READ COMMITTED"}
	beginRead  = statement{text: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"}
)

// beginStatements returns the statements that begin an Update of scope and take its locks:
// BEGIN, the lock on everything (exclusive for Everything, shared otherwise), then each
// tenant's lock in ascending key order. Their texts are constant, so each is prepared once per
// connection whatever the tenant.
func (l advisoryLocks) beginStatements(scope store.Scope) []statement {
	if scope.All() {
		return []statement{beginWrite, {text: "SELECT pg_advisory_xact_lock($1)", args: []any{l.everything}}}
	}
	stmts := []statement{beginWrite, {text: "SELECT pg_advisory_xact_lock_shared($1)", args: []any{l.everything}}}
	for _, k := range l.tenantKeys(scope) {
		stmts = append(stmts, statement{text: "SELECT pg_advisory_xact_lock($1)", args: []any{k}})
	}
	return stmts
}

// beginUpdate begins an Update of scope by hand (connTxn): its BEGIN and locks go to the
// server with its first statement.
func (l advisoryLocks) beginUpdate(ctx context.Context, db *sql.DB, scope store.Scope, attempts int) (txn, error) {
	return beginConnTxn(ctx, db, l.beginStatements(scope), attempts, l.connLost)
}

// beginView begins a View by hand (connTxn): its BEGIN goes to the server with its first
// statement.
func (l advisoryLocks) beginView(ctx context.Context, db *sql.DB, attempts int) (txn, error) {
	return beginConnTxn(ctx, db, []statement{beginRead}, attempts, l.connLost)
}

// connTxn is a transaction begun by hand on one pooled connection, so that its BEGIN (and the
// Update's locks) cost no round trip of their own: they are sent in one pipeline with its first
// query that reads rows through readRows — every transaction's first, the agenda (Tx.Agenda) —
// or, before any other first statement, on their own. The server runs a pipeline in order, so
// the query's snapshot is taken after the locks are granted. database/sql does not know of the
// transaction: connTxn ends it itself and returns the connection to the pool only outside any
// transaction; on any doubt the connection is closed instead.
type connTxn struct {
	ctx      context.Context
	db       *sql.DB
	conn     *sql.Conn
	begin    []statement      // not yet sent; nil once the transaction has begun
	attempts int              // connections to try in all while the one in hand is dead
	connLost func(error) bool // whether a failure found the connection dead
	dead     bool             // the transaction failed to begin and its connection is closed
}

var (
	_ txn       = (*connTxn)(nil)
	_ rowReader = (*connTxn)(nil)
)

// beginConnTxn takes a connection from db for a transaction that begin will begin.
func beginConnTxn(ctx context.Context, db *sql.DB, begin []statement, attempts int, connLost func(error) bool) (*connTxn, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	return &connTxn{ctx: ctx, db: db, conn: conn, begin: begin, attempts: attempts, connLost: connLost}, nil
}

// pipeline sends the begin statements, then q (if q.text is set) and calls row with each row
// of q (or, if row is nil, runs q as a statement and reports how many rows it changed), all in
// one round trip. While nothing of the transaction has reached the server, a
// connection found dead is replaced and the pipeline sent again on the new one.
func (t *connTxn) pipeline(ctx context.Context, q statement, row func(scan func(dest ...any) error) error) (affected int64, err error) {
	for attempt := 1; ; attempt++ {
		delivered := false
		affected = 0
		err = t.conn.Raw(func(dc any) error {
			var b pgx.Batch
			for _, st := range t.begin {
				b.Queue(st.text, st.args...)
			}
			if q.text != "" {
				b.Queue(q.text, q.args...)
			}
			br := dc.(*stdlib.Conn).Conn().SendBatch(ctx, &b)
			for range t.begin {
				if _, err := br.Exec(); err != nil {
					return errors.Join(err, br.Close())
				}
			}
			if q.text != "" && row == nil {
				tag, err := br.Exec()
				if err != nil {
					return errors.Join(err, br.Close())
				}
				affected = tag.RowsAffected()
			} else if q.text != "" {
				rows, err := br.Query()
				if err != nil {
					return errors.Join(err, br.Close())
				}
				for rows.Next() {
					delivered = true
					if err := row(rows.Scan); err != nil {
						rows.Close()
						return errors.Join(err, br.Close())
					}
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return errors.Join(err, br.Close())
				}
			}
			return br.Close()
		})
		if err == nil {
			t.begin = nil
			return affected, nil
		}
		if len(t.begin) == 0 {
			return 0, err // a failed statement of a transaction under way: the caller rolls back
		}
		// The transaction may have begun, and failed, or not begun at all: the connection is
		// in no state to reuse.
		t.discard()
		if delivered || attempt >= t.attempts || ctx.Err() != nil || !t.connLost(err) {
			t.begin, t.dead = nil, true
			return 0, err
		}
		// The connection was dead, so the transaction had not begun: nothing is lost by
		// beginning it on another connection.
		if t.conn, err = t.db.Conn(ctx); err != nil {
			t.begin, t.dead = nil, true
			return 0, err
		}
	}
}

// flush sends the begin statements if they are still pending.
func (t *connTxn) flush(ctx context.Context) error {
	if len(t.begin) == 0 {
		return nil
	}
	_, err := t.pipeline(ctx, statement{}, nil)
	return err
}

// readRows runs a query in the transaction (with the begin statements, if still pending) and
// calls row with each row's scanner.
func (t *connTxn) readRows(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	_, err := t.pipeline(ctx, statement{text: query, args: args}, row)
	return err
}

// ExecContext runs a statement in the transaction: while the begin statements are pending, in
// one pipeline with them (unless query holds several statements, which a pipeline cannot
// carry as one).
func (t *connTxn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if len(t.begin) > 0 && !strings.Contains(query, ";") {
		n, err := t.pipeline(ctx, statement{text: query, args: args}, nil)
		if err != nil {
			return nil, err
		}
		return driver.RowsAffected(n), nil
	}
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction.
func (t *connTxn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	return t.conn.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a single-row query in the transaction. If the transaction cannot
// begin, the connection is closed, and the row reports sql.ErrConnDone.
func (t *connTxn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := t.flush(ctx); err != nil {
		t.discard()
	}
	return t.conn.QueryRowContext(ctx, query, args...)
}

// errNotBegun: the transaction never began, so there is nothing to commit.
var errNotBegun = errors.New("the transaction could not begin")

// errCommitRolledBack: PostgreSQL answered COMMIT with ROLLBACK, because a statement of the
// transaction had failed.
var errCommitRolledBack = errors.New("the transaction was rolled back: one of its statements had failed")

// Commit commits the transaction and returns the connection to the pool. A transaction that
// never reached the server has nothing to commit.
func (t *connTxn) Commit() error {
	if t.dead {
		return errNotBegun
	}
	if len(t.begin) > 0 {
		return t.conn.Close()
	}
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
	if t.dead {
		return nil
	}
	if len(t.begin) > 0 {
		return t.conn.Close()
	}
	err := t.conn.Raw(func(dc any) error {
		_, err := dc.(*stdlib.Conn).Conn().Exec(context.WithoutCancel(t.ctx), "ROLLBACK")
		return err
	})
	if err != nil {
		t.discard()
		return err
	}
	return t.conn.Close()
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
