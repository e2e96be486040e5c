package docs

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/internal/gendoc"
)

var updateGraph = flag.Bool("update", false, "rewrite docs/architecture.md's import graph from go list")

const (
	module       = "github.com/badbatch/badbatch"
	architecture = "architecture.md"
	graphStart   = "<!-- The import graph: generated from `go list` by `go test ./docs -run TestImportGraph -update`. -->\n"
	graphEnd     = "<!-- End of the import graph. -->\n"
)

// goList runs go list with args in the module's root and returns its
// output.
func goList(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command:", err)
	}
	cmd := exec.Command(bin, append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	// The graph of the platform the documents describe, wherever the test
	// runs (packages and files with build constraints differ by platform).
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

// importGraph is, for each package of the module (by its path in the
// module, "." for the root), the packages of the module it imports
// (not counting its tests).
func importGraph(t *testing.T) map[string][]string {
	t.Helper()
	g := map[string][]string{}
	for line := range strings.Lines(goList(t, "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...")) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		pkg := ours(fields[0])
		g[pkg] = []string{}
		for _, imp := range fields[1:] {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				g[pkg] = append(g[pkg], ours(imp))
			}
		}
		slices.Sort(g[pkg])
	}
	return g
}

func ours(path string) string {
	if path == module {
		return "."
	}
	return strings.TrimPrefix(path, module+"/")
}

// reaches reports whether to is reachable from from in g through at
// least one edge, not counting the direct edge skip (from → skip).
func reaches(g map[string][]string, from, to, skip string) bool {
	seen := map[string]bool{}
	var walk func(p string, first bool) bool
	walk = func(p string, first bool) bool {
		for _, q := range g[p] {
			if first && q == skip {
				continue
			}
			if q == to {
				return true
			}
			if !seen[q] {
				seen[q] = true
				if walk(q, false) {
					return true
				}
			}
		}
		return false
	}
	return walk(from, true)
}

// renderGraph is docs/architecture.md's import graph: a drawing of the
// edges that are not implied by others (the transitive reduction, so
// that the layers show) between the packages outside internal/, and the
// table of every package's direct imports.
func renderGraph(g map[string][]string) string {
	var b strings.Builder
	b.WriteString("```mermaid\nflowchart TD\n")
	id := func(p string) string { return strings.NewReplacer("/", "_", ".", "root").Replace(p) }
	pkgs := slices.Sorted(maps.Keys(g))
	drawn := func(p string) bool { return !strings.HasPrefix(p, "internal/") }
	var edges []string
	nodes := map[string]bool{}
	for _, p := range pkgs {
		for _, q := range g[p] {
			if drawn(p) && drawn(q) && !reaches(g, p, q, q) {
				edges = append(edges, fmt.Sprintf("  %s --> %s\n", id(p), id(q)))
				nodes[p], nodes[q] = true, true
			}
		}
	}
	for _, p := range pkgs {
		if nodes[p] {
			fmt.Fprintf(&b, "  %s[%s]\n", id(p), p)
		}
	}
	b.WriteString(strings.Join(edges, ""))
	b.WriteString("```\n\n")
	b.WriteString("| package | imports of ours (direct, tests not counted) |\n|---|---|\n")
	for _, p := range pkgs {
		imps := "—"
		if len(g[p]) > 0 {
			imps = "`" + strings.Join(g[p], "`, `") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", p, imps)
	}
	return b.String()
}

// TestImportGraph: docs/architecture.md draws the module's real import
// graph, as go list reports it (go test ./docs -run TestImportGraph
// -update rewrites it), and the layering its prose states holds.
func TestImportGraph(t *testing.T) {
	g := importGraph(t)
	gendoc.Check(t, architecture, graphStart, graphEnd, renderGraph(g), *updateGraph, "go test ./docs -run TestImportGraph -update")

	// The layers the drawing at the top of architecture.md shows, top
	// down: a package imports only packages of its own layer or of a layer
	// below (helpers in internal/ and the leaves outside the layers, wire
	// and the client, aside).
	layers := [][]string{
		{"cmd/badbatch"},
		{"server", "config"},
		{"api", "ui", "docs"},
		{"cluster", "replication"},
		{"engine", "journal"},
		{"disruptor"},
	}
	layer := map[string]int{}
	for i, ps := range layers {
		for _, p := range ps {
			layer[p] = i
			if _, ok := g[p]; !ok {
				t.Errorf("the layers name %s, which go list does not", p)
			}
		}
	}
	for p, imps := range g {
		lp, ok := layer[p]
		if !ok {
			continue
		}
		for _, q := range imps {
			if lq, ok := layer[q]; ok && lq < lp {
				t.Errorf("%s (layer %d) imports %s, of a layer above it (%d)", p, lp, q, lq)
			}
		}
	}

	// What the prose says of the leaves.
	for pkg, allowed := range map[string][]string{
		"disruptor": {},
		"wire":      {},
		"ui":        {},
		"journal":   {"disruptor"},
		"client":    {"internal/version", "wire"},
	} {
		for _, imp := range g[pkg] {
			if !slices.Contains(allowed, imp) {
				t.Errorf("%s imports %s; the architecture allows it only %v", pkg, imp, allowed)
			}
		}
	}
}

// TestClientDeps: the client is a leaf of the server's world: neither it
// nor anything it imports is Raft, memberlist, bbolt, the engine or the
// OpenTelemetry SDK (issue 12: `go list -deps ./client | grep -cE
// 'hashicorp|bbolt|engine|otel/sdk'` prints 0).
func TestClientDeps(t *testing.T) {
	deps := goList(t, "-deps", "./client")
	re := regexp.MustCompile(`hashicorp|bbolt|engine|otel/sdk`)
	for dep := range strings.Lines(deps) {
		if re.MatchString(dep) {
			t.Errorf("the client depends on %s", strings.TrimSpace(dep))
		}
	}
	if !strings.Contains(deps, module+"/wire\n") {
		t.Errorf("go list -deps ./client does not list wire; the test is not looking at the client:\n%s", deps)
	}
}
