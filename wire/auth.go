package wire

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
