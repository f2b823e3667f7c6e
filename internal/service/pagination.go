package service

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
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
	key         []byte
	fingerprint string
}

// initTokenKey creates the pagination key unless the store has one. It runs in a read-write
// transaction when the service starts and after a reset, so that reads never have to write.
func initTokenKey(tx store.Tx, ids *lifecycle.IDSource) error {
	fresh, err := ids.Hex("", 64)
	if err != nil {
		return err
	}
	if _, err := tx.InitSetting(tokenKeySetting, fresh); err != nil {
		return fmt.Errorf("store pagination key: %w", err)
	}
	return nil
}

// newPager returns a pager for one request; scope lists everything the token is bound to.
func newPager(tx store.Tx, scope ...string) (pager, error) {
	key, err := tx.Setting(tokenKeySetting)
	if err != nil {
		return pager{}, fmt.Errorf("read pagination key (the service was not prepared?): %w", err)
	}
	sum := sha256.Sum256([]byte(strings.Join(scope, "\x00")))
	return pager{key: []byte(key), fingerprint: hex.EncodeToString(sum[:8])}, nil
}

func (p pager) sign(payload string) string {
	mac := hmac.New(sha256.New, p.key)
	mac.Write([]byte(payload))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil)[:18])
}

// token returns the NextToken that continues after cur.
func (p pager) token(cur store.Cursor) string {
	payload := strconv.FormatInt(cur.CreatedAt.UnixMilli(), 10) + "|" + cur.ID + "|" + p.fingerprint
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
	if len(parts) != 3 || parts[2] != p.fingerprint {
		return nil, bad
	}
	ms, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return nil, bad
	}
	return &store.Cursor{CreatedAt: time.UnixMilli(ms).UTC(), ID: parts[1]}, nil
}
