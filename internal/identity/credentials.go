package identity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/policy"
)

// CredentialEntry is one credential of a credentials file, as JSON has it:
//
//	[
//	  {"access_key_id": "AKIDEXAMPLE", "secret_access_key": "…", "account_id": "111122223333"},
//	  {"access_key_id": "ASIAEXAMPLE", "secret_access_key": "…", "account_id": "444455556666",
//	   "session_token": "…", "session_expires": "2030-01-01T00:00:00Z",
//	   "policy": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
//	              "Action": "cloudhsm:Describe*", "Resource": "*"}]}}
//	]
//
// The policy may also be given as a string holding the JSON document, as IAM's APIs take it.
type CredentialEntry struct {
	AccessKeyID     string          `json:"access_key_id"`
	SecretAccessKey string          `json:"secret_access_key"`
	SessionToken    string          `json:"session_token,omitempty"`
	SessionExpires  string          `json:"session_expires,omitempty"`
	AccountID       string          `json:"account_id"`
	Policy          json.RawMessage `json:"policy,omitempty"`
}

// credential is a checked entry, ready to verify signatures with.
type credential struct {
	accessKeyID    string
	secret         string
	sessionToken   string    // "" when the credential has none
	sessionExpires time.Time // zero when the session never expires
	account        string
	policy         *policy.Policy // nil: everything the account may do
	// signer computes this credential's expected signatures. Each credential has its own: the
	// SDK's signer caches derived signing keys by access key id and day, not by secret, so a
	// signer shared across a reload could keep accepting a secret the new file replaced.
	signer *v4.Signer
}

// Credentials is an immutable set of strict-mode credentials, keyed by access key id. A Verifier
// swaps whole sets, so a reload never shows a request half of the old file and half of the new.
type Credentials struct {
	byKey map[string]*credential
}

// Len returns the number of credentials in the set.
func (c *Credentials) Len() int {
	if c == nil {
		return 0
	}
	return len(c.byKey)
}

func (c *Credentials) lookup(accessKeyID string) (*credential, bool) {
	if c == nil {
		return nil, false
	}
	cr, ok := c.byKey[accessKeyID]
	return cr, ok
}

// LoadCredentials reads and checks a credentials file (see CredentialEntry). Its errors name the
// file, the entry and the access key id, never a secret or a session token.
func LoadCredentials(path string) (*Credentials, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("credentials file: %w", err)
	}
	c, err := ParseCredentials(raw)
	if err != nil {
		return nil, fmt.Errorf("credentials file %s: %w", path, err)
	}
	return c, nil
}

// ParseCredentials checks the JSON text of a credentials file: a list of entries, each with an
// access key id (unique, without '/', ',', '=' or white space), a secret, a 12-digit account id,
// and optionally a session token, its expiry (RFC 3339; only with a token) and an identity policy
// (policy.Identity). Unknown members are errors, so a misspelt "secret_key" is not silently a
// credential without a secret.
func ParseCredentials(raw []byte) (*Credentials, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var entries []CredentialEntry
	if err := dec.Decode(&entries); err != nil {
		return nil, fmt.Errorf("not a JSON list of credentials: %s", api.JSONProblem(err))
	}
	if dec.More() {
		return nil, errors.New("not a JSON list of credentials: text after the list")
	}
	set := &Credentials{byKey: make(map[string]*credential, len(entries))}
	for i, e := range entries {
		cr, err := e.check()
		if err != nil {
			name := fmt.Sprintf("entry %d", i+1)
			if validAccessKeyID(e.AccessKeyID) {
				name += " (" + e.AccessKeyID + ")"
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if _, dup := set.byKey[cr.accessKeyID]; dup {
			return nil, fmt.Errorf("entry %d (%s): access key id given twice", i+1, cr.accessKeyID)
		}
		set.byKey[cr.accessKeyID] = cr
	}
	return set, nil
}

func (e CredentialEntry) check() (*credential, error) {
	if !validAccessKeyID(e.AccessKeyID) {
		return nil, errors.New("access_key_id must be 1 to 128 characters without '/', ',', '=' or white space")
	}
	if e.SecretAccessKey == "" {
		return nil, errors.New("secret_access_key is missing")
	}
	if !api.IsAccountID(e.AccountID) {
		return nil, fmt.Errorf("account_id %q is not a 12-digit account id", api.Clip(e.AccountID))
	}
	cr := &credential{
		accessKeyID: e.AccessKeyID, secret: e.SecretAccessKey, sessionToken: e.SessionToken,
		account: e.AccountID, signer: v4.NewSigner(),
	}
	if e.SessionExpires != "" {
		if e.SessionToken == "" {
			return nil, errors.New("session_expires needs a session_token")
		}
		t, err := time.Parse(time.RFC3339, e.SessionExpires)
		if err != nil {
			return nil, fmt.Errorf("session_expires %q is not an RFC 3339 time such as 2030-01-01T00:00:00Z", api.Clip(e.SessionExpires))
		}
		cr.sessionExpires = t
	}
	if doc := bytes.TrimSpace(e.Policy); len(doc) > 0 && !bytes.Equal(doc, []byte("null")) {
		if doc[0] == '"' { // the document as a JSON string, as IAM's APIs take it
			var s string
			if err := json.Unmarshal(doc, &s); err != nil {
				return nil, fmt.Errorf("policy: %s", api.JSONProblem(err))
			}
			doc = []byte(s)
		}
		p, err := policy.Parse(doc, policy.Identity)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		cr.policy = p
	}
	return cr, nil
}

// validAccessKeyID keeps access key ids to what fits in a credential scope and a log line.
func validAccessKeyID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool {
		return r == '/' || r == ',' || r == '=' || r <= ' ' || r == 0x7f || r > 0x7e
	})
}
