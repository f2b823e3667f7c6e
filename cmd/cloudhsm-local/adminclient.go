package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloudhsm-local/cloudhsm-local/internal/admin"
)

// adminFlags are the flags every admin subcommand takes: which server, and its admin token.
type adminFlags struct {
	endpoint, token string
}

// register adds --endpoint and --admin-token to fs (their environment twins apply through
// parseFlags).
func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.endpoint, "endpoint", "http://127.0.0.1:4580", "the server's URL")
	fs.StringVar(&a.token, "admin-token", "", "the server's admin token (strict mode); prefer CLOUDHSM_LOCAL_ADMIN_TOKEN")
}

// parse parses args into fs, a subcommand's flags with a's registered, and fills
// --endpoint and --admin-token from their environment twins when not given. The subcommand's own
// flags have no twins: CLOUDHSM_LOCAL_REGION is serve's --region, not a filter of requests. Any
// failure other than -h is a usageError.
func (a *adminFlags) parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, name := range []string{"endpoint", "admin-token"} {
		twin := "CLOUDHSM_LOCAL_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
		if v := getenv(twin); v != "" && !given[name] {
			if err := fs.Set(name, v); err != nil {
				return usageError{fmt.Errorf("%s=%q: %w", twin, v, err)}
			}
		}
	}
	return nil
}

// client returns the admin client of the flags; timeout bounds each call (0: none, for
// transfers of a whole state).
func (a *adminFlags) client(timeout time.Duration) admin.Client {
	return admin.Client{Endpoint: a.endpoint, HTTP: &http.Client{Timeout: timeout}, Token: a.token}
}

// printJSON writes an admin answer indented, as every admin subcommand prints it.
func printJSON(stdout io.Writer, raw []byte) error {
	var pretty any
	if json.Unmarshal(raw, &pretty) == nil {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(pretty)
	}
	_, err := stdout.Write(raw)
	return err
}
