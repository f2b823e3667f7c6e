package sqlstore

import (
	"database/sql"
	"fmt"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// Snapshot reads and writes (store.Tx's Each methods, ReserveIDs, InsertBackups).
//
// Each Each method is one SELECT in the record's order whose rows are handed to fn as they are
// read, so memory holds one row (and a cluster's tags, or a policy's grants) whatever the table
// holds: both drivers read rows from the database as Next asks for them. Tags of clusters and
// grants of policies come from a LEFT JOIN ordered by the record, grouped here as the rows go by
// (one statement per kind: a PostgreSQL connection cannot read two result sets at once); a
// backup's tags come in its own row, as Backups reads them.
//
// The bulk writes are multi-row INSERTs of at most bulkRows rows (7,500 parameters, far below
// SQLite's 32,766), ON CONFLICT DO NOTHING RETURNING the keys written, which both databases
// accept: a key that was not returned was taken, and is named in the IDConflictError.

// bulkRows is how many rows one bulk INSERT writes.
const bulkRows = 500

const (
	qEachSubnet = `SELECT account, region, id, vpc_id, availability_zone FROM subnets
	ORDER BY account, region, id`
	qEachClusterIdentity = `SELECT cluster_id, certificates FROM cluster_identities ORDER BY cluster_id`
	qEachHSM             = `SELECT ` + hsmColumns + ` FROM hsms ORDER BY id`
	// qEachRetiredID walks reserved_ids and looks each ID up in the three tables that hold one.
	qEachRetiredID = `SELECT id FROM reserved_ids AS r
	WHERE NOT EXISTS (SELECT 1 FROM backups WHERE id = r.id)
	AND NOT EXISTS (SELECT 1 FROM clusters WHERE id = r.id)
	AND NOT EXISTS (SELECT 1 FROM hsms WHERE id = r.id)
	ORDER BY id`
	// qEachPolicy is one row per grant (one with NULL grant columns for a policy without any).
	qEachPolicy = `SELECT p.backup_id, p.document, g.account, g.can_describe, g.can_create_cluster
	FROM policies AS p LEFT JOIN policy_grants AS g ON g.backup_id = p.backup_id
	ORDER BY p.backup_id, g.ord`
)

// qEachCluster is clusterColumns of each cluster, then one of its tags (NULL when it has none),
// one row per tag.
const qEachCluster = `SELECT ` + clusterColumns + `, tag_key, tag_value
	FROM clusters LEFT JOIN tags ON resource_id = clusters.id ORDER BY clusters.id, tag_key`

// qEmpty is 1 when a table of resources has a row (settings do not count).
const qEmpty = `SELECT CASE WHEN EXISTS (SELECT 1 FROM reserved_ids) OR EXISTS (SELECT 1 FROM subnets)
	OR EXISTS (SELECT 1 FROM backups) OR EXISTS (SELECT 1 FROM clusters) OR EXISTS (SELECT 1 FROM hsms)
	OR EXISTS (SELECT 1 FROM cluster_identities) OR EXISTS (SELECT 1 FROM tags) OR EXISTS (SELECT 1 FROM policies)
	THEN 1 ELSE 0 END`

// The bulk INSERTs of n rows.
func qReserveIDs(n int) string {
	return `INSERT INTO reserved_ids (id) VALUES ` + valueRows("(?)", n) + ` ON CONFLICT (id) DO NOTHING RETURNING id`
}

func qInsertBackups(n int) string {
	return `INSERT INTO backups (` + backupColumns + `) VALUES ` + valueRows("("+strings.Repeat("?, ", 15)+"1)", n) +
		` ON CONFLICT (id) DO NOTHING RETURNING id`
}

func qPutTags(n int) string {
	return `INSERT INTO tags (resource_id, tag_key, tag_value) VALUES ` + valueRows("(?, ?, ?)", n) +
		` ON CONFLICT (resource_id, tag_key) DO UPDATE SET tag_value = excluded.tag_value`
}

// valueRows returns n copies of row, separated by commas.
func valueRows(row string, n int) string {
	return strings.Repeat(row+", ", n-1) + row
}

// Empty reports whether the store holds no resource.
func (t *tx) Empty() (bool, error) {
	var n int
	if err := t.queryRow(qEmpty).Scan(&n); err != nil {
		return false, fmt.Errorf("check the store is empty: %w", err)
	}
	return n == 0, nil
}

// eachRow runs query and calls scan on each row until it returns an error, which is returned
// unchanged; what went wrong with the query itself is wrapped with what.
func (t *tx) eachRow(what, query string, scan func(*sql.Rows) error) error {
	rows, err := t.query(query)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// EachSubnet streams every subnet by (account, region, ID).
func (t *tx) EachSubnet(fn func(store.Subnet) error) error {
	return t.eachRow("list subnets", qEachSubnet, func(rows *sql.Rows) error {
		var s store.Subnet
		if err := rows.Scan(&s.Account, &s.Region, &s.ID, &s.VpcID, &s.AvailabilityZone); err != nil {
			return fmt.Errorf("list subnets: %w", err)
		}
		return fn(s)
	})
}

// EachClusterIdentity streams every cluster identity by cluster ID.
func (t *tx) EachClusterIdentity(fn func(string, store.Certificates) error) error {
	return t.eachRow("list cluster identities", qEachClusterIdentity, func(rows *sql.Rows) error {
		var id string
		var raw sql.NullString
		if err := rows.Scan(&id, &raw); err != nil {
			return fmt.Errorf("list cluster identities: %w", err)
		}
		c, err := decodeCertificates(raw)
		if err != nil {
			return fmt.Errorf("list cluster identities: %s: %w", id, err)
		}
		return fn(id, c)
	})
}

// EachCluster streams every cluster by ID, with its tags: the rows of one cluster (one per tag)
// are gathered, and the cluster handed to fn when the next one starts.
func (t *tx) EachCluster(fn func(store.Cluster, []store.Tag) error) error {
	var cur store.Cluster
	var tags []store.Tag
	have := false
	err := t.eachRow("list clusters", qEachCluster, func(rows *sql.Rows) error {
		var key, value sql.NullString
		c, err := scanCluster(joined{rows, []any{&key, &value}})
		if err != nil {
			return fmt.Errorf("list clusters: %w", err)
		}
		if have && c.ID != cur.ID {
			if err := fn(cur, tags); err != nil {
				return err
			}
			tags = nil
		}
		cur, have = c, true
		if key.Valid {
			tags = append(tags, store.Tag{Key: key.String, Value: value.String})
		}
		return nil
	})
	if err != nil || !have {
		return err
	}
	return fn(cur, tags)
}

// joined scans a row of a record's columns followed by more columns into extra.
type joined struct {
	rows  *sql.Rows
	extra []any
}

func (j joined) Scan(dest ...any) error { return j.rows.Scan(append(dest, j.extra...)...) }

// EachHSM streams every HSM by ID.
func (t *tx) EachHSM(fn func(store.HSM) error) error {
	return t.eachRow("list hsms", qEachHSM, func(rows *sql.Rows) error {
		h, err := scanHSM(rows)
		if err != nil {
			return fmt.Errorf("list hsms: %w", err)
		}
		return fn(h)
	})
}

// EachBackup streams every backup by ID, with its tags.
func (t *tx) EachBackup(fn func(store.Backup) error) error {
	row := newBackupRow(true)
	query := `SELECT ` + backupColumns + `, ` + t.d.backupTags + ` FROM backups ORDER BY id`
	return t.eachRow("list backups", query, func(rows *sql.Rows) error {
		b, err := row.scan(rows)
		if err != nil {
			return fmt.Errorf("list backups: %w", err)
		}
		return fn(b)
	})
}

// EachPolicy streams every policy by backup ID, gathering its grants from consecutive rows.
func (t *tx) EachPolicy(fn func(store.Policy) error) error {
	var cur store.Policy
	have := false
	err := t.eachRow("list policies", qEachPolicy, func(rows *sql.Rows) error {
		var p store.Policy
		var account sql.NullString
		var describe, create sql.NullBool
		if err := rows.Scan(&p.BackupID, &p.Document, &account, &describe, &create); err != nil {
			return fmt.Errorf("list policies: %w", err)
		}
		if have && p.BackupID != cur.BackupID {
			if err := fn(cur); err != nil {
				return err
			}
		}
		if !have || p.BackupID != cur.BackupID {
			cur, have = p, true
		}
		if account.Valid {
			cur.Grants = append(cur.Grants, store.Grant{Account: account.String, Describe: describe.Bool, CreateCluster: create.Bool})
		}
		return nil
	})
	if err != nil || !have {
		return err
	}
	return fn(cur)
}

// EachRetiredID streams every reserved ID that no resource has, in byte order.
func (t *tx) EachRetiredID(fn func(string) error) error {
	return t.eachRow("list retired ids", qEachRetiredID, func(rows *sql.Rows) error {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("list retired ids: %w", err)
		}
		return fn(id)
	})
}

// ReserveIDs records ids, bulkRows per statement.
func (t *tx) ReserveIDs(ids []string) error {
	if err := t.writable("reserve ids"); err != nil {
		return err
	}
	for len(ids) > 0 {
		n := min(len(ids), bulkRows)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if err := t.insertReturning("reserve ids", qReserveIDs(n), args, ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// InsertBackups adds backups and their tags, bulkRows backups per statement.
func (t *tx) InsertBackups(bs []store.Backup) error {
	if err := t.writable("insert backups"); err != nil {
		return err
	}
	for len(bs) > 0 {
		n := min(len(bs), bulkRows)
		args := make([]any, 0, n*15)
		ids := make([]string, n)
		var tags []any
		for i, b := range bs[:n] {
			args = append(append(args, b.ID), backupArgs(b)...)
			ids[i] = b.ID
			for _, tag := range b.Tags {
				tags = append(tags, b.ID, tag.Key, tag.Value)
			}
		}
		if err := t.insertReturning("insert backups", qInsertBackups(n), args, ids); err != nil {
			return err
		}
		for len(tags) > 0 {
			m := min(len(tags)/3, bulkRows)
			if _, err := t.exec(qPutTags(m), tags[:3*m]...); err != nil {
				return fmt.Errorf("insert backups: tags: %w", err)
			}
			tags = tags[3*m:]
		}
		bs = bs[n:]
	}
	return nil
}

// insertReturning runs a bulk INSERT ... RETURNING of keys and checks that it wrote every key of
// want, in order: the first key it did not write (taken, or given twice) is the conflict.
func (t *tx) insertReturning(what, query string, args []any, want []string) error {
	rows, err := t.query(query, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	written := make(map[string]int, len(want))
	for rows.Next() {
		var key string
		if err := rows.Scan(&key); err != nil {
			rows.Close()
			return fmt.Errorf("%s: %w", what, err)
		}
		written[key]++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if len(written) == len(want) {
		return nil
	}
	for _, key := range want {
		if written[key] == 0 {
			return fmt.Errorf("%s: %w", what, &store.IDConflictError{ID: key})
		}
		written[key]--
	}
	return fmt.Errorf("%s: wrote %d of %d rows", what, len(written), len(want))
}
