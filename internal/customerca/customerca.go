// Package customerca plays the customer's certificate authority of the AWS CloudHSM user guide:
// a self-signed root that signs a cluster's CSR so the cluster can be initialized. Tests,
// fuzz seeds and benchmarks use it to claim clusters; the server never does.
package customerca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// CA is a customer's root certificate authority.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
	now  time.Time
}

// New creates a root CA named "customer root", valid from an hour before now for 20 years.
func New(now time.Time) (*CA, error) {
	return NewNamed(now, pkix.Name{CommonName: "customer root"})
}

// NewNamed is New with another subject, such as one whose values hold markup, for the tests
// that check every page shows it as text.
func NewNamed(now time.Time, subject pkix.Name) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: subject,
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(20, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{cert: cert, key: key, pem: encode(der), now: now}, nil
}

// PEM is the CA's certificate: InitializeCluster's TrustAnchor.
func (ca *CA) PEM() string { return ca.pem }

// Sign issues a certificate, valid for 10 years, for the public key of a PEM CSR after
// checking the CSR's own signature: InitializeCluster's SignedCert.
func (ca *CA) Sign(csrPEM string) (string, error) {
	block, _ := pem.Decode([]byte(csrPEM))
	if block == nil {
		return "", errors.New("the CSR is not PEM")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("parse CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return "", fmt.Errorf("CSR signature: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: csr.Subject,
		NotBefore: ca.now.Add(-time.Hour), NotAfter: ca.now.AddDate(10, 0, 0),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		return "", err
	}
	return encode(der), nil
}

// Issue issues a certificate for any public key, valid from notBefore to notAfter — for tests
// of what InitializeCluster refuses (another key, expired, not yet valid).
func (ca *CA) Issue(pub any, notBefore, notAfter time.Time) (string, error) {
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(3), NotBefore: notBefore, NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return "", err
	}
	return encode(der), nil
}

// SignCSR signs csrPEM with a fresh CA and returns the certificate and the CA's (the trust anchor).
func SignCSR(csrPEM string, now time.Time) (cert, anchor string, err error) {
	ca, err := New(now)
	if err != nil {
		return "", "", err
	}
	cert, err = ca.Sign(csrPEM)
	return cert, ca.PEM(), err
}

func encode(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
