package cloudhsmlocaltest_test

import (
	"os"
	"strings"
	"testing"
)

// TestReadmeShowsARealTest: the Go block of README.md's library section is readme_example_test.go
// word for word, so the README shows a test that compiles and passes.
func TestReadmeShowsARealTest(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## In Go tests")
	if !ok {
		t.Fatal("README.md has no \"## In Go tests\" section")
	}
	_, block, ok := strings.Cut(section, "```go\n")
	if !ok {
		t.Fatal("README.md's \"In Go tests\" section has no ```go block")
	}
	block, _, ok = strings.Cut(block, "```")
	if !ok {
		t.Fatal("README.md's ```go block is not closed")
	}
	example, err := os.ReadFile("readme_example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	if block != string(example) {
		t.Fatalf("README.md's Go block differs from readme_example_test.go; copy the file into the README.\nREADME:\n%s", block)
	}
}
