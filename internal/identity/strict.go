package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/cloudhsm-local/cloudhsm-local/internal/api"
	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
)

// Strict-mode constants.
const (
	// SigningName is the service name of CloudHSM v2's credential scope.
	SigningName = "cloudhsm"
	// SkewWindow is how far X-Amz-Date may lie from the verifier's wall clock, either way.
	SkewWindow = 15 * time.Minute
	// Algorithm is the only signing algorithm strict mode accepts.
	Algorithm = "AWS4-HMAC-SHA256"

	amzDateFormat   = "20060102T150405Z"
	scopeDateFormat = "20060102"
)

// The messages of the authentication errors; they never quote a secret, a token or a signature.
const (
	msgMissingToken    = "Missing Authentication Token"
	msgInvalidToken    = "The security token included in the request is invalid."
	msgExpiredToken    = "The security token included in the request is expired"
	msgWrongSignature  = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	msgWrongService    = "Credential should be scoped to correct service: '" + SigningName + "'."
	msgMalformedPrefix = "Authorization header is not a valid " + Algorithm + " signature: "
)

// Verifier checks SigV4 signatures against a set of credentials (strict mode). The set can be
// replaced at any time (SetCredentials) while requests are being verified: each request sees
// either the old set or the new one, never a mix, and none waits for the swap.
type Verifier struct {
	wall  clock.Clock
	creds atomic.Pointer[Credentials]
}

// NewVerifier returns a Verifier of creds whose skew window and session expiry are judged by
// wall, which must be the real clock in production: the virtual clock moves resources, and
// must never make a stale signature fresh. A nil wall is clock.Real.
func NewVerifier(wall clock.Clock, creds *Credentials) *Verifier {
	if wall == nil {
		wall = clock.Real{}
	}
	v := &Verifier{wall: wall}
	v.SetCredentials(creds)
	return v
}

// SetCredentials replaces the credential set atomically (a SIGHUP reload). nil empties it.
func (v *Verifier) SetCredentials(c *Credentials) {
	if c == nil {
		c = &Credentials{}
	}
	v.creds.Store(c)
}

// Credentials returns the current credential set.
func (v *Verifier) Credentials() *Credentials { return v.creds.Load() }

// authorization is a parsed strict-mode Authorization header.
type authorization struct {
	accessKeyID   string
	date          string // YYYYMMDD of the credential scope
	region        string
	service       string
	signedHeaders []string // as given: lowercase, in the client's order
	signature     string   // 64 lowercase hex digits
}

// malformed is the error of an Authorization header that cannot be a signature at all.
func malformed(reason string) *api.Error {
	return api.Errorf(api.CodeMissingAuthenticationToken, "%s%s", msgMalformedPrefix, reason)
}

// parseSigV4 parses an Authorization header strictly:
//
//	AWS4-HMAC-SHA256 Credential=<key>/<yyyymmdd>/<region>/<service>/aws4_request,
//	    SignedHeaders=<h1>;<h2>;…, Signature=<64 lowercase hex digits>
//
// Each of the three parameters must appear exactly once and nothing else may; spaces around ','
// and '=' are tolerated. SignedHeaders must be lowercase header names and include host and
// x-amz-date. Its errors are MissingAuthenticationTokenException (*api.Error) and never quote the
// header.
func parseSigV4(h string) (authorization, error) {
	var a authorization
	h = strings.TrimSpace(h)
	i := strings.IndexAny(h, " \t")
	if i < 0 {
		return a, malformed("expected \"" + Algorithm + " Credential=…, SignedHeaders=…, Signature=…\"")
	}
	if h[:i] != Algorithm {
		return a, malformed("the only supported algorithm is " + Algorithm)
	}
	var credential, signedHeaders, signature *string
	for p := range strings.SplitSeq(h[i+1:], ",") {
		k, v, ok := strings.Cut(p, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var dst **string
		switch {
		case !ok:
			return a, malformed("every parameter must be name=value")
		case k == "Credential":
			dst = &credential
		case k == "SignedHeaders":
			dst = &signedHeaders
		case k == "Signature":
			dst = &signature
		default:
			return a, malformed("unknown parameter; only Credential, SignedHeaders and Signature are allowed")
		}
		if *dst != nil {
			return a, malformed("parameter " + k + " is given twice")
		}
		*dst = &v
	}
	switch {
	case credential == nil:
		return a, malformed("the Credential parameter is missing")
	case signedHeaders == nil:
		return a, malformed("the SignedHeaders parameter is missing")
	case signature == nil:
		return a, malformed("the Signature parameter is missing")
	}

	parts := strings.Split(*credential, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return a, malformed("Credential must be <access key>/<yyyymmdd>/<region>/<service>/aws4_request")
	}
	a.accessKeyID, a.date, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	if !validAccessKeyID(a.accessKeyID) {
		return a, malformed("the access key in Credential is empty or malformed")
	}
	if _, err := time.Parse(scopeDateFormat, a.date); err != nil || len(a.date) != 8 {
		return a, malformed("the date in Credential must be yyyymmdd")
	}
	if a.service == "" {
		return a, malformed("the service in Credential is empty")
	}

	seen := map[string]bool{}
	for name := range strings.SplitSeq(*signedHeaders, ";") {
		if !isLowerToken(name) {
			return a, malformed("SignedHeaders must be lowercase header names separated by ';'")
		}
		if seen[name] {
			return a, malformed("SignedHeaders names a header twice")
		}
		seen[name] = true
		a.signedHeaders = append(a.signedHeaders, name)
	}
	if !seen["host"] || !seen["x-amz-date"] {
		return a, malformed("SignedHeaders must include host and x-amz-date")
	}

	if !isLowerHex(*signature, 64) {
		return a, malformed("Signature must be 64 lowercase hexadecimal digits")
	}
	a.signature = *signature
	return a, nil
}

// isLowerToken reports whether s is a non-empty HTTP header name without capitals.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// verify is Resolve in strict mode. The checks run in this order, each with its own error:
//
//  1. an Authorization header that parses (parseSigV4) and an X-Amz-Date header
//     (yyyymmddThhmmssZ), else MissingAuthenticationTokenException;
//  2. a known access key, else UnrecognizedClientException;
//  3. a valid region in the scope, else CloudHsmInvalidRequestException (as in permissive mode);
//  4. service "cloudhsm" and the scope's date equal to X-Amz-Date's, else InvalidSignatureException;
//  5. X-Amz-Date within SkewWindow of the wall clock, else InvalidSignatureException "Signature expired…";
//  6. the session token: present and equal exactly when the credential has one, else
//     UnrecognizedClientException; not past its expiry, else ExpiredTokenException;
//  7. Content-Type and every X-Amz-* header of the request among the signed headers, else
//     InvalidSignatureException naming the first unsigned one;
//  8. the signature, computed by the AWS SDK's v4 signer over the request rebuilt with the
//     signed headers only, the SHA-256 of the body and X-Amz-Date, compared in constant time,
//     else InvalidSignatureException.
func (v *Verifier) verify(req *http.Request) (Caller, error) {
	if req == nil {
		return Caller{}, api.Errorf(api.CodeMissingAuthenticationToken, msgMissingToken)
	}
	h := strings.TrimSpace(req.Header.Get("Authorization"))
	if h == "" {
		return Caller{}, api.Errorf(api.CodeMissingAuthenticationToken, msgMissingToken)
	}
	a, err := parseSigV4(h)
	if err != nil {
		return Caller{}, err
	}
	signedAt, err := time.Parse(amzDateFormat, req.Header.Get("X-Amz-Date"))
	if err != nil {
		return Caller{}, malformed("the X-Amz-Date header must be present and look like 20260301T090000Z")
	}

	cr, ok := v.creds.Load().lookup(a.accessKeyID)
	if !ok {
		return Caller{}, api.Errorf(api.CodeUnrecognizedClient, msgInvalidToken)
	}
	if !api.IsRegion(a.region) {
		return Caller{}, api.Errorf(api.CodeInvalidRequest,
			"Credential should be scoped to a valid region, not '%s'.", api.Clip(a.region))
	}
	if a.service != SigningName {
		return Caller{}, api.Errorf(api.CodeInvalidSignature, msgWrongService)
	}
	if day := signedAt.Format(scopeDateFormat); a.date != day {
		return Caller{}, api.Errorf(api.CodeInvalidSignature,
			"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.date, day, signedAt.Format(amzDateFormat))
	}

	now := v.wall.Now().UTC()
	if earliest := now.Add(-SkewWindow); signedAt.Before(earliest) {
		return Caller{}, api.Errorf(api.CodeInvalidSignature, "Signature expired: %s is now earlier than %s (%s - 15 min.)",
			signedAt.Format(amzDateFormat), earliest.Format(amzDateFormat), now.Format(amzDateFormat))
	}
	if latest := now.Add(SkewWindow); signedAt.After(latest) {
		return Caller{}, api.Errorf(api.CodeInvalidSignature, "Signature expired: %s is still later than %s (%s + 15 min.); check the client's clock",
			signedAt.Format(amzDateFormat), latest.Format(amzDateFormat), now.Format(amzDateFormat))
	}

	tokens := req.Header.Values("X-Amz-Security-Token")
	switch {
	case len(tokens) > 1:
		return Caller{}, api.Errorf(api.CodeUnrecognizedClient, msgInvalidToken)
	case cr.sessionToken == "" && len(tokens) == 1:
		return Caller{}, api.Errorf(api.CodeUnrecognizedClient, msgInvalidToken)
	case cr.sessionToken != "" && (len(tokens) == 0 || !equalSecret(tokens[0], cr.sessionToken)):
		return Caller{}, api.Errorf(api.CodeUnrecognizedClient, msgInvalidToken)
	case !cr.sessionExpires.IsZero() && !now.Before(cr.sessionExpires):
		return Caller{}, api.Errorf(api.CodeExpiredToken, msgExpiredToken)
	}

	if name := unsignedHeader(req, a.signedHeaders); name != "" {
		return Caller{}, api.Errorf(api.CodeInvalidSignature,
			"Header %s is not signed: SignedHeaders must include host, x-amz-date, content-type and every x-amz-* header the request carries.", api.Clip(name))
	}
	var body []byte
	if req.Body != nil {
		if body, err = io.ReadAll(req.Body); err != nil {
			return Caller{}, api.Errorf(api.CodeSerialization, "Request body could not be read")
		}
	}
	want, err := cr.expectedSignature(req, a, signedAt, body)
	if err != nil {
		return Caller{}, api.InternalFailure(err)
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(a.signature)) != 1 {
		return Caller{}, api.Errorf(api.CodeInvalidSignature, msgWrongSignature)
	}
	return Caller{Account: cr.account, Region: a.region, AccessKeyID: cr.accessKeyID, Policy: cr.policy}, nil
}

// unsignedHeader returns the first (in order) of the request's headers that the signature must
// cover and does not: Content-Type and every X-Amz-* header (X-Amz-Target above all, so that a
// signature for one operation cannot be replayed as another), as AWS's signing guide requires
// of canonical headers. "" when all are signed.
func unsignedHeader(req *http.Request, signed []string) string {
	var missing []string
	for name := range req.Header {
		lower := strings.ToLower(name)
		if (lower == "content-type" || strings.HasPrefix(lower, "x-amz-")) && !slices.Contains(signed, lower) {
			missing = append(missing, lower)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return slices.Min(missing)
}

// equalSecret compares two secrets in constant time, whatever their lengths.
func equalSecret(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// expectedSignature signs, with the SDK's own v4 signer, a copy of req that carries only what the
// client says it signed: the signed headers with their received values (host from the request's
// Host, content-length as the length the server received), the hash of the body that arrived,
// and the signing time from X-Amz-Date. A header the client signed but the SDK never signs
// (user-agent, for one) cannot be reproduced, and the signatures then differ.
func (cr *credential) expectedSignature(req *http.Request, a authorization, signedAt time.Time, body []byte) (string, error) {
	scheme := "http"
	if req.TLS != nil {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: req.Host}
	if req.URL != nil {
		u.Path, u.RawPath, u.RawQuery = req.URL.Path, req.URL.RawPath, req.URL.RawQuery
	}
	rebuilt := &http.Request{Method: req.Method, URL: u, Host: req.Host, Header: http.Header{}}
	creds := aws.Credentials{AccessKeyID: cr.accessKeyID, SecretAccessKey: cr.secret}
	for _, name := range a.signedHeaders {
		switch name {
		case "host": // the signer takes it from rebuilt.Host
		case "content-length":
			rebuilt.ContentLength = contentLength(req, body)
		case "x-amz-security-token": // the signer writes it from the credentials
			creds.SessionToken = req.Header.Get(name)
		default:
			if values := req.Header.Values(name); len(values) > 0 {
				rebuilt.Header[http.CanonicalHeaderKey(name)] = values
			}
		}
	}
	sum := sha256.Sum256(body)
	err := cr.signer.SignHTTP(req.Context(), creds, rebuilt, hex.EncodeToString(sum[:]), SigningName, a.region, signedAt,
		func(o *v4.SignerOptions) { o.DisableSessionToken = creds.SessionToken == "" })
	if err != nil {
		return "", err
	}
	auth := rebuilt.Header.Get("Authorization")
	i := strings.LastIndex(auth, "Signature=")
	if i < 0 {
		return "", errors.New("identity: the SDK signer wrote no Signature")
	}
	return auth[i+len("Signature="):], nil
}

// contentLength is the length the client declared, or failing that the length that arrived.
func contentLength(req *http.Request, body []byte) int64 {
	if n, err := strconv.ParseInt(req.Header.Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		return n
	}
	if req.ContentLength > 0 {
		return req.ContentLength
	}
	return int64(len(body))
}
