package api

import (
	"net/http"

	"github.com/badbatch/badbatch/ui"
)

// The web console (package ui) and who-am-I, which it asks to know what to
// offer. The console's files are public; the API calls it makes carry the
// user's key like any other client's. Its pages get ui.CSP in place of the
// API's default-src 'none'.

// WhoAmI is the body of GET /api/v1/auth/whoami: who the credentials sent
// are, and what they may do.
type WhoAmI struct {
	// AuthEnabled is false when the server authenticates nobody (every
	// client is an anonymous admin).
	AuthEnabled bool `json:"auth_enabled" yaml:"auth_enabled"`
	// Authenticated is true when the request carried valid credentials,
	// or authentication is off.
	Authenticated bool `json:"authenticated" yaml:"authenticated"`
	// Principal is the key's name, "cert:" and the certificate's common
	// name, or "anonymous"; empty when not authenticated.
	Principal string `json:"principal,omitempty" yaml:"principal,omitempty"`
	// Role is admin, operator, publisher or reader; empty when not
	// authenticated, or for a certificate no client_certs entry maps.
	Role string `json:"role,omitempty" yaml:"role,omitempty"`
	// Disruptors are the glob patterns a publisher or reader is confined
	// to; absent for the other roles, which reach every disruptor.
	Disruptors []string `json:"disruptors,omitempty" yaml:"disruptors,omitempty"`
	// Permissions are the permissions the caller holds (public, metrics,
	// view, read, publish, operate, admin), as the route table and
	// docs/security.md name them.
	Permissions []string `json:"permissions" yaml:"permissions"`
	// Reason says why credentials that were sent were not accepted:
	// malformed_credentials, unknown_key or expired_key; no_credentials
	// when none were sent to a server that wants them.
	Reason string `json:"reason,omitempty" yaml:"reason,omitempty"`
}

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
