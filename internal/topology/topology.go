// Package topology tells which VPC and availability zone a subnet belongs to. A topology file
// can pin subnets to the VPCs and zones of another emulator's EC2; without one, every subnet of
// an account and region lives in one derived VPC and gets the region's zones in turn.
//
// This package must never know the API's JSON or the store; the service records what it says.
package topology

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
)

// Subnet is where one subnet lives.
type Subnet struct {
	VpcID            string `json:"vpc"`
	AvailabilityZone string `json:"az"`
}

// Region returns the region of the subnet's availability zone ("us-east-1a" → "us-east-1").
func (s Subnet) Region() string {
	return s.AvailabilityZone[:len(s.AvailabilityZone)-1]
}

// Topology maps subnet IDs to their VPC and zone. The zero value has no file: every subnet is
// placed by Default.
type Topology struct {
	subnets map[string]Subnet
}

// Load reads a topology file: a JSON object {"subnets": {"subnet-…": {"vpc": "vpc-…", "az": "us-east-1a"}}}.
func Load(path string) (Topology, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Topology{}, fmt.Errorf("read topology file: %w", err)
	}
	return Parse(raw)
}

// Parse parses the contents of a topology file. A file must have the "subnets" object (which
// may be empty: then no subnet exists).
func Parse(raw []byte) (Topology, error) {
	var doc struct {
		Subnets map[string]Subnet `json:"subnets"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return Topology{}, fmt.Errorf("topology file is not valid JSON of the form {\"subnets\":{\"subnet-…\":{\"vpc\":…,\"az\":…}}}: %w", err)
	}
	if doc.Subnets == nil { // else a misspelled file would silently mean no file
		return Topology{}, fmt.Errorf("topology file has no \"subnets\" object: want {\"subnets\":{\"subnet-…\":{\"vpc\":…,\"az\":…}}}")
	}
	for id, s := range doc.Subnets {
		if !strings.HasPrefix(id, "subnet-") || !strings.HasPrefix(s.VpcID, "vpc-") || !api.IsExternalAz(s.AvailabilityZone) {
			return Topology{}, fmt.Errorf("topology file: subnet %q needs an ID starting subnet-, a vpc starting vpc- and an availability zone like us-east-1a (got vpc %q, az %q)", id, s.VpcID, s.AvailabilityZone)
		}
	}
	return Topology{subnets: doc.Subnets}, nil
}

// HasFile reports whether subnets come from a topology file.
func (t Topology) HasFile() bool { return t.subnets != nil }

// Lookup returns the file's entry for a subnet.
func (t Topology) Lookup(subnetID string) (Subnet, bool) {
	s, ok := t.subnets[subnetID]
	return s, ok
}

// zoneLetters are the availability zones handed out in turn, wrapping after six.
const zoneLetters = "abcdef"

// Default places the n-th subnet (counting from 0) first seen in an account and region: in the
// VPC derived from both, in the region's next zone.
func Default(account, region string, n int) Subnet {
	return Subnet{VpcID: DefaultVpcID(account, region), AvailabilityZone: region + string(zoneLetters[n%len(zoneLetters)])}
}

// DefaultVpcID derives a stable VPC ID from an account and region.
func DefaultVpcID(account, region string) string {
	sum := sha256.Sum256([]byte(account + "/" + region))
	return "vpc-" + hex.EncodeToString(sum[:])[:17]
}
