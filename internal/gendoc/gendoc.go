// Package gendoc keeps the generated sections of the documents equal to
// what the code says, for tests: a section stands between two marker
// lines of a document, and a test compares it with what it renders from
// the code (an error-code table, a permission table, the import graph),
// failing with the difference or, with its -update flag, rewriting it.
package gendoc

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Check compares the section of the document at path between the marker
// lines start and end (each with its newline; the markers are kept) with
// want. When they differ it rewrites the section if update is set, and
// otherwise fails t with the difference and how (the command that
// rewrites it). A document without the markers fails t.
func Check(t testing.TB, path, start, end, want string, update bool, how string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, start)
	j := strings.Index(doc[max(i, 0):], end) + max(i, 0)
	if i < 0 || j < i+len(start) {
		t.Fatalf("%s has no generated section between %q and %q", path, start, end)
	}
	got := doc[i+len(start) : j]
	if got == want {
		return
	}
	if update {
		if err := os.WriteFile(path, []byte(doc[:i+len(start)]+want+doc[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s's section after %q is not what the code says (%s rewrites it; review the change):\n%s", path, strings.TrimSpace(start), how, cmp.Diff(want, got))
}
