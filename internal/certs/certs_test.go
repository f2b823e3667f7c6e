package certs

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed "current time" of every test but the openssl one.
var testNow = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

// customerCA is a CA the test creates while playing the customer.
type customerCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  string
}

func nextSerial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newRSAKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newECDSAKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// newCA makes a CA certificate for key, self-signed if parent is nil.
func newCA(t *testing.T, name string, key crypto.Signer, parent *customerCA, notBefore, notAfter time.Time) *customerCA {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(t),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Customer Inc"}},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	issuer, signer := tmpl, key
	if parent != nil {
		issuer, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &customerCA{cert: cert, key: key, pem: pemCert(der)}
}

// signPublicKey issues a leaf certificate for pub, as the customer does with
// the cluster CSR.
func signPublicKey(t *testing.T, ca *customerCA, pub crypto.PublicKey, notBefore, notAfter time.Time) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(t),
		Subject:      pkix.Name{CommonName: "signed cluster"},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pemCert(der)
}

func pemCert(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func parseCSRForTest(t *testing.T, csrPEM string) *x509.CertificateRequest {
	t.Helper()
	b, _ := pem.Decode([]byte(csrPEM))
	if b == nil || b.Type != "CERTIFICATE REQUEST" {
		t.Fatalf("CSR is not a CERTIFICATE REQUEST PEM block:\n%s", csrPEM)
	}
	csr, err := x509.ParseCertificateRequest(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return csr
}

func parseCertForTest(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	b, rest := pem.Decode([]byte(certPEM))
	if b == nil || b.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("not exactly one CERTIFICATE PEM block:\n%s", certPEM)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newClusterKeyForTest(t *testing.T, clusterID string) (ClusterKey, *x509.CertificateRequest) {
	t.Helper()
	ck, err := NewClusterKey(rand.Reader, clusterID)
	if err != nil {
		t.Fatal(err)
	}
	return ck, parseCSRForTest(t, ck.CSRPEM)
}

func TestVerifySignedCertificate(t *testing.T) {
	ck, csr := newClusterKeyForTest(t, "cluster-abcdefghijk")

	validFrom, validUntil := testNow.Add(-time.Hour), testNow.AddDate(10, 0, 0)
	rsaCA := newCA(t, "Customer RSA CA", newRSAKey(t), nil, validFrom, validUntil)
	ecCA := newCA(t, "Customer ECDSA CA", newECDSAKey(t), nil, validFrom, validUntil)
	otherCA := newCA(t, "Some Other CA", newECDSAKey(t), nil, validFrom, validUntil)
	subCA := newCA(t, "Customer Issuing CA", newECDSAKey(t), ecCA, validFrom, validUntil)
	expiredCA := newCA(t, "Customer Expired CA", newECDSAKey(t), nil, testNow.AddDate(-10, 0, 0), testNow.Add(-time.Minute))

	signedByRSA := signPublicKey(t, rsaCA, csr.PublicKey, validFrom, validUntil)
	signedByEC := signPublicKey(t, ecCA, csr.PublicKey, validFrom, validUntil)
	signedBySub := signPublicKey(t, subCA, csr.PublicKey, validFrom, validUntil)
	signedByExpiredCA := signPublicKey(t, expiredCA, csr.PublicKey, testNow.AddDate(-1, 0, 0), validUntil)
	otherKeyCert := signPublicKey(t, ecCA, newECDSAKey(t).Public(), validFrom, validUntil)
	expired := signPublicKey(t, ecCA, csr.PublicKey, testNow.AddDate(-1, 0, 0), testNow.Add(-time.Second))
	notYetValid := signPublicKey(t, ecCA, csr.PublicKey, testNow.Add(time.Second), validUntil)
	nowText := testNow.Format(time.RFC3339)

	tests := []struct {
		name        string
		signedCert  string
		trustAnchor string
		// wantErr is the expected message; with wantPrefix it need only
		// start the message. Empty means success.
		wantErr    string
		wantPrefix bool
	}{
		{name: "accepts certificate signed by customer RSA 2048 CA", signedCert: signedByRSA, trustAnchor: rsaCA.pem},
		{name: "accepts certificate signed by customer ECDSA CA", signedCert: signedByEC, trustAnchor: ecCA.pem},
		{name: "accepts intermediate CA as trust anchor", signedCert: signedBySub, trustAnchor: subCA.pem},
		{name: "accepts surrounding whitespace", signedCert: "\n  " + signedByEC + "\n\n", trustAnchor: " " + ecCA.pem + "\r\n"},
		{name: "rejects garbage SignedCert", signedCert: "not a certificate", trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate"},
		{name: "rejects empty SignedCert", signedCert: "", trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate"},
		{name: "rejects garbage TrustAnchor", signedCert: signedByEC, trustAnchor: "-----BEGIN nothing",
			wantErr: "TrustAnchor is not a PEM-encoded X.509 certificate"},
		{name: "checks SignedCert before TrustAnchor", signedCert: "garbage", trustAnchor: "garbage",
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate"},
		{name: "rejects two certificates in SignedCert", signedCert: signedByEC + ecCA.pem, trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate: it holds more than one PEM block"},
		{name: "rejects two certificates in TrustAnchor", signedCert: signedByEC, trustAnchor: ecCA.pem + otherCA.pem,
			wantErr: "TrustAnchor is not a PEM-encoded X.509 certificate: it holds more than one PEM block"},
		{name: "rejects text before the PEM block", signedCert: "Certificate:\n" + signedByEC, trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate: it has text before the PEM block"},
		{name: "rejects text after the PEM block", signedCert: signedByEC + "trailing", trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate: it has text after the PEM block"},
		{name: "rejects CSR given as SignedCert", signedCert: ck.CSRPEM, trustAnchor: ecCA.pem,
			wantErr: `SignedCert is not a PEM-encoded X.509 certificate: its PEM block is "CERTIFICATE REQUEST", not "CERTIFICATE"`},
		{name: "rejects CERTIFICATE block that is not X.509", signedCert: pemCert([]byte("junk")), trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not a PEM-encoded X.509 certificate: x509: ", wantPrefix: true},
		{name: "rejects certificate for a different key", signedCert: otherKeyCert, trustAnchor: ecCA.pem,
			wantErr: "SignedCert was not issued for the cluster's CSR: its public key differs"},
		{name: "rejects certificate signed by a CA other than TrustAnchor", signedCert: signedByEC, trustAnchor: otherCA.pem,
			wantErr: "SignedCert does not chain to TrustAnchor: x509: certificate signed by unknown authority", wantPrefix: true},
		{name: "rejects root as trust anchor without the intermediate", signedCert: signedBySub, trustAnchor: ecCA.pem,
			wantErr: "SignedCert does not chain to TrustAnchor: ", wantPrefix: true},
		{name: "rejects certificate expired at now", signedCert: expired, trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not valid at " + nowText + ": it is valid from " + testNow.AddDate(-1, 0, 0).Format(time.RFC3339) +
				" until " + testNow.Add(-time.Second).Format(time.RFC3339)},
		{name: "rejects certificate not yet valid at now", signedCert: notYetValid, trustAnchor: ecCA.pem,
			wantErr: "SignedCert is not valid at " + nowText + ": ", wantPrefix: true},
		{name: "rejects trust anchor expired at now", signedCert: signedByExpiredCA, trustAnchor: expiredCA.pem,
			wantErr: "SignedCert does not chain to TrustAnchor: TrustAnchor is not valid at " + nowText + ": ", wantPrefix: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifySignedCertificate(ck.CSRPEM, tt.signedCert, tt.trustAnchor, testNow)
			switch {
			case tt.wantErr == "":
				if err != nil {
					t.Fatalf("VerifySignedCertificate() = %q, want nil", err)
				}
			case err == nil:
				t.Fatalf("VerifySignedCertificate() = nil, want %q", tt.wantErr)
			case tt.wantPrefix && !strings.HasPrefix(err.Error(), tt.wantErr):
				t.Fatalf("VerifySignedCertificate() = %q, want prefix %q", err, tt.wantErr)
			case !tt.wantPrefix && err.Error() != tt.wantErr:
				t.Fatalf("VerifySignedCertificate() = %q, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestVerifySignedCertificateRejectsBrokenClusterCSR(t *testing.T) {
	ck, csr := newClusterKeyForTest(t, "cluster-abcdefghijk")
	ca := newCA(t, "Customer CA", newECDSAKey(t), nil, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))
	signed := signPublicKey(t, ca, csr.PublicKey, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))
	if err := VerifySignedCertificate(ck.KeyPEM, signed, ca.pem, testNow); err == nil || !strings.HasPrefix(err.Error(), "certs: ") {
		t.Fatalf("VerifySignedCertificate(key as CSR) = %v, want an internal certs: error", err)
	}
}

func TestNewClusterKey(t *testing.T) {
	const clusterID = "cluster-abcdefghijk"
	ck, csr := newClusterKeyForTest(t, clusterID)

	t.Run("CSR signature is valid", func(t *testing.T) {
		if err := csr.CheckSignature(); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("CSR subject is the cluster ID", func(t *testing.T) {
		if csr.Subject.CommonName != clusterID {
			t.Errorf("CN = %q, want %q", csr.Subject.CommonName, clusterID)
		}
		if got := csr.Subject.Organization; len(got) != 1 || got[0] != "cloudhsm-local" {
			t.Errorf("O = %q, want [cloudhsm-local]", got)
		}
	})
	t.Run("key is PKCS8 ECDSA P-256 matching the CSR", func(t *testing.T) {
		b, rest := pem.Decode([]byte(ck.KeyPEM))
		if b == nil || b.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
			t.Fatalf("KeyPEM is not one PRIVATE KEY block:\n%s", ck.KeyPEM)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		ek, ok := k.(*ecdsa.PrivateKey)
		if !ok || ek.Curve != elliptic.P256() {
			t.Fatalf("key is %T, want ECDSA P-256", k)
		}
		if !ek.PublicKey.Equal(csr.PublicKey) {
			t.Error("key does not match the CSR public key")
		}
	})
	t.Run("each call makes a new key", func(t *testing.T) {
		other, _ := newClusterKeyForTest(t, clusterID)
		if other.KeyPEM == ck.KeyPEM {
			t.Error("two calls returned the same key")
		}
	})
	t.Run("rejects empty cluster ID", func(t *testing.T) {
		if _, err := NewClusterKey(rand.Reader, ""); err == nil {
			t.Error("NewClusterKey(\"\") = nil error")
		}
	})
}

// verifyHSMChain checks that the HSM certificate chains to the manufacturer
// root through the AWS hardware certificate and is for the CSR's key.
func verifyHSMChain(t *testing.T, hc HSMCertificates, csr *x509.CertificateRequest, hsmID string, now time.Time) {
	t.Helper()
	hsm := parseCertForTest(t, hc.HsmCertificate)
	aws := parseCertForTest(t, hc.AwsHardwareCertificate)
	mfr := parseCertForTest(t, hc.ManufacturerHardwareCertificate)

	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(mfr)
	inter.AddCert(aws)
	chains, err := hsm.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		t.Fatalf("HSM certificate does not verify: %v", err)
	}
	if len(chains) != 1 || len(chains[0]) != 3 || !chains[0][1].Equal(aws) || !chains[0][2].Equal(mfr) {
		t.Fatalf("unexpected chains %v", chains)
	}
	if err := hsm.CheckSignatureFrom(aws); err != nil {
		t.Errorf("HSM certificate not signed by AWS hardware CA: %v", err)
	}
	if hsm.Subject.CommonName != hsmID {
		t.Errorf("HSM certificate CN = %q, want %q", hsm.Subject.CommonName, hsmID)
	}
	pub, ok := hsm.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(csr.PublicKey) {
		t.Error("HSM certificate public key differs from the CSR's")
	}
	if hsm.IsCA {
		t.Error("HSM certificate is a CA")
	}
	if want := now.Add(-time.Hour).Truncate(time.Second); !hsm.NotBefore.Equal(want) {
		t.Errorf("NotBefore = %v, want %v", hsm.NotBefore, want)
	}
	if want := now.Add(-time.Hour).AddDate(10, 0, 0).Truncate(time.Second); !hsm.NotAfter.Equal(want) {
		t.Errorf("NotAfter = %v, want %v", hsm.NotAfter, want)
	}
}

func TestAuthority(t *testing.T) {
	created := testNow.AddDate(-2, 0, 0)
	a, err := NewAuthority(rand.Reader, created)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := a.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadAuthority(bundle)
	if err != nil {
		t.Fatal(err)
	}
	ck, csr := newClusterKeyForTest(t, "cluster-abcdefghijk")

	t.Run("chain is valid for 30 years from now minus one hour", func(t *testing.T) {
		for _, c := range []*x509.Certificate{a.rootCert, a.interCert} {
			if !c.IsCA || !c.BasicConstraintsValid {
				t.Errorf("%s is not a CA", c.Subject)
			}
			if want := created.Add(-time.Hour); !c.NotBefore.Equal(want) {
				t.Errorf("%s NotBefore = %v, want %v", c.Subject, c.NotBefore, want)
			}
			if want := created.Add(-time.Hour).AddDate(30, 0, 0); !c.NotAfter.Equal(want) {
				t.Errorf("%s NotAfter = %v, want %v", c.Subject, c.NotAfter, want)
			}
		}
	})
	t.Run("Marshal round trip is stable", func(t *testing.T) {
		again, err := loaded.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, bundle) {
			t.Error("Marshal(LoadAuthority(b)) != b")
		}
	})
	t.Run("reloaded authority issues certificates that chain to its root", func(t *testing.T) {
		hc, err := loaded.IssueHSMCertificates(rand.Reader, ck.CSRPEM, "hsm-abcdefghijk", testNow)
		if err != nil {
			t.Fatal(err)
		}
		verifyHSMChain(t, hc, csr, "hsm-abcdefghijk", testNow)
		if hc.ManufacturerHardwareCertificate != pemCert(a.rootCert.Raw) || hc.AwsHardwareCertificate != pemCert(a.interCert.Raw) {
			t.Error("reloaded authority returns a different chain")
		}
	})
	t.Run("original authority issues certificates that chain to reloaded root", func(t *testing.T) {
		hc, err := a.IssueHSMCertificates(rand.Reader, ck.CSRPEM, "hsm-bcdefghijkl", testNow)
		if err != nil {
			t.Fatal(err)
		}
		lhc, err := loaded.IssueHSMCertificates(rand.Reader, ck.CSRPEM, "hsm-bcdefghijkl", testNow)
		if err != nil {
			t.Fatal(err)
		}
		hc.AwsHardwareCertificate = lhc.AwsHardwareCertificate
		hc.ManufacturerHardwareCertificate = lhc.ManufacturerHardwareCertificate
		verifyHSMChain(t, hc, csr, "hsm-bcdefghijkl", testNow)
	})
	t.Run("customer certificate for the HSM certificate's key is accepted", func(t *testing.T) {
		// The HSM certificate and the customer-signed certificate carry the
		// same key, the cluster's, as on AWS.
		hc, err := a.IssueHSMCertificates(rand.Reader, ck.CSRPEM, "hsm-abcdefghijk", testNow)
		if err != nil {
			t.Fatal(err)
		}
		hsm := parseCertForTest(t, hc.HsmCertificate)
		ca := newCA(t, "Customer CA", newECDSAKey(t), nil, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))
		signed := signPublicKey(t, ca, hsm.PublicKey, testNow.Add(-time.Hour), testNow.AddDate(1, 0, 0))
		if err := VerifySignedCertificate(ck.CSRPEM, signed, ca.pem, testNow); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rejects CSR with bad signature", func(t *testing.T) {
		b, _ := pem.Decode([]byte(ck.CSRPEM))
		der := bytes.Clone(b.Bytes)
		der[len(der)-3] ^= 0xff // inside the signature
		bad := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
		if _, err := a.IssueHSMCertificates(rand.Reader, bad, "hsm-abcdefghijk", testNow); err == nil {
			t.Error("IssueHSMCertificates accepted a CSR with a bad signature")
		}
	})
	t.Run("rejects empty HSM ID", func(t *testing.T) {
		if _, err := a.IssueHSMCertificates(rand.Reader, ck.CSRPEM, "", testNow); err == nil {
			t.Error("IssueHSMCertificates accepted an empty HSM ID")
		}
	})
}

func TestLoadAuthorityRejects(t *testing.T) {
	a, err := NewAuthority(rand.Reader, testNow)
	if err != nil {
		t.Fatal(err)
	}
	other, err := NewAuthority(rand.Reader, testNow)
	if err != nil {
		t.Fatal(err)
	}
	blocks := func(a *Authority) []*pem.Block {
		b, err := a.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var out []*pem.Block
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				return out
			}
			out = append(out, blk)
		}
	}
	join := func(bs ...*pem.Block) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, pem.EncodeToMemory(b)...)
		}
		return out
	}
	ab, ob := blocks(a), blocks(other)

	tests := []struct {
		name   string
		bundle []byte
	}{
		{"empty bundle", nil},
		{"garbage", []byte("garbage")},
		{"missing AWS hardware key", join(ab[0], ab[1], ab[2])},
		{"trailing garbage", append(join(ab...), "garbage"...)},
		{"blocks out of order", join(ab[1], ab[0], ab[2], ab[3])},
		{"key of another root", join(ab[0], ob[1], ab[2], ab[3])},
		{"intermediate not signed by the root", join(ab[0], ab[1], ob[2], ob[3])},
		{"intermediate as root", join(ab[2], ab[3], ab[2], ab[3])},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := LoadAuthority(tt.bundle); err == nil {
				t.Error("LoadAuthority() = nil error")
			}
		})
	}
}

type failingReader struct{}

var errNoEntropy = errors.New("no entropy")

func (failingReader) Read([]byte) (int, error) { return 0, errNoEntropy }

func TestRandomnessErrorsAreReturned(t *testing.T) {
	if _, err := NewAuthority(failingReader{}, testNow); err == nil {
		t.Error("NewAuthority with a failing reader = nil error")
	}
	a, err := NewAuthority(rand.Reader, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := newClusterKeyForTest(t, "cluster-abcdefghijk")
	if _, err := a.IssueHSMCertificates(failingReader{}, ck.CSRPEM, "hsm-abcdefghijk", testNow); err == nil {
		t.Error("IssueHSMCertificates with a failing reader = nil error")
	}
}

// TestOpenSSLInterop follows the AWS CloudHSM user guide: the customer makes
// a CA with openssl and signs the cluster CSR with it.
func TestOpenSSLInterop(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is not on PATH: install it (apt-get install openssl; .ci/run does when it is missing)")
	}
	// openssl stamps certificates with the wall clock, so this test alone
	// uses it; each step reads it when it runs, as the server would.
	dir := t.TempDir()
	openssl := func(t *testing.T, args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	write := func(t *testing.T, name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	read := func(t *testing.T, name string) string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	ck, err := NewClusterKey(rand.Reader, "cluster-abcdefghijk")
	if err != nil {
		t.Fatal(err)
	}
	write(t, "cluster-abcdefghijk_ClusterCsr.csr", ck.CSRPEM)

	t.Run("openssl reads the CSR and its signature verifies", func(t *testing.T) {
		openssl(t, "req", "-in", "cluster-abcdefghijk_ClusterCsr.csr", "-noout", "-verify")
	})
	t.Run("accepts CSR signed by openssl customer CA", func(t *testing.T) {
		openssl(t, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3652",
			"-keyout", "customerCA.key", "-out", "customerCA.crt", "-subj", "/CN=Customer CA/O=Customer Inc")
		openssl(t, "x509", "-req", "-days", "3652", "-in", "cluster-abcdefghijk_ClusterCsr.csr",
			"-CA", "customerCA.crt", "-CAkey", "customerCA.key", "-CAcreateserial",
			"-out", "cluster-abcdefghijk_CustomerHsmCertificate.crt")
		err := VerifySignedCertificate(ck.CSRPEM, read(t, "cluster-abcdefghijk_CustomerHsmCertificate.crt"), read(t, "customerCA.crt"), time.Now())
		if err != nil {
			t.Fatalf("VerifySignedCertificate() = %q, want nil", err)
		}
	})
	t.Run("openssl verifies the HSM certificate chain", func(t *testing.T) {
		now := time.Now()
		a, err := NewAuthority(rand.Reader, now)
		if err != nil {
			t.Fatal(err)
		}
		hc, err := a.IssueHSMCertificates(rand.Reader, ck.CSRPEM, "hsm-abcdefghijk", now)
		if err != nil {
			t.Fatal(err)
		}
		write(t, "mfr.crt", hc.ManufacturerHardwareCertificate)
		write(t, "aws.crt", hc.AwsHardwareCertificate)
		write(t, "hsm.crt", hc.HsmCertificate)
		openssl(t, "verify", "-CAfile", "mfr.crt", "-untrusted", "aws.crt", "hsm.crt")
	})
}
