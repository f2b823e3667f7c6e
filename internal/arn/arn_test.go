package arn

import (
	"strings"
	"testing"
)

func TestParseCanonical(t *testing.T) {
	tests := []struct {
		in   string
		want ARN
	}{
		{"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk",
			ARN{"aws", "us-east-1", "111122223333", KindBackup, "backup-abcdefghijk"}},
		{"arn:aws-us-gov:cloudhsm:us-gov-west-1:111122223333:cluster/cluster-abcdefghijk23456",
			ARN{"aws-us-gov", "us-gov-west-1", "111122223333", KindCluster, "cluster-abcdefghijk23456"}},
		{"arn:aws:cloudhsm:ap-southeast-2:000000000000:hsm/hsm-ABCDEFGHIJK",
			ARN{"aws", "ap-southeast-2", "000000000000", KindHsm, "hsm-ABCDEFGHIJK"}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Parse = %+v, %v; want %+v", got, err, tt.want)
			}
			if got.String() != tt.in {
				t.Fatalf("String = %s, want the input back", got)
			}
			if New(got.Region, got.Account, got.Kind, got.ID) != got {
				t.Fatalf("New disagrees with Parse")
			}
		})
	}
}

// TestParseRefusesEveryOtherSpelling: one resource, one spelling.
func TestParseRefusesEveryOtherSpelling(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"GovCloud partition on a commercial region", "arn:aws-us-gov:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk", "region us-east-1 is in partition aws"},
		{"commercial partition on a GovCloud region", "arn:aws:cloudhsm:us-gov-west-1:111122223333:backup/backup-abcdefghijk", "region us-gov-west-1 is in partition aws-us-gov"},
		{"unknown partition", "arn:aws-cn:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk", "has partition aws-cn"},
		{"upper-case scheme", "ARN:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk", "is not a CloudHSM ARN"},
		{"upper-case service", "arn:aws:CloudHSM:us-east-1:111122223333:backup/backup-abcdefghijk", "is not a CloudHSM ARN"},
		{"other service", "arn:aws:kms:us-east-1:111122223333:backup/backup-abcdefghijk", "is not a CloudHSM ARN"},
		{"upper-case region", "arn:aws:cloudhsm:US-EAST-1:111122223333:backup/backup-abcdefghijk", "names no valid region"},
		{"ISO region", "arn:aws:cloudhsm:us-iso-east-1:111122223333:backup/backup-abcdefghijk", "names no valid region"},
		{"empty region", "arn:aws:cloudhsm::111122223333:backup/backup-abcdefghijk", "names no valid region"},
		{"short account", "arn:aws:cloudhsm:us-east-1:11112222333:backup/backup-abcdefghijk", "names no valid account"},
		{"upper-case kind", "arn:aws:cloudhsm:us-east-1:111122223333:Backup/backup-abcdefghijk", "names no CloudHSM resource"},
		{"kind and ID disagree", "arn:aws:cloudhsm:us-east-1:111122223333:backup/cluster-abcdefghijk", "has no valid backup ID"},
		{"extra path", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk/x", "has no valid backup ID"},
		{"trailing newline", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk\n", "has no valid backup ID"},
		{"trailing colon part", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk:1", "has no valid backup ID"},
		{"leading space", " arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk", "is not a CloudHSM ARN"},
		{"ID too long", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijkabcdefg", "has no valid backup ID"},
		{"ID with a digit outside 2-7", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghij1", "has no valid backup ID"},
		{"no kind", "arn:aws:cloudhsm:us-east-1:111122223333:backup-abcdefghijk", "names no CloudHSM resource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse(%q) = %+v, %v; want an error containing %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestErrorsQuoteLongInputClipped(t *testing.T) {
	_, err := Parse("arn:aws:cloudhsm:us-east-1:111122223333:backup/" + strings.Repeat("x", 100000))
	if err == nil || len(err.Error()) > 1200 {
		t.Fatalf("error of %d bytes: %.100v", len(err.Error()), err)
	}
}
