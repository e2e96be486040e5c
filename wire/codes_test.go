package wire

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/badbatch/badbatch/internal/gendoc"
)

var update = flag.Bool("update", false, "rewrite docs/api.md's table of error codes from the code table")

const (
	tableStart = "<!-- The error codes: generated from wire/codes.go by `go test ./wire -update`. -->\n"
	tableEnd   = "<!-- End of the error codes. -->\n"
)

// renderTable is docs/api.md's table of error codes.
func renderTable() string {
	var b strings.Builder
	b.WriteString("| code | status | retryable | meaning |\n|---|---|---|---|\n")
	for _, c := range Codes() {
		r := "no"
		if c.Retryable {
			r = "yes"
		}
		fmt.Fprintf(&b, "| `%s` | %d | %s | %s |\n", c.Code, c.Status, r, c.Description)
	}
	return b.String()
}

// TestErrorTableDocumented: docs/api.md's table of error codes is the
// code table (go test ./wire -update rewrites it).
func TestErrorTableDocumented(t *testing.T) {
	gendoc.Check(t, "../docs/api.md", tableStart, tableEnd, renderTable(), *update, "go test ./wire -update")
}

// TestErrorTable: every code is spelled as its constant, has a status and
// a description, and retryable codes answer with a status a retry can
// change.
func TestErrorTable(t *testing.T) {
	re := regexp.MustCompile(`^[A-Z][A-Z_]+[A-Z]$`)
	for _, c := range Codes() {
		if !re.MatchString(c.Code) || c.Description == "" || (http.StatusText(c.Status) == "" && c.Status != 499) {
			t.Errorf("%+v", c)
		}
		if c.Retryable && c.Status != http.StatusRequestTimeout && c.Status != http.StatusTooManyRequests && c.Status < 500 {
			t.Errorf("%s is retryable with status %d", c.Code, c.Status)
		}
		if got, ok := Lookup(c.Code); !ok || got != c || Status(c.Code) != c.Status || Retryable(c.Code) != c.Retryable {
			t.Errorf("lookup of %s: %+v", c.Code, got)
		}
	}
	if Status("NO_SUCH_CODE") != http.StatusInternalServerError || Retryable("NO_SUCH_CODE") {
		t.Error("an unknown code")
	}
	if !slices.IsSortedFunc(Codes(), func(a, b CodeInfo) int { return order(a.Status) - order(b.Status) }) {
		t.Error("the table is not ordered by status (redirects last)")
	}
}

func order(status int) int {
	if status < 400 {
		return status + 1000
	}
	return status
}

// TestOpenAPIErrorCodes: docs/openapi.json lists the codes of the table
// as the Error schema's enum, and each ErrorNNN response names exactly the
// codes answered with status NNN.
func TestOpenAPIErrorCodes(t *testing.T) {
	b, err := os.ReadFile("../docs/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
			Responses map[string]struct {
				Description string `json:"description"`
			} `json:"responses"`
		} `json:"components"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var all []string
	byStatus := map[string][]string{}
	for _, c := range Codes() {
		all = append(all, c.Code)
		if c.Status != 499 { // never sent
			byStatus["Error"+strconv.Itoa(c.Status)] = append(byStatus["Error"+strconv.Itoa(c.Status)], c.Code)
		}
	}
	if diff := cmp.Diff(all, doc.Components.Schemas.Error.Properties.Error.Properties.Code.Enum); diff != "" {
		t.Errorf("the Error schema's code enum (-table +openapi):\n%s", diff)
	}
	mentioned := regexp.MustCompile(`\b[A-Z][A-Z_]{3,}[A-Z]\b`)
	for name, codes := range byStatus {
		r, ok := doc.Components.Responses[name]
		if !ok {
			t.Errorf("no response %s (for %v)", name, codes)
			continue
		}
		var named []string
		for _, m := range mentioned.FindAllString(r.Description, -1) {
			if _, isCode := Lookup(m); isCode && !slices.Contains(named, m) {
				named = append(named, m)
			}
		}
		slices.Sort(named)
		slices.Sort(codes)
		if diff := cmp.Diff(codes, named); diff != "" {
			t.Errorf("%s's description %q names other codes (-table +openapi):\n%s", name, r.Description, diff)
		}
	}
	for name := range doc.Components.Responses {
		if _, ok := byStatus[name]; !ok && strings.HasPrefix(name, "Error") {
			t.Errorf("response %s: no code has its status", name)
		}
	}
}
