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
func newStreamLayer(bind, advertise string, tc *tls.Config) (*streamLayer, error) {
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, fmt.Errorf("replication: listening on %s: %w", bind, err)
	}
	s := &streamLayer{ln: ln, advertise: ln.Addr(), tls: tc, conns: make(map[*trackedConn]struct{})}
	if advertise != "" {
		addr, err := net.ResolveTCPAddr("tcp", advertise)
		if err != nil {
			_ = ln.Close()
			return nil, fmt.Errorf("replication: advertise address %s: %w", advertise, err)
		}
		s.advertise = addr
	}
	if a, ok := s.advertise.(*net.TCPAddr); !ok || a.IP == nil || a.IP.IsUnspecified() || a.Port == 0 {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: %s cannot be advertised: set raft_advertise_addr", ErrInvalidConfig, s.advertise)
	}
	return s, nil
}

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
