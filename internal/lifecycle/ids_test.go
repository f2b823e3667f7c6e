package lifecycle_test

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/lifecycle"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// TestResourceIDs: a new resource ID is the prefix and 11 characters of [a-z2-7], never one
// reserved before: an ID drawn again is drawn anew, a few times at most.
func TestResourceIDs(t *testing.T) {
	zeros := func(ids int) []byte { return make([]byte, 11*ids) } // each 11 zero bytes draw backup-aaaaaaaaaaa
	tests := []struct {
		name     string
		random   []byte
		reserved []string
		want     string // "" when it must fail
	}{
		{"the ID the randomness spells", bytes.Repeat([]byte{1}, 11), nil, "backup-bbbbbbbbbbb"},
		{"only the low five bits of each byte count", bytes.Repeat([]byte{0xff}, 11), nil, "backup-77777777777"},
		{"an ID reserved before is drawn again", append(zeros(2), bytes.Repeat([]byte{2}, 11)...), []string{"backup-aaaaaaaaaaa"}, "backup-ccccccccccc"},
		{"after 8 draws of reserved IDs it gives up", zeros(8), []string{"backup-aaaaaaaaaaa"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, testConfig())
			e := lifecycle.New(testConfig(), clock.NewManual(t0), bytes.NewReader(tt.random))
			var got string
			err := f.st.Update(t.Context(), store.Everything(), func(tx store.Tx) error {
				for _, id := range tt.reserved {
					if err := tx.ReserveID(id); err != nil {
						return err
					}
				}
				var err error
				got, err = e.IDs().NewResourceID(tx, "backup")
				return err
			})
			if tt.want == "" {
				if err == nil || !strings.Contains(err.Error(), "no unused backup ID after 8 attempts") {
					t.Fatalf("got %q, error %v; want the error that no unused ID was found", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewResourceID: %v", err)
			}
			equal(t, "ID", got, tt.want)
		})
	}
}

// TestHexIDs: ENI and security-group IDs are the prefix and n random lowercase hex digits; a
// source of randomness that runs dry is an error.
func TestHexIDs(t *testing.T) {
	ids := lifecycle.New(testConfig(), clock.NewManual(t0), bytes.NewReader(bytes.Repeat([]byte{0xab}, 9))).IDs()
	got, err := ids.Hex("eni-", 17)
	if err != nil {
		t.Fatalf("Hex: %v", err)
	}
	if !regexp.MustCompile(`^eni-[0-9a-f]{17}$`).MatchString(got) {
		t.Errorf("Hex = %q, want eni- and 17 hex digits", got)
	}
	if _, err := ids.Hex("sg-", 17); !errors.Is(err, io.EOF) {
		t.Errorf("Hex with no randomness left: got error %v, want io.EOF", err)
	}
}
