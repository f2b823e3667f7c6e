package policy

import (
	"reflect"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"abc", "abc", true},
		{"abc", "abd", false},
		{"abc", "ab", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a*c", "ac", true},
		{"a*c", "abbbc", true},
		{"a*c", "abbbd", false},
		{"*b*", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"arn:aws:cloudhsm:*:111122223333:backup/*", "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abc", true},
		{"arn:aws:cloudhsm:*:111122223333:backup/*", "arn:aws:cloudhsm:us-east-1:444455556666:backup/backup-abc", false},
		{"**", "x", true},
		{strings.Repeat("*a", 30) + "b", strings.Repeat("a", 60), false}, // no exponential backtracking
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %t, want %t", tt.pattern, tt.s, got, tt.want)
		}
	}
}

const (
	owner   = "111122223333"
	grantee = "444455556666"
	backupA = "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-aaaaaaaaaaa"
	backupB = "arn:aws:cloudhsm:eu-west-1:111122223333:backup/backup-bbbbbbbbbbb"
	cluster = "arn:aws:cloudhsm:us-east-1:111122223333:cluster/cluster-ccccccccccc"
)

// TestEvaluate is the policy table: one row per rule of IAM evaluation that strict mode and
// backup sharing rely on.
func TestEvaluate(t *testing.T) {
	tests := []struct {
		name   string
		kind   Kind
		doc    string
		req    Request
		want   Decision
		reason string
	}{
		{
			name: "an action allowed on every resource",
			doc:  `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:DescribeBackups","Resource":"*"}]}`,
			req:  Request{Action: "cloudhsm:DescribeBackups", Resource: "*"},
			want: Allowed,
		},
		{
			name: "another action is implicitly denied",
			doc:  `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:DescribeBackups","Resource":"*"}]}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "action wildcard Describe*",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:Describe*","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:DescribeClusters", Resource: "*"},
			want: Allowed,
		},
		{
			name: "action wildcard does not cross into other actions",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:Describe*","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:DeleteCluster", Resource: cluster},
			want: ImplicitDeny,
		},
		{
			name: "service wildcard cloudhsm:*",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:RestoreBackup", Resource: backupA},
			want: Allowed,
		},
		{
			name: "another service's actions do not match",
			doc:  `{"Statement":{"Effect":"Allow","Action":"ec2:*","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:RestoreBackup", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "action names are case-insensitive",
			doc:  `{"Statement":{"Effect":"Allow","Action":"CloudHSM:restorebackup","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:RestoreBackup", Resource: backupA},
			want: Allowed,
		},
		{
			name: "? matches one character",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:?estoreBackup","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:RestoreBackup", Resource: backupA},
			want: Allowed,
		},
		{
			name: "resource ARN wildcard: every backup of the account",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:*:111122223333:backup/*"}}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupB},
			want: Allowed,
		},
		{
			name: "resource ARN wildcard: not a cluster",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:*:111122223333:backup/*"}}`,
			req:  Request{Action: "cloudhsm:DeleteCluster", Resource: cluster},
			want: ImplicitDeny,
		},
		{
			name: "a resource-scoped statement does not allow list actions on *",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:*:111122223333:backup/*"}}`,
			req:  Request{Action: "cloudhsm:DescribeBackups", Resource: "*"},
			want: ImplicitDeny,
		},
		{
			name: "resource ARNs are case-sensitive",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"ARN:AWS:cloudhsm:*"}}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "region pinned in the ARN",
			doc:  `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:us-east-1:*:*"}}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupB},
			want: ImplicitDeny,
		},
		{
			name: "explicit Deny wins over Allow",
			doc: `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},
			                   {"Effect":"Deny","Action":"cloudhsm:DeleteBackup","Resource":"*"}]}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupA},
			want: ExplicitDeny,
		},
		{
			name: "explicit Deny wins whatever the order",
			doc: `{"Statement":[{"Effect":"Deny","Action":"cloudhsm:Delete*","Resource":"arn:aws:cloudhsm:*:*:backup/*"},
			                   {"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"}]}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupA},
			want: ExplicitDeny,
		},
		{
			name: "a Deny on other resources leaves the Allow",
			doc: `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*"},
			                   {"Effect":"Deny","Action":"cloudhsm:*","Resource":"arn:aws:cloudhsm:eu-west-1:*:*"}]}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupA},
			want: Allowed,
		},
		{
			name: "NotAction allows everything else",
			doc:  `{"Statement":{"Effect":"Allow","NotAction":"cloudhsm:Delete*","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:RestoreBackup", Resource: backupA},
			want: Allowed,
		},
		{
			name: "NotAction excludes what it names",
			doc:  `{"Statement":{"Effect":"Allow","NotAction":"cloudhsm:Delete*","Resource":"*"}}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "NotResource",
			doc:  `{"Statement":[{"Effect":"Allow","Action":"cloudhsm:*","NotResource":"arn:aws:cloudhsm:eu-west-1:*:*"}]}`,
			req:  Request{Action: "cloudhsm:DeleteBackup", Resource: backupB},
			want: ImplicitDeny,
		},
		{
			name: "action lists",
			doc:  `{"Statement":{"Effect":"Allow","Action":["cloudhsm:TagResource","cloudhsm:ListTags"],"Resource":["` + backupA + `","` + cluster + `"]}}`,
			req:  Request{Action: "cloudhsm:ListTags", Resource: cluster},
			want: Allowed,
		},
		{
			name: "an empty policy denies",
			doc:  `{"Statement":[{"Effect":"Deny","Action":"ec2:*","Resource":"*"}]}`,
			req:  Request{Action: "cloudhsm:DescribeBackups", Resource: "*"},
			want: ImplicitDeny,
		},

		// Resource policies (backup sharing, §7): the principal must be named.
		{
			name: "cross-account share: the named account may describe",
			kind: Resource,
			doc:  `{"Statement":{"Effect":"Allow","Principal":{"AWS":"` + grantee + `"},"Action":"cloudhsm:DescribeBackups"}}`,
			req:  Request{Principal: grantee, Action: "cloudhsm:DescribeBackups", Resource: backupA},
			want: Allowed,
		},
		{
			name: "cross-account share: another account may not",
			kind: Resource,
			doc:  `{"Statement":{"Effect":"Allow","Principal":{"AWS":"` + grantee + `"},"Action":"cloudhsm:DescribeBackups"}}`,
			req:  Request{Principal: "777788889999", Action: "cloudhsm:DescribeBackups", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "cross-account share: only the shared action",
			kind: Resource,
			doc:  `{"Statement":{"Effect":"Allow","Principal":{"AWS":"` + grantee + `"},"Action":"cloudhsm:DescribeBackups"}}`,
			req:  Request{Principal: grantee, Action: "cloudhsm:CreateCluster", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "cross-account share: root ARN principal",
			kind: Resource,
			doc:  `{"Statement":{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::` + grantee + `:root"]},"Action":["cloudhsm:CreateCluster"],"Resource":"` + backupA + `"}}`,
			req:  Request{Principal: grantee, Action: "cloudhsm:CreateCluster", Resource: backupA},
			want: Allowed,
		},
		{
			name: "cross-account share: Resource names another backup",
			kind: Resource,
			doc:  `{"Statement":{"Effect":"Allow","Principal":{"AWS":"` + grantee + `"},"Action":"cloudhsm:CreateCluster","Resource":"` + backupB + `"}}`,
			req:  Request{Principal: grantee, Action: "cloudhsm:CreateCluster", Resource: backupA},
			want: ImplicitDeny,
		},
		{
			name: "cross-account share: Principal *",
			kind: Resource,
			doc:  `{"Statement":{"Effect":"Allow","Principal":"*","Action":"cloudhsm:DescribeBackups"}}`,
			req:  Request{Principal: "777788889999", Action: "cloudhsm:DescribeBackups", Resource: backupA},
			want: Allowed,
		},
		{
			name: "cross-account share: a Deny for one account",
			kind: Resource,
			doc: `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"cloudhsm:*"},
			                   {"Effect":"Deny","Principal":{"AWS":"` + grantee + `"},"Action":"cloudhsm:CreateCluster"}]}`,
			req:  Request{Principal: grantee, Action: "cloudhsm:CreateCluster", Resource: backupA},
			want: ExplicitDeny,
		},
		{
			name: "lenient member names, as encoding/json and the sharing API read them",
			kind: Resource,
			doc:  `{"statement":{"effect":"Allow","principal":{"aws":"` + grantee + `"},"action":"cloudhsm:DescribeBackups","Sid":"x","Extra":1}}`,
			req:  Request{Principal: grantee, Action: "cloudhsm:DescribeBackups", Resource: backupA},
			want: Allowed,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse([]byte(tt.doc), tt.kind)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.Evaluate(tt.req); got != tt.want {
				t.Errorf("Evaluate(%+v) = %v, want %v", tt.req, got, tt.want)
			}
			if p.Allows(tt.req) != (tt.want == Allowed) {
				t.Errorf("Allows disagrees with Evaluate")
			}
		})
	}
}

func TestNilPolicyDenies(t *testing.T) {
	var p *Policy
	if got := p.Evaluate(Request{Action: "cloudhsm:DescribeBackups", Resource: "*"}); got != ImplicitDeny {
		t.Errorf("nil policy: %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		doc  string
		want string
	}{
		{"not JSON", Identity, `{`, "invalid JSON at byte"},
		{"not an object", Identity, `[]`, "cannot be a JSON array"},
		{"no Statement", Identity, `{"Version":"2012-10-17"}`, "no Statement"},
		{"empty Statement", Identity, `{"Statement":[]}`, "no Statement"},
		{"bad Effect", Identity, `{"Statement":{"Effect":"allow","Action":"cloudhsm:*","Resource":"*"}}`, `statement 1: Effect must be "Allow" or "Deny"`},
		{"no Action", Identity, `{"Statement":{"Effect":"Allow","Resource":"*"}}`, "has no Action"},
		{"Action and NotAction", Identity, `{"Statement":{"Effect":"Allow","Action":"a:b","NotAction":"a:c","Resource":"*"}}`, "not both"},
		{"malformed action", Identity, `{"Statement":{"Effect":"Allow","Action":"DescribeBackups","Resource":"*"}}`, `action "DescribeBackups"`},
		{"action of the wrong type", Identity, `{"Statement":{"Effect":"Allow","Action":42,"Resource":"*"}}`, "must be a string or a list of strings"},
		{"identity policy without Resource", Identity, `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*"}}`, "has no Resource"},
		{"empty Resource list", Resource, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"cloudhsm:*","Resource":[]}}`, "empty Resource"},
		{"Resource and NotResource", Identity, `{"Statement":{"Effect":"Allow","Action":"a:b","Resource":"*","NotResource":"*"}}`, "not both"},
		{"identity policy with a Principal", Identity, `{"Statement":{"Effect":"Allow","Principal":"*","Action":"cloudhsm:*","Resource":"*"}}`, "Principal is not allowed"},
		{"resource policy without a Principal", Resource, `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*"}}`, "needs Principal"},
		{"principal that is not an account", Resource, `{"Statement":{"Effect":"Allow","Principal":{"AWS":"bob"},"Action":"cloudhsm:*"}}`, `principal "bob"`},
		{"principal string other than *", Resource, `{"Statement":{"Effect":"Allow","Principal":"bob","Action":"cloudhsm:*"}}`, `Principal must be "*"`},
		{"Condition", Identity, `{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*","Condition":{"Bool":{}}}}`, "Condition and NotPrincipal are not supported"},
		{"NotPrincipal", Resource, `{"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Principal":"*","Action":"cloudhsm:*"}}`, "not supported"},
		{"statement numbers count from 1", Identity, `{"Statement":[{"Effect":"Allow","Action":"a:b","Resource":"*"},{"Effect":"Allow","Resource":"*"}]}`, "statement 2: has no Action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.doc), tt.kind)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Parse() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestParseSharing: the sharing profile, one rule per row; the same documents under the plain
// Resource grammar would be accepted.
func TestParseSharing(t *testing.T) {
	const backup = "arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-abcdefghijk"
	profile := Sharing{Resource: backup, Actions: []string{"cloudhsm:DescribeBackups", "cloudhsm:CreateCluster"}}
	doc := func(statement string) string { return `{"Version":"2012-10-17","Statement":[` + statement + `]}` }
	const ok = `"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"cloudhsm:DescribeBackups","Resource":"` + backup + `"`
	tests := []struct{ name, doc, want string }{
		{"Deny", doc(`{"Effect":"Deny","Principal":{"AWS":"444455556666"},"Action":"cloudhsm:DescribeBackups"}`), `statement 1: Effect must be "Allow": a sharing policy can only share`},
		{"a wildcard action", doc(`{` + ok + `},{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"cloudhsm:*"}`), `statement 2: action "cloudhsm:*" cannot be shared; the actions that can are cloudhsm:DescribeBackups and cloudhsm:CreateCluster`},
		{"another action", doc(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":["cloudhsm:DeleteBackup"]}`), `action "cloudhsm:DeleteBackup" cannot be shared`},
		{"an action in other case", doc(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"CloudHSM:DescribeBackups"}`), `cannot be shared`},
		{"another resource", doc(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"cloudhsm:CreateCluster","Resource":"arn:aws:cloudhsm:us-east-1:111122223333:backup/backup-zzzzzzzzzzz"}`), `is not the shared resource (` + backup + `)`},
		{"any principal", doc(`{"Effect":"Allow","Principal":"*","Action":"cloudhsm:DescribeBackups"}`), `needs Principal {"AWS": [...]} with account IDs`},
		{"AWS *", doc(`{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"cloudhsm:DescribeBackups"}`), `needs Principal`},
		{"NotAction", doc(`{` + ok + `,"NotAction":"cloudhsm:DeleteBackup"}`), `NotAction and NotResource are not supported in a sharing policy`},
		{"NotResource", doc(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"cloudhsm:DescribeBackups","NotResource":"x"}`), `not supported in a sharing policy`},
		{"a user principal", doc(`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:user/bob"},"Action":"cloudhsm:DescribeBackups"}`), `must be a 12-digit account ID`},
		{"an empty Resource", doc(`{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"cloudhsm:DescribeBackups","Resource":[]}`), `has an empty Resource`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseSharing([]byte(tt.doc), profile); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseSharing = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	p, err := ParseSharing([]byte(doc(`{`+ok+`},`+
		`{"Effect":"Allow","Principal":{"AWS":["arn:aws-us-gov:iam::777788889999:root","444455556666"]},"Action":["cloudhsm:CreateCluster"],"Resource":"*"}`)), profile)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Grants(backup, profile.Actions...)
	want := []Grant{
		{Account: "444455556666", Actions: []string{"cloudhsm:DescribeBackups", "cloudhsm:CreateCluster"}},
		{Account: "777788889999", Actions: []string{"cloudhsm:CreateCluster"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Grants = %+v, want %+v", got, want)
	}
}
