package lifecycle

import (
	"errors"
	"fmt"

	"github.com/cloudhsm-local/cloudhsm-local/internal/certs"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// The hardware CA is part of a state snapshot: the HSM certificates already issued chain to it,
// and those issued after an import must chain to the same one.

// HardwareCA returns the store's hardware CA bundle (PEM certificates and keys), or "" when none
// was made yet.
func HardwareCA(tx store.Tx) (string, error) {
	bundle, err := tx.Setting(hardwareCASetting)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the hardware CA: %w", err)
	}
	return bundle, nil
}

// ErrBadHardwareCA marks a bundle RestoreHardwareCA refuses.
var ErrBadHardwareCA = errors.New("not a hardware CA bundle")

// RestoreHardwareCA makes bundle the store's hardware CA, replacing any. A bundle that does not
// load as one (certificates and keys of the emulator's chain) is refused with an error wrapping
// ErrBadHardwareCA, and nothing is written.
func RestoreHardwareCA(tx store.Tx, bundle string) error {
	if _, err := certs.LoadAuthority([]byte(bundle)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadHardwareCA, err)
	}
	if err := tx.PutSetting(hardwareCASetting, bundle); err != nil {
		return fmt.Errorf("store the hardware CA: %w", err)
	}
	return nil
}
