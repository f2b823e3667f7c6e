package api

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A page of 50 backups, as DescribeBackups answers it.
func benchPage() *DescribeBackupsResponse {
	s := func(v string) *string { return &v }
	out := &DescribeBackupsResponse{NextToken: s(strings.Repeat("n", 60))}
	for i := range 50 {
		id := fmt.Sprintf("backup-%011d", i)
		out.Backups = append(out.Backups, Backup{
			BackupArn: s("arn:aws:cloudhsm:us-east-1:111122223333:backup/" + id), BackupId: s(id),
			BackupState: s(BackupStateReady), ClusterId: s("cluster-abcdefghijk"),
			CreateTimestamp: NewTimestamp(time.UnixMilli(1767225600123 + int64(i))), HsmType: s("hsm2m.medium"),
			Mode: s("FIPS"), NeverExpires: new(bool), TagList: []Tag{},
		})
	}
	return out
}

func BenchmarkAppendJSONPage50(b *testing.B) {
	page := benchPage()
	b.ReportAllocs()
	for b.Loop() {
		page.AppendJSON(make([]byte, 0, 16<<10))
	}
}

// The reflective encoding AppendJSON replaces, for comparison.
func BenchmarkEncodingJSONPage50(b *testing.B) {
	page := benchPage()
	b.ReportAllocs()
	for b.Loop() {
		encodingJSON(b, page)
	}
}
