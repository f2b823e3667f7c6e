package lifecycle

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// IDSource makes random identifiers from an injected reader; safe for concurrent use.
type IDSource struct {
	mu sync.Mutex
	r  io.Reader
}

// idAlphabet is the base32 alphabet of real CloudHSM IDs.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// Reader returns the underlying randomness, serialised, for key generation.
func (s *IDSource) Reader() io.Reader { return lockedReader{s} }

type lockedReader struct{ s *IDSource }

func (l lockedReader) Read(p []byte) (int, error) {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return io.ReadFull(l.s.r, p)
}

func (s *IDSource) bytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := s.Reader().Read(b); err != nil {
		return nil, fmt.Errorf("read randomness: %w", err)
	}
	return b, nil
}

// Hex returns prefix followed by n random lowercase hex digits (eni-, sg- IDs).
func (s *IDSource) Hex(prefix string, n int) (string, error) {
	b, err := s.bytes((n + 1) / 2)
	if err != nil {
		return "", err
	}
	return prefix + hex.EncodeToString(b)[:n], nil
}

// maxIDAttempts bounds retries on the (astronomically rare) reuse of an ID.
const maxIDAttempts = 8

// NewResourceID returns a fresh "<prefix>-" ID of 11 characters from [a-z2-7], reserved in tx
// so that it is never used again, even after its resource is purged.
func (s *IDSource) NewResourceID(tx store.Tx, prefix string) (string, error) {
	for range maxIDAttempts {
		b, err := s.bytes(11)
		if err != nil {
			return "", err
		}
		id := make([]byte, 0, len(prefix)+12)
		id = append(id, prefix...)
		id = append(id, '-')
		for _, c := range b {
			id = append(id, idAlphabet[c&31])
		}
		err = tx.ReserveID(string(id))
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return "", fmt.Errorf("reserve ID: %w", err)
		}
		return string(id), nil
	}
	return "", fmt.Errorf("no unused %s ID after %d attempts", prefix, maxIDAttempts)
}
