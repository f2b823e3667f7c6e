package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// dialect is everything that differs between the SQL databases the store runs on. The queries
// themselves (queries.go) and the schema (schema.go) are written once, in portable SQL with `?`
// placeholders; upserts use INSERT ... ON CONFLICT (...) DO NOTHING / DO UPDATE SET x =
// excluded.x, which SQLite and PostgreSQL both accept unchanged, and inserts that may collide
// use ON CONFLICT DO NOTHING plus RowsAffected instead of catching a constraint error, so a
// taken key never aborts the transaction on either database.
//
// The two dialects are sqliteDialect (below) and postgresDialect (postgres.go). A dialect value
// is shared by every Store of its kind; the PostgreSQL lock statements, which name the schema,
// are set per Store on a copy.
type dialect struct {
	// name names the database in messages.
	name string
	// dollar selects $1, $2, ... placeholders instead of ?.
	dollar bool
	// ddl rewrites the portable DDL of a migration for this database; nil keeps it as is.
	ddl func(string) string
	// writeTx are the options Update begins its transaction with. SQLite needs none: its
	// writer connection begins every transaction IMMEDIATE (DSN _txlock), taking the
	// database's single write lock up front, which makes Update serializable.
	writeTx *sql.TxOptions
	// beginUpdate, when set, begins every Update transaction on a connection of db in a way
	// that takes the locks serializing it with every other Update of an overlapping scope, held
	// until commit or rollback (PostgreSQL: advisory transaction locks per tenant under READ
	// COMMITTED, sent with the transaction's first query; see postgres.go). Updates of disjoint
	// scopes then run at once, each in its own transaction. It tries up to attempts
	// connections while the one it has is dead. When nil, Update begins with writeTx and the
	// database serializes every Update by itself (SQLite).
	beginUpdate func(ctx context.Context, db *sql.DB, scope store.Scope, attempts int) (txn, error)
	// beginView, when set, begins every View transaction on a connection of db (PostgreSQL:
	// REPEATABLE READ, READ ONLY, sent with the first query); when nil, View begins with readTx.
	beginView func(ctx context.Context, db *sql.DB, attempts int) (txn, error)
	// readTx are the options View begins its transaction with.
	readTx *sql.TxOptions
	// migrationLock, when set, is run first in every migration transaction to keep concurrent
	// Opens from migrating at once (PostgreSQL: an advisory transaction lock). SQLite needs
	// none: the migration transaction begins IMMEDIATE, which already excludes other writers.
	migrationLock string
	// retryable reports whether err is a serialization failure after which Update should run
	// fn again in a new transaction; nil means never (SQLite's transactions cannot fail so).
	retryable func(error) bool
	// inList is the condition "col is one of the values of one list parameter" (the query
	// text stays the same whatever the list's length, so it can be prepared), and listArg
	// makes that parameter from the values.
	inList  func(col string) string
	listArg func(values []string) any
	// backupTags is a column of a SELECT FROM backups: the tags of the row's backup as a JSON
	// array of [key, value] pairs ordered by key, NULL when it has none (decodeTags reads it).
	backupTags string
	// connLost reports whether a failed begin found its pooled connection dead (the server
	// ended the session); the begin is then tried again on another connection, which is safe
	// because nothing has run yet. nil means never.
	connLost func(error) bool
}

// sqliteDialect is modernc.org/sqlite, registered as "sqlite".
var sqliteDialect = &dialect{
	name:    "sqlite",
	readTx:  &sql.TxOptions{ReadOnly: true},
	inList:  func(col string) string { return col + " IN (SELECT value FROM json_each(?))" },
	listArg: jsonList,
	// json_group_array of no rows is '[]', not NULL: EXISTS skips the aggregate (and the '[]'
	// each untagged row would cost to read) for the usual backup, which has no tags.
	backupTags: `CASE WHEN EXISTS (SELECT 1 FROM tags WHERE resource_id = backups.id) THEN
	(SELECT json_group_array(json_array(tag_key, tag_value) ORDER BY tag_key) FROM tags WHERE resource_id = backups.id) END`,
}

// jsonList encodes values as a JSON array of strings, for json_each.
func jsonList(values []string) any {
	b, _ := json.Marshal(values) // a []string always encodes
	return string(b)
}

// rebind rewrites the `?` placeholders of query into the dialect's style. Question marks in
// single-quoted literals or double-quoted identifiers are left alone.
func (d *dialect) rebind(query string) string {
	if !d.dollar {
		return query
	}
	return rebindDollar(query)
}

// schema returns the DDL of a migration as this database runs it.
func (d *dialect) schema(ddl string) string {
	if d.ddl == nil {
		return ddl
	}
	return d.ddl(ddl)
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

// textType matches the TEXT type in portable DDL.
var textType = regexp.MustCompile(`\bTEXT\b`)

// byteOrderText gives every TEXT column of portable DDL the "C" collation, so that ORDER BY and
// comparisons on IDs and tag keys (keyset pagination, NextEvent ties) follow byte order as in
// SQLite, whatever the database's default collation.
func byteOrderText(ddl string) string {
	return textType.ReplaceAllString(ddl, `TEXT COLLATE "C"`)
}
