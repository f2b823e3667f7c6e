package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// copySeeder grows a cluster's backups inside a SQLite file or PostgreSQL database that a
// running server has open — the store is built for several processes sharing one database, so
// the seeder is just another writer. Through the admin API a store grows by a few hundred to a
// couple of thousand backups per second; a million would take many minutes. The seeder instead
// copies one READY backup of the cluster (the template) up to seedBatch times per transaction
// with INSERT ... SELECT: each copy gets a fresh random ID (reserved in reserved_ids, as the
// server reserves every ID) and a creation time between the newest backup's and now, so the
// rows are the ones take-backup writes once settled. Copies are inserted in ID order with
// creation times rising in the same order, which keeps every index insert near the one before.
//
// On PostgreSQL it then runs ANALYZE on backups, as autovacuum soon would after such a load:
// the measurements are of a long-lived database, whose planner statistics are current.
//
// It knows the tables backups and reserved_ids and the columns id, cluster_id, created_at,
// state and due_at; every other column is copied by name from the live schema, so a migration
// that adds columns does not break it. One that renames these makes it fail loudly.
type copySeeder struct {
	db       *sql.DB
	postgres bool
	columns  []string
}

// openSeeder connects to the database behind a --store value (sqlite:PATH or postgres://).
func openSeeder(ctx context.Context, storeDSN string) (*copySeeder, error) {
	s := &copySeeder{}
	var err error
	switch {
	case strings.HasPrefix(storeDSN, "sqlite:"):
		s.db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(storeDSN, "sqlite:")+"?_busy_timeout=30000&_txlock=immediate&_pragma=cache_size(-262144)&_pragma=temp_store(memory)")
	case strings.HasPrefix(storeDSN, "postgres://"), strings.HasPrefix(storeDSN, "postgresql://"):
		s.db, err = sql.Open("pgx", storeDSN)
		s.postgres = true
	default:
		return nil, fmt.Errorf("cannot seed store %q directly", storeDSN)
	}
	if err != nil {
		return nil, err
	}
	s.db.SetMaxOpenConns(1)
	q := `SELECT name FROM pragma_table_info('backups') ORDER BY cid`
	if s.postgres {
		q = `SELECT column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'backups' ORDER BY ordinal_position`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("read the columns of backups: %w", err), s.db.Close())
	}
	defer rows.Close()
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, errors.Join(err, s.db.Close())
		}
		s.columns = append(s.columns, c)
	}
	if err := rows.Err(); err != nil || len(s.columns) == 0 || s.columns[0] != "id" {
		return nil, errors.Join(fmt.Errorf("table backups has unexpected columns %v (%v)", s.columns, err), s.db.Close())
	}
	return s, nil
}

func (s *copySeeder) Close() error { return s.db.Close() }

func (s *copySeeder) ph(i int) string {
	if s.postgres {
		return fmt.Sprintf("$%d", i)
	}
	return "?"
}

// newID is an SQL expression for a fresh backup ID: "backup-" and 16 characters of [2-7a-z]
// (random hex with 0, 1, 8 and 9 mapped to letters), inside the model's backup ID pattern.
func (s *copySeeder) newID() string {
	if s.postgres {
		return `'backup-' || translate(substr(md5(random()::text || clock_timestamp()::text), 1, 16), '0189', 'wxyz')`
	}
	return `'backup-' || replace(replace(replace(replace(lower(hex(randomblob(8))), '0', 'w'), '1', 'x'), '8', 'y'), '9', 'z')`
}

// seedBatch is how many backups one seeding transaction inserts.
const seedBatch = 100_000

// grow adds backups to clusterID until it has want READY ones.
func (s *copySeeder) grow(ctx context.Context, clusterID string, want int) error {
	for {
		var have int
		var template string
		if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), MIN(id) FROM backups WHERE cluster_id = `+s.ph(1)+
			` AND state = 'READY' AND due_at IS NULL`, clusterID).Scan(&have, &template); err != nil {
			return fmt.Errorf("count the READY backups of %s (is one settled?): %w", clusterID, err)
		}
		if have >= want {
			if s.postgres { // what autovacuum's autoanalyze does soon after a bulk load
				if _, err := s.db.ExecContext(ctx, `ANALYZE backups`); err != nil {
					return fmt.Errorf("analyze backups: %w", err)
				}
			}
			return nil
		}
		if err := s.batch(ctx, template, min(seedBatch, want-have)); err != nil {
			return err
		}
	}
}

// batch inserts n copies of the template backup in one transaction.
func (s *copySeeder) batch(ctx context.Context, template string, n int) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	var newest int64
	if err := tx.QueryRowContext(ctx, `SELECT MAX(created_at) FROM backups`).Scan(&newest); err != nil {
		return fmt.Errorf("newest backup: %w", err)
	}
	span := max(0, time.Now().UnixMilli()-newest)

	cols := make([]string, len(s.columns))
	for i, c := range s.columns {
		switch c {
		case "id":
			cols[i] = "s.new_id"
		case "created_at": // from the newest backup's time to now, rising with the ID
			cols[i] = fmt.Sprintf("%d + (s.rn * %d) / %d", newest, span, n)
		default:
			cols[i] = "t." + c
		}
	}
	create := `CREATE TEMP TABLE seed_ids AS
	WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ` + s.ph(1) + `)
	SELECT ` + s.newID() + ` AS new_id FROM seq`
	if s.postgres {
		create = strings.Replace(create, "CREATE TEMP TABLE seed_ids AS", "CREATE TEMP TABLE seed_ids ON COMMIT DROP AS", 1)
	}
	stmts := []struct {
		sql  string
		args []any
	}{
		{create, []any{n}},
		{`INSERT INTO reserved_ids (id) SELECT new_id FROM seed_ids ORDER BY new_id`, nil},
		{`INSERT INTO backups (` + strings.Join(s.columns, ", ") + `) SELECT ` + strings.Join(cols, ", ") + `
		FROM (SELECT new_id, ROW_NUMBER() OVER (ORDER BY new_id) AS rn FROM seed_ids) s
		CROSS JOIN (SELECT * FROM backups WHERE id = ` + s.ph(1) + `) t ORDER BY s.rn`, []any{template}},
	}
	if !s.postgres {
		stmts = append(stmts, struct {
			sql  string
			args []any
		}{`DROP TABLE seed_ids`, nil})
	}
	for _, st := range stmts {
		if _, err := tx.ExecContext(ctx, st.sql, st.args...); err != nil {
			f := strings.Fields(st.sql)
			return fmt.Errorf("seed %d backups: %s %s: %w", n, f[0], f[1], err)
		}
	}
	return tx.Commit()
}

// readyIDs returns up to limit IDs of clusterID's READY backups.
func (s *copySeeder) readyIDs(ctx context.Context, clusterID string, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM backups WHERE cluster_id = `+s.ph(1)+
		` AND state = 'READY' AND due_at IS NULL ORDER BY id LIMIT `+s.ph(2), clusterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
