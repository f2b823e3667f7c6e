// Package pgtest gives tests a private place on the PostgreSQL server that this machine and CI
// provide: a fresh schema, and for tests that cut connections off a fresh role owning it, each
// dropped when the test ends, so runs never collide. (Not a database per test: dropping a
// database makes PostgreSQL 15 checkpoint, which takes seconds on a busy machine and slows
// every other test using the server.)
//
// The server is named by the environment variable CLOUDHSM_LOCAL_TEST_POSTGRES, default
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable; the role must be allowed to create
// schemas and roles. When the server cannot be reached the test fails: PostgreSQL tests
// never skip, so CI cannot pass without running them.
//
// It is for tests only and must never be imported by the server.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// Where the test server is.
const (
	EnvDSN     = "CLOUDHSM_LOCAL_TEST_POSTGRES"
	DefaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// Server is a connection to the test server, for administration.
type Server struct {
	// DB is a small pool on the server's base database.
	DB       *sql.DB
	base     *url.URL
	database string // the base database's name
}

// Connect connects to the test server and closes the connection when the test ends. It fails
// the test with a message saying how to point it elsewhere when the server is unreachable.
func Connect(t testing.TB) *Server {
	t.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn == "" {
		dsn = DefaultDSN
	}
	base, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s is not a postgres:// URL: %v", EnvDSN, err)
	}
	db, err := open(base.String())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		t.Fatalf("PostgreSQL is not reachable at %s: %v\n"+
			"These tests need a PostgreSQL server and never skip. Start one, or set %s to the URL of one "+
			"(a role that may create schemas and roles).", base.Redacted(), err, EnvDSN)
	}
	db.SetMaxOpenConns(8)
	t.Cleanup(func() { db.Close() })
	var name string
	if err := db.QueryRow("SELECT current_database()").Scan(&name); err != nil {
		t.Fatalf("PostgreSQL at %s: %v", base.Redacted(), err)
	}
	return &Server{DB: db, base: base, database: name}
}

// open opens a pool on dsn through pgx, without the driver registry.
func open(dsn string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	return stdlib.OpenDB(*cfg), nil
}

// Open opens a small pool on dsn (for example a Place's DSN with another application_name)
// and closes it when the test ends.
func Open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := open(dsn)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	db.SetMaxOpenConns(4)
	t.Cleanup(func() { db.Close() })
	return db
}

// Place is a fresh schema of one test, maybe with a role of its own.
type Place struct {
	// Name is the schema's name, and the role's when there is one.
	Name string
	// App is the application_name of every connection made through DSN, so that a test can
	// find (and terminate) exactly its own backends.
	App string
	// Database is the database the schema is in.
	Database string
	dsn      *url.URL
}

// DSN returns the place's URL, with extra query parameters given as key, value pairs (for
// example "pool_max_conns", "8").
func (p Place) DSN(kv ...string) string {
	u := *p.dsn
	q := u.Query()
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Schema creates a fresh empty schema in the base database and drops it, with everything in
// it, when the test ends (after the cleanups registered later, such as closing stores). Its
// DSN sets search_path to the schema.
func (s *Server) Schema(t testing.TB) Place {
	t.Helper()
	p, err := s.createSchema(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.dropSchema(p); err != nil {
			t.Error(err)
		}
	})
	return p
}

// Prefetch hands out fresh schemas to the subtests of t, each already made ready by prepare
// (for example: a store opened on it, which has run its migrations and holds a connection),
// because creating a schema's tables and connecting take PostgreSQL a few hundred
// milliseconds. workers schemas are prepared ahead of need, in the background. Each schema is
// handed out once, with what prepare returned; the subtest owns that (closes it). When t
// ends, release gets what was prepared but never handed out, and every schema is dropped.
func Prefetch[T any](t testing.TB, s *Server, workers int, prepare func(context.Context, Place) (T, error), release func(T)) (next func(testing.TB) T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type made struct {
		v   T
		err error
	}
	ready := make(chan made, workers)
	var mu sync.Mutex
	var created []Place
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				var m made
				p, err := s.createSchema(ctx)
				if err == nil {
					mu.Lock()
					created = append(created, p)
					mu.Unlock()
					if m.v, err = prepare(ctx, p); err != nil {
						err = fmt.Errorf("prepare schema %s: %w", p.Name, err)
					}
				}
				m.err = err
				select {
				case ready <- m:
				case <-ctx.Done():
					if m.err == nil {
						release(m.v)
					}
				}
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		close(ready)
		for m := range ready {
			if m.err == nil {
				release(m.v)
			}
		}
		var dropping sync.WaitGroup
		sem := make(chan struct{}, 4)
		for _, p := range created {
			sem <- struct{}{}
			dropping.Go(func() {
				defer func() { <-sem }()
				if err := s.dropSchema(p); err != nil {
					t.Error(err)
				}
			})
		}
		dropping.Wait()
	})
	return func(t testing.TB) T {
		t.Helper()
		m := <-ready
		if m.err != nil {
			t.Fatal(m.err)
		}
		return m.v
	}
}

// createSchema creates a schema with a random name.
func (s *Server) createSchema(ctx context.Context) (Place, error) {
	name, err := randomName()
	if err != nil {
		return Place{}, err
	}
	if _, err := s.DB.ExecContext(ctx, "CREATE SCHEMA "+name); err != nil {
		return Place{}, fmt.Errorf("create schema %s: %w", name, err)
	}
	u := *s.base
	q := u.Query()
	q.Set("search_path", name)
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	return Place{Name: name, App: name, Database: s.database, dsn: &u}, nil
}

// dropSchema terminates the place's sessions (those of a killed process may still hold locks)
// and drops its schema.
func (s *Server) dropSchema(p Place) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.terminate(ctx, p); err != nil {
		return fmt.Errorf("drop schema %s: terminate its sessions: %w", p.Name, err)
	}
	if _, err := s.DB.ExecContext(ctx, "DROP SCHEMA "+p.Name+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %w", p.Name, err)
	}
	return nil
}

// Role creates a fresh login role (not a superuser) and a fresh schema that it owns; the
// place's DSN connects as that role. A test can then cut the place off as a database outage
// would, without touching the server other tests use: SetLogin(false) refuses new connections
// and Terminate ends the existing ones. Schema and role are dropped when the test ends.
func (s *Server) Role(t testing.TB) Place {
	t.Helper()
	name, err := randomName()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.DB.ExecContext(ctx, "CREATE ROLE "+name+" LOGIN NOSUPERUSER"); err != nil {
		t.Fatalf("create role %s: %v", name, err)
	}
	if _, err := s.DB.ExecContext(ctx, "CREATE SCHEMA "+name+" AUTHORIZATION "+name); err != nil {
		_, _ = s.DB.ExecContext(ctx, "DROP ROLE "+name)
		t.Fatalf("create schema %s: %v", name, err)
	}
	u := *s.base
	u.User = url.User(name)
	q := u.Query()
	q.Set("search_path", name)
	q.Set("application_name", name)
	u.RawQuery = q.Encode()
	p := Place{Name: name, App: name, Database: s.database, dsn: &u}
	t.Cleanup(func() {
		if err := s.dropSchema(p); err != nil {
			t.Error(err)
		}
		if _, err := s.DB.ExecContext(context.Background(), "DROP ROLE IF EXISTS "+name); err != nil {
			t.Errorf("drop role %s: %v", name, err)
		}
	})
	return p
}

// SetLogin lets the role of a place (see Role) log in, or not.
func (s *Server) SetLogin(t testing.TB, p Place, login bool) {
	t.Helper()
	attr := "NOLOGIN"
	if login {
		attr = "LOGIN"
	}
	if _, err := s.DB.ExecContext(context.Background(), "ALTER ROLE "+p.Name+" "+attr); err != nil {
		t.Fatalf("alter role %s %s: %v", p.Name, attr, err)
	}
}

// DSN returns the URL of the server's base database, with extra query parameters given as
// key, value pairs, for connections of the test's own (as the server's role).
func (s *Server) DSN(kv ...string) string {
	return Place{dsn: s.base}.DSN(kv...)
}

// Terminate ends every server session of the place (pg_terminate_backend) and returns how
// many there were.
func (s *Server) Terminate(t testing.TB, p Place) int {
	t.Helper()
	n, err := s.terminate(context.Background(), p)
	if err != nil {
		t.Fatalf("terminate the backends of %s: %v", p.Name, err)
	}
	return n
}

func (s *Server) terminate(ctx context.Context, p Place) (int, error) {
	var n int
	err := s.DB.QueryRowContext(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = $2 AND pid <> pg_backend_pid()`, p.Database, p.App).Scan(&n)
	return n, err
}

// Sessions counts the server sessions of the place.
func (s *Server) Sessions(t testing.TB, p Place) int {
	t.Helper()
	var n int
	err := s.DB.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_stat_activity
		WHERE datname = $1 AND application_name = $2`, p.Database, p.App).Scan(&n)
	if err != nil {
		t.Fatalf("count the sessions of %s: %v", p.Name, err)
	}
	return n
}

// randomName is "t_" and 16 random hex digits: a valid unquoted identifier.
func randomName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "t_" + hex.EncodeToString(b[:]), nil
}
