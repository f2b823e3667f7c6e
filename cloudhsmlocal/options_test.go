package cloudhsmlocal_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// TestStartRefusesBadOptions: every option Start cannot use gives an error naming it, never a
// panic or a half-started server; option mistakes wrap ErrInvalidOptions.
func TestStartRefusesBadOptions(t *testing.T) {
	dir := t.TempDir()
	badCredentials := filepath.Join(dir, "bad-credentials.json")
	if err := os.WriteFile(badCredentials, []byte(`[{"access_key_id":"AKID","secret_access_key":"s","account_id":"12"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	good := cloudhsmlocal.Credential{AccessKeyID: "AKID", SecretAccessKey: "secret", AccountID: "111122223333"}
	strict := func(o cloudhsmlocal.Options) cloudhsmlocal.Options {
		o.Strict = true
		if o.AdminToken == "" {
			o.AdminToken = "token"
		}
		return o
	}
	tests := []struct {
		name    string
		opts    cloudhsmlocal.Options
		invalid bool   // wraps ErrInvalidOptions
		want    string // in the message
	}{
		{"an unknown store scheme", cloudhsmlocal.Options{Store: "mysql://db"}, true, `Store "mysql://db"`},
		{"sqlite without a path", cloudhsmlocal.Options{Store: "sqlite:"}, true, `Store "sqlite:"`},
		{"a password in a bad store is redacted", cloudhsmlocal.Options{Store: "redis://me:hunter2@host"}, true, "xxxxx"},
		{"a bad region", cloudhsmlocal.Options{Region: "moon-1"}, true, `Region "moon-1"`},
		{"a negative delay", cloudhsmlocal.Options{Delay: -time.Second}, true, "Delay is negative"},
		{"a negative pending-deletion window", cloudhsmlocal.Options{PendingDeletion: -time.Hour}, true, "PendingDeletion is negative"},
		{"a negative tombstone", cloudhsmlocal.Options{Tombstone: -time.Hour}, true, "Tombstone is negative"},
		{"a negative transition delay", cloudhsmlocal.Options{Delays: map[cloudhsmlocal.Transition]time.Duration{cloudhsmlocal.HSMCreate: -time.Second}}, true, "Delays[hsm-create] is negative"},
		{"an unknown transition", cloudhsmlocal.Options{Delays: map[cloudhsmlocal.Transition]time.Duration{"hsm-reboot": time.Second}}, true, `"hsm-reboot" is not a transition`},
		{"a negative quota", cloudhsmlocal.Options{MaxClusters: -1}, true, "MaxClusters and MaxHSMsPerCluster must not be negative"},
		{"an unknown durability", cloudhsmlocal.Options{Store: "sqlite:" + filepath.Join(dir, "x.db"), Durability: "eventually"}, true, "Durability"},
		{"fsync on the memory store", cloudhsmlocal.Options{Durability: cloudhsmlocal.DurabilityFsync}, true, "needs a store on disk"},
		{"subnets and a topology file", cloudhsmlocal.Options{Subnets: map[string]cloudhsmlocal.Subnet{}, TopologyFile: "topology.json"}, true, "not both"},
		{"a missing topology file", cloudhsmlocal.Options{TopologyFile: filepath.Join(dir, "nope.json")}, true, "TopologyFile"},
		{"a subnet without a zone", cloudhsmlocal.Options{Subnets: map[string]cloudhsmlocal.Subnet{"subnet-0000000a": {VPC: "vpc-0000000a"}}}, true, `subnet "subnet-0000000a"`},
		{"credentials without strict mode", cloudhsmlocal.Options{Credentials: []cloudhsmlocal.Credential{good}}, true, "only used with Strict"},
		{"strict mode without an admin token", cloudhsmlocal.Options{Strict: true, Credentials: []cloudhsmlocal.Credential{good}}, true, "needs an AdminToken"},
		{"strict mode without credentials", strict(cloudhsmlocal.Options{}), true, "at least one credential"},
		{"a credential without a 12-digit account", strict(cloudhsmlocal.Options{Credentials: []cloudhsmlocal.Credential{{AccessKeyID: "AKID", SecretAccessKey: "s", AccountID: "42"}}}), true, "not a 12-digit account id"},
		{"a credential with a bad policy", strict(cloudhsmlocal.Options{Credentials: []cloudhsmlocal.Credential{{AccessKeyID: "AKID", SecretAccessKey: "s", AccountID: "111122223333", Policy: "{"}}}), true, "policy"},
		{"a missing credentials file", strict(cloudhsmlocal.Options{CredentialsFile: filepath.Join(dir, "nope.json")}), true, "CredentialsFile"},
		{"a bad credentials file", strict(cloudhsmlocal.Options{CredentialsFile: badCredentials}), true, "bad-credentials.json: entry 1 (AKID)"},
		{"one access key in the list and the file", strict(cloudhsmlocal.Options{Credentials: []cloudhsmlocal.Credential{good}, CredentialsFile: writeCredentials(t, dir)}), true, "access key id given twice"},
		{"a history over the most a server keeps", cloudhsmlocal.Options{History: 10_001}, true, "History 10001 is over the most a server keeps (10000)"},
		{"an address in use", cloudhsmlocal.Options{Addr: busy.Addr().String()}, false, "listen on " + busy.Addr().String()},
		{"an address that is no address", cloudhsmlocal.Options{Addr: "nowhere"}, false, "listen on nowhere"},
		{"an unreachable PostgreSQL", cloudhsmlocal.Options{Store: "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2"}, false, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := cloudhsmlocal.Start(t.Context(), tt.opts)
			if err == nil {
				srv.Close()
				t.Fatal("Start accepted the options")
			}
			if errors.Is(err, cloudhsmlocal.ErrInvalidOptions) != tt.invalid {
				t.Errorf("errors.Is(%v, ErrInvalidOptions) = %t, want %t", err, !tt.invalid, tt.invalid)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Start: %v\nwant a message with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret") {
				t.Errorf("Start's error shows a secret: %v", err)
			}
		})
	}
}

// writeCredentials writes a credentials file with the access key AKID, which the table's
// Options.Credentials also holds.
func writeCredentials(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "credentials.json")
	if err := os.WriteFile(path, []byte(`[{"access_key_id":"AKID","secret_access_key":"other","account_id":"444455556666"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
