package api

import (
	"encoding/json"
	"flag"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/badbatch/badbatch/docs"
	"github.com/badbatch/badbatch/internal/gendoc"
)

var updateSecurityDoc = flag.Bool("update-security-doc", false, "rewrite the permission table of docs/security.md from the route table")

const (
	securityDoc = "../docs/security.md"
	tableStart  = "<!-- permission table: generated from the route table by `go test ./api -run TestSecurityDoc -update-security-doc` -->\n"
	tableEnd    = "<!-- end of permission table -->\n"
)

// permissionTable renders the route table by role, as docs/security.md
// shows it.
func permissionTable(routes []route) string {
	var b strings.Builder
	b.WriteString("| method | path | permission | admin | operator | publisher | reader | no credentials |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	for _, rt := range routes {
		b.WriteString("| " + rt.method + " | `" + rt.pattern + "` | " + rt.perm.String() + " |")
		for _, role := range Roles {
			switch {
			case !role.Allows(rt.perm):
				b.WriteString(" – |")
			case role.scoped() && rt.perm != PermPublic && rt.perm != PermMetrics:
				b.WriteString(" ✓* |")
			default:
				b.WriteString(" ✓ |")
			}
		}
		switch rt.perm {
		case PermPublic:
			b.WriteString(" ✓ |\n")
		case PermMetrics:
			b.WriteString(" with `metrics_public` |\n")
		default:
			b.WriteString(" – |\n")
		}
	}
	return b.String()
}

// TestSecurityDoc: docs/security.md's permission table is the route
// table's.
func TestSecurityDoc(t *testing.T) {
	ts := newTestServer(t)
	gendoc.Check(t, securityDoc, tableStart, tableEnd, permissionTable(ts.srv.routes), *updateSecurityDoc,
		"go test ./api -run TestSecurityDoc -update-security-doc")
}

// docPermissions reads the permission table of docs/security.md: for each
// "METHOD pattern", whether each role may call it. TestPermissions holds
// the server to it.
func docPermissions(t *testing.T) map[string]map[Role]bool {
	t.Helper()
	b, err := os.ReadFile(securityDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| ([A-Z]+) \\| `([^`]+)` \\| [a-z]+ \\|(.*)\\|$")
	out := map[string]map[Role]bool{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		cells := strings.Split(m[3], "|")
		if len(cells) != len(Roles)+1 {
			t.Fatalf("permission table row %q: %d role columns", m[0], len(cells))
		}
		allowed := map[Role]bool{}
		for k, role := range Roles {
			allowed[role] = strings.HasPrefix(strings.TrimSpace(cells[k]), "✓")
		}
		allowed[""] = strings.HasPrefix(strings.TrimSpace(cells[len(Roles)]), "✓")
		out[m[1]+" "+m[2]] = allowed
	}
	if len(out) == 0 {
		t.Fatalf("no permission table in %s", securityDoc)
	}
	return out
}

// TestOpenAPISecurity: docs/openapi.json has the bearer and X-API-Key
// schemes, declares each operation's permission (x-badbatch-permission)
// as the route table does, public operations need no credentials
// (security: []), and the others document 401 and 403. Every operation
// documents 429.
func TestOpenAPISecurity(t *testing.T) {
	var doc struct {
		Security   []map[string][]string `json:"security"`
		Components struct {
			SecuritySchemes map[string]json.RawMessage `json:"securitySchemes"`
		} `json:"components"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(docs.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"bearerAuth", "apiKeyAuth"} {
		if doc.Components.SecuritySchemes[s] == nil {
			t.Errorf("no security scheme %s", s)
		}
	}
	if len(doc.Security) != 2 {
		t.Errorf("top-level security: %v", doc.Security)
	}
	ts := newTestServer(t)
	for _, rt := range ts.srv.routes {
		raw, ok := doc.Paths[openAPIPath(rt.pattern)][strings.ToLower(rt.method)]
		if !ok {
			continue // TestOpenAPIMatchesRoutes reports it
		}
		name := rt.method + " " + rt.pattern
		var op struct {
			Permission string                     `json:"x-badbatch-permission"`
			Security   *[]map[string][]string     `json:"security"`
			Responses  map[string]json.RawMessage `json:"responses"`
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if op.Permission != rt.perm.String() {
			t.Errorf("%s: x-badbatch-permission %q, want %q", name, op.Permission, rt.perm)
		}
		public := rt.perm == PermPublic
		if public != (op.Security != nil && len(*op.Security) == 0) {
			t.Errorf("%s: public %v but security %v", name, public, op.Security)
		}
		for _, code := range []string{"401", "403"} {
			if _, ok := op.Responses[code]; ok == public {
				t.Errorf("%s (%s): response %s documented: %v", name, rt.perm, code, ok)
			}
		}
		if _, ok := op.Responses["429"]; !ok {
			t.Errorf("%s: no 429 response (rate limit)", name)
		}
	}
}
