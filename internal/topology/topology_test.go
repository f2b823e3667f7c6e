package topology

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Parse reads {"subnets": {"subnet-…": {"vpc": "vpc-…", "az": "<region><letter>"}}} and refuses
// anything else, saying what it wants.
func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		lookups map[string]Subnet // subnet -> where the file puts it
		missing []string          // subnets the file does not have
		err     string            // a part of the error, "" for success
	}{
		{name: "subnets with their VPC and zone",
			doc: `{"subnets": {
				"subnet-0a1b2c3d4e5f60001": {"vpc": "vpc-0123456789abcdef0", "az": "us-east-1a"},
				"subnet-0a1b2c3d4e5f60002": {"vpc": "vpc-0123456789abcdef0", "az": "us-east-1b"},
				"subnet-0a1b2c3d4e5f60003": {"vpc": "vpc-0fedcba9876543210", "az": "eu-west-1c"}}}`,
			lookups: map[string]Subnet{
				"subnet-0a1b2c3d4e5f60001": {"vpc-0123456789abcdef0", "us-east-1a"},
				"subnet-0a1b2c3d4e5f60002": {"vpc-0123456789abcdef0", "us-east-1b"},
				"subnet-0a1b2c3d4e5f60003": {"vpc-0fedcba9876543210", "eu-west-1c"},
			},
			missing: []string{"subnet-0a1b2c3d4e5f60004"}},
		{name: "zones of every partition's region shapes",
			doc: `{"subnets": {
				"subnet-1": {"vpc": "vpc-1", "az": "ap-southeast-2b"},
				"subnet-2": {"vpc": "vpc-1", "az": "us-gov-west-1a"},
				"subnet-3": {"vpc": "vpc-1", "az": "eu-central-1c"}}}`,
			lookups: map[string]Subnet{
				"subnet-1": {"vpc-1", "ap-southeast-2b"}, "subnet-2": {"vpc-1", "us-gov-west-1a"}, "subnet-3": {"vpc-1", "eu-central-1c"},
			}},
		{name: "a file with no subnets is a file in which no subnet exists", doc: `{"subnets": {}}`,
			missing: []string{"subnet-0a1b2c3d4e5f60001"}},
		{name: "not JSON", doc: `subnets: []`, err: "not valid JSON"},
		{name: "subnets is not an object", doc: `{"subnets": ["subnet-1"]}`, err: "not valid JSON"},
		{name: "no subnets member", doc: `{}`, err: `no "subnets"`},
		{name: "a misspelled subnets member", doc: `{"subnet": {"subnet-1": {"vpc": "vpc-1", "az": "us-east-1a"}}}`, err: `no "subnets"`},
		{name: "subnets is null", doc: `{"subnets": null}`, err: `no "subnets"`},
		{name: "a subnet ID without subnet-", doc: `{"subnets": {"sn-1": {"vpc": "vpc-1", "az": "us-east-1a"}}}`, err: `subnet "sn-1"`},
		{name: "a VPC without vpc-", doc: `{"subnets": {"subnet-1": {"vpc": "1", "az": "us-east-1a"}}}`, err: `got vpc "1"`},
		{name: "no VPC", doc: `{"subnets": {"subnet-1": {"az": "us-east-1a"}}}`, err: `got vpc ""`},
		{name: "a region, not a zone", doc: `{"subnets": {"subnet-1": {"vpc": "vpc-1", "az": "us-east-1"}}}`, err: `az "us-east-1"`},
		{name: "a zone ID, not a zone name", doc: `{"subnets": {"subnet-1": {"vpc": "vpc-1", "az": "use1-az1"}}}`, err: `az "use1-az1"`},
		{name: "a misspelled az member", doc: `{"subnets": {"subnet-1": {"vpc": "vpc-1", "zone": "us-east-1a"}}}`, err: `az ""`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := Parse([]byte(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: error %v, want one containing %q", err, tc.err)
				}
				if topo.HasFile() {
					t.Fatal("a refused file still counts as a file")
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !topo.HasFile() {
				t.Fatal("HasFile() = false after a file was parsed")
			}
			for id, want := range tc.lookups {
				if got, ok := topo.Lookup(id); !ok || got != want {
					t.Errorf("Lookup(%s) = %+v, %t; want %+v", id, got, ok, want)
				}
			}
			for _, id := range tc.missing {
				if got, ok := topo.Lookup(id); ok {
					t.Errorf("Lookup(%s) = %+v, but the file does not have it", id, got)
				}
			}
		})
	}
}

// Load reads a topology file from disk; the zero Topology is no file at all.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "topology.json")
	if err := os.WriteFile(good, []byte(`{"subnets": {"subnet-1": {"vpc": "vpc-1", "az": "eu-west-1a"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"subnets": {"subnet-1": {"vpc": "vpc-1", "az": "eu-west-1"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
		err  string
	}{
		{"a valid file", good, ""},
		{"a file that does not exist", filepath.Join(dir, "none.json"), "read topology file"},
		{"a file Parse refuses", bad, `az "eu-west-1"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			topo, err := Load(tc.path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Load: error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, ok := topo.Lookup("subnet-1"); !ok || got != (Subnet{"vpc-1", "eu-west-1a"}) || got.Region() != "eu-west-1" {
				t.Fatalf("Lookup(subnet-1) = %+v, %t (region %q)", got, ok, got.Region())
			}
		})
	}
	var none Topology
	if none.HasFile() {
		t.Fatal("the zero Topology has a file")
	}
	if got, ok := none.Lookup("subnet-1"); ok {
		t.Fatalf("the zero Topology looks up subnet-1: %+v", got)
	}
}

// docs/BEHAVIOUR.md §5: without a file, every subnet of an account and region is in one VPC whose ID
// is derived from both, and the n-th subnet seen gets the region's zones in turn, a to f, then a
// again.
func TestDefault(t *testing.T) {
	tests := []struct {
		name            string
		account, region string
		n               int
		want            Subnet
	}{
		{"the first subnet: zone a", "111122223333", "us-east-1", 0, Subnet{"vpc-885c9a1d055a8f1dd", "us-east-1a"}},
		{"the second subnet: zone b, same VPC", "111122223333", "us-east-1", 1, Subnet{"vpc-885c9a1d055a8f1dd", "us-east-1b"}},
		{"the sixth subnet: zone f", "111122223333", "us-east-1", 5, Subnet{"vpc-885c9a1d055a8f1dd", "us-east-1f"}},
		{"the seventh subnet wraps to zone a", "111122223333", "us-east-1", 6, Subnet{"vpc-885c9a1d055a8f1dd", "us-east-1a"}},
		{"the fourteenth subnet: zone b", "111122223333", "us-east-1", 13, Subnet{"vpc-885c9a1d055a8f1dd", "us-east-1b"}},
		{"another account: another VPC", "444455556666", "us-east-1", 0, Subnet{"vpc-f35e5e3eafd88da07", "us-east-1a"}},
		{"another region: another VPC, that region's zones", "111122223333", "eu-west-1", 2, Subnet{"vpc-2ed30ac2213fb2bac", "eu-west-1c"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Default(tc.account, tc.region, tc.n)
			if got != tc.want {
				t.Fatalf("Default(%s, %s, %d) = %+v, want %+v", tc.account, tc.region, tc.n, got, tc.want)
			}
			if got.Region() != tc.region {
				t.Fatalf("Default's zone %s is not in %s", got.AvailabilityZone, tc.region)
			}
			if id := DefaultVpcID(tc.account, tc.region); id != got.VpcID {
				t.Fatalf("DefaultVpcID(%s, %s) = %s, but Default places subnets in %s", tc.account, tc.region, id, got.VpcID)
			}
		})
	}
}
