// Package sqlstore implements store.Store over database/sql, on SQLite (the pure-Go driver
// modernc.org/sqlite) and on PostgreSQL (pgx v5 through its database/sql adapter).
//
// Every statement lives in queries.go and schema.go as portable SQL with `?` placeholders; the
// few differences between databases — placeholder style, how DDL spells byte-order text, how a
// serializable Update begins, the migration lock, which errors mean "retry" — are fields of a
// dialect (dialect.go).
//
// A file database ("sqlite:PATH") is opened with two connection pools: a writer with exactly
// one connection, whose transactions begin IMMEDIATE so that Update transactions are
// serializable (also across processes sharing the file), and a pool of query_only readers
// for View, which in WAL mode read a consistent snapshot without blocking the writer. A
// throwaway database ("memory") has a single connection used for both, on a temporary file that
// is unlinked as soon as it is open (memory.go).
//
// A PostgreSQL database ("postgres://..." or "postgresql://...") is one pool shared by Update
// and View, and may be shared by any number of server processes: an Update takes the advisory
// locks of its scope (a tenant's, or everything's) under READ COMMITTED, so Updates of
// different tenants run at once; Views read a REPEATABLE READ snapshot (postgres.go explains
// why this is serializable per scope without a leader).
//
// Updates that arrive while another of the same scope runs (any other, on SQLite) share the
// next transaction and its commit, each under its own savepoint (groupcommit.go); the
// durability (durability.go) decides whether a commit waits for the disk.
//
// The schema is created and upgraded at Open by an ordered list of migrations recorded in the
// schema_migrations table; then the statements are prepared once per pool (prepared.go). Times
// are stored as unix milliseconds in UTC. The package never panics on a database failure: every
// failure comes back as a wrapped error.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Connection settings of a file database.
const (
	busyTimeoutMs = 5000 // how long a connection waits for another's lock before SQLITE_BUSY
	readerConns   = 4    // size of the View pool
	maxAttempts   = 5    // Update runs fn at most this often when the dialect asks to retry
)

// errReadOnly is returned by every write attempted through the Tx of a View.
var errReadOnly = errors.New("sqlstore: write through a read-only (View) transaction")

// Store is a store.Store backed by a SQL database. It holds no state of its own besides its
// connection pools, so several processes may share one database file.
type Store struct {
	kind   string
	d      *dialect
	writer *sql.DB // Update; exactly one connection for SQLite
	reader *sql.DB // View; the same pool as writer in memory and PostgreSQL mode
	// beginAttempts bounds how often a begin is tried when the dialect reports its connection
	// lost (one more than the pool size: every pooled connection may be dead); 0 means once.
	beginAttempts int
	// writeStmts and readStmts are the statements prepared on writer and reader at Open, keyed
	// by their portable text (see prepared.go); the same map when the pools are one.
	writeStmts, readStmts statements
	// groups queue concurrent Updates into shared transactions (groupcommit.go).
	groups groups
	// obs is told of batches and failed steps (observer.go); never nil.
	obs Observer
}

var _ store.Store = (*Store)(nil)

// Open opens the store named by dsn and brings its schema up to date:
//
//   - "sqlite:PATH": a SQLite database file, created if missing (its directory must exist);
//   - "memory": a fresh private SQLite database on an unlinked temporary file, lost on Close;
//   - "postgres://USER@HOST:PORT/DB?PARAMS" (or "postgresql://"): a PostgreSQL database that
//     must exist; the store lives in the first existing schema of its search_path (a server
//     setting that may be given in PARAMS, like any other). PARAMS may also set pool_max_conns
//     (default 16) and pgx's own parameters (sslmode, connect_timeout, ...).
//
// opts set the durability (WithDurability) and an Observer (WithObserver); the memory store refuses DurabilityFsync, since it
// keeps nothing.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o, err := openOptions(opts)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	var s *Store
	switch {
	case dsn == "memory":
		if o.durability != DurabilityProcess {
			return nil, fmt.Errorf("open memory store: durability %s needs a store on disk (sqlite:PATH or postgres://...); the memory store keeps nothing", o.durability)
		}
		s, err = openMemory(ctx)
	case strings.HasPrefix(dsn, "sqlite:") && len(dsn) > len("sqlite:"):
		s, err = openFile(ctx, strings.TrimPrefix(dsn, "sqlite:"), o.durability)
	case isPostgresDSN(dsn):
		s, err = openPostgres(ctx, dsn, o.durability)
	default:
		return nil, fmt.Errorf("unsupported store %q: use sqlite:PATH, memory or postgres://USER@HOST:PORT/DB", RedactDSN(dsn))
	}
	if err != nil {
		return nil, err
	}
	s.obs = o.observer
	return s, nil
}

// RedactDSN returns dsn with the user information of a URL-shaped DSN (which may hold a
// password) replaced by "xxxxx", even when it does not parse, for messages and logs.
func RedactDSN(dsn string) string {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok {
		return dsn
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return scheme + "://xxxxx" + rest[at:]
	}
	return dsn
}

// openFile opens the writer, migrates, then opens the readers. The writer syncs as durability
// says; readers never write.
func openFile(ctx context.Context, path string, durability Durability) (*Store, error) {
	writer, err := openPool(ctx, sqliteURI(path, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMs)},
		"_journal_mode": {"WAL"},
		"_synchronous":  {durability.sqliteSynchronous()},
		"_txlock":       {"immediate"},
	}), 1)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: writer: %w", path, err)
	}
	if err := migrate(ctx, writer, sqliteDialect); err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), writer.Close())
	}
	reader, err := openPool(ctx, sqliteURI(path, url.Values{
		"_busy_timeout": {fmt.Sprint(busyTimeoutMs)},
		"_synchronous":  {"NORMAL"},
		"_query_only":   {"1"},
	}), readerConns)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: readers: %w", path, err), writer.Close())
	}
	s := &Store{kind: "sqlite", d: sqliteDialect, writer: writer, reader: reader, obs: noObserver{}}
	if s.writeStmts, err = prepareStatements(ctx, writer, sqliteDialect, false); err == nil {
		s.readStmts, err = prepareStatements(ctx, reader, sqliteDialect, true)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open sqlite store %s: %w", path, err), s.Close())
	}
	return s, nil
}

// openPool opens a pool of at most conns connections and checks that one can be made.
func openPool(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open(sqliteDialect.name, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return db, nil
}

// sqliteURI builds a file: URI for path with the driver parameters in params. The path is
// percent-escaped where a URI would misread it.
func sqliteURI(path string, params url.Values) string {
	escaped := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + escaped + "?" + params.Encode()
}

// Kind returns "sqlite" for a file database, "memory" for a throwaway one and "postgres".
func (s *Store) Kind() string { return s.kind }

// Close closes the prepared statements and the connection pools. The Store must not be used
// afterwards.
func (s *Store) Close() error {
	errs := []error{s.writeStmts.close()}
	if s.reader != s.writer {
		errs = append(errs, s.readStmts.close())
		if err := s.reader.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s store readers: %w", s.kind, err))
		}
	}
	if err := s.writer.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close %s store writer: %w", s.kind, err))
	}
	return errors.Join(errs...)
}

// begin begins a transaction, trying again on another connection while the dialect reports
// that the connection it got was dead (nothing has run on it yet, so this is always safe).
func (s *Store) begin(ctx context.Context, db *sql.DB, opts *sql.TxOptions) (*sql.Tx, error) {
	for attempt := 1; ; attempt++ {
		tx, err := db.BeginTx(ctx, opts)
		if err == nil || s.d.connLost == nil || attempt >= s.beginAttempts || ctx.Err() != nil || !s.d.connLost(err) {
			return tx, err
		}
	}
}

// Update runs fn in a serializable read-write transaction and returns once what fn wrote is
// committed. If fn fails (or panics), what it wrote is rolled back and its error is returned
// unchanged (or its panic raised again). Backend failures are wrapped. Updates that arrive while
// another runs share one transaction and one commit (groupcommit.go). fn may run again if the
// dialect reports a serialization failure.
//
// fn must not call View or Update itself: the memory store has one connection, and every store
// runs the functions of concurrent Updates one at a time.
func (s *Store) Update(ctx context.Context, scope store.Scope, fn func(store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.update(ctx, scope, fn)
		if err == nil || s.d.retryable == nil || attempt >= maxAttempts || !s.d.retryable(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
	}
}

// View runs fn in a read-only transaction that sees one consistent snapshot. Every write
// through its Tx fails.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	return s.run(ctx, true, store.Scope{}, fn)
}

// run is one transaction of View, or of an Update of scope.
func (s *Store) run(ctx context.Context, readOnly bool, scope store.Scope, fn func(store.Tx) error) error {
	what := "update"
	if readOnly {
		what = "view"
	}
	var (
		open txn
		err  error
	)
	if readOnly {
		open, err = s.beginView(ctx)
	} else {
		open, err = s.beginUpdate(ctx, scope)
	}
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done { // fn panicked: do not leave the connection inside a transaction
			_ = open.Rollback()
		}
	}()
	stmts := s.writeStmts
	if readOnly {
		stmts = s.readStmts
	}
	t := &tx{ctx: ctx, q: open, d: s.d, stmts: stmts, readOnly: readOnly}
	if err := fn(t); err != nil {
		done = true
		_ = open.Rollback() // fn's error is the one that matters
		return err
	}
	done = true
	if err := open.Commit(); err != nil {
		s.obs.Failure(StepCommit)
		return fmt.Errorf("%s store: commit %s: %w", s.kind, what, err)
	}
	return nil
}

// txn is an open transaction: a *sql.Tx, or a PostgreSQL Update's transaction begun by hand on
// one connection (postgres.go).
type txn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	Commit() error
	Rollback() error
}

// beginView begins the transaction of a View.
func (s *Store) beginView(ctx context.Context) (txn, error) {
	if s.d.beginView != nil {
		open, err := s.d.beginView(ctx, s.reader, s.beginAttempts)
		if err != nil {
			s.obs.Failure(StepBegin)
			return nil, fmt.Errorf("%s store: begin view: %w", s.kind, err)
		}
		return open, nil
	}
	sqlTx, err := s.begin(ctx, s.reader, s.d.readTx)
	if err != nil {
		s.obs.Failure(StepBegin)
		return nil, fmt.Errorf("%s store: begin view: %w", s.kind, err)
	}
	return sqlTx, nil
}

// beginUpdate begins the transaction of an Update of scope, holding the scope's locks when the
// dialect has them (PostgreSQL: both in one round trip).
func (s *Store) beginUpdate(ctx context.Context, scope store.Scope) (txn, error) {
	if s.d.beginUpdate != nil {
		open, err := s.d.beginUpdate(ctx, s.writer, scope, s.beginAttempts)
		if err != nil {
			s.obs.Failure(StepLock)
			return nil, fmt.Errorf("%s store: begin update and take the locks of %s: %w", s.kind, scope.Key(), err)
		}
		return open, nil
	}
	sqlTx, err := s.begin(ctx, s.writer, s.d.writeTx)
	if err != nil {
		s.obs.Failure(StepBegin)
		return nil, fmt.Errorf("%s store: begin update: %w", s.kind, err)
	}
	return sqlTx, nil
}
