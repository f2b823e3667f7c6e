package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// openMemory opens the throwaway "memory" store: a fresh SQLite database in a new file of
// os.TempDir().
func openMemory(ctx context.Context) (*Store, error) { return openMemoryIn(ctx, os.TempDir()) }

// openMemoryIn opens a throwaway store in a new file of dir, on one connection that is never
// recycled, and unlinks the file as soon as that connection has it open: from then on the data
// lives only as long as the connection (it is lost on Close, as an in-memory database's would
// be), no crash, not even SIGKILL, can leave the file behind, and resident memory is bounded
// by SQLite's page cache instead of growing with the data.
//
// The rollback journal is kept in memory (SQLite refuses to create a journal file next to a
// database whose name is gone), commits are never synced (nothing survives the process
// anyway), and the connection locks the file exclusively. It opens with mode=rw, never
// creating the file: if database/sql ever dropped the connection, reconnecting fails loudly
// instead of starting on an empty database.
func openMemoryIn(ctx context.Context, dir string) (*Store, error) {
	f, err := os.CreateTemp(dir, "cloudhsm-local-memory-*.db")
	if err != nil {
		return nil, fmt.Errorf("open memory store: create its temporary file (set TMPDIR to a writable directory): %w", err)
	}
	path := f.Name()
	if err := f.Close(); err != nil {
		return nil, errors.Join(fmt.Errorf("open memory store: %w", err), os.Remove(path))
	}
	db, err := openPool(ctx, sqliteURI(path, url.Values{
		"mode":          {"rw"},
		"_journal_mode": {"MEMORY"},
		"_synchronous":  {"OFF"},
		"_pragma":       {"locking_mode(EXCLUSIVE)"},
	}), 1)
	if rerr := os.Remove(path); err == nil && rerr != nil {
		err = errors.Join(fmt.Errorf("unlink %s: %w", path, rerr), db.Close())
	}
	if err != nil {
		return nil, fmt.Errorf("open memory store: %w", err)
	}
	if err := migrate(ctx, db, sqliteDialect); err != nil {
		return nil, errors.Join(fmt.Errorf("open memory store: %w", err), db.Close())
	}
	stmts, err := prepareStatements(ctx, db, sqliteDialect, false)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("open memory store: %w", err), db.Close())
	}
	return &Store{kind: "memory", d: sqliteDialect, writer: db, reader: db, writeStmts: stmts, readStmts: stmts, obs: noObserver{}}, nil
}
