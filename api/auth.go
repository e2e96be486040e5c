package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"path"
	"strings"
	"time"
)

// Role is what an authenticated client may do: see [Permission] for what
// each role is allowed.
type Role string

// The roles. Publishers and readers are confined to the disruptors their
// key or certificate names (glob patterns, [path.Match]); admins and
// operators reach every disruptor.
const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleOperator creates and deletes disruptors, moves them through
	// their lifecycle and views them, but neither publishes nor reads
	// events.
	RoleOperator Role = "operator"
	// RolePublisher publishes to its disruptors, and nothing else.
	RolePublisher Role = "publisher"
	// RoleReader views, replays and tails its disruptors, and reads
	// metrics.
	RoleReader Role = "reader"
)

// Roles lists every role, most powerful first.
var Roles = []Role{RoleAdmin, RoleOperator, RolePublisher, RoleReader}

func (r Role) valid() bool {
	switch r {
	case RoleAdmin, RoleOperator, RolePublisher, RoleReader:
		return true
	}
	return false
}

// scoped reports whether the role is confined to its disruptor patterns.
func (r Role) scoped() bool { return r == RolePublisher || r == RoleReader }

// Allows reports whether the role holds the permission. PermMetrics is
// PermView here: whether /metrics is public is the server's setting.
func (r Role) Allows(p Permission) bool {
	switch p {
	case PermPublic:
		return true
	case PermView, PermMetrics:
		return r == RoleAdmin || r == RoleOperator || r == RoleReader
	case PermRead:
		return r == RoleAdmin || r == RoleReader
	case PermPublish:
		return r == RoleAdmin || r == RolePublisher
	case PermOperate:
		return r == RoleAdmin || r == RoleOperator
	case PermAdmin:
		return r == RoleAdmin
	}
	return false
}

// Permission is what a route requires. Every entry of the route table
// declares one; [New] refuses a table with a route that does not.
type Permission uint8

// The permissions. A route whose pattern has {name} is also checked
// against the disruptor patterns of a publisher or reader.
const (
	permUnset Permission = iota // the zero value: a route that forgot
	// PermPublic needs no credentials: health, version, the OpenAPI
	// document. Credentials sent anyway are used when valid (to show
	// more) and ignored when not.
	PermPublic
	// PermMetrics is GET /metrics: PermPublic when
	// [Config.MetricsPublic], else PermView.
	PermMetrics
	// PermView lists and describes disruptors, their state and metrics:
	// admin, operator, reader.
	PermView
	// PermRead replays, gets and tails events: admin, reader.
	PermRead
	// PermPublish publishes events: admin, publisher.
	PermPublish
	// PermOperate creates and deletes disruptors and changes their state:
	// admin, operator.
	PermOperate
	// PermAdmin is for admins only (cluster administration).
	PermAdmin
)

var permNames = [...]string{"unset", "public", "metrics", "view", "read", "publish", "operate", "admin"}

func (p Permission) String() string {
	if int(p) < len(permNames) {
		return permNames[p]
	}
	return "invalid"
}

// Grant is what a credential is allowed.
type Grant struct {
	// Role is one of the four roles.
	Role Role
	// Disruptors are the glob patterns ([path.Match]) of the disruptors a
	// publisher or reader may use; "*" is every one. Required for those
	// two roles, not allowed for the others.
	Disruptors []string
}

// Key is one API key. The server holds only its SHA-256 hash, made by
// [HashKey]; the key itself is never stored, compared or logged.
type Key struct {
	// Name identifies the key in logs, audit lines, metrics and rate
	// limits. Unique.
	Name string
	// Hash is HashKey(key): "sha256:" and 64 hex digits (bare hex is
	// accepted too).
	Hash string
	// Expires, when not zero, is when the key stops working.
	Expires time.Time
	Grant
}

// ClientCert maps verified client certificates (mutual TLS) to a grant.
type ClientCert struct {
	// CommonName is matched against the subject common name of the
	// client's verified certificate, as a glob pattern ([path.Match]).
	// The first entry that matches decides.
	CommonName string
	Grant
}

// HashKey returns the form of key that [Key.Hash] holds: "sha256:" and
// the hex SHA-256 of the key. `badbatch config hash-key` prints it.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// GenerateKey returns a new random API key: "bb_" and 43 characters of
// base64url, 256 bits from crypto/rand.
func GenerateKey() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return "bb_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// parseHash decodes a Key.Hash.
func parseHash(h string) ([sha256.Size]byte, bool) {
	var out [sha256.Size]byte
	h = strings.TrimPrefix(h, "sha256:")
	if len(h) != 2*sha256.Size {
		return out, false
	}
	if _, err := hex.Decode(out[:], []byte(strings.ToLower(h))); err != nil {
		return out, false
	}
	return out, true
}

// validPatterns reports the first invalid glob pattern, or "".
func invalidPattern(patterns []string) (string, bool) {
	for _, p := range patterns {
		if p == "" {
			return p, true
		}
		if _, err := path.Match(p, ""); err != nil {
			return p, true
		}
	}
	return "", false
}

// identity is who a request comes from, once authenticated.
type identity struct {
	// name is shown in logs: the key's name, "cert:" and the common
	// name, or "anonymous".
	name string
	role Role // "" for a certificate that maps to no grant
	// disruptors confine a scoped role.
	disruptors []string
	// bucket names the rate limit and stream quota the request draws on.
	bucket string
}

// permits reports whether the identity may use disruptor name.
func (id *identity) permits(name string) bool {
	if !id.role.scoped() {
		return id.role != ""
	}
	for _, p := range id.disruptors {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// keyEntry is a Key ready for lookup.
type keyEntry struct {
	hash    [sha256.Size]byte
	name    string
	expires time.Time
	grant   Grant
}

// authenticator checks credentials. It is read-only after New.
type authenticator struct {
	on    bool // false: every request is an anonymous admin
	keys  []keyEntry
	certs []ClientCert
	now   func() time.Time
}

// authFailure is why credentials were refused, for the audit line.
type authFailure string

const (
	failNone      authFailure = ""
	failMissing   authFailure = "no_credentials"
	failMalformed authFailure = "malformed_credentials"
	failUnknown   authFailure = "unknown_key"
	failExpired   authFailure = "expired_key"
)

// maxKeyLen bounds a presented key; longer ones are malformed.
const maxKeyLen = 512

// presentedKey reads the key from Authorization: Bearer or X-API-Key.
// It reports malformed headers; the key is never put in a message.
func presentedKey(h http.Header) (string, bool) {
	auth := h.Values("Authorization")
	xkey := h.Values("X-Api-Key")
	if len(auth) > 1 || len(xkey) > 1 {
		return "", false
	}
	var bearer string
	if len(auth) == 1 {
		scheme, token, ok := strings.Cut(auth[0], " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") {
			return "", false
		}
		bearer = strings.TrimLeft(token, " ")
		if !validToken(bearer) {
			return "", false
		}
	}
	if len(xkey) == 1 {
		if !validToken(xkey[0]) {
			return "", false
		}
		if bearer != "" && subtle.ConstantTimeCompare([]byte(bearer), []byte(xkey[0])) != 1 {
			return "", false // two different keys
		}
		return xkey[0], true
	}
	return bearer, true
}

// validToken: 1 to maxKeyLen visible ASCII characters.
func validToken(t string) bool {
	if t == "" || len(t) > maxKeyLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		if c := t[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// authenticate returns who sent r: the key's identity when a key is
// presented, else the verified client certificate's, else nil (no
// credentials, failMissing). An unmapped certificate gives an identity
// without a role.
func (a *authenticator) authenticate(r *http.Request) (*identity, authFailure) {
	if !a.on {
		return &identity{name: "anonymous", role: RoleAdmin, bucket: "addr:" + remoteHost(r)}, failNone
	}
	key, ok := presentedKey(r.Header)
	if !ok {
		return nil, failMalformed
	}
	if key != "" {
		sum := sha256.Sum256([]byte(key))
		match := -1
		for i := range a.keys { // no early exit: the same work for every key
			if subtle.ConstantTimeCompare(sum[:], a.keys[i].hash[:]) == 1 {
				match = i
			}
		}
		if match < 0 {
			return nil, failUnknown
		}
		k := &a.keys[match]
		if !k.expires.IsZero() && !a.now().Before(k.expires) {
			return nil, failExpired
		}
		return &identity{name: k.name, role: k.grant.Role, disruptors: k.grant.Disruptors, bucket: "key:" + k.name}, failNone
	}
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
		cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
		id := &identity{name: "cert:" + cn, bucket: "cert:" + cn}
		for _, c := range a.certs {
			if ok, _ := path.Match(c.CommonName, cn); ok {
				id.role, id.disruptors = c.Role, c.Disruptors
				break
			}
		}
		return id, failNone
	}
	return nil, failMissing
}

// remoteHost is the client's IP address, without the port.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isLoopback reports whether a host:port listens on loopback only:
// localhost or a loopback IP. An empty or unspecified host is every
// interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
