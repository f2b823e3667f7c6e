package sqlstore

import (
	"database/sql"
	"strconv"
	"strings"
)

// dialect is everything that differs between the SQL databases the store runs on. The queries
// themselves (queries.go) and the schema (schema.go) are written once, in portable SQL with `?`
// placeholders; upserts use INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE SET x =
// excluded.x, which SQLite and PostgreSQL both accept unchanged, and inserts that may collide
// use ON CONFLICT DO NOTHING plus RowsAffected instead of catching a constraint error, so a
// taken key never aborts the transaction on either database.
//
// A PostgreSQL dialect (pgx stdlib driver, name "pgx") would be:
//
//	var postgres = &dialect{
//		name:          "postgres",
//		dollar:        true,
//		writeTx:       &sql.TxOptions{Isolation: sql.LevelSerializable},
//		readTx:        &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true},
//		migrationLock: "SELECT pg_advisory_xact_lock(4242)",
//		retryable:     func(err error) bool { /* *pgconn.PgError Code 40001 or 40P01 */ },
//	}
type dialect struct {
	// name is the driver name given to sql.Open.
	name string
	// dollar selects $1, $2, ... placeholders instead of ?.
	dollar bool
	// writeTx are the options Update begins its transaction with. SQLite needs none: its
	// writer connection begins every transaction IMMEDIATE (DSN _txlock), taking the
	// database's single write lock up front, which makes Update serializable.
	writeTx *sql.TxOptions
	// readTx are the options View begins its transaction with.
	readTx *sql.TxOptions
	// migrationLock, when set, is run first in every migration transaction to keep concurrent
	// Opens from migrating at once (PostgreSQL: an advisory transaction lock). SQLite needs
	// none: the migration transaction begins IMMEDIATE, which already excludes other writers.
	migrationLock string
	// retryable reports whether err is a serialization failure after which Update should run
	// fn again in a new transaction; nil means never (SQLite's transactions cannot fail so).
	retryable func(error) bool
}

// sqliteDialect is modernc.org/sqlite, registered as "sqlite".
var sqliteDialect = &dialect{
	name:   "sqlite",
	readTx: &sql.TxOptions{ReadOnly: true},
}

// rebind rewrites the `?` placeholders of query into the dialect's style. Question marks in
// single-quoted literals or double-quoted identifiers are left alone.
func (d *dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	return rebindDollar(query)
}

// rebindDollar replaces each `?` outside quotes with $1, $2, ... in order.
func rebindDollar(query string) string {
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	var quote byte // the quote character we are inside, or 0
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0 // a doubled quote closes and reopens: same result
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
