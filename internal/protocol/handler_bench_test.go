package protocol

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// describeBackupsBody is what a waiter polling one backup sends.
const describeBackupsBody = `{"Filters":{"backupIds":["backup-abcdefghijk"]},"MaxResults":50,"SortAscending":false}`

// oneBackupService answers DescribeBackups with one backup and nothing else: the benchmark
// below measures the front door alone (identity, target, decoding, validation, encoding).
type oneBackupService struct {
	api.Service // every other operation is absent: calling one panics
	out         *api.DescribeBackupsResponse
}

func (s oneBackupService) DescribeBackups(context.Context, *api.DescribeBackupsRequest) (*api.DescribeBackupsResponse, error) {
	return s.out, nil
}

func BenchmarkHandlerDescribeBackups(b *testing.B) { benchHandlerDescribeBackups(b) }

// benchHandlerDescribeBackups serves DescribeBackups of one backup through a handler made with
// opts.
func benchHandlerDescribeBackups(b *testing.B, opts ...Option) {
	str := func(s string) *string { return &s }
	never := false
	svc := oneBackupService{out: &api.DescribeBackupsResponse{Backups: []api.Backup{{
		BackupId: str("backup-abcdefghijk"), BackupArn: str("arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"),
		BackupState: str("READY"), ClusterId: str("cluster-abcdefghijk"), HsmType: str("hsm2m.medium"), Mode: str("FIPS"),
		CreateTimestamp: api.NewTimestamp(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), NeverExpires: &never, TagList: []api.Tag{},
	}}}}
	h := NewHandler(svc, identity.Resolver{DefaultRegion: "us-east-1"}, nil, func() string { return "req-1" }, opts...)
	auth := "AWS4-HMAC-SHA256 Credential=111122223333/20260101/us-east-1/cloudhsm/aws4_request, " +
		"SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + strings.Repeat("0", 64)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(describeBackupsBody))
		req.Header.Set("Content-Type", ContentType)
		req.Header.Set("X-Amz-Target", TargetPrefix+"DescribeBackups")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
		}
	}
}
