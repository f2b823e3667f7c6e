package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2/types"

	"github.com/cloudhsm-local/cloudhsm-local/e2e/internal/netfail"
)

// Authorization is decided on the canonical ARN of the resource addressed, never on the client's
// spelling (docs/DECISIONS.md, "Strict mode"). Once, a Deny written on
// arn:aws:cloudhsm:*:111122223333:backup/* was side-stepped by writing the same backup as
// arn:aws-us-gov:cloudhsm:us-east-1:111122223333:backup/<id>: the policy saw one string, the
// store looked up another.

// arnSpelling is one way a client may write the backup of a test.
type arnSpelling struct {
	name  string
	write func(backupID string) string
	// addresses is what the spelling reaches: "backup" (the backup itself), "missing" (a
	// canonical ARN or ID of a backup that does not exist), "invalid" (refused before any
	// policy is asked).
	addresses string
}

// arnSpellings are the ways of writing a backup ARN, each as a client might send it.
var arnSpellings = []arnSpelling{
	{"canonical ARN", func(id string) string { return "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + id }, "backup"},
	{"GovCloud partition with a commercial region", func(id string) string {
		return "arn:aws-us-gov:cloudhsm:us-east-1:" + account1 + ":backup/" + id
	}, "invalid"},
	{"commercial partition with a GovCloud region", func(id string) string {
		return "arn:aws:cloudhsm:us-gov-west-1:" + account1 + ":backup/" + id
	}, "invalid"},
	{"an ISO region the model's pattern admits", func(id string) string {
		return "arn:aws:cloudhsm:us-iso-east-1:" + account1 + ":backup/" + id
	}, "invalid"},
	{"upper-case service", func(id string) string { return "arn:aws:CLOUDHSM:us-east-1:" + account1 + ":backup/" + id }, "invalid"},
	{"upper-case scheme", func(id string) string { return "ARN:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + id }, "invalid"},
	{"extra path", func(id string) string { return "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + id + "/x" }, "invalid"},
	{"trailing newline", func(id string) string { return "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + id + "\n" }, "invalid"},
	{"upper-case ID (another, unknown backup)", func(id string) string {
		return "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + upperID(id)
	}, "missing"},
	{"another region", func(id string) string { return "arn:aws:cloudhsm:eu-west-1:" + account1 + ":backup/" + id }, "missing"},
}

// idSpellings are the ways of writing a backup ID where the model wants an ID.
var idSpellings = []arnSpelling{
	{"plain ID", func(id string) string { return id }, "backup"},
	{"upper-case ID (another, unknown backup)", upperID, "missing"},
	{"canonical ARN where an ID belongs", func(id string) string { return "arn:aws:cloudhsm:us-east-1:" + account1 + ":backup/" + id }, "invalid"},
	{"trailing space", func(id string) string { return id + " " }, "invalid"},
}

func upperID(id string) string { return "backup-" + strings.ToUpper(strings.TrimPrefix(id, "backup-")) }

// TestAuthorizationOnCanonicalARN: every spelling of a backup × every operation that takes a
// backup ID or ARN × credentials whose identity policies allow or deny, with the error name and
// status each must get — and when refused, nothing changed.
func TestAuthorizationOnCanonicalARN(t *testing.T) {
	const denyOnBackups = `{"Effect":"Deny","Action":["cloudhsm:CreateCluster","cloudhsm:PutResourcePolicy","cloudhsm:GetResourcePolicy","cloudhsm:DeleteResourcePolicy"],"Resource":"arn:aws:cloudhsm:*:` + account1 + `:backup/*"}`
	var (
		// denyFour is the credential of the report: everything allowed but four operations on
		// the account's backups, written on the canonical ARN pattern.
		denyFour = strictCred{key: "AKIDE2EDENYFOUR00001", secret: "deny-four-secret-e2e", account: account1,
			policy: `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},` + denyOnBackups + `]}`}
		// denyAll may do nothing to the account's backups.
		denyAll = strictCred{key: "AKIDE2EDENYALL000001", secret: "deny-all-secret-e2e", account: account1,
			policy: `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},{"Effect":"Deny","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:*:` + account1 + `:backup/*"}]}`}
		// granteeDeny is the grantee's account, denied CreateCluster from the owner's backups.
		granteeDeny = strictCred{key: "AKIDE2EGRANTEEDENY01", secret: "grantee-deny-secret-e2e", account: account2,
			policy: `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},{"Effect":"Deny","Action":"cloudhsm:CreateCluster","Resource":"arn:aws:cloudhsm:*:` + account1 + `:backup/*"}]}`}
	)
	e, _ := newStrictEnv(t, strictCredentialsFile(t, []strictCred{credOwner, credGrantee, denyFour, denyAll, granteeDeny}))
	ctx := context.Background()
	clients := map[strictCred]*cloudhsmv2.Client{}
	client := func(c strictCred) *cloudhsmv2.Client { // one client (one connection pool) per credential
		if clients[c] == nil {
			clients[c] = e.strictClient(c, "us-east-1", retryClosedConnections)
		}
		return clients[c]
	}
	ownerEU := e.strictClient(credOwner, "eu-west-1", retryClosedConnections)
	owner := client(credOwner)
	_, backup := e.activeCluster(t, owner)
	canonical := arnSpellings[0].write(backup)
	share := sharePolicy(canonical, []string{account2}, actDescribe, actCreate)

	// The operations that take a backup ARN or ID, each as one call with the spelling.
	type operation struct {
		name     string
		spelling []arnSpelling
		call     func(c *cloudhsmv2.Client, ref string) error
	}
	arnOps := []operation{
		{"PutResourcePolicy", arnSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &ref, Policy: &share})
			return err
		}},
		{"GetResourcePolicy", arnSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.GetResourcePolicy(ctx, &cloudhsmv2.GetResourcePolicyInput{ResourceArn: &ref})
			return err
		}},
		{"DeleteResourcePolicy", arnSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.DeleteResourcePolicy(ctx, &cloudhsmv2.DeleteResourcePolicyInput{ResourceArn: &ref})
			return err
		}},
		{"CreateCluster from SourceBackupId", append(slices.Clone(arnSpellings), idSpellings[:2]...), func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, SourceBackupId: &ref})
			return err
		}},
	}
	idOps := []operation{
		{"CopyBackupToRegion", idSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.CopyBackupToRegion(ctx, &cloudhsmv2.CopyBackupToRegionInput{BackupId: &ref, DestinationRegion: aws.String("eu-west-1")})
			return err
		}},
		{"TagResource", idSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.TagResource(ctx, &cloudhsmv2.TagResourceInput{ResourceId: &ref, TagList: strictTags("k", "v")})
			return err
		}},
		{"ListTags", idSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &ref})
			return err
		}},
		{"UntagResource", idSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.UntagResource(ctx, &cloudhsmv2.UntagResourceInput{ResourceId: &ref, TagKeyList: []string{"k"}})
			return err
		}},
		{"DescribeBackups backupIds filter", idSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"backupIds": {ref}}})
			return err
		}},
		{"DescribeBackups sourceBackupIds filter", idSpellings, func(c *cloudhsmv2.Client, ref string) error {
			_, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{Filters: map[string][]string{"sourceBackupIds": {ref}}})
			return err
		}},
	}

	const (
		ok       = ""
		invalid  = "CloudHsmInvalidRequestException"
		denied   = "CloudHsmAccessDeniedException"
		notFound = "CloudHsmResourceNotFoundException"
	)
	// want is the outcome of one call: a spelling the server refuses is refused whoever asks;
	// otherwise the canonical resource is authorized, and only then looked up.
	want := func(cred strictCred, op operation, s arnSpelling) string {
		if s.addresses == "invalid" {
			return invalid
		}
		isARN := strings.HasPrefix(s.write(backup), "arn:")
		switch op.name {
		case "PutResourcePolicy", "GetResourcePolicy", "DeleteResourcePolicy":
			switch {
			case cred == denyFour || cred == denyAll:
				return denied
			case cred.account != account1:
				return denied // only the owner reads or changes a policy
			case s.addresses == "missing":
				return notFound
			}
			return ok
		case "CreateCluster from SourceBackupId":
			switch {
			case cred.account != account1 && !isARN:
				return notFound // a plain ID is always the caller's own backup
			case cred == denyFour || cred == denyAll || cred == granteeDeny:
				return denied
			case cred.account != account1 && s.name == "another region":
				return notFound // decided by the ARN alone
			case cred.account != account1 && s.addresses == "missing":
				return denied // unshared, or unknown: the same answer
			case s.addresses == "missing":
				return notFound
			}
			return ok
		case "DescribeBackups backupIds filter", "DescribeBackups sourceBackupIds filter":
			return ok // an action on no particular resource ("*"); unknown IDs match nothing
		}
		switch { // the ID operations on the caller's own backup
		case cred == denyAll:
			return denied
		case cred.account != account1 || s.addresses == "missing":
			return notFound
		}
		return ok
	}

	// state is everything a wrongly allowed call could change, read by the owner and the grantee.
	state := func(t *testing.T) string {
		t.Helper()
		var b strings.Builder
		for _, c := range []*cloudhsmv2.Client{owner, client(credGrantee), ownerEU} {
			cs, err := c.DescribeClusters(ctx, &cloudhsmv2.DescribeClustersInput{})
			if err != nil {
				t.Fatal(err)
			}
			bs, err := c.DescribeBackups(ctx, &cloudhsmv2.DescribeBackupsInput{})
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(strings.Join(clusterIDs(cs.Clusters), ",") + "|" + strings.Join(backupIDs(bs.Backups), ",") + "|")
		}
		pol, err := owner.GetResourcePolicy(ctx, &cloudhsmv2.GetResourcePolicyInput{ResourceArn: &canonical})
		if err != nil {
			t.Fatal(err)
		}
		tags, err := owner.ListTags(ctx, &cloudhsmv2.ListTagsInput{ResourceId: &backup})
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString(aws.ToString(pol.Policy) + "|" + tagString(tags.TagList))
		return b.String()
	}

	run := func(t *testing.T, creds []strictCred, ops []operation) {
		for _, op := range ops {
			for _, s := range op.spelling {
				for _, cred := range creds {
					w := want(cred, op, s)
					t.Run(op.name+"/"+s.name+"/"+cred.key, func(t *testing.T) {
						var before string
						if w != ok {
							before = state(t)
						}
						err := op.call(client(cred), s.write(backup))
						if w == ok {
							if err != nil {
								t.Fatalf("want success, got %v", err)
							}
							return
						}
						wantAPIError(t, err, w, http.StatusBadRequest)
						if w == invalid && strings.HasPrefix(s.write(backup), "arn:") && !strings.Contains(apiMessage(err), strings.TrimSpace(s.write(backup))) {
							t.Errorf("the refusal does not name the ARN: %s", apiMessage(err))
						}
						if after := state(t); after != before {
							t.Fatalf("a refused call changed the state:\nbefore %s\nafter  %s", before, after)
						}
					})
				}
			}
		}
	}

	// The owner's own account: the report's credential, one denied everything on backups, and
	// the owner without a policy.
	run(t, []strictCred{denyFour, denyAll, credOwner}, append(arnOps, idOps...))

	// The sharing path: the backup is shared with account2 for CreateCluster, and the grantee's
	// own identity policy still decides on the canonical ARN.
	if _, err := owner.PutResourcePolicy(ctx, &cloudhsmv2.PutResourcePolicyInput{ResourceArn: &canonical, Policy: &share}); err != nil {
		t.Fatal(err)
	}
	run(t, []strictCred{granteeDeny, credGrantee}, arnOps)
}

// TestNonCanonicalARNRefusedInPermissiveMode: the spelling rule is not a strict-mode feature; a
// permissive server refuses the same ARNs with the same error.
func TestNonCanonicalARNRefusedInPermissiveMode(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	owner := e.defaultClient()
	_, backup := e.activeCluster(t, owner)
	for _, s := range arnSpellings {
		if s.addresses != "invalid" {
			continue
		}
		t.Run(s.name, func(t *testing.T) {
			ref := s.write(backup)
			_, err := owner.GetResourcePolicy(ctx, &cloudhsmv2.GetResourcePolicyInput{ResourceArn: &ref})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", http.StatusBadRequest)
			_, err = owner.CreateCluster(ctx, &cloudhsmv2.CreateClusterInput{HsmType: aws.String("hsm2m.medium"), SubnetIds: subnets, SourceBackupId: &ref})
			wantAPIError(t, err, "CloudHsmInvalidRequestException", http.StatusBadRequest)
		})
	}
	if cs := listClusters(t, owner, nil); len(cs) != 1 {
		t.Fatalf("%d clusters after refused CreateCluster calls, want the first one only", len(cs))
	}
}

// retryClosedConnections makes a client retry a request whose connection was closed under it
// (aws-sdk-go-v2#2737; the table makes thousands), and nothing else: every answer of the
// server, a 500 included, reaches the test from the attempt that got it.
func retryClosedConnections(o *cloudhsmv2.Options) {
	o.RetryMaxAttempts = 0 // else the SDK wraps the retryer to one attempt
	o.Retryer = netfail.Retryer(3)
}

// tagString renders tags as k=v,… in the order given.
func tagString(tags []types.Tag) string {
	parts := make([]string, len(tags))
	for i, tag := range tags {
		parts[i] = aws.ToString(tag.Key) + "=" + aws.ToString(tag.Value)
	}
	return strings.Join(parts, ",")
}
