package api

import (
	"net/http"

	"github.com/badbatch/badbatch/ui"
	"github.com/badbatch/badbatch/wire"
)

// The web console (package ui) and who-am-I, which it asks to know what to
// offer. The console's files are public; the API calls it makes carry the
// user's key like any other client's. Its pages get ui.CSP in place of the
// API's default-src 'none'.

// WhoAmI is the body of GET /api/v1/auth/whoami.
type WhoAmI = wire.WhoAmI

// whoami answers GET /api/v1/auth/whoami. It is public: a caller without
// valid credentials learns only that, and why.
func (c *call) whoami() {
	out := WhoAmI{AuthEnabled: c.s.auth.on, Permissions: []string{}}
	id := c.id
	if id == nil {
		if _, failure := c.s.auth.authenticate(c.r); failure != failNone {
			out.Reason = string(failure)
		}
	} else {
		out.Authenticated = true
		out.Principal, out.Role = id.name, string(id.role)
		if id.role.scoped() {
			out.Disruptors = id.disruptors
		}
	}
	for p := PermPublic; p <= PermAdmin; p++ {
		held := p == PermPublic || (id != nil && id.role.Allows(p))
		if p == PermMetrics && c.s.cfg.MetricsPublic {
			held = true
		}
		if held {
			out.Permissions = append(out.Permissions, p.String())
		}
	}
	c.respond(http.StatusOK, out)
}

// console serves the console's files under /ui/.
func (c *call) console() {
	if !ui.Serve(c.w, c.r, c.r.PathValue("file")) {
		c.fail(errorf(CodeNotFound, "no console file %s", c.r.URL.Path))
	}
}

// toConsole answers GET / with a redirect to the console.
func (c *call) toConsole() { http.Redirect(c.w, c.r, "/ui/", http.StatusFound) }

// toDocs answers GET /docs with a redirect to the rendered OpenAPI
// document.
func (c *call) toDocs() { http.Redirect(c.w, c.r, ui.DocsPath, http.StatusFound) }
