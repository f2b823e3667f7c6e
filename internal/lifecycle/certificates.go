package lifecycle

import (
	"fmt"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/certs"
	"github.com/cloudhsm-local/cloudhsm-local/internal/store"
)

// hardwareCASetting holds the emulator's hardware CA chain, shared by every replica.
const hardwareCASetting = "certs.hardware_ca"

// authority returns the store's hardware CA, creating it on first use.
func (e *Engine) authority(tx store.Tx, now time.Time) (*certs.Authority, error) {
	if bundle, err := tx.Setting(hardwareCASetting); err == nil {
		return certs.LoadAuthority([]byte(bundle))
	}
	fresh, err := certs.NewAuthority(e.ids.Reader(), now)
	if err != nil {
		return nil, fmt.Errorf("create hardware CA: %w", err)
	}
	bundle, err := fresh.Marshal()
	if err != nil {
		return nil, err
	}
	winner, err := tx.InitSetting(hardwareCASetting, string(bundle))
	if err != nil {
		return nil, fmt.Errorf("store hardware CA: %w", err)
	}
	return certs.LoadAuthority([]byte(winner))
}

// issueClusterCertificates makes a cluster's key and CSR and the hardware certificates of the
// HSM that holds it.
func (e *Engine) issueClusterCertificates(tx store.Tx, clusterID, hsmID string, at time.Time) (store.Certificates, error) {
	ca, err := e.authority(tx, at)
	if err != nil {
		return store.Certificates{}, err
	}
	key, err := certs.NewClusterKey(e.ids.Reader(), clusterID)
	if err != nil {
		return store.Certificates{}, fmt.Errorf("cluster key: %w", err)
	}
	hw, err := ca.IssueHSMCertificates(e.ids.Reader(), key.CSRPEM, hsmID, at)
	if err != nil {
		return store.Certificates{}, fmt.Errorf("HSM certificates: %w", err)
	}
	return store.Certificates{
		ClusterKey:                      key.KeyPEM,
		ClusterCsr:                      key.CSRPEM,
		HsmCertificate:                  hw.HsmCertificate,
		AwsHardwareCertificate:          hw.AwsHardwareCertificate,
		ManufacturerHardwareCertificate: hw.ManufacturerHardwareCertificate,
	}, nil
}
