package customerca

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/certs"
)

// TestSignedCertificatePassesInitializeClusterChecks: what this CA signs is what the server accepts.
func TestSignedCertificatePassesInitializeClusterChecks(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	key, err := certs.NewClusterKey(rand.Reader, "cluster-abcdefghijk")
	if err != nil {
		t.Fatal(err)
	}
	cert, anchor, err := SignCSR(key.CSRPEM, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.VerifySignedCertificate(key.CSRPEM, cert, anchor, now); err != nil {
		t.Fatalf("the server would refuse it: %v", err)
	}
	if _, err := New(now); err != nil {
		t.Fatal(err)
	}
	if _, _, err := SignCSR("not a CSR", now); err == nil {
		t.Fatal("garbage CSR accepted")
	}
	block, _ := pem.Decode([]byte(cert))
	if c, err := x509.ParseCertificate(block.Bytes); err != nil || c.Subject.CommonName != "cluster-abcdefghijk" {
		t.Fatalf("certificate subject: %v %v", c, err)
	}
}
