package cloudhsmlocal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/cloudhsmlocal"
)

// TestExportImport: a test prepares a state once, exports it, and gives every other test a
// server that starts from it.
func TestExportImport(t *testing.T) {
	ctx := t.Context()
	prepared := start(t, cloudhsmlocal.Options{})
	clusterID, backupID, err := prepared.ActiveCluster(ctx, account1, region)
	if err != nil {
		t.Fatal(err)
	}
	var doc bytes.Buffer
	if err := prepared.Export(ctx, &doc); err != nil {
		t.Fatal(err)
	}

	srv := start(t, cloudhsmlocal.Options{})
	if err := srv.Import(ctx, bytes.NewReader(doc.Bytes()), cloudhsmlocal.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	c := srv.Client(account1, region)
	if got := describeBackup(t, c, backupID); aws.ToString(got.ClusterId) != clusterID {
		t.Fatalf("the imported backup %+v is not of %s", got, clusterID)
	}
	// The state goes on: the imported cluster takes backups.
	if _, err := srv.TakeBackup(ctx, clusterID); err != nil {
		t.Fatal(err)
	}

	if err := srv.Import(ctx, bytes.NewReader(doc.Bytes()), cloudhsmlocal.ImportOptions{}); !errors.Is(err, cloudhsmlocal.ErrConflict) {
		t.Fatalf("Import into a server with resources: %v, want ErrConflict", err)
	}
	bad := strings.Replace(doc.String(), `"Clusters":[`, `"Clusters":[{"ClusterId":"nope"},`, 1)
	err = srv.Import(ctx, strings.NewReader(bad), cloudhsmlocal.ImportOptions{Replace: true})
	if !errors.Is(err, cloudhsmlocal.ErrInvalidArgument) || !strings.Contains(err.Error(), `$.Clusters[0].ClusterId: "nope" is not a ClusterId`) {
		t.Fatalf("Import of a bad document: %v, want ErrInvalidArgument naming the path", err)
	}
	if err := srv.Import(ctx, bytes.NewReader(doc.Bytes()), cloudhsmlocal.ImportOptions{Replace: true}); err != nil {
		t.Fatalf("Import with Replace: %v", err)
	}
	out, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
	if err != nil || len(out.Backups) != 1 {
		t.Fatalf("after Replace: %d backups (%v), want the document's 1", len(out.Backups), err)
	}

	if err := prepared.Close(); err != nil {
		t.Fatal(err)
	}
	if err := prepared.Export(ctx, &doc); !errors.Is(err, cloudhsmlocal.ErrClosed) {
		t.Fatalf("Export of a closed server: %v", err)
	}
	if err := prepared.Import(ctx, &doc, cloudhsmlocal.ImportOptions{}); !errors.Is(err, cloudhsmlocal.ErrClosed) {
		t.Fatalf("Import into a closed server: %v", err)
	}
}

// TestSeed: a test names the state it starts from in a fixture, and the server builds it.
func TestSeed(t *testing.T) {
	ctx := t.Context()
	srv := start(t, cloudhsmlocal.Options{})
	const fixture = `{"Fixture":1,"Clusters":[{"Name":"old","Account":"111122223333","Region":"us-east-1",
		"Backups":[{"Count":3,"Age":"40d"},{"Count":2,"Age":"1d","State":"PENDING_DELETION"}]}]}`
	ids, err := srv.Seed(ctx, strings.NewReader(fixture))
	if err != nil {
		t.Fatal(err)
	}
	out, err := srv.Client(account1, region).DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"clusterIds": {ids["old"]}},
	})
	if err != nil || len(out.Backups) != 5 {
		t.Fatalf("the seeded cluster %s has %d backups (%v), want 5", ids["old"], len(out.Backups), err)
	}
	if _, err := srv.Seed(ctx, strings.NewReader(fixture)); !errors.Is(err, cloudhsmlocal.ErrConflict) {
		t.Fatalf("Seed into a server with resources: %v, want ErrConflict", err)
	}
	if err := srv.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = srv.Seed(ctx, strings.NewReader(`{"Fixture":1,"Clusters":[{"Name":"a","Colour":"red"}]}`))
	if !errors.Is(err, cloudhsmlocal.ErrInvalidArgument) || !strings.Contains(err.Error(), `$: unknown member "Colour"`) {
		t.Fatalf("Seed of a bad fixture: %v, want ErrInvalidArgument naming the path", err)
	}
}
