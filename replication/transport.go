package replication

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// streamLayer is raft's TCP stream layer, with TLS when configured: the
// listener serves TLS with the config, and dials are TLS clients with it
// (so with client certificates and ClientAuth set, both ends verify each
// other: mutual TLS).
//
// It keeps every connection it accepted or dialled and closes them all
// when it is closed. Raft's network transport closes only its listener on
// shutdown, leaving pooled connections open and the handlers of accepted
// ones blocked reading until the peer hangs up; a node that stops must
// drop its connections as a dead process would.
type streamLayer struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

var _ raft.StreamLayer = (*streamLayer)(nil)

// newStreamLayer listens on bind and advertises advertise (or the
// listener's address when it is empty).
//
// The advertised address is kept as given, a host name included, and
// never resolved here: it is what goes into the Raft configuration and
// what peers dial, each dial resolving it again. A node whose name moves
// to another IP (a rescheduled pod behind a stable DNS name) stays
// reachable at the address the configuration holds.
func newStreamLayer(bind, advertise string, tc *tls.Config) (*streamLayer, error) {
	var adv net.Addr
	if advertise != "" {
		host, port, err := net.SplitHostPort(advertise)
		if err != nil {
			return nil, fmt.Errorf("%w: raft_advertise_addr %s: %v", ErrInvalidConfig, advertise, err)
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) || port == "0" {
			return nil, fmt.Errorf("%w: raft_advertise_addr %s cannot be dialled: name a host or IP and a port", ErrInvalidConfig, advertise)
		}
		adv = hostPort(advertise)
	}
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("replication: listening on %s: %w", bind, err)
	}
	if adv == nil {
		if a, ok := ln.Addr().(*net.TCPAddr); !ok || a.IP.IsUnspecified() {
			_ = ln.Close()
			return nil, fmt.Errorf("%w: %s cannot be advertised: set raft_advertise_addr", ErrInvalidConfig, ln.Addr())
		}
		adv = ln.Addr()
	}
	return &streamLayer{ln: ln, advertise: adv, tls: tc, conns: make(map[*trackedConn]struct{})}, nil
}

// hostPort is an advertised TCP address as given: host (a name or an IP)
// and port, unresolved.
type hostPort string

func (a hostPort) Network() string { return "tcp" }
func (a hostPort) String() string  { return string(a) }

// Accept implements [net.Listener].
func (s *streamLayer) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	if s.tls != nil {
		c = tls.Server(c, s.tls)
	}
	return s.track(c)
}

// Close closes the listener and every connection.
func (s *streamLayer) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closed = true
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
	return err
}

// Addr is the advertised address.
func (s *streamLayer) Addr() net.Addr { return s.advertise }

// Dial implements [raft.StreamLayer].
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	d := &net.Dialer{Timeout: timeout}
	var c net.Conn
	var err error
	if s.tls == nil {
		c, err = d.Dial("tcp", string(address))
	} else {
		c, err = tls.DialWithDialer(d, "tcp", string(address), s.tls)
	}
	if err != nil {
		return nil, err
	}
	return s.track(c)
}

func (s *streamLayer) track(c net.Conn) (net.Conn, error) {
	tc := &trackedConn{Conn: c, s: s}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	s.conns[tc] = struct{}{}
	return tc, nil
}

// trackedConn is a connection the stream layer will close on shutdown.
type trackedConn struct {
	net.Conn
	s *streamLayer
}

func (c *trackedConn) Close() error {
	c.s.mu.Lock()
	delete(c.s.conns, c)
	c.s.mu.Unlock()
	return c.Conn.Close()
}
