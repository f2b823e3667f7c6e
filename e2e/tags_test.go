package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"
)

// tagged is the resource a tag rule runs against: a cluster or a backup, with both IDs of the
// fixture so rules can also look at the other one.
type tagged struct {
	kind, id            string // kind is "cluster" or "backup"
	clusterID, backupID string
}

// TestTagRules pins docs/BEHAVIOUR.md §6: TagResource, UntagResource and ListTags on clusters and
// backups. Each rule runs once per resource kind it applies to, on a fresh server.
func TestTagRules(t *testing.T) {
	ctx := context.Background()
	both := []string{"cluster", "backup"}
	tests := []struct {
		name  string
		kinds []string
		run   func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged)
	}{
		{"TagResource adds tags and ListTags returns them ordered by key", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "team", "crypto", "env", "test")
			want := []string{"env=test", "team=crypto"}
			if got := tagStrings(listAllTags(t, c, r.id, 0)); !slices.Equal(got, want) {
				t.Fatalf("ListTags: %v, want %v", got, want)
			}
		}},
		{"tags show in the TagList of DescribeClusters and DescribeBackups", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "team", "crypto")
			var got []types.Tag
			if r.kind == "cluster" {
				got = describeCluster(t, c, r.id).TagList
			} else {
				got = describeBackup(t, c, r.id).TagList
			}
			if s := tagStrings(got); !slices.Equal(s, []string{"team=crypto"}) {
				t.Fatalf("TagList of %s: %v", r.id, s)
			}
		}},
		{"tags of one resource do not show on the other", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "team", "crypto")
			other := r.backupID
			if r.kind == "backup" {
				other = r.clusterID
			}
			if got := listAllTags(t, c, other, 0); len(got) != 0 {
				t.Fatalf("%s got the tags of %s: %v", other, r.id, tagStrings(got))
			}
		}},
		{"TagResource with an existing key replaces its value", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "team", "crypto", "env", "test")
			mustTag(t, c, r.id, "team", "platform")
			want := []string{"env=test", "team=platform"}
			if got := tagStrings(listAllTags(t, c, r.id, 0)); !slices.Equal(got, want) {
				t.Fatalf("after replacing: %v, want %v", got, want)
			}
		}},
		{"UntagResource removes the given keys and ignores absent ones", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "a", "1", "b", "2", "c", "3")
			if _, err := c.UntagResource(ctx, &cloudhsmv2.UntagResourceInput{ResourceId: &r.id, TagKeyList: []string{"a", "c", "absent"}}); err != nil {
				t.Fatal(err)
			}
			if got := tagStrings(listAllTags(t, c, r.id, 0)); !slices.Equal(got, []string{"b=2"}) {
				t.Fatalf("after untag: %v", got)
			}
		}},
		{"50 tags on one resource are allowed", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			tags := numberedTags("k", 50)
			if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: tags}); err != nil {
				t.Fatal(err)
			}
			if got := listAllTags(t, c, r.id, 0); len(got) != 50 {
				t.Fatalf("ListTags: %d tags, want 50", len(got))
			}
			// At the limit, replacing the value of a key the resource has is still allowed.
			mustTag(t, c, r.id, "k00", "changed")
		}},
		{"the 51st tag is CloudHsmResourceLimitExceededException and nothing is written", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: numberedTags("k", 50)}); err != nil {
				t.Fatal(err)
			}
			_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: []types.Tag{sdkTag("k00", "changed"), sdkTag("one-more", "x")}})
			wantAPIError(t, err, "CloudHsmResourceLimitExceededException", 400)
			got := listAllTags(t, c, r.id, 0)
			if len(got) != 50 || aws.ToString(got[0].Value) != "v00" {
				t.Fatalf("a refused TagResource changed the tags: %d tags, first %v", len(got), tagStrings(got[:1]))
			}
		}},
		{"more than 50 tags in one TagResource is CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: numberedTags("k", 51)})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"TagResource with a key starting with aws: is CloudHsmTagException and nothing is written", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: []types.Tag{sdkTag("fine", "1"), sdkTag("aws:owner", "me")}})
			wantAPIError(t, err, "CloudHsmTagException", 400)
			if got := listAllTags(t, c, r.id, 0); len(got) != 0 {
				t.Fatalf("a refused TagResource wrote %v", tagStrings(got))
			}
		}},
		{"the aws: prefix is reserved in any letter case", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: []types.Tag{sdkTag("AWS:owner", "me")}})
			wantAPIError(t, err, "CloudHsmTagException", 400)
		}},
		{"UntagResource of a key starting with aws: is CloudHsmTagException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.UntagResource(ctx, &cloudhsmv2.UntagResourceInput{ResourceId: &r.id, TagKeyList: []string{"aws:cloudformation:stack-name"}})
			wantAPIError(t, err, "CloudHsmTagException", 400)
		}},
		{"CreateCluster with a TagList key starting with aws: is CloudHsmTagException", []string{"cluster"}, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{
				HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, TagList: []types.Tag{sdkTag("aws:owner", "me")},
			})
			wantAPIError(t, err, "CloudHsmTagException", 400)
		}},
		{"CreateCluster with a TagList tags the new cluster", []string{"cluster"}, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			cl := mustCreateCluster(t, c, &cloudhsmv2.CreateClusterInput{
				HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, TagList: []types.Tag{sdkTag("team", "crypto")},
			})
			if got := tagStrings(cl.TagList); !slices.Equal(got, []string{"team=crypto"}) {
				t.Fatalf("CreateCluster response TagList: %v", got)
			}
			if got := tagStrings(listAllTags(t, c, aws.ToString(cl.ClusterId), 0)); !slices.Equal(got, []string{"team=crypto"}) {
				t.Fatalf("ListTags of the new cluster: %v", got)
			}
		}},
		{"CopyBackupToRegion with a TagList key starting with aws: is CloudHsmTagException", []string{"backup"}, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{
				BackupId: &r.id, DestinationRegion: aws.String("eu-west-1"), TagList: []types.Tag{sdkTag("aws:owner", "me")},
			})
			wantAPIError(t, err, "CloudHsmTagException", 400)
		}},
		{"an unknown resource is CloudHsmResourceNotFoundException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			unknown := r.kind + "-aaaaaaaaaaa"
			wantTagOpsError(t, c, unknown, "CloudHsmResourceNotFoundException", 400)
		}},
		{"another account's resource is CloudHsmResourceNotFoundException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "team", "crypto")
			wantTagOpsError(t, e.client(account2, "us-east-1"), r.id, "CloudHsmResourceNotFoundException", 400)
			if got := tagStrings(listAllTags(t, c, r.id, 0)); !slices.Equal(got, []string{"team=crypto"}) {
				t.Fatalf("the owner's tags changed: %v", got)
			}
		}},
		{"another region's resource is CloudHsmResourceNotFoundException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			wantTagOpsError(t, e.client(account1, "eu-west-1"), r.id, "CloudHsmResourceNotFoundException", 400)
		}},
		{"a ResourceId that breaks the model's pattern is CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			for _, id := range []string{"hsm-aaaaaaaaaaa", r.kind + "-1", r.kind + "-aaaaaaaaaa1", "arn:aws:cloudhsm:us-east-1:111122223333:" + r.kind + "/" + r.id} {
				t.Run(id, func(t *testing.T) { wantTagOpsError(t, c, id, "CloudHsmInvalidRequestException", 400) })
			}
		}},
		{"an empty TagList in TagResource is CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: []types.Tag{}})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"an empty TagKeyList in UntagResource is CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			_, err := c.UntagResource(ctx, &cloudhsmv2.UntagResourceInput{ResourceId: &r.id, TagKeyList: []string{}})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"ListTags pages through every tag exactly once, in key order, for MaxResults 1 to 100", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			all := numberedTags("k", 50)
			if _, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &r.id, TagList: all}); err != nil {
				t.Fatal(err)
			}
			want := tagStrings(all)
			for _, max := range []int32{1, 3, 49, 50, 100} {
				t.Run(fmt.Sprint("MaxResults=", max), func(t *testing.T) {
					if got := tagStrings(listAllTags(t, c, r.id, max)); !slices.Equal(got, want) {
						t.Fatalf("paged tags:\n got %v\nwant %v", got, want)
					}
				})
			}
		}},
		{"ListTags MaxResults 0 and 101 are CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			for _, max := range []int32{0, 101} {
				_, err := c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &r.id, MaxResults: aws.Int32(max)})
				wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
			}
		}},
		{"ListTags with a tampered NextToken is CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			mustTag(t, c, r.id, "a", "1", "b", "2", "c", "3")
			first, err := c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &r.id, MaxResults: aws.Int32(1)})
			if err != nil || first.NextToken == nil {
				t.Fatalf("first page: %+v, %v", first, err)
			}
			_, err = c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &r.id, MaxResults: aws.Int32(1), NextToken: aws.String(flipOneChar(*first.NextToken))})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"a ListTags NextToken of another resource is CloudHsmInvalidRequestException", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			other := r.backupID
			if r.kind == "backup" {
				other = r.clusterID
			}
			mustTag(t, c, r.id, "a", "1", "b", "2")
			mustTag(t, c, other, "a", "1", "b", "2")
			first, err := c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &r.id, MaxResults: aws.Int32(1)})
			if err != nil || first.NextToken == nil {
				t.Fatalf("first page: %+v, %v", first, err)
			}
			_, err = c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &other, MaxResults: aws.Int32(1), NextToken: first.NextToken})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", 400)
		}},
		{"TagList is [] on the wire, not null or absent, when a resource has no tags", both, func(t *testing.T, e *env, c *cloudhsmv2.Client, r tagged) {
			status, _, body := e.rawCallAs(account1, "us-east-1", "ListTags", `{"ResourceId":"`+r.id+`"}`)
			if status != 200 {
				t.Fatalf("ListTags: HTTP %d %s", status, body)
			}
			wantEmptyTagList(t, "ListTags", body, func(m map[string]any) any { return m["TagList"] })
			op, list := "DescribeClusters", "Clusters"
			filter := `{"Filters":{"clusterIds":["` + r.id + `"]}}`
			if r.kind == "backup" {
				op, list = "DescribeBackups", "Backups"
				filter = `{"Filters":{"backupIds":["` + r.id + `"]}}`
			}
			status, _, body = e.rawCallAs(account1, "us-east-1", op, filter)
			if status != 200 {
				t.Fatalf("%s: HTTP %d %s", op, status, body)
			}
			wantEmptyTagList(t, op, body, func(m map[string]any) any {
				items, _ := m[list].([]any)
				if len(items) != 1 {
					t.Fatalf("%s: want one item in %s", op, body)
				}
				item, _ := items[0].(map[string]any)
				return item["TagList"]
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range tt.kinds {
				t.Run(kind, func(t *testing.T) {
					e := newEnv(t)
					c := e.defaultClient()
					clusterID, backupID := e.activeCluster(t, c)
					r := tagged{kind: kind, id: clusterID, clusterID: clusterID, backupID: backupID}
					if kind == "backup" {
						r.id = backupID
					}
					tt.run(t, e, c, r)
				})
			}
		})
	}
}

// tag returns one SDK tag.
func sdkTag(key, value string) types.Tag {
	return types.Tag{Key: aws.String(key), Value: aws.String(value)}
}

// numberedTags returns n tags prefix00=v00, prefix01=v01, … in key order.
func numberedTags(prefix string, n int) []types.Tag {
	out := make([]types.Tag, n)
	for i := range out {
		out[i] = sdkTag(fmt.Sprintf("%s%02d", prefix, i), fmt.Sprintf("v%02d", i))
	}
	return out
}

// mustTag tags a resource with key, value pairs.
func mustTag(t *testing.T, c *cloudhsmv2.Client, id string, kv ...string) {
	t.Helper()
	var tags []types.Tag
	for i := 0; i+1 < len(kv); i += 2 {
		tags = append(tags, sdkTag(kv[i], kv[i+1]))
	}
	if _, err := c.TagResource(context.Background(), &cloudhsmv2.TagResourceInput{ResourceId: &id, TagList: tags}); err != nil {
		t.Fatalf("TagResource %s: %v", id, err)
	}
}

// tagStrings renders tags as key=value, in their order.
func tagStrings(tags []types.Tag) []string {
	out := make([]string, len(tags))
	for i, tg := range tags {
		out[i] = aws.ToString(tg.Key) + "=" + aws.ToString(tg.Value)
	}
	return out
}

// listAllTags pages through ListTags with the SDK paginator (maxResults 0: the default page)
// and checks that no page is larger than asked.
func listAllTags(t *testing.T, c *cloudhsmv2.Client, id string, maxResults int32) []types.Tag {
	t.Helper()
	in := &cloudhsmv2.ListTagsInput{ResourceId: &id}
	if maxResults > 0 {
		in.MaxResults = aws.Int32(maxResults)
	}
	var all []types.Tag
	p := cloudhsmv2.NewListTagsPaginator(c, in)
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("ListTags %s: %v", id, err)
		}
		if maxResults > 0 && len(page.TagList) > int(maxResults) {
			t.Fatalf("ListTags %s: page of %d tags with MaxResults %d", id, len(page.TagList), maxResults)
		}
		all = append(all, page.TagList...)
	}
	return all
}

// wantTagOpsError checks that TagResource, UntagResource and ListTags on id all fail alike.
func wantTagOpsError(t *testing.T, c *cloudhsmv2.Client, id, code string, status int) {
	t.Helper()
	ctx := context.Background()
	_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &id, TagList: []types.Tag{sdkTag("team", "x")}})
	wantAPIError(t, err, code, status)
	_, err = c.UntagResource(ctx, &cloudhsmv2.UntagResourceInput{ResourceId: &id, TagKeyList: []string{"team"}})
	wantAPIError(t, err, code, status)
	_, err = c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &id})
	wantAPIError(t, err, code, status)
}

// wantEmptyTagList decodes a raw response and checks that pick finds an empty JSON array.
func wantEmptyTagList(t *testing.T, op, body string, pick func(map[string]any) any) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: body is not JSON: %v: %s", op, err, body)
	}
	list, ok := pick(m).([]any)
	if !ok || list == nil || len(list) != 0 {
		t.Fatalf("%s: TagList should be [], body %s", op, body)
	}
}

// flipOneChar changes one character in the middle of a token.
func flipOneChar(s string) string {
	b := []byte(s)
	i := len(b) / 2
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}
