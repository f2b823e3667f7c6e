package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
	"github.com/aws/smithy-go"
)

// filterFixture is one account's backups in two regions, built once for the read-only filter
// rules. Timeline (t0 = start): a1 at t0 (activation of cluster A), b1 at t0+1h (activation
// of B), a2 at t0+2h and a3 at t0+3h (admin backups of A); a2 is NeverExpires, a3 is
// PENDING_DELETION; c1 and c2 are the eu-west-1 copies of a1 and a2.
type filterFixture struct {
	clusterA, clusterB     string
	a1, a2, a3, b1, c1, c2 string
}

func newFilterFixture(t *testing.T, e *env) filterFixture {
	t.Helper()
	ctx := context.Background()
	c := e.defaultClient()
	var f filterFixture
	f.clusterA, f.a1 = e.activeCluster(t, c)
	e.advance(time.Hour)
	f.clusterB, f.b1 = e.activeCluster(t, c)
	e.advance(time.Hour)
	f.a2 = e.takeBackup(t, f.clusterA)
	e.advance(time.Hour)
	f.a3 = e.takeBackup(t, f.clusterA)
	if _, err := c.ModifyBackupAttributes(ctx, &cloudhsmv2.ModifyBackupAttributesInput{BackupId: &f.a2, NeverExpires: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{f.a1, f.a2} {
		if _, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: aws.String(id), DestinationRegion: aws.String("eu-west-1")}); err != nil {
			t.Fatal(err)
		}
	}
	mustDelete(t, c, f.a3)
	for _, b := range describeAll(t, e.client(account1, "eu-west-1"), &cloudhsmv2.DescribeBackupsInput{}) {
		switch aws.ToString(b.SourceBackup) {
		case f.a1:
			f.c1 = aws.ToString(b.BackupId)
		case f.a2:
			f.c2 = aws.ToString(b.BackupId)
		}
	}
	if f.c1 == "" || f.c2 == "" {
		t.Fatalf("copies of %s and %s not found in eu-west-1", f.a1, f.a2)
	}
	return f
}

// TestDescribeBackupsFilters pins the filters of docs/BEHAVIOUR.md §4: OR within a key, AND across
// keys, newest first unless SortAscending, and CloudHsmInvalidRequestException for an unknown
// key or a bad value. The rules only read, so they share one server.
func TestDescribeBackupsFilters(t *testing.T) {
	e := newEnv(t)
	f := newFilterFixture(t, e)
	tests := []struct {
		name    string
		region  string
		filters map[string][]string
		asc     bool
		want    []string
	}{
		{"no filters list every owned backup of the region, newest first", "us-east-1", nil, false, []string{f.a3, f.a2, f.b1, f.a1}},
		{"SortAscending lists oldest first", "us-east-1", nil, true, []string{f.a1, f.b1, f.a2, f.a3}},
		{"backupIds with one value", "us-east-1", map[string][]string{"backupIds": {f.a1}}, false, []string{f.a1}},
		{"backupIds with several values is OR", "us-east-1", map[string][]string{"backupIds": {f.a1, f.b1}}, false, []string{f.b1, f.a1}},
		{"backupIds of another region's backup finds nothing", "us-east-1", map[string][]string{"backupIds": {f.c1}}, false, nil},
		{"clusterIds with one value", "us-east-1", map[string][]string{"clusterIds": {f.clusterA}}, false, []string{f.a3, f.a2, f.a1}},
		{"clusterIds with several values is OR", "us-east-1", map[string][]string{"clusterIds": {f.clusterA, f.clusterB}}, false, []string{f.a3, f.a2, f.b1, f.a1}},
		{"states with one value", "us-east-1", map[string][]string{"states": {"READY"}}, false, []string{f.a2, f.b1, f.a1}},
		{"states PENDING_DELETION", "us-east-1", map[string][]string{"states": {"PENDING_DELETION"}}, false, []string{f.a3}},
		{"states with several values is OR", "us-east-1", map[string][]string{"states": {"PENDING_DELETION", "READY"}}, false, []string{f.a3, f.a2, f.b1, f.a1}},
		{"states DELETED matches nothing when nothing is deleted", "us-east-1", map[string][]string{"states": {"DELETED"}}, false, nil},
		{"neverExpires true", "us-east-1", map[string][]string{"neverExpires": {"true"}}, false, []string{f.a2}},
		{"neverExpires false", "us-east-1", map[string][]string{"neverExpires": {"false"}}, false, []string{f.a3, f.b1, f.a1}},
		{"neverExpires true and false is OR", "us-east-1", map[string][]string{"neverExpires": {"true", "false"}}, false, []string{f.a3, f.a2, f.b1, f.a1}},
		{"sourceBackupIds with one value finds the copy", "eu-west-1", map[string][]string{"sourceBackupIds": {f.a1}}, false, []string{f.c1}},
		{"sourceBackupIds with several values is OR", "eu-west-1", map[string][]string{"sourceBackupIds": {f.a1, f.a2}}, false, []string{f.c2, f.c1}},
		{"sourceBackupIds matches nothing that is not a copy", "us-east-1", map[string][]string{"sourceBackupIds": {f.a1}}, false, nil},
		{"copies are listed in their region only, ordered by the source's CreateTimestamp", "eu-west-1", nil, true, []string{f.c1, f.c2}},
		{"clusterIds AND states", "us-east-1", map[string][]string{"clusterIds": {f.clusterA}, "states": {"READY"}}, false, []string{f.a2, f.a1}},
		{"clusterIds AND states AND neverExpires", "us-east-1", map[string][]string{"clusterIds": {f.clusterA}, "states": {"READY"}, "neverExpires": {"false"}}, false, []string{f.a1}},
		{"backupIds AND clusterIds that exclude each other match nothing", "us-east-1", map[string][]string{"backupIds": {f.b1}, "clusterIds": {f.clusterA}}, false, nil},
		{"sourceBackupIds AND states", "eu-west-1", map[string][]string{"sourceBackupIds": {f.a1, f.a2}, "states": {"READY"}}, true, []string{f.c1, f.c2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := backupIDs(describeAll(t, e.client(account1, tt.region), &cloudhsmv2.DescribeBackupsInput{
				Filters: tt.filters, SortAscending: aws.Bool(tt.asc),
			}))
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v\nwant %v", got, tt.want)
			}
		})
	}

	invalid := []struct {
		name    string
		filters map[string][]string
	}{
		{"an unknown filter key", map[string][]string{"backupId": {f.a1}}},
		{"a DescribeClusters filter key", map[string][]string{"vpcIds": {"vpc-0123456789abcdef0"}}},
		{"a key breaking the model's key pattern", map[string][]string{"bad key": {"x"}}},
		{"a key with no values", map[string][]string{"states": {}}},
		{"a state that does not exist", map[string][]string{"states": {"READY", "AVAILABLE"}}},
		{"a state in lower case", map[string][]string{"states": {"ready"}}},
		{"neverExpires not true or false", map[string][]string{"neverExpires": {"yes"}}},
		{"neverExpires in upper case", map[string][]string{"neverExpires": {"TRUE"}}},
		{"a malformed backup ID in backupIds", map[string][]string{"backupIds": {f.a1, "backup-1"}}},
		{"a cluster ID in sourceBackupIds", map[string][]string{"sourceBackupIds": {f.clusterA}}},
		{"a backup ID in clusterIds", map[string][]string{"clusterIds": {f.a1}}},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" is CloudHsmInvalidRequestException", func(t *testing.T) {
			_, err := e.defaultClient().DescribeBackups(context.Background(), &cloudhsmv2.DescribeBackupsInput{Filters: tt.filters})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		})
	}
}

// TestDescribeBackupsOrderAndPages pins the order (CreateTimestamp, ties by ID) and the
// pagination of DescribeBackups (docs/BEHAVIOUR.md §4, §8). Each rule builds its own server.
func TestDescribeBackupsOrderAndPages(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string)
	}{
		{"backups of the same instant are ordered by ID: ascending, and the reverse when newest first", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			e.advance(time.Minute)
			same := []string{e.takeBackup(t, clusterID), e.takeBackup(t, clusterID), e.takeBackup(t, clusterID)}
			slices.Sort(same)
			wantAsc := append([]string{first}, same...)
			for _, max := range []int32{1, 2, 50} {
				asc := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{SortAscending: aws.Bool(true), MaxResults: aws.Int32(max)})
				if got := backupIDs(asc); !slices.Equal(got, wantAsc) {
					t.Fatalf("MaxResults %d, ascending: got %v\nwant %v", max, got, wantAsc)
				}
				if !asc[1].CreateTimestamp.Equal(*asc[3].CreateTimestamp) {
					t.Fatalf("the admin backups should share one CreateTimestamp: %v, %v", asc[1].CreateTimestamp, asc[3].CreateTimestamp)
				}
				wantDesc := slices.Clone(wantAsc)
				slices.Reverse(wantDesc)
				if got := backupIDs(describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{MaxResults: aws.Int32(max)})); !slices.Equal(got, wantDesc) {
					t.Fatalf("MaxResults %d, newest first: got %v\nwant %v", max, got, wantDesc)
				}
			}
		}},
		{"the SDK paginator visits each of 120 backups exactly once, in order, for every page size", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			created := []string{first}
			for i := range 119 {
				if i%3 == 0 { // three backups per instant, so ties straddle page boundaries
					e.advance(time.Minute)
				}
				created = append(created, e.takeBackup(t, clusterID))
			}
			var ref []types.Backup
			for _, max := range []int32{0, 1, 7, 49, 50} {
				for _, asc := range []bool{true, false} {
					t.Run(fmt.Sprintf("MaxResults=%d/SortAscending=%v", max, asc), func(t *testing.T) {
						in := &cloudhsmv2.DescribeBackupsInput{SortAscending: aws.Bool(asc)}
						if max > 0 {
							in.MaxResults = aws.Int32(max)
						}
						pages, got := describePages(t, c, in)
						size := max32(max)
						wantPages := (120 + size - 1) / size
						if len(pages) != wantPages {
							t.Fatalf("%d pages (sizes %v), want %d", len(pages), pages, wantPages)
						}
						if max == 0 && !slices.Equal(pages, []int{50, 50, 20}) {
							t.Fatalf("default page size should be 50: page sizes %v", pages)
						}
						wantOnce(t, backupIDs(got), created)
						if !asc {
							slices.Reverse(got)
						}
						wantSortedByTimeThenID(t, got)
						if ref == nil {
							ref = got
						} else if !slices.Equal(backupIDs(got), backupIDs(ref)) {
							t.Fatalf("order differs between page sizes")
						}
					})
				}
			}
		}},
		{"pages stay correct, oldest first, while backups are deleted and added between pages", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			pagesUnderChange(t, e, c, clusterID, true)
		}},
		{"pages stay correct, newest first, while backups are deleted and added between pages", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			pagesUnderChange(t, e, c, clusterID, false)
		}},
		{"DELETED backups are listed during the tombstone, then vanish", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			del := mustDelete(t, c, first)
			e.advance(week)
			deleted := map[string][]string{"states": {"DELETED"}}
			got := describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Filters: deleted})
			if ids := backupIDs(got); !slices.Equal(ids, []string{first}) {
				t.Fatalf("states DELETED during the tombstone: %v", ids)
			}
			if !got[0].DeleteTimestamp.Equal(*del.DeleteTimestamp) {
				t.Fatalf("DeleteTimestamp %v, want the one set by DeleteBackup %v", got[0].DeleteTimestamp, del.DeleteTimestamp)
			}
			if !slices.Contains(backupIDs(describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{})), first) {
				t.Fatalf("a DELETED backup should be listed without filters during the tombstone")
			}
			e.advance(week)
			if ids := backupIDs(describeAll(t, c, &cloudhsmv2.DescribeBackupsInput{Filters: deleted})); len(ids) != 0 {
				t.Fatalf("after the tombstone: %v", ids)
			}
		}},
		{"MaxResults 1 and 50 are accepted", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			e.advance(time.Minute)
			e.takeBackup(t, clusterID)
			for _, max := range []int32{1, 50} {
				out, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{MaxResults: aws.Int32(max)})
				if err != nil {
					t.Fatalf("MaxResults %d: %v", max, err)
				}
				if want := min(int(max), 2); len(out.Backups) != want || (out.NextToken != nil) != (max == 1) {
					t.Fatalf("MaxResults %d: %d backups, NextToken %v", max, len(out.Backups), out.NextToken)
				}
			}
		}},
		{"MaxResults 0 and 51 are CloudHsmInvalidRequestException with AWS's validation message", func(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID, first string) {
			for max, msg := range map[int32]string{
				0:  "1 validation error detected: Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or equal to 1",
				51: "1 validation error detected: Value '51' at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to 50",
			} {
				_, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{MaxResults: aws.Int32(max)})
				wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
				if got := apiMessage(err); got != msg {
					t.Fatalf("MaxResults %d: message %q\nwant %q", max, got, msg)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			c := e.defaultClient()
			clusterID, first := e.activeCluster(t, c)
			tt.run(t, e, c, clusterID, first)
		})
	}
}

// TestDescribeBackupsNextToken pins docs/BEHAVIOUR.md §8: a NextToken is tamper-evident and bound to
// the caller, the filters, the sort order and Shared; only MaxResults may change between pages.
func TestDescribeBackupsNextToken(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	c := e.defaultClient()
	clusterID, _ := e.activeCluster(t, c)
	for range 3 {
		e.advance(time.Minute)
		e.takeBackup(t, clusterID)
	}
	filters := map[string][]string{"clusterIds": {clusterID}}
	first, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: filters, MaxResults: aws.Int32(1)})
	if err != nil || first.NextToken == nil {
		t.Fatalf("first page: %+v, %v", first, err)
	}
	token := *first.NextToken
	mustTag(t, c, clusterID, "a", "1", "b", "2")
	tags, err := c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &clusterID, MaxResults: aws.Int32(1)})
	if err != nil || tags.NextToken == nil {
		t.Fatalf("ListTags first page: %+v, %v", tags, err)
	}

	tests := []struct {
		name   string
		client *cloudhsmv2.Client
		in     cloudhsmv2.DescribeBackupsInput
		ok     bool
	}{
		{"the same request continues", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, MaxResults: aws.Int32(1), NextToken: &token}, true},
		{"a different MaxResults continues", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, MaxResults: aws.Int32(50), NextToken: &token}, true},
		{"SortAscending false is the default order", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, SortAscending: aws.Bool(false), NextToken: &token}, true},
		{"a token with one character flipped", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, NextToken: aws.String(flipOneChar(token))}, false},
		{"a token that was never issued", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, NextToken: aws.String("bm90LWEtdG9rZW4.c2lnbmF0dXJl")}, false},
		{"a token with different filters", c, cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"clusterIds": {clusterID}, "states": {"READY"}}, NextToken: &token}, false},
		{"a token without the filters", c, cloudhsmv2.DescribeBackupsInput{NextToken: &token}, false},
		{"a token with SortAscending changed", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, SortAscending: aws.Bool(true), NextToken: &token}, false},
		{"a token with Shared changed", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, Shared: aws.Bool(true), NextToken: &token}, false},
		{"a token used by another account", e.client(account2, "us-east-1"), cloudhsmv2.DescribeBackupsInput{Filters: filters, NextToken: &token}, false},
		{"a token used in another region", e.client(account1, "eu-west-1"), cloudhsmv2.DescribeBackupsInput{Filters: filters, NextToken: &token}, false},
		{"a ListTags token", c, cloudhsmv2.DescribeBackupsInput{Filters: filters, NextToken: tags.NextToken}, false},
	}
	for _, tt := range tests {
		name := tt.name + " is CloudHsmInvalidRequestException"
		if tt.ok {
			name = tt.name
		}
		t.Run(name, func(t *testing.T) {
			out, err := tt.client.DescribeBackups(ctx, &tt.in)
			if !tt.ok {
				wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Backups) == 0 || aws.ToString(out.Backups[0].BackupId) == aws.ToString(first.Backups[0].BackupId) {
				t.Fatalf("the token should continue after %s: %v", aws.ToString(first.Backups[0].BackupId), backupIDs(out.Backups))
			}
		})
	}
}

// TestDescribeBackupsWire pins the JSON types on the wire (docs/API.md, docs/BEHAVIOUR.md §8): timestamps
// are numbers of epoch seconds with millisecond precision, the retention value is a string.
func TestDescribeBackupsWire(t *testing.T) {
	e := newEnv(t)
	c := e.defaultClient()
	clusterID, first := e.activeCluster(t, c)
	e.advance(1500 * time.Millisecond)
	second := e.takeBackup(t, clusterID)
	mustDelete(t, c, second)
	secs := strconv.FormatInt(start.Unix(), 10)
	later := strconv.FormatInt(start.Unix()+1, 10) + ".5"
	deleteAt := strconv.FormatInt(start.Add(week).Unix()+1, 10) + ".5"

	tests := []struct {
		name, op, body string
		want           []string // regular expressions the raw body must match
		check          func(t *testing.T, m map[string]any)
	}{
		{"DescribeBackups CreateTimestamp is a JSON number of epoch seconds", "DescribeBackups", `{"SortAscending":true}`,
			[]string{`"CreateTimestamp":\s*` + secs + `[,}]`}, func(t *testing.T, m map[string]any) {
				b := jsonPath(t, m, "Backups", 0)
				wantNumber(t, b["CreateTimestamp"], secs)
				if b["BackupId"] != first {
					t.Fatalf("first backup %v, want %s", b["BackupId"], first)
				}
			}},
		{"DescribeBackups timestamps keep milliseconds and DeleteTimestamp is a number", "DescribeBackups", `{"SortAscending":true}`,
			[]string{`"CreateTimestamp":\s*` + regexp.QuoteMeta(later) + `[,}]`, `"DeleteTimestamp":\s*` + regexp.QuoteMeta(deleteAt) + `[,}]`}, func(t *testing.T, m map[string]any) {
				b := jsonPath(t, m, "Backups", 1)
				wantNumber(t, b["CreateTimestamp"], later)
				wantNumber(t, b["DeleteTimestamp"], deleteAt)
				if _, ok := jsonPath(t, m, "Backups", 0)["DeleteTimestamp"]; ok {
					t.Fatalf("a READY backup has no DeleteTimestamp member: %v", m)
				}
			}},
		{"DescribeClusters BackupRetentionPolicy.Value is a string and CreateTimestamp a number", "DescribeClusters", `{}`,
			[]string{`"Value":\s*"90"`, `"CreateTimestamp":\s*` + secs + `[,}]`}, func(t *testing.T, m map[string]any) {
				cl := jsonPath(t, m, "Clusters", 0)
				wantNumber(t, cl["CreateTimestamp"], secs)
				p, _ := cl["BackupRetentionPolicy"].(map[string]any)
				if p["Type"] != "DAYS" || p["Value"] != "90" {
					t.Fatalf("BackupRetentionPolicy %#v, want {Type: DAYS, Value: \"90\"}", cl["BackupRetentionPolicy"])
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := e.rawCallAs(account1, "us-east-1", tt.op, tt.body)
			if status != 200 {
				t.Fatalf("%s: HTTP %d %s", tt.op, status, body)
			}
			for _, re := range tt.want {
				if !regexp.MustCompile(re).MatchString(body) {
					t.Fatalf("body does not match %s:\n%s", re, body)
				}
			}
			dec := json.NewDecoder(strings.NewReader(body))
			dec.UseNumber()
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				t.Fatal(err)
			}
			tt.check(t, m)
		})
	}
}

// pagesUnderChange pages through 30 READY backups five at a time; after the first page it
// deletes the page's first item and its last (the cursor) and two items still to come, and adds
// two newer backups. Every backup that stays READY must be visited exactly once, the deleted
// unseen ones never, and the new ones only when they sort after the cursor (oldest first).
func pagesUnderChange(t *testing.T, e *env, c *cloudhsmv2.Client, clusterID string, asc bool) {
	t.Helper()
	ctx := context.Background()
	for range 29 {
		e.advance(time.Minute)
		e.takeBackup(t, clusterID)
	}
	in := &cloudhsmv2.DescribeBackupsInput{
		Filters: map[string][]string{"states": {"READY"}}, SortAscending: aws.Bool(asc), MaxResults: aws.Int32(5),
	}
	before := backupIDs(describeAll(t, c, in))
	if len(before) != 30 {
		t.Fatalf("%d READY backups, want 30", len(before))
	}
	p := cloudhsmv2.NewDescribeBackupsPaginator(c, in)
	page, err := p.NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := backupIDs(page.Backups)
	goneUnseen := []string{before[10], before[20]}
	for _, id := range append([]string{seen[0], seen[len(seen)-1]}, goneUnseen...) {
		mustDelete(t, c, id)
	}
	e.advance(time.Minute)
	added := []string{e.takeBackup(t, clusterID), e.takeBackup(t, clusterID)}
	slices.Sort(added)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, backupIDs(page.Backups)...)
	}
	want := slices.DeleteFunc(slices.Clone(before), func(id string) bool { return slices.Contains(goneUnseen, id) })
	if asc {
		want = append(want, added...)
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("visited %v\nwant    %v", seen, want)
	}
}

// describeAll pages through DescribeBackups with the SDK paginator.
func describeAll(t *testing.T, c *cloudhsmv2.Client, in *cloudhsmv2.DescribeBackupsInput) []types.Backup {
	t.Helper()
	_, all := describePages(t, c, in)
	return all
}

// describePages pages through DescribeBackups and returns the size of each page and all items.
func describePages(t *testing.T, c *cloudhsmv2.Client, in *cloudhsmv2.DescribeBackupsInput) ([]int, []types.Backup) {
	t.Helper()
	var sizes []int
	var all []types.Backup
	p := cloudhsmv2.NewDescribeBackupsPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background(), retryReads)
		if err != nil {
			t.Fatalf("DescribeBackups: %v", err)
		}
		if max := aws.ToInt32(in.MaxResults); max > 0 && len(page.Backups) > int(max) {
			t.Fatalf("page of %d backups with MaxResults %d", len(page.Backups), max)
		}
		sizes = append(sizes, len(page.Backups))
		all = append(all, page.Backups...)
	}
	return sizes, all
}

func backupIDs(bs []types.Backup) []string {
	var out []string
	for _, b := range bs {
		out = append(out, aws.ToString(b.BackupId))
	}
	return out
}

// max32 is a page size, 50 when unset.
func max32(n int32) int {
	if n == 0 {
		return 50
	}
	return int(n)
}

// wantOnce checks that got holds each of want exactly once and nothing else.
func wantOnce(t *testing.T, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	for _, id := range want {
		if count[id] != 1 {
			t.Fatalf("%s visited %d times", id, count[id])
		}
	}
	if len(got) != len(want) {
		t.Fatalf("visited %d backups, want %d", len(got), len(want))
	}
}

// wantSortedByTimeThenID checks strict ascending (CreateTimestamp, BackupId) order.
func wantSortedByTimeThenID(t *testing.T, bs []types.Backup) {
	t.Helper()
	for i := 1; i < len(bs); i++ {
		a, b := bs[i-1], bs[i]
		ta, tb := aws.ToTime(a.CreateTimestamp), aws.ToTime(b.CreateTimestamp)
		if ta.After(tb) || (ta.Equal(tb) && aws.ToString(a.BackupId) >= aws.ToString(b.BackupId)) {
			t.Fatalf("out of order at %d: %s %s then %s %s", i, ta, aws.ToString(a.BackupId), tb, aws.ToString(b.BackupId))
		}
	}
}

// apiMessage returns the message of an API error.
func apiMessage(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return ""
}

// jsonPath returns m[list][i] as an object.
func jsonPath(t *testing.T, m map[string]any, list string, i int) map[string]any {
	t.Helper()
	items, _ := m[list].([]any)
	if len(items) <= i {
		t.Fatalf("%s has %d items, want at least %d: %v", list, len(items), i+1, m)
	}
	item, ok := items[i].(map[string]any)
	if !ok {
		t.Fatalf("%s[%d] is not an object: %v", list, i, items[i])
	}
	return item
}

// wantNumber checks that a value decoded with UseNumber is the JSON number text want.
func wantNumber(t *testing.T, v any, want string) {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("want the JSON number %s, got %T %v", want, v, v)
	}
	if n.String() != want {
		t.Fatalf("number %s, want %s", n, want)
	}
}
