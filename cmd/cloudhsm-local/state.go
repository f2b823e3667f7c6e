package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/cloudhsm-local/cloudhsm-local/internal/fixture"
)

const exportUsage = `usage:
  cloudhsm-local export [--out FILE]   write the server's whole state as one JSON document
                                       (to FILE, replaced only once the document is complete; default stdout)
`

const importUsage = `usage:
  cloudhsm-local import FILE [--replace]   load a document written by export into a server whose store is empty, or with --replace in place of its whole state, at once.
  cloudhsm-local import FIXTURE            build a fixture ({"Fixture":1,...}, docs/FIXTURES.md) into a server whose store is empty.
A document it refuses changes nothing; the error names the JSON path and the rule.
`

// exportCommand runs "export [--out FILE]": GET /_cloudhsm-local/state, streamed to the file or
// stdout.
func exportCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var a adminFlags
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, exportUsage) }
	a.register(fs)
	out := fs.String("out", "", "the file to write (default stdout)")
	if err := a.parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("export takes only flags, got %q\n%s", fs.Args(), exportUsage)
	}
	resp, err := a.client(0).Send(ctx, http.MethodGet, "state", nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if *out == "" {
		if _, err := io.Copy(stdout, resp.Body); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return nil
	}
	return writeAtomically(*out, resp.Body)
}

// writeAtomically writes r to path through a temporary file beside it, renamed over path only
// when complete: a failed export leaves an existing file as it was.
func writeAtomically(path string, r io.Reader) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	_, err = io.Copy(tmp, r)
	if err == nil {
		err = tmp.Sync()
	}
	err = errors.Join(err, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return errors.Join(fmt.Errorf("export to %s: %w", path, err), os.Remove(tmp.Name()))
	}
	return nil
}

// importCommand runs "import FILE [--replace]": PUT /_cloudhsm-local/state with the file, or
// POST /_cloudhsm-local/fixture if the file is a fixture (a small JSON object with a "Fixture"
// member).
// maxFixtureSize is the largest fixture the admin API takes (its request bodies' limit); a
// larger document is a snapshot.
const maxFixtureSize = 64 << 10

func importCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var a adminFlags
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { io.WriteString(stderr, importUsage) }
	a.register(fs)
	replace := fs.Bool("replace", false, "replace the server's whole state (default: the store must be empty)")
	// FILE may come before the flags, as in "import state.json --replace".
	var file string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := a.parse(fs, args, getenv); err != nil {
		return err
	}
	if rest := fs.Args(); file == "" && len(rest) == 1 {
		file = rest[0]
	} else if len(rest) > 0 || file == "" {
		return usagef("import takes one FILE\n%s", importUsage)
	}
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	method, path := http.MethodPut, "state"
	if *replace {
		path += "?replace=true"
	}
	head := make([]byte, maxFixtureSize+1)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return fmt.Errorf("import: %w", err)
	}
	if n <= maxFixtureSize && fixture.IsFixture(head[:n]) {
		if *replace {
			return usagef("import: %s is a fixture, which seeds an empty store only: reset the server first, without --replace\n%s", file, importUsage)
		}
		method, path = http.MethodPost, "fixture"
	}
	resp, err := a.client(0).Send(ctx, method, path, io.MultiReader(bytes.NewReader(head[:n]), f))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("import: read the answer: %w", err)
	}
	return printJSON(stdout, raw)
}

// readSeed reads the fixture of serve --seed FILE; no FILE is no fixture.
func readSeed(file string) (*fixture.Document, error) {
	if file == "" {
		return nil, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("--seed: %w", err)
	}
	defer f.Close()
	doc, err := fixture.Read(f)
	if err != nil {
		return nil, usagef("--seed %s: the fixture is refused: %w", file, err)
	}
	return doc, nil
}
