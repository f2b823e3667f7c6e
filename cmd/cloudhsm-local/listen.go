package main

import (
	"errors"
	"fmt"
	"syscall"
)

// listenError explains a failure to listen on addr and says how to choose another address
// (the port may be taken, the address not this machine's, or a low port need privileges).
func listenError(addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: %w: another program (another cloudhsm-local?) has that port; stop it, or pick another address with --addr (or CLOUDHSM_LOCAL_ADDR), e.g. --addr 127.0.0.1:4581", addr, err)
	}
	return fmt.Errorf("listen on %s: %w: choose another address with --addr (or CLOUDHSM_LOCAL_ADDR), e.g. --addr 127.0.0.1:4580, or --addr 0.0.0.0:4580 for every interface", addr, err)
}
