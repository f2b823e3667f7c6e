package identity

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
)

func TestParseCredentials(t *testing.T) {
	c := mustCredentials(t, testCredentials)
	if c.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", c.Len())
	}
	cr, _ := c.lookup(sessionKey)
	if cr.account != "444455556666" || cr.sessionToken != sessionToken || cr.sessionExpires.IsZero() || cr.policy == nil {
		t.Errorf("session credential = %+v", cr)
	}
	if !cr.policy.Allows(policy.Request{Action: "cloudhsm:DescribeBackups", Resource: "*"}) ||
		cr.policy.Allows(policy.Request{Action: "cloudhsm:DeleteBackup", Resource: "*"}) {
		t.Error("the session credential's policy is not the one in the file")
	}

	t.Run("policy as a JSON string", func(t *testing.T) {
		c := mustCredentials(t, `[{"access_key_id":"AKID1","secret_access_key":"s","account_id":"111122223333",
			"policy":"{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":\"cloudhsm:*\",\"Resource\":\"*\"}]}"}]`)
		cr, _ := c.lookup("AKID1")
		if got := cr.policy.Evaluate(policy.Request{Action: "cloudhsm:DescribeBackups", Resource: "*"}); got != policy.ExplicitDeny {
			t.Errorf("Evaluate = %v, want explicit deny", got)
		}
	})
	t.Run("an empty list is an empty set", func(t *testing.T) {
		if c := mustCredentials(t, `[]`); c.Len() != 0 {
			t.Errorf("Len() = %d", c.Len())
		}
	})
}

func TestParseCredentialsErrors(t *testing.T) {
	const secret = "TopSecretValue"
	entry := func(members string) string {
		return `[{"access_key_id":"AKID1","secret_access_key":"` + secret + `","account_id":"111122223333"` + members + `}]`
	}
	tests := []struct{ name, text, want string }{
		{"not JSON", `{`, "invalid JSON"},
		{"an object, not a list", `{"access_key_id":"AKID1"}`, "cannot be a JSON object"},
		{"text after the list", `[] []`, "text after the list"},
		{"empty file", ``, "the document is empty"},
		{"unknown member", entry(`,"secret_key":"` + secret + `"`), `unknown member "secret_key"`},
		{"missing access key", `[{"secret_access_key":"` + secret + `","account_id":"111122223333"}]`, "entry 1: access_key_id"},
		{"access key with a slash", `[{"access_key_id":"AK/ID","secret_access_key":"` + secret + `","account_id":"111122223333"}]`, "access_key_id"},
		{"missing secret", `[{"access_key_id":"AKID1","account_id":"111122223333"}]`, "entry 1 (AKID1): secret_access_key is missing"},
		{"bad account", `[{"access_key_id":"AKID1","secret_access_key":"` + secret + `","account_id":"1234"}]`, `account_id "1234"`},
		{"duplicate key", `[` + strings.Trim(entry(""), "[]") + `,` + strings.Trim(entry(""), "[]") + `]`, "entry 2 (AKID1): access key id given twice"},
		{"expiry without a token", entry(`,"session_expires":"2030-01-01T00:00:00Z"`), "session_expires needs a session_token"},
		{"bad expiry", entry(`,"session_token":"` + secret + `","session_expires":"tomorrow"`), "not an RFC 3339 time"},
		{"policy without Resource", entry(`,"policy":{"Statement":{"Effect":"Allow","Action":"cloudhsm:*"}}`), "policy: statement 1: has no Resource"},
		{"policy with a Principal", entry(`,"policy":{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*","Principal":"*"}}`), "Principal is not allowed"},
		{"policy with a Condition", entry(`,"policy":{"Statement":{"Effect":"Allow","Action":"cloudhsm:*","Resource":"*","Condition":{}}}`), "Condition"},
		{"policy that is not an object", entry(`,"policy":42`), "policy"},
		{"secret of the wrong type", `[{"access_key_id":"AKID1","secret_access_key":42,"account_id":"111122223333"}]`, "secret_access_key cannot be a JSON number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCredentials([]byte(tt.text))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseCredentials() error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error %q quotes a secret", err)
			}
		})
	}
}

func TestLoadCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "credentials.json")
	if _, err := LoadCredentials(path); err == nil || !strings.Contains(err.Error(), "credentials file") {
		t.Fatalf("missing file: %v", err)
	}
	if err := os.WriteFile(path, []byte(testCredentials), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadCredentials(path)
	if err != nil || c.Len() != 3 {
		t.Fatalf("LoadCredentials = %v, %v", c, err)
	}
	if err := os.WriteFile(path, []byte(`[{"access_key_id":"AKID1"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadCredentials(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("bad file: %v, want an error naming %s", err, path)
	}
}

// fuzzStrictCredentials is the credential set the fuzz target verifies against.
var fuzzStrictCredentials = func() *Credentials {
	c, err := ParseCredentials([]byte(testCredentials))
	if err != nil {
		panic(err)
	}
	return c
}()

// strictSeeds are FuzzParseAuthorization's seeds for the strict parser.
var strictSeeds = []string{
	"AWS4-HMAC-SHA256 Credential=AKID/20260301/us-east-1/cloudhsm/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=" + strings.Repeat("a", 64),
	"AWS4-HMAC-SHA256 Credential=" + ownerKey + "/20260301/us-east-1/cloudhsm/aws4_request,SignedHeaders=host;x-amz-date,Signature=" + strings.Repeat("0", 64),
	"AWS4-HMAC-SHA256 Credential=/////, SignedHeaders=;, Signature=",
	"AWS4-HMAC-SHA256 Credential=a=b, Credential=c",
	"AWS4-HMAC-SHA256 ,,,",
	"AWS4-HMAC-SHA256\tCredential = AKID/20260301/us-east-1/cloudhsm/aws4_request , SignedHeaders = host;x-amz-date , Signature = " + strings.Repeat("f", 64),
	"Bearer abc",
}

// checkStrict is FuzzParseAuthorization's half for strict mode: the strict parser and the
// strict Resolve never panic, what the parser accepts is well-formed, nothing verifies without a
// secret, and every refusal is an authentication error that quotes no secret.
func checkStrict(t *testing.T, auth string) {
	a, err := parseSigV4(auth)
	if err != nil {
		if e := api.AsError(err); e.Code != api.CodeMissingAuthenticationToken {
			t.Fatalf("parseSigV4 error %v is not a %s", err, api.CodeMissingAuthenticationToken)
		}
	} else {
		if !validAccessKeyID(a.accessKeyID) || len(a.date) != 8 || a.service == "" || !isLowerHex(a.signature, 64) {
			t.Fatalf("parseSigV4 accepted a malformed header: %+v", a)
		}
		hasHost, hasDate := false, false
		for _, h := range a.signedHeaders {
			if !isLowerToken(h) {
				t.Fatalf("signed header %q is not a lowercase token", h)
			}
			hasHost, hasDate = hasHost || h == "host", hasDate || h == "x-amz-date"
		}
		if !hasHost || !hasDate {
			t.Fatalf("parseSigV4 accepted SignedHeaders without host and x-amz-date: %v", a.signedHeaders)
		}
	}

	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader("{}"))
	req.Header["Authorization"] = []string{auth}
	req.Header["X-Amz-Date"] = []string{now.Format(amzDateFormat)}
	_, err = Resolver{Strict: NewVerifier(clock.NewManual(now), fuzzStrictCredentials)}.Resolve(req)
	if err == nil {
		t.Fatal("a fuzzed header verified") // it would need the owner's secret
	}
	switch e := api.AsError(err); e.Code {
	case api.CodeMissingAuthenticationToken, api.CodeUnrecognizedClient, api.CodeInvalidSignature,
		api.CodeExpiredToken, api.CodeInvalidRequest:
		assertNoSecret(t, e.Message)
	default:
		t.Fatalf("strict Resolve() error %v is not an authentication error", err)
	}
}
