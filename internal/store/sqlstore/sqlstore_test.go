package sqlstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store/storetest"
)

// openT opens dsn and closes it when the test ends.
func openT(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn)
	if err != nil {
		t.Fatalf("Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestContractMemory(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openT(t, "memory")
		if s.Kind() != "memory" {
			t.Fatalf("Kind = %q, want memory", s.Kind())
		}
		return s
	})
}

func TestContractSQLiteFile(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "store.db"))
		if s.Kind() != "sqlite" {
			t.Fatalf("Kind = %q, want sqlite", s.Kind())
		}
		return s
	})
}

func TestOpenRejectsUnknownDSN(t *testing.T) {
	for _, dsn := range []string{"", "sqlite:", "mem", "/tmp/x.db", "sqlite3:x.db", "mysql://u:secret@localhost/db", "postgres:db", "pgx://localhost/db"} {
		s, err := Open(t.Context(), dsn)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%q) succeeded", dsn)
		}
		if !strings.Contains(err.Error(), "use sqlite:PATH, memory or postgres://") {
			t.Errorf("Open(%q): %v", dsn, err)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) repeats the password: %v", dsn, err)
		}
	}
}

func TestOpenFailsInMissingDirectory(t *testing.T) {
	s, err := Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "no", "such", "dir", "store.db"))
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded")
	}
}

// migrationCount reads schema_migrations.
func migrationCount(t *testing.T, s *Store) (rows int, maxVersion int) {
	t.Helper()
	err := s.reader.QueryRowContext(t.Context(), "SELECT COUNT(*), MAX(version) FROM schema_migrations").Scan(&rows, &maxVersion)
	if err != nil {
		t.Fatal(err)
	}
	return rows, maxVersion
}

func TestReopenKeepsDataAndDoesNotReapplyMigrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir with spaces?and#marks%20", "store.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	dsn := "sqlite:" + path
	ctx := t.Context()

	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, store.Everything(), func(tx store.Tx) error {
		if err := tx.PutSetting("clock", "42"); err != nil {
			return err
		}
		if err := tx.ReserveID("backup-1"); err != nil {
			return err
		}
		return tx.PutTags("backup-1", []store.Tag{{Key: "k", Value: "v"}})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not at the given path: %v", err)
	}

	for range 2 {
		s = openT(t, dsn)
		if rows, max := migrationCount(t, s); rows != len(migrations) || max != migrations[len(migrations)-1].version {
			t.Fatalf("schema_migrations has %d rows up to version %d, want %d", rows, max, len(migrations))
		}
		err = s.View(ctx, func(tx store.Tx) error {
			v, err := tx.Setting("clock")
			if err != nil || v != "42" {
				t.Fatalf("Setting after reopen = %q, %v", v, err)
			}
			tags, err := tx.Tags("backup-1")
			if err != nil || len(tags["backup-1"]) != 1 {
				t.Fatalf("Tags after reopen = %v, %v", tags, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		err = s.Update(ctx, store.Everything(), func(tx store.Tx) error { return tx.ReserveID("backup-1") })
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("ReserveID after reopen: %v, want ErrConflict", err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "store.db")
	s := openT(t, dsn)
	if _, err := s.writer.ExecContext(t.Context(), "INSERT INTO schema_migrations (version, name) VALUES (999, 'future')"); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(t.Context(), dsn)
	if err == nil {
		s2.Close()
		t.Fatal("Open of a database from a newer program succeeded")
	}
}

// Two stores on one file, as two server processes would have: each sees the other's commits,
// and Updates from both interleave without losing any.
func TestTwoStoresShareOneFile(t *testing.T) {
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "store.db")
	a, b := openT(t, dsn), openT(t, dsn)
	ctx := t.Context()
	if err := a.Update(ctx, store.Everything(), func(tx store.Tx) error { return tx.PutSetting("n", "0") }); err != nil {
		t.Fatal(err)
	}
	const per = 20
	errs := make(chan error, 2)
	for _, s := range []*Store{a, b} {
		go func() {
			for range per {
				err := s.Update(ctx, store.Everything(), func(tx store.Tx) error {
					v, err := tx.Setting("n")
					if err != nil {
						return err
					}
					return tx.PutSetting("n", v+"1")
				})
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Store{a, b} {
		err := s.View(ctx, func(tx store.Tx) error {
			v, err := tx.Setting("n")
			if err != nil {
				return err
			}
			if v != "0"+strings.Repeat("1", 2*per) {
				t.Errorf("n = %q, want %d increments", v, 2*per)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// The reader pool refuses writes by itself, not only through the Tx guard.
func TestReaderPoolIsQueryOnly(t *testing.T) {
	s := openT(t, "sqlite:"+filepath.Join(t.TempDir(), "store.db"))
	_, err := s.reader.ExecContext(t.Context(), "INSERT INTO settings (name, value) VALUES ('a', 'b')")
	if err == nil {
		t.Fatal("write through the reader pool succeeded")
	}
	// And the error of a write through a View names the cause.
	err = s.View(t.Context(), func(tx store.Tx) error { return tx.PutSetting("a", "b") })
	if !errors.Is(err, errReadOnly) {
		t.Fatalf("View write: %v", err)
	}
}

func TestUpdateWrapsBackendErrors(t *testing.T) {
	s := openT(t, "memory")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Update(ctx, store.Everything(), func(tx store.Tx) error { return nil })
	if err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "begin update") {
		t.Fatalf("Update with a cancelled context: %v", err)
	}
}

func TestUpdateRollsBackWhenFnPanics(t *testing.T) {
	s := openT(t, "memory")
	func() {
		defer func() { _ = recover() }()
		_ = s.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
			if err := tx.PutSetting("k", "v"); err != nil {
				return err
			}
			panic("boom")
		})
	}()
	err := s.View(t.Context(), func(tx store.Tx) error {
		_, err := tx.Setting("k")
		return err
	})
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a panicking Update: %v, want ErrNotFound", err)
	}
}

// The statement that starts every transaction looks its settings up without building a
// temporary table, as "name IN (?, ?)" would on every run.
func TestSettingsQueryBuildsNoTemporaryTable(t *testing.T) {
	s := openT(t, "memory")
	rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN "+settingsQuery(2), "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var addr int
		var opcode string
		rest := make([]any, len(cols)-2)
		for i := range rest {
			rest[i] = new(any)
		}
		if err := rows.Scan(append([]any{&addr, &opcode}, rest...)...); err != nil {
			t.Fatal(err)
		}
		if opcode == "OpenEphemeral" {
			t.Fatalf("instruction %d of the settings query is OpenEphemeral", addr)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestRebind(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"},
		{"x = '?' AND y = ? AND \"q?\" = ?", "x = '?' AND y = $1 AND \"q?\" = $2"},
		{"x = 'it''s?' AND y = ?", "x = 'it''s?' AND y = $1"},
	} {
		if got := rebindDollar(tc.in); got != tc.want {
			t.Errorf("rebindDollar(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := sqliteDialect.rebind("a = ?"); got != "a = ?" {
		t.Errorf("sqlite rebind changed the query: %q", got)
	}
}

// The hot queries walk an index instead of scanning or sorting a table.
func TestQueryPlansUseIndexes(t *testing.T) {
	s := openT(t, "memory")
	bq, bargs := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", After: &store.Cursor{ID: "x"}, Limit: 10, WithTags: true})
	bqa, bargsa := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", Ascending: true, After: &store.Cursor{ID: "x"}, Limit: 10, WithTags: true})
	cq, cargs := clustersQuery(store.ClusterQuery{Account: "a", Region: "r", After: &store.Cursor{ID: "x"}, Limit: 10})
	sq, sargs := backupsQuery(sqliteDialect, store.BackupQuery{Region: "r", SharedWith: "a", WithTags: true})
	one := []string{"v"}
	clq, clargs := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", ClusterIDs: one, Limit: 51, WithTags: true})
	clqa, clargsa := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", ClusterIDs: one, Ascending: true, After: &store.Cursor{ID: "x"}, Limit: 51, WithTags: true})
	srq, srargs := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", SourceBackupIDs: one, Limit: 51, WithTags: true})
	stq, stargs := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", States: one, After: &store.Cursor{ID: "x"}, Limit: 51, WithTags: true})
	rq, rargs := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", ClusterIDs: one, States: one})
	iq, iargs := backupsQuery(sqliteDialect, store.BackupQuery{Account: "a", Region: "r", IDs: one, Limit: 51, WithTags: true})
	tq, targs := tagsQuery(sqliteDialect, []string{"x", "y"})
	hq, hargs := hsmsQuery(sqliteDialect, []string{"x", "y"})
	dq, dargs := deleteTagsQuery(sqliteDialect, "x", []string{"k", "l"})
	agendaArgs := []any{"s1", "s2", "a", "r", "a", "r", "a", "r", "a", "r"}
	for _, tc := range []struct {
		name  string
		query string
		args  []any
		index string
		sort  bool // a sort is expected (a small candidate set from another index)
	}{
		{"next backup event", qNextBackupEvent, nil, "backups_by_due", false},
		{"next hsm event", qNextHSMEvent, nil, "hsms_by_due", false},
		{"next cluster event", qNextClusterEvent, nil, "clusters_by_due", false},
		{"next daily backup", qNextDailyBackup, nil, "clusters_by_next_backup", false},
		{"next event, all four at once", qNextEvent, nil, "backups_by_due", false},
		{"next event, all four at once", qNextEvent, nil, "hsms_by_due", false},
		{"next event, all four at once", qNextEvent, nil, "clusters_by_due", false},
		{"next event, all four at once", qNextEvent, nil, "clusters_by_next_backup", false},
		{"next backup event of a tenant", qNextTenantBackupEvent, []any{"a", "r"}, "backups_due_by_owner (account=? AND region=? AND due_at>?)", false},
		{"next hsm event of a tenant", qNextTenantHSMEvent, []any{"a", "r"}, "hsms_by_due", false},
		{"next cluster event of a tenant", qNextTenantClusterEvent, []any{"a", "r"}, "clusters_due_by_owner (account=? AND region=? AND due_at>?)", false},
		{"next daily backup of a tenant", qNextTenantDailyBackup, []any{"a", "r"}, "clusters_next_backup_by_owner (account=? AND region=? AND next_backup_at>?)", false},
		{"agenda of a tenant", agendaQuery(2, tenantEvents), agendaArgs, "backups_due_by_owner (account=? AND region=? AND due_at>?)", false},
		{"agenda of a tenant", agendaQuery(2, tenantEvents), agendaArgs, "clusters_next_backup_by_owner (account=? AND region=? AND next_backup_at>?)", false},
		{"agenda of a tenant", agendaQuery(2, tenantEvents), agendaArgs, "SEARCH settings USING INDEX sqlite_autoindex_settings_1 (name=?)", false},
		{"backups page", bq, bargs, "backups_by_owner", false},
		{"backups page ascending", bqa, bargsa, "backups_by_owner", false},
		{"clusters page", cq, cargs, "clusters_by_owner", false},
		{"shared backups", sq, sargs, "policy_grants_by_account", true},
		{"backups of one cluster", clq, clargs, "backups_by_owner_cluster (account=? AND region=? AND cluster_id=?)", false},
		{"backups of one cluster, ascending, after a cursor", clqa, clargsa, "backups_by_owner_cluster (account=? AND region=? AND cluster_id=? AND (created_at,id)>(?,?))", false},
		{"backups of one source backup", srq, srargs, "backups_by_owner_source (account=? AND region=? AND source_backup_id=?)", false},
		{"backups in one state, after a cursor", stq, stargs, "backups_by_owner_state (account=? AND region=? AND state=? AND (created_at,id)<(?,?))", false},
		{"ready backups of one cluster (retention)", rq, rargs, "backups_by_owner_cluster (account=? AND region=? AND cluster_id=?)", false},
		{"one backup by ID", iq, iargs, "sqlite_autoindex_backups_1 (id=?)", false},
		{"tags of a page of backups", bq, bargs, "SEARCH tags USING INDEX sqlite_autoindex_tags_1 (resource_id=?)", false},
		{"tags of resources", tq, targs, "sqlite_autoindex_tags_1 (resource_id=?)", false},
		{"hsms of clusters", hq, hargs, "hsms_by_cluster (cluster_id=?)", true},
		{"tags of one resource", qTagsOfResource, []any{"x"}, "sqlite_autoindex_tags_1 (resource_id=?)", false},
		{"hsms of one cluster", qHSMsOfCluster, []any{"x"}, "hsms_by_cluster (cluster_id=?)", false},
		{"live clusters", qLiveClusters, []any{"a", "r"}, "sqlite_autoindex_cluster_counts_1 (account=? AND region=?)", false},
		{"delete tags", dq, dargs, "sqlite_autoindex_tags_1 (resource_id=? AND tag_key=?)", false},
		{"count backups", qCountBackups, nil, "SCAN backups USING COVERING INDEX", false},
		{"count backups that are not READY", qCountBackupsNotReady, nil, "SCAN backups USING COVERING INDEX backups_not_ready", false},
		{"clock settings", settingsQuery(2), []any{"a", "b"}, "SEARCH settings USING INDEX sqlite_autoindex_settings_1 (name=?)", false},
	} {
		rows, err := s.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		joined := strings.Join(plan, "; ")
		t.Logf("%s: %s", tc.name, joined)
		// A tagged backup's tags (at most 50) are sorted by key inside the aggregate of the
		// backupTags column: a sort of one backup's tags, not of the page.
		sorts := strings.Contains(strings.ReplaceAll(joined, "USE TEMP B-TREE FOR json_group_array(ORDER BY)", ""), "TEMP B-TREE")
		if !strings.Contains(joined, tc.index) || (!tc.sort && sorts) {
			t.Errorf("%s: plan %q does not walk %s", tc.name, joined, tc.index)
		}
	}
}
