package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// tokenKeySetting holds the HMAC key that makes NextToken tamper-evident, shared by replicas.
const tokenKeySetting = "pagination.token_key"

// pager issues and checks NextTokens. A token names the last item returned — a keyset
// position, so it stays correct while other requests insert or delete — and is bound by a
// fingerprint to the request that produced it (caller, operation, filters, order).
type pager struct {
	key   []byte
	scope []string // what the token is bound to; hashed only when a token is read or made
}

// initTokenKey creates the pagination key unless the store has one, and returns the key in
// force. It runs in a read-write transaction when the service starts, so that reads never
// have to write. The key never changes afterwards (Reset keeps it), so each server reads it
// once, in Prepare, and every replica of one store holds the same key.
func initTokenKey(tx store.Tx, ids *lifecycle.IDSource) (string, error) {
	fresh, err := ids.Hex("", 64)
	if err != nil {
		return "", err
	}
	key, err := tx.InitSetting(tokenKeySetting, fresh)
	if err != nil {
		return "", fmt.Errorf("store pagination key: %w", err)
	}
	return key, nil
}

// pager returns a pager for one request; scope lists everything the token is bound to.
func (s *Service) pager(scope ...string) (pager, error) {
	if len(s.tokenKey) == 0 {
		return pager{}, errors.New("no pagination key: the service was not prepared")
	}
	return pager{key: s.tokenKey, scope: scope}, nil
}

// fingerprint identifies the pager's scope inside a token.
func (p pager) fingerprint() string {
	sum := sha256.Sum256([]byte(strings.Join(p.scope, "\x00")))
	return hex.EncodeToString(sum[:8])
}

func (p pager) sign(payload string) string {
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// token returns the NextToken that continues after cur.
func (p pager) token(cur store.Cursor) string {
	payload := strconv.FormatInt(cur.CreatedAt.UnixMilli(), 10) + "|" + cur.ID + "|" + p.fingerprint()
	enc := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return enc + "." + p.sign(enc)
}

// cursor decodes a NextToken; nil token (or "") means the first page.
func (p pager) cursor(token *string) (*store.Cursor, error) {
	if token == nil || *token == "" {
		return nil, nil
	}
	bad := invalid("The NextToken %q is not valid for this request: pass the NextToken from the previous page of the same request, with the same filters and sort order.", *token)
	enc, sig, ok := strings.Cut(*token, ".")
	if !ok || !hmac.Equal([]byte(sig), []byte(p.sign(enc))) {
		return nil, bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, bad
	}
	parts := strings.Split(string(raw), "|")
	if len(parts) != 3 || parts[2] != p.fingerprint() {
		return nil, bad
	}
	ms, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return nil, bad
	}
	return &store.Cursor{CreatedAt: time.UnixMilli(ms).UTC(), ID: parts[1]}, nil
}
