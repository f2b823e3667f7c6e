package cloudhsmlocal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudhsmv2"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
	"github.com/cloudhsm-local/cloudhsm-local/internal/server"
)

// closeDrain is how long Close lets requests in flight finish before it cuts their connections.
const closeDrain = 5 * time.Second

// Server is a running cloudhsm-local: the CloudHSM v2 API and the admin API on one address.
// Its methods are safe for concurrent use. Close it when done.
type Server struct {
	srv      *server.Server
	url      string
	settings settings
	// transport carries the requests of the Server's own calls and of the clients made by
	// AWSConfig; Close closes its idle connections.
	transport *http.Transport
	admin     admin.Client

	stop   context.CancelFunc
	served chan error // Serve's result, once

	closeOnce sync.Once
	closeErr  error
	closed    chan struct{}
}

// ErrClosed is returned by the methods of a Server that was closed.
var ErrClosed = errors.New("cloudhsmlocal: the server is closed")

// Start opens the store (creating or upgrading its schema), listens on opts.Addr and serves
// until Close. ctx bounds the start only, not the server's life. Options it refuses give an
// error wrapping ErrInvalidOptions; a store or an address it cannot open gives an error saying
// which. Start never panics on bad options.
func Start(ctx context.Context, opts Options) (*Server, error) {
	set, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	srv, err := server.New(ctx, set.config)
	if err != nil {
		return nil, fmt.Errorf("cloudhsmlocal: start: %w", err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", set.addr)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("cloudhsmlocal: listen on %s (set Options.Addr): %w", set.addr, err), srv.Close())
	}
	url := "http://" + ln.Addr().String()
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil // the server is local; a proxy from the environment must not see its traffic
	s := &Server{
		srv: srv, url: url, settings: set, transport: transport,
		admin:  admin.Client{Endpoint: url, HTTP: &http.Client{Transport: transport}, Token: set.config.AdminToken},
		served: make(chan error, 1),
		closed: make(chan struct{}),
	}
	serveCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	go func() { s.served <- srv.Serve(serveCtx, ln, closeDrain) }()
	return s, nil
}

// URL is the server's base URL, such as "http://127.0.0.1:41234": the endpoint of the
// CloudHSM v2 API, with the admin API under /_cloudhsm-local/.
func (s *Server) URL() string { return s.url }

// Handler serves the CloudHSM v2 API and the admin API, for mounting in a server of your own.
// It shares the Server's store and clock; it stops working when the Server is closed.
func (s *Server) Handler() http.Handler { return s.srv.Handler() }

// Close stops serving (requests still running get up to 5 s to finish, then their connections
// are cut), closes the idle connections of the Server's HTTP client and the store, and returns
// what failed in these, if anything. A memory store's state is then gone; a file or PostgreSQL
// store keeps it for the next Start. Close is idempotent: later calls return the first call's
// result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.stop()
		serveErr := <-s.served
		s.transport.CloseIdleConnections()
		s.closeErr = errors.Join(serveErr, s.srv.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("cloudhsmlocal: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

// isClosed reports whether Close has been called.
func (s *Server) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// AWSConfig returns an AWS SDK for Go v2 configuration that sends requests to this server as
// account in region, ready for cloudhsmv2.NewFromConfig. Its HTTP client is the Server's own,
// whose connections Close ends.
//
// In permissive mode the access key is the account id (a 12-digit account; any other value
// acts as the default account 000000000000) and the secret is ignored. In strict mode the
// credentials are the first of Options.Credentials, then of the credentials file, whose
// AccountID is account; when there is none, every request made with the configuration fails
// with an error saying so (no panic, and nothing reaches the server).
func (s *Server) AWSConfig(account, region string) aws.Config {
	return aws.Config{
		Region:       region,
		BaseEndpoint: aws.String(s.url),
		Credentials:  s.credentials(account),
		HTTPClient:   s.admin.HTTP,
	}
}

// Client returns a CloudHSM v2 client for account in region (see AWSConfig).
func (s *Server) Client(account, region string) *cloudhsmv2.Client {
	return cloudhsmv2.NewFromConfig(s.AWSConfig(account, region))
}

// credentials returns the credentials AWSConfig signs with for account.
func (s *Server) credentials(account string) aws.CredentialsProvider {
	if s.settings.config.Verifier == nil {
		return credentials.NewStaticCredentialsProvider(account, "cloudhsm-local", "")
	}
	for _, c := range s.settings.credentials {
		if c.AccountID == account {
			return credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
		}
	}
	return aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, fmt.Errorf("cloudhsmlocal: strict mode has no credential for account %q: add one to Options.Credentials", account)
	})
}
