// Package certs holds the real X.509 material of an emulated CloudHSM
// cluster: the emulator's hardware certificate authority (a "manufacturer"
// root and an "AWS hardware" intermediate), each cluster's key pair and
// certificate signing request (CSR), the HSM certificate issued for that
// key, and the checks InitializeCluster applies to the certificate the
// customer signed with their own CA.
//
// Everything here is genuine, verifiable X.509 produced with the standard
// library, but none of it is trusted by anyone outside the emulator: the
// chain merely has the same shape as the one AWS CloudHSM hands out.
//
// The package must never keep global state, never read the clock and never
// pick its own source of randomness: every function that needs the time or
// random bytes takes them as parameters (now time.Time, rand io.Reader), so
// that callers and tests decide when and how material is made. (Since Go 1.26
// the standard library draws ECDSA key-generation and signing randomness from
// its own secure source unless GODEBUG=cryptocustomrand=1; rand still supplies
// the certificate serial numbers, so its errors are still reported.) The
// values it returns are immutable and safe for concurrent use.
package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"time"
)

const (
	// organization is the subject O of every name this package writes.
	organization = "cloudhsm-local"

	manufacturerCommonName = "cloudhsm-local Manufacturer Hardware Root CA"
	awsHardwareCommonName  = "cloudhsm-local AWS Hardware CA"

	// backdate is how far before now every certificate becomes valid, so
	// that clocks slightly behind the issuer's still accept it.
	backdate = time.Hour

	authorityYears = 30
	hsmCertYears   = 10

	pemCertificate = "CERTIFICATE"
	pemPrivateKey  = "PRIVATE KEY"
	pemCSR         = "CERTIFICATE REQUEST"
)

// Authority is the emulator's hardware certificate chain: a self-signed
// "manufacturer" root CA and an "AWS hardware" intermediate CA signed by it,
// standing in for the HSM vendor's and AWS's hardware CAs. The intermediate
// issues the HSM certificate of every cluster. An Authority is immutable and
// safe for concurrent use.
type Authority struct {
	rootCert *x509.Certificate
	rootKey  *ecdsa.PrivateKey
	rootPEM  string

	interCert *x509.Certificate
	interKey  *ecdsa.PrivateKey
	interPEM  string
}

// NewAuthority creates a fresh chain: ECDSA P-256 keys for both CAs, each
// certificate valid for 30 years starting one hour before now. Random bytes
// (serial numbers, keys, signatures) come from rand.
func NewAuthority(rand io.Reader, now time.Time) (*Authority, error) {
	notBefore := now.Add(-backdate)
	notAfter := notBefore.AddDate(authorityYears, 0, 0)

	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("certs: generating manufacturer root key: %w", err)
	}
	rootTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: manufacturerCommonName, Organization: []string{organization}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	rootDER, err := x509.CreateCertificate(rand, rootTmpl, rootTmpl, rootKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("certs: creating manufacturer root certificate: %w", err)
	}
	rootCert, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing manufacturer root certificate: %w", err)
	}

	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("certs: generating AWS hardware key: %w", err)
	}
	interTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: awsHardwareCommonName, Organization: []string{organization}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	interDER, err := x509.CreateCertificate(rand, interTmpl, rootCert, interKey.Public(), rootKey)
	if err != nil {
		return nil, fmt.Errorf("certs: creating AWS hardware certificate: %w", err)
	}
	interCert, err := x509.ParseCertificate(interDER)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing AWS hardware certificate: %w", err)
	}

	return newAuthority(rootCert, rootKey, interCert, interKey), nil
}

func newAuthority(rootCert *x509.Certificate, rootKey *ecdsa.PrivateKey, interCert *x509.Certificate, interKey *ecdsa.PrivateKey) *Authority {
	return &Authority{
		rootCert:  rootCert,
		rootKey:   rootKey,
		rootPEM:   encodePEM(pemCertificate, rootCert.Raw),
		interCert: interCert,
		interKey:  interKey,
		interPEM:  encodePEM(pemCertificate, interCert.Raw),
	}
}

// Marshal returns a PEM bundle holding, in this order, the manufacturer root
// certificate, its PKCS#8 private key, the AWS hardware certificate and its
// PKCS#8 private key. LoadAuthority rebuilds the same Authority from it; the
// server stores it so that all replicas issue from one chain. The bundle
// contains private keys and must be kept secret.
func (a *Authority) Marshal() ([]byte, error) {
	rootKeyDER, err := x509.MarshalPKCS8PrivateKey(a.rootKey)
	if err != nil {
		return nil, fmt.Errorf("certs: marshaling manufacturer root key: %w", err)
	}
	interKeyDER, err := x509.MarshalPKCS8PrivateKey(a.interKey)
	if err != nil {
		return nil, fmt.Errorf("certs: marshaling AWS hardware key: %w", err)
	}
	var buf bytes.Buffer
	for _, b := range []*pem.Block{
		{Type: pemCertificate, Bytes: a.rootCert.Raw},
		{Type: pemPrivateKey, Bytes: rootKeyDER},
		{Type: pemCertificate, Bytes: a.interCert.Raw},
		{Type: pemPrivateKey, Bytes: interKeyDER},
	} {
		if err := pem.Encode(&buf, b); err != nil {
			return nil, fmt.Errorf("certs: encoding authority bundle: %w", err)
		}
	}
	return buf.Bytes(), nil
}

// LoadAuthority rebuilds an Authority from a bundle written by Marshal. It
// checks that the bundle has exactly the four expected PEM blocks, that each
// private key belongs to its certificate, that both certificates are CAs and
// that the AWS hardware certificate is signed by the manufacturer root.
func LoadAuthority(pemBundle []byte) (*Authority, error) {
	var blocks []*pem.Block
	rest := pemBundle
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("certs: authority bundle has trailing data that is not PEM")
	}
	wantTypes := []string{pemCertificate, pemPrivateKey, pemCertificate, pemPrivateKey}
	if len(blocks) != len(wantTypes) {
		return nil, fmt.Errorf("certs: authority bundle has %d PEM blocks, want %d", len(blocks), len(wantTypes))
	}
	for i, b := range blocks {
		if b.Type != wantTypes[i] {
			return nil, fmt.Errorf("certs: authority bundle block %d is %q, want %q", i+1, b.Type, wantTypes[i])
		}
	}

	rootCert, rootKey, err := loadCA("manufacturer root", blocks[0], blocks[1])
	if err != nil {
		return nil, err
	}
	interCert, interKey, err := loadCA("AWS hardware", blocks[2], blocks[3])
	if err != nil {
		return nil, err
	}
	if err := rootCert.CheckSignatureFrom(rootCert); err != nil {
		return nil, fmt.Errorf("certs: manufacturer root certificate is not self-signed: %w", err)
	}
	if err := interCert.CheckSignatureFrom(rootCert); err != nil {
		return nil, fmt.Errorf("certs: AWS hardware certificate is not signed by the manufacturer root: %w", err)
	}
	return newAuthority(rootCert, rootKey, interCert, interKey), nil
}

// loadCA parses one CA certificate and its private key from the bundle.
func loadCA(role string, certBlock, keyBlock *pem.Block) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parsing %s certificate: %w", role, err)
	}
	if !cert.BasicConstraintsValid || !cert.IsCA {
		return nil, nil, fmt.Errorf("certs: %s certificate is not a CA certificate", role)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("certs: parsing %s private key: %w", role, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, nil, fmt.Errorf("certs: %s private key is %T, want ECDSA", role, parsed)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, nil, fmt.Errorf("certs: %s private key does not match its certificate", role)
	}
	return cert, key, nil
}

// ClusterKey is a cluster's own key pair and its certificate signing request.
type ClusterKey struct {
	KeyPEM string // PKCS#8 "PRIVATE KEY" PEM, kept by the server
	CSRPEM string // "CERTIFICATE REQUEST" PEM, shown to the user as Certificates.ClusterCsr
}

// NewClusterKey generates an ECDSA P-256 key and a CSR signed with it whose
// subject has CN clusterID (e.g. "cluster-abcdefghijk") and O
// "cloudhsm-local". Random bytes come from rand.
func NewClusterKey(rand io.Reader, clusterID string) (ClusterKey, error) {
	if clusterID == "" {
		return ClusterKey{}, errors.New("certs: cluster ID is empty")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return ClusterKey{}, fmt.Errorf("certs: generating cluster key: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return ClusterKey{}, fmt.Errorf("certs: marshaling cluster key: %w", err)
	}
	csrDER, err := x509.CreateCertificateRequest(rand, &x509.CertificateRequest{
		Subject:            pkix.Name{CommonName: clusterID, Organization: []string{organization}},
		SignatureAlgorithm: x509.ECDSAWithSHA256,
	}, key)
	if err != nil {
		return ClusterKey{}, fmt.Errorf("certs: creating cluster CSR: %w", err)
	}
	return ClusterKey{
		KeyPEM: encodePEM(pemPrivateKey, keyDER),
		CSRPEM: encodePEM(pemCSR, csrDER),
	}, nil
}

// HSMCertificates are the certificates shown in Cluster.Certificates next to
// the CSR.
type HSMCertificates struct {
	HsmCertificate                  string // PEM: the HSM's certificate for the cluster key (public key from the CSR), issued by the AWS hardware CA
	AwsHardwareCertificate          string // PEM
	ManufacturerHardwareCertificate string // PEM
}

// IssueHSMCertificates issues the HSM certificate for the cluster key in
// csrPEM, whose signature must be valid, and returns it with the two CA
// certificates of the Authority. hsmID becomes the subject CN of the HSM
// certificate, which is issued by the AWS hardware CA and is valid for 10
// years starting one hour before now. Random bytes come from rand.
func (a *Authority) IssueHSMCertificates(rand io.Reader, csrPEM, hsmID string, now time.Time) (HSMCertificates, error) {
	if hsmID == "" {
		return HSMCertificates{}, errors.New("certs: HSM ID is empty")
	}
	csr, err := parseCSR(csrPEM)
	if err != nil {
		return HSMCertificates{}, err
	}
	notBefore := now.Add(-backdate)
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: hsmID, Organization: []string{organization}},
		NotBefore:             notBefore,
		NotAfter:              notBefore.AddDate(hsmCertYears, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand, tmpl, a.interCert, csr.PublicKey, a.interKey)
	if err != nil {
		return HSMCertificates{}, fmt.Errorf("certs: creating HSM certificate: %w", err)
	}
	return HSMCertificates{
		HsmCertificate:                  encodePEM(pemCertificate, der),
		AwsHardwareCertificate:          a.interPEM,
		ManufacturerHardwareCertificate: a.rootPEM,
	}, nil
}

// parseCSR parses the cluster's own CSR and checks its signature. Failures
// are internal errors: the CSR is made by NewClusterKey, not by the user.
func parseCSR(csrPEM string) (*x509.CertificateRequest, error) {
	b, rest := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != pemCSR || len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("certs: cluster CSR is not exactly one PEM CERTIFICATE REQUEST block")
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("certs: parsing cluster CSR: %w", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("certs: cluster CSR signature: %w", err)
	}
	return csr, nil
}

// VerifySignedCertificate implements InitializeCluster's checks of the
// customer-signed certificate, in this order:
//
//  1. signedCertPEM is exactly one PEM CERTIFICATE block holding an X.509
//     certificate (surrounding whitespace allowed);
//  2. trustAnchorPEM is likewise;
//  3. the signed certificate's public key equals the public key of csrPEM,
//     the cluster's own CSR;
//  4. the signed certificate is valid at now and verifies against
//     TrustAnchor as the only root (TrustAnchor may be its issuer directly),
//     for any key usage.
//
// A nil return means the cluster may be initialized. A failed check returns
// a plain error whose Error() is the message for the API user, naming the
// check, e.g. "SignedCert is not a PEM-encoded X.509 certificate",
// "TrustAnchor is not a PEM-encoded X.509 certificate", "SignedCert was not
// issued for the cluster's CSR: its public key differs", "SignedCert is not
// valid at 2030-01-02T03:04:05Z" or "SignedCert does not chain to
// TrustAnchor: <reason>"; some messages carry a detail after ": ". If csrPEM
// itself is unusable the error says so; that is a server fault, not the
// user's.
func VerifySignedCertificate(csrPEM, signedCertPEM, trustAnchorPEM string, now time.Time) error {
	signed, err := parseSingleCertificate("SignedCert", signedCertPEM)
	if err != nil {
		return err
	}
	anchor, err := parseSingleCertificate("TrustAnchor", trustAnchorPEM)
	if err != nil {
		return err
	}

	csr, err := parseCSR(csrPEM)
	if err != nil {
		return err
	}
	csrKey, ok := csr.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
	if !ok || !csrKey.Equal(signed.PublicKey) {
		return errors.New("SignedCert was not issued for the cluster's CSR: its public key differs")
	}

	nowText := now.UTC().Format(time.RFC3339)
	if now.Before(signed.NotBefore) || now.After(signed.NotAfter) {
		return fmt.Errorf("SignedCert is not valid at %s: it is valid from %s until %s",
			nowText, signed.NotBefore.UTC().Format(time.RFC3339), signed.NotAfter.UTC().Format(time.RFC3339))
	}
	roots := x509.NewCertPool()
	roots.AddCert(anchor)
	_, err = signed.Verify(x509.VerifyOptions{
		Roots:       roots,
		CurrentTime: now,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		var invalid x509.CertificateInvalidError
		if errors.As(err, &invalid) && invalid.Reason == x509.Expired && invalid.Cert != nil && invalid.Cert.Equal(anchor) {
			return fmt.Errorf("SignedCert does not chain to TrustAnchor: TrustAnchor is not valid at %s: it is valid from %s until %s",
				nowText, anchor.NotBefore.UTC().Format(time.RFC3339), anchor.NotAfter.UTC().Format(time.RFC3339))
		}
		return fmt.Errorf("SignedCert does not chain to TrustAnchor: %v", err)
	}
	return nil
}

// parseSingleCertificate parses a user-supplied parameter that must hold
// exactly one PEM CERTIFICATE block. Its errors are user-facing messages
// that begin "<param> is not a PEM-encoded X.509 certificate".
func parseSingleCertificate(param, text string) (*x509.Certificate, error) {
	base := param + " is not a PEM-encoded X.509 certificate"
	trimmed := bytes.TrimSpace([]byte(text))
	b, rest := pem.Decode(trimmed)
	if b == nil {
		return nil, errors.New(base)
	}
	// pem.Decode skips anything before the first well-formed block; only
	// whitespace is allowed there.
	consumed := trimmed[:len(trimmed)-len(rest)]
	if !bytes.HasPrefix(trimmed, []byte("-----BEGIN ")) || bytes.Count(consumed, []byte("-----BEGIN")) != 1 {
		return nil, fmt.Errorf("%s: it has text before the PEM block", base)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		if next, _ := pem.Decode(rest); next != nil {
			return nil, fmt.Errorf("%s: it holds more than one PEM block", base)
		}
		return nil, fmt.Errorf("%s: it has text after the PEM block", base)
	}
	if b.Type != pemCertificate {
		return nil, fmt.Errorf("%s: its PEM block is %q, not %q", base, b.Type, pemCertificate)
	}
	if len(b.Headers) != 0 {
		return nil, fmt.Errorf("%s: its PEM block has headers", base)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", base, err)
	}
	return cert, nil
}

// encodePEM returns der as a single PEM block of the given type.
func encodePEM(blockType string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der}))
}
