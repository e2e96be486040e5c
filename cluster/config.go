package cluster

import (
	"encoding/base64"
	"fmt"
	"math"
	"net"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// DefaultPort is the gossip port (TCP and UDP) a seed address without a port
// refers to, and the port of [DefaultConfig]'s bind address.
const DefaultPort = 7946

// DefaultLabel is the cluster label of [DefaultConfig].
const DefaultLabel = "badbatch"

// Config is the cluster configuration: the `cluster:` section of the
// configuration file. Durations are written in milliseconds there (the
// _ms keys named on each field); [Config.Validate] names problems by those
// keys. Start from [DefaultConfig].
//
// A Config is a plain value: copy it freely. [New] keeps its own copy.
type Config struct {
	// NodeID (node_id) names this node in the cluster: unique, stable
	// across restarts (a restarted node with the same id takes its place
	// back), 1 to 128 letters, digits, '.', '_' or '-'. It is memberlist's
	// node name.
	NodeID string

	// BindAddr (bind_addr) is the IP and port to listen on, TCP and UDP,
	// e.g. "0.0.0.0:7946". Port 0 picks a free port (tests).
	BindAddr string

	// AdvertiseAddr (advertise_addr) is the host[:port] other nodes reach
	// this one at. Empty means: the bind IP when it is a specific address,
	// else the first private IPv4 address of the host's interfaces, else its
	// first other non-loopback address, else 127.0.0.1. A host name is
	// resolved at start. The port defaults to the bound port.
	AdvertiseAddr string

	// SeedNodes (seed_nodes) are host[:port] gossip addresses joined at
	// start and rejoined every RejoinInterval while they are not alive
	// members (after a partition heals, after they restart). The node's own
	// address may be listed; it is skipped. Port defaults to [DefaultPort].
	SeedNodes []string

	// GossipInterval (gossip_interval_ms) is how often membership news is
	// sent to a few random members, beyond what rides on probes.
	GossipInterval time.Duration

	// ProbeInterval (probe_interval_ms) is how often memberlist probes one
	// random member, and how often this package checks members it has not
	// heard from (see [Timings]).
	ProbeInterval time.Duration

	// ProbeTimeout (probe_timeout_ms) is how long a probe waits for an ack
	// before asking other members to probe indirectly. It must be shorter
	// than ProbeInterval; set it to the 99th percentile round trip.
	ProbeTimeout time.Duration

	// SuspicionTimeout (suspicion_timeout_ms) is how long a suspect member
	// has to refute the suspicion before it is declared dead, when enough
	// other members confirm the suspicion (and always in small clusters;
	// see [Timings] for the upper bound). Rounded up to a whole number of
	// probe intervals; must exceed ProbeTimeout.
	SuspicionTimeout time.Duration

	// DeadTimeout (dead_timeout_ms) is how long a dead or left member is
	// remembered, listed and still gossiped to (so that it can refute if it
	// comes back) before it is forgotten. Must exceed SuspicionTimeout.
	DeadTimeout time.Duration

	// PushPullInterval (push_pull_interval_ms) is how often the node
	// exchanges its full membership state with a random member over TCP:
	// the anti-entropy that repairs missed gossip.
	PushPullInterval time.Duration

	// RejoinInterval (rejoin_interval_ms) is how often seeds that are not
	// alive members, and members recently declared dead, are joined again.
	// Zero disables rejoining.
	RejoinInterval time.Duration

	// Compression (compression) compresses gossip messages.
	Compression bool

	// EncryptionKey (encryption_key) is the base64 encoding of a 16, 24 or
	// 32 byte AES key (AES-128/192/256-GCM) shared by every node. Empty
	// means gossip in clear text, which only a trusted network allows.
	// Generate one with [GenerateKey].
	EncryptionKey string

	// SecondaryKeys (secondary_encryption_keys) are further keys accepted
	// for decryption but not used to encrypt: the middle step of a key
	// rotation (see the package documentation).
	SecondaryKeys []string

	// Label (label) is written on every gossip packet and stream and
	// checked on receipt (and authenticated when encryption is on): nodes
	// with different labels never merge, even when their seeds point at
	// each other. At most 255 bytes.
	Label string
}

// DefaultConfig returns the defaults: bind 0.0.0.0:7946, memberlist's LAN
// timings (probe every second with a 500 ms timeout, 4 s suspicion,
// gossip every 200 ms), 30 s dead retention and push/pull, seeds rejoined
// every 15 s, compression on, label "badbatch", the host name as node id,
// and no encryption key.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if !nodeIDRE.MatchString(host) {
		host = ""
	}
	return Config{
		NodeID:           host,
		BindAddr:         net.JoinHostPort("0.0.0.0", strconv.Itoa(DefaultPort)),
		GossipInterval:   200 * time.Millisecond,
		ProbeInterval:    time.Second,
		ProbeTimeout:     500 * time.Millisecond,
		SuspicionTimeout: 4 * time.Second,
		DeadTimeout:      30 * time.Second,
		PushPullInterval: 30 * time.Second,
		RejoinInterval:   15 * time.Second,
		Compression:      true,
		Label:            DefaultLabel,
	}
}

// LoopbackConfig returns a configuration for a node on 127.0.0.1 with a
// free port (bind port 0), timings for a loopback network where a round
// trip is well under a millisecond (probes every 200 ms with a 100 ms
// timeout, 1 s suspicion, gossip every 50 ms, push/pull every second, seeds
// rejoined every 500 ms, dead members kept 20 s) and the label
// "badbatch-loopback". It is memberlist's DefaultLocalConfig for BadBatch:
// what tests and single-machine clusters use. Set EncryptionKey as needed.
// With the suspicion at five probe intervals, memberlist expects no
// confirmations in clusters of up to 5 nodes, so a silent node is declared
// dead about 1 s after it is first suspected.
func LoopbackConfig(id string) Config {
	c := DefaultConfig()
	c.NodeID = id
	c.BindAddr = "127.0.0.1:0"
	c.GossipInterval = 50 * time.Millisecond
	c.ProbeInterval = 200 * time.Millisecond
	c.ProbeTimeout = 100 * time.Millisecond
	c.SuspicionTimeout = time.Second
	c.DeadTimeout = 20 * time.Second
	c.PushPullInterval = time.Second
	c.RejoinInterval = 500 * time.Millisecond
	c.Label = "badbatch-loopback"
	return c
}

var nodeIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// Validate returns every problem with c at once, joined with
// [ErrInvalidConfig], or nil. Each problem is a [*ConfigError] naming the
// configuration key.
func (c Config) Validate() error {
	var errs configErrors
	if !nodeIDRE.MatchString(c.NodeID) {
		errs.add("node_id", c.NodeID, "must be 1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit")
	}
	if _, _, err := parseBindAddr(c.BindAddr); err != nil {
		errs.add("bind_addr", c.BindAddr, err.Error())
	}
	if c.AdvertiseAddr != "" {
		host, _, err := splitHostPortDefault(c.AdvertiseAddr, 0)
		switch {
		case err != nil:
			errs.add("advertise_addr", c.AdvertiseAddr, err.Error())
		case net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified():
			errs.add("advertise_addr", c.AdvertiseAddr, "must be an address other nodes can reach, not an unspecified one")
		}
	}
	for i, s := range c.SeedNodes {
		if _, _, err := splitHostPortDefault(s, DefaultPort); err != nil {
			errs.add(fmt.Sprintf("seed_nodes[%d]", i), s, err.Error())
		}
	}
	positive := func(field string, d time.Duration) bool {
		if d <= 0 {
			errs.add(field, d.Milliseconds(), "must be positive")
			return false
		}
		return true
	}
	positive("gossip_interval_ms", c.GossipInterval)
	pi := positive("probe_interval_ms", c.ProbeInterval)
	pt := positive("probe_timeout_ms", c.ProbeTimeout)
	if pi && pt && c.ProbeTimeout >= c.ProbeInterval {
		errs.add("probe_timeout_ms", c.ProbeTimeout.Milliseconds(), "must be less than probe_interval_ms")
	}
	if positive("suspicion_timeout_ms", c.SuspicionTimeout) && pt && c.SuspicionTimeout <= c.ProbeTimeout {
		errs.add("suspicion_timeout_ms", c.SuspicionTimeout.Milliseconds(), "must be greater than probe_timeout_ms")
	}
	if positive("dead_timeout_ms", c.DeadTimeout) && c.DeadTimeout <= c.SuspicionTimeout {
		errs.add("dead_timeout_ms", c.DeadTimeout.Milliseconds(), "must be greater than suspicion_timeout_ms")
	}
	positive("push_pull_interval_ms", c.PushPullInterval)
	if c.RejoinInterval < 0 {
		errs.add("rejoin_interval_ms", c.RejoinInterval.Milliseconds(), "must not be negative (0 disables rejoining)")
	}
	if c.EncryptionKey != "" {
		if _, err := decodeKey(c.EncryptionKey); err != nil {
			errs.add("encryption_key", "(redacted)", err.Error())
		}
	}
	for i, k := range c.SecondaryKeys {
		if _, err := decodeKey(k); err != nil {
			errs.add(fmt.Sprintf("secondary_encryption_keys[%d]", i), "(redacted)", err.Error())
		}
	}
	if len(c.SecondaryKeys) > 0 && c.EncryptionKey == "" {
		errs.add("secondary_encryption_keys", len(c.SecondaryKeys), "need an encryption_key: secondary keys only decrypt")
	}
	if len(c.Label) > memberlist.LabelMaxSize {
		errs.add("label", c.Label, fmt.Sprintf("must be at most %d bytes", memberlist.LabelMaxSize))
	}
	return errs.err()
}

// Timings are the failure detector's figures as they follow from a
// [Config] for a cluster of a given size. Memberlist does the probing and
// declares members dead; this package adds the "suspect" view (see the
// package documentation, "Member states").
type Timings struct {
	// SuspectAfter bounds the time from a member going silent to this node
	// showing it suspect: a member not heard from for CheckAfter is pinged
	// (checks run every half probe interval) and is suspect when the ping
	// goes unanswered for ProbeTimeout.
	SuspectAfter time.Duration
	// CheckAfter is how long a member may stay silent (no probe ack from
	// memberlist, no answered check) before this node pings it itself.
	CheckAfter time.Duration
	// SuspicionTimeout is memberlist's suspicion timeout: the shortest time
	// a suspect member has to refute before it is declared dead. It is the
	// configured one rounded up to whole probe intervals, scaled by
	// log10(members) above 10 members.
	SuspicionTimeout time.Duration
	// SuspicionMaxTimeout is the longest: memberlist starts a suspicion
	// there and shortens it towards SuspicionTimeout with each independent
	// confirmation by another member. In clusters too small to expect the
	// confirmations it starts at SuspicionTimeout, and this equals it.
	SuspicionMaxTimeout time.Duration
	// DeadAfter bounds the time from a member going silent to this node
	// showing it dead when the cluster is healthy: until some member's
	// probe of it fails (each member probes every member at least once per
	// two rounds of members-1 probes), plus SuspicionMaxTimeout, plus a few
	// gossip intervals to hear the news. A node that is itself struggling
	// stretches its probe interval up to 8 times (its health score).
	DeadAfter time.Duration
	// ForgetAfter is how long a dead or left member stays listed: the
	// configured dead timeout.
	ForgetAfter time.Duration
}

// suspicionMaxMult is memberlist's SuspicionMaxTimeoutMult, kept at its
// default.
const suspicionMaxMult = 6

// suspicionMult is the memberlist SuspicionMult the config asks for: the
// suspicion timeout in whole probe intervals, at least 1.
func (c Config) suspicionMult() int {
	if c.ProbeInterval <= 0 {
		return 1
	}
	m := int((c.SuspicionTimeout + c.ProbeInterval - 1) / c.ProbeInterval)
	return max(m, 1)
}

// checkAfter is how long a member may stay silent before this node checks
// it with a ping of its own.
func (c Config) checkAfter() time.Duration { return c.ProbeInterval + c.ProbeTimeout }

// checkInterval is how often silent members are looked for.
func (c Config) checkInterval() time.Duration { return max(c.ProbeInterval/2, time.Millisecond) }

// Timings returns the failure detector's figures for a cluster of members
// nodes (at least 2), as memberlist computes them.
func (c Config) Timings(members int) Timings {
	n := max(members, 2)
	mult := c.suspicionMult()
	scale := math.Max(1, math.Log10(float64(n)))
	minT := time.Duration(float64(mult) * scale * float64(c.ProbeInterval))
	// memberlist expects mult-2 confirmations, and none when fewer than
	// that many other members could give them.
	k := mult - 2
	if n-2 < k {
		k = 0
	}
	maxT := minT
	if k > 0 {
		maxT = suspicionMaxMult * minT
	}
	firstFailure := time.Duration(2*(n-1)+1) * c.ProbeInterval
	return Timings{
		CheckAfter:          c.checkAfter(),
		SuspectAfter:        c.checkAfter() + c.checkInterval() + c.ProbeTimeout,
		SuspicionTimeout:    minT,
		SuspicionMaxTimeout: maxT,
		DeadAfter:           firstFailure + maxT + 3*c.GossipInterval,
		ForgetAfter:         c.DeadTimeout,
	}
}

// tcpTimeout bounds memberlist's stream operations (join, push/pull, TCP
// fallback pings): ten probe timeouts, from 1 s to 10 s.
func (c Config) tcpTimeout() time.Duration {
	return min(max(10*c.ProbeTimeout, time.Second), 10*time.Second)
}

// keys decodes the primary key (first) and the secondary ones; nil when
// encryption is off. The config must be valid.
func (c Config) keys() ([][]byte, error) {
	if c.EncryptionKey == "" {
		return nil, nil
	}
	var out [][]byte
	for _, s := range append([]string{c.EncryptionKey}, c.SecondaryKeys...) {
		k, err := decodeKey(s)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

// decodeKey decodes a base64 gossip key and checks its length.
func decodeKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("must be base64 (standard encoding): %v", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("must decode to 16, 24 or 32 bytes, not %d", len(k))
}

// parseBindAddr splits a bind address into an IP (0.0.0.0 when empty) and
// a port.
func parseBindAddr(s string) (string, int, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, fmt.Errorf("must be ip:port: %v", err)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host must be an IP address")
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", 0, fmt.Errorf("port must be from 0 to 65535")
	}
	return host, p, nil
}

// splitHostPortDefault splits host[:port], with def as the port when there
// is none (0: none required).
func splitHostPortDefault(s string, def int) (string, int, error) {
	if s == "" {
		return "", 0, fmt.Errorf("must not be empty")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a bare host name or IP (IPv6 possibly bracketed).
		host, port = s, ""
		if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
			host = host[1 : len(host)-1]
		}
	}
	if host == "" {
		return "", 0, fmt.Errorf("must name a host")
	}
	p := def
	if port != "" {
		p, err = strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return "", 0, fmt.Errorf("port must be from 1 to 65535")
		}
	}
	return host, p, nil
}
