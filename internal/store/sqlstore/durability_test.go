package sqlstore

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store/sqlstore/pgtest"
)

// TestDurability: each durability sets what the database syncs on commit, and impossible
// combinations are refused at Open with a message that says what to change.
func TestDurability(t *testing.T) {
	srv := pgtest.Connect(t)
	sqlite := func() string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }
	tests := []struct {
		name       string
		dsn        string
		durability Durability
		pragma     string // the setting to read: "synchronous" (SQLite) or "synchronous_commit"
		want       string // its value, or the start of Open's error
		fails      bool
	}{
		{"SQLite file, default", sqlite(), "", "synchronous", "1", false}, // NORMAL
		{"SQLite file, process", sqlite(), DurabilityProcess, "synchronous", "1", false},
		{"SQLite file, fsync", sqlite(), DurabilityFsync, "synchronous", "2", false}, // FULL
		{"PostgreSQL, default", srv.Schema(t).DSN(), "", "synchronous_commit", "off", false},
		{"PostgreSQL, fsync", srv.Schema(t).DSN(), DurabilityFsync, "synchronous_commit", "on", false},
		{"PostgreSQL, the DSN's setting kept", srv.Schema(t).DSN("synchronous_commit", "local"), DurabilityFsync, "synchronous_commit", "local", false},
		{"PostgreSQL, fsync against the DSN's off", srv.Schema(t).DSN("synchronous_commit", "off"), DurabilityFsync, "", "open postgres store: durability fsync needs commits flushed to disk, but the DSN sets synchronous_commit=off", true},
		{"memory, fsync", "memory", DurabilityFsync, "", "open memory store: durability fsync needs a store on disk", true},
		{"unknown durability", "memory", "sometimes", "", `open store: durability "sometimes": want process or fsync`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []Option
			if tt.durability != "" {
				opts = append(opts, WithDurability(tt.durability))
			}
			s, err := Open(t.Context(), tt.dsn, opts...)
			if tt.fails {
				if err == nil {
					s.Close()
					t.Fatalf("Open succeeded, want %q", tt.want)
				}
				if !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("Open: %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			var got string
			query := "SHOW " + tt.pragma
			if s.Kind() == "sqlite" {
				query = "PRAGMA " + tt.pragma
			}
			if err := s.writer.QueryRowContext(t.Context(), query).Scan(&got); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
			if got != tt.want {
				t.Fatalf("%s = %s, want %s", query, got, tt.want)
			}
		})
	}
}
