package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/fixture"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
	"github.com/cloudhsm-local/cloudhsm-local/internal/service"
)

var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

// docsFixtures returns every fixture in a ```json block of docs/FIXTURES.md and README.md, the
// complete example of docs/FIXTURES.md first.
func docsFixtures(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, file := range []string{filepath.Join("..", "docs", "FIXTURES.md"), filepath.Join("..", "README.md")} {
		md, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, m := range jsonBlock.FindAllStringSubmatch(string(md), -1) {
			if fixture.IsFixture([]byte(m[1])) {
				out, found = append(out, m[1]), found+1
			}
		}
		if found == 0 {
			t.Fatalf("%s has no fixture in a ```json block", file)
		}
	}
	return out
}

// TestSeedDocsExamples: every fixture of docs/FIXTURES.md and README.md is accepted and built,
// through the admin API, with the counts the answer reports, and what it built exports and
// imports as any state does.
func TestSeedDocsExamples(t *testing.T) {
	for i, doc := range docsFixtures(t) {
		e := newEnv(t)
		status, body := e.adminRaw(http.MethodPost, "fixture", doc)
		if status != http.StatusOK {
			t.Fatalf("example %d: HTTP %d %s", i, status, body)
		}
		var got admin.FixtureSeeded
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		parsed, err := fixture.Read(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		backups, hsms := 0, 0
		for _, c := range parsed.Clusters {
			hsms += *c.Hsms
			for _, g := range c.Backups {
				backups += g.Count
			}
		}
		if len(got.Clusters) != len(parsed.Clusters) || got.HSMs != hsms || got.Backups != backups {
			t.Errorf("example %d: seeded %s, want %d clusters, %d HSMs, %d backups", i, body, len(parsed.Clusters), hsms, backups)
		}
		var all []types.Backup
		for name, id := range got.Clusters {
			c := parsed.Clusters[slices.IndexFunc(parsed.Clusters, func(c fixture.Cluster) bool { return c.Name == name })]
			all = append(all, describeAll(t, e.client(c.Account, cmp.Or(c.Region, "us-east-1")), &cloudhsmv2.DescribeBackupsInput{
				Filters: map[string][]string{"clusterIds": {id}},
			})...)
		}
		if len(all) != backups {
			t.Errorf("example %d: DescribeBackups lists %d backups of the seeded clusters, want %d", i, len(all), backups)
		}
		status, body = e.adminRaw(http.MethodPost, "fixture", doc)
		wantAdminError(t, status, body, http.StatusConflict, "a fixture seeds an empty store only")
		// What a fixture builds passes every check of a snapshot import: a state the service
		// could have reached.
		if status, body := newEnv(t).importState(t, "", e.exportState(t)); status != http.StatusOK {
			t.Errorf("example %d: its export does not import: HTTP %d %s", i, status, body)
		}
	}
}

// TestSeedRefusesBadFixtures: a fixture with any problem is refused whole with the JSON path and
// the rule, and nothing is built, even when its first clusters were fine.
func TestSeedRefusesBadFixtures(t *testing.T) {
	e := newEnv(t, withServiceConfig(func(c *service.Config) { c.MaxHSMsPerCluster = 2 }))
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown member", `{"Fixture":1,"Clusters":[{"Name":"a","Backups":[{"Ages":"1d"}]}]}`, `$: unknown member "Ages"`},
		{"wrong version", `{"Fixture":3}`, "$.Fixture: version 3 is not known"},
		{"duplicate names", `{"Fixture":1,"Clusters":[{"Name":"a"},{"Name":"a"}]}`, `$.Clusters[1].Name: "a" is already the name of $.Clusters[0]`},
		{"backups of an INITIALIZED cluster", `{"Fixture":1,"Clusters":[{"Name":"a","State":"INITIALIZED","Backups":[{}]}]}`, "$.Clusters[0].Backups: a cluster in state INITIALIZED has no backups"},
		{"a backup in the future", `{"Fixture":1,"Clusters":[{"Name":"a","Backups":[{"Age":"-2h"}]}]}`, "$.Clusters[0].Backups[0].Age: -2h is in the future"},
		{"a DELETED backup too young, after a fine cluster", `{"Fixture":1,"Clusters":[{"Name":"a","Backups":[{"Count":50,"Age":"3d"}]},{"Name":"b","Backups":[{"Age":"3d","State":"DELETED"}]}]}`, "$.Clusters[1].Backups[0]: wrong state"},
		{"more HSMs than the quota", `{"Fixture":1,"Clusters":[{"Name":"a"},{"Name":"b","Hsms":3}]}`, "$.Clusters[1].Hsms: 3 HSMs, more than the quota of 2 (--max-hsms)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.adminRaw(http.MethodPost, "fixture", tc.doc)
			wantAdminError(t, status, body, http.StatusBadRequest, tc.want)
			out, err := e.defaultClient().DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{}, retryReads)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Clusters) != 0 {
				t.Fatalf("a refused fixture left %d clusters", len(out.Clusters))
			}
		})
	}
}

// TestSeedServe: serve --seed builds the example (a cluster with 300 backups, 12 of them
// PENDING_DELETION and 5 forty days old) at start, as the SDK sees it; a second start on the
// same store leaves it as it is and says so.
func TestSeedServe(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real binary; go test -short leaves it out")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	file, db := filepath.Join(dir, "fixture.json"), filepath.Join(dir, "state.db")
	if err := os.WriteFile(file, []byte(docsFixtures(t)[0]), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, bin, "--store", "sqlite:"+db, "--seed", file)
	if log := p.stderrText(); !strings.Contains(log, `msg="seeded fixture" clusters=3 hsms=6 backups=300`) {
		t.Fatalf("no line about the seeded fixture in the log:\n%s", log)
	}
	e := p.env(t)
	now := e.virtualNow(t)
	c := e.client(account1, "us-east-1")
	wantSeeded := func(t *testing.T) {
		t.Helper()
		clusters, err := c.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{}, retryReads)
		if err != nil {
			t.Fatal(err)
		}
		states := map[types.ClusterState]types.Cluster{}
		for _, cl := range clusters.Clusters {
			states[cl.State] = cl
		}
		busy, fresh := states[types.ClusterStateActive], states[types.ClusterStateUninitialized]
		if len(clusters.Clusters) != 2 || len(busy.Hsms) != 2 || len(fresh.Hsms) != 1 || aws.ToString(fresh.Certificates.ClusterCsr) == "" ||
			aws.ToString(busy.Certificates.ClusterCertificate) == "" || tagString(busy.TagList) != "team=payments" {
			t.Fatalf("clusters of %s: %+v", account1, clusters.Clusters)
		}
		backups := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {aws.ToString(busy.ClusterId)}}})
		count := map[types.BackupState]int{}
		fortyDays, neverExpires := 0, 0
		for _, b := range backups {
			count[b.BackupState]++
			age := now.Sub(aws.ToTime(b.CreateTimestamp))
			if age >= 40*24*time.Hour && age < 40*24*time.Hour+time.Minute {
				fortyDays++
			}
			if aws.ToBool(b.NeverExpires) {
				neverExpires++
			}
			if b.BackupState == types.BackupStatePendingDeletion {
				if until := aws.ToTime(b.DeleteTimestamp).Sub(now); until <= 6*24*time.Hour || until > 7*24*time.Hour {
					t.Errorf("PENDING_DELETION backup %s restorable for %s more, want under 7 days", aws.ToString(b.BackupId), until)
				}
			}
		}
		if len(backups) != 300 || count[types.BackupStatePendingDeletion] != 12 || count[types.BackupStateReady] != 288 || fortyDays != 5 || neverExpires != 1 {
			t.Fatalf("%d backups, by state %v, %d forty days old, %d NeverExpires; want 300, 12 PENDING_DELETION and 288 READY, 5, 1", len(backups), count, fortyDays, neverExpires)
		}
		if created := aws.ToTime(busy.CreateTimestamp); !created.Before(aws.ToTime(backups[len(backups)-1].CreateTimestamp).Add(time.Millisecond)) {
			t.Errorf("cluster created %s, after its oldest backup", created)
		}
		shared := describeAll(t, e.client(account2, "us-east-1"), &cloudhsmv2.DescribeBackupsInput{Shared: aws.Bool(true)})
		if len(shared) != 5 {
			t.Fatalf("%s sees %d backups shared with it, want the 5 forty days old", account2, len(shared))
		}
		for _, b := range shared {
			if age := now.Sub(aws.ToTime(b.CreateTimestamp)); age < 40*24*time.Hour || age > 40*24*time.Hour+time.Minute {
				t.Errorf("shared backup %s is %s old, want 40 days", aws.ToString(b.BackupId), age)
			}
		}
		other, err := e.client(account2, "eu-west-1").DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{}, retryReads)
		if err != nil {
			t.Fatal(err)
		}
		if len(other.Clusters) != 1 || other.Clusters[0].State != types.ClusterStateInitialized || len(other.Clusters[0].Hsms) != 3 {
			t.Fatalf("clusters of %s in eu-west-1: %+v", account2, other.Clusters)
		}
	}
	wantSeeded(t)
	p.kill()

	p = startProcess(t, bin, "--store", "sqlite:"+db, "--seed", file)
	if log := p.stderrText(); !strings.Contains(log, `msg="seed fixture not applied: the store already holds resources"`) {
		t.Fatalf("no line about the fixture left unapplied in the log:\n%s", log)
	}
	e = p.env(t)
	c = e.client(account1, "us-east-1")
	wantSeeded(t)
}

// TestSeedNeedsTheAdminToken: in strict mode a fixture, like the rest of the admin API, needs
// the admin token.
func TestSeedNeedsTheAdminToken(t *testing.T) {
	e, _ := newStrictEnv(t, strictCredentialsFile(t, strictCreds))
	const doc = `{"Fixture":1,"Clusters":[{"Name":"a","Account":"111122223333","Backups":[{"Count":2,"Age":"1d"}]}]}`
	for _, auth := range []string{"", "Bearer wrong"} {
		if status, body := e.adminWithAuth(http.MethodPost, "fixture", doc, auth); status != http.StatusUnauthorized {
			t.Errorf("POST fixture with Authorization %q: HTTP %d %s", auth, status, body)
		}
	}
	if status, body := e.adminWithAuth(http.MethodPost, "fixture", doc, "Bearer "+strictAdminToken); status != http.StatusOK {
		t.Fatalf("POST fixture with the token: HTTP %d %s", status, body)
	}
}

// TestSeedReplicas: replicas started at once on one PostgreSQL database, each with the same
// fixture, build it once: one seeds, the others find the store holding resources and leave it.
func TestSeedReplicas(t *testing.T) {
	dsn := storeDSN(t, "postgres")
	doc, err := fixture.Read(strings.NewReader(`{"Fixture":1,"Clusters":[{"Name":"a","Account":"111122223333","Backups":[{"Count":20,"Age":"3d"}]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	const replicas = 3
	errs := make(chan error, replicas)
	for range replicas {
		go func() {
			srv, err := server.New(context.Background(), server.Config{
				Store: dsn, DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(), Seed: doc,
			})
			if err == nil {
				err = srv.Close()
			}
			errs <- err
		}()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Fatalf("a replica with --seed: %v", err)
		}
	}
	srv, err := server.New(context.Background(), server.Config{
		Store: dsn, DefaultRegion: "us-east-1", Lifecycle: lifecycle.DefaultConfig(), Service: service.DefaultConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	e := &env{t: t, url: hs.URL, admin: admin.Client{Endpoint: hs.URL}}
	c := e.client(account1, "us-east-1")
	clusters, err := c.DescribeClusters(context.Background(), &cloudhsmv2.DescribeClustersInput{}, retryReads)
	if err != nil {
		t.Fatal(err)
	}
	if backups := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{}); len(clusters.Clusters) != 1 || len(backups) != 20 {
		t.Fatalf("%d replicas seeding at once left %d clusters and %d backups, want the fixture's 1 and 20", replicas, len(clusters.Clusters), len(backups))
	}
}
