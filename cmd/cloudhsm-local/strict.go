package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/cloudhsm-local/cloudhsm-local/internal/clock"
	"github.com/cloudhsm-local/cloudhsm-local/internal/identity"
)

// Auth modes of --auth.
const (
	authPermissive = "permissive"
	authSigV4      = "sigv4"
)

// parseAuth checks --auth, --credentials and --admin-token together and, in sigv4 mode, loads the
// credentials file into a Verifier on the real clock (signatures are judged by real time, never
// by the virtual clock). Strict mode without an admin token is refused: the admin API can reset
// the store and move the clock, and would be the one open door.
func parseAuth(mode, credentialsPath, adminToken string) (*identity.Verifier, error) {
	switch mode {
	case authPermissive:
		if credentialsPath != "" {
			return nil, usagef("--credentials is only used with --auth %s", authSigV4)
		}
		return nil, nil
	case authSigV4:
		if credentialsPath == "" {
			return nil, usagef("--auth %s needs --credentials FILE (or CLOUDHSM_LOCAL_CREDENTIALS)", authSigV4)
		}
		if adminToken == "" {
			return nil, usagef("--auth %s needs --admin-token (or CLOUDHSM_LOCAL_ADMIN_TOKEN) to protect the admin API", authSigV4)
		}
		creds, err := identity.LoadCredentials(credentialsPath)
		if err != nil {
			return nil, usageError{err}
		}
		return identity.NewVerifier(clock.Real{}, creds), nil
	}
	return nil, usagef("--auth must be %s or %s, not %q", authPermissive, authSigV4, mode)
}

// reloadOnHangup reloads the credentials file into v on every SIGHUP until ctx is done or stop
// is called. Requests keep flowing during a reload: the new set replaces the old one in one
// atomic swap. A file that no longer loads leaves the previous credentials in place. The
// signal is being caught when reloadOnHangup returns.
func reloadOnHangup(ctx context.Context, v *identity.Verifier, path string, log *slog.Logger) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-done:
				return
			case <-hup:
				creds, err := identity.LoadCredentials(path)
				if err != nil { // the error names the file and entry, never a secret
					log.Error("credentials not reloaded; keeping the previous ones", "err", err)
					continue
				}
				v.SetCredentials(creds)
				log.Info("credentials reloaded", "file", path, "credentials", creds.Len())
			}
		}
	})
	return func() {
		signal.Stop(hup)
		close(done)
		wg.Wait()
	}
}
