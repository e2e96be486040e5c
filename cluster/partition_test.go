package cluster

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"

	"github.com/badbatch/badbatch/internal/clustertest"
)

// network lets a test cut links between nodes: every node's transport
// drops the packets, and refuses the streams, it would send over a cut
// link. Cutting both directions makes a partition.
type network struct {
	mu  sync.Mutex
	cut map[[2]string]bool // {from, to} gossip addresses
}

func (nw *network) isCut(from, to string) bool {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	return nw.cut[[2]string{from, to}]
}

// partition cuts every link between the two sides, or heals them.
func (nw *network) partition(a, b []testNode, cut bool) {
	nw.mu.Lock()
	defer nw.mu.Unlock()
	if nw.cut == nil {
		nw.cut = make(map[[2]string]bool)
	}
	for _, x := range a {
		for _, y := range b {
			nw.cut[[2]string{x.Addr(), y.Addr()}] = cut
			nw.cut[[2]string{y.Addr(), x.Addr()}] = cut
		}
	}
}

// option makes the node use a cuttable transport.
func (nw *network) option() Option {
	return func(o *options) {
		o.transport = func(ip string, port int) (memberlist.NodeAwareTransport, int, error) {
			nt, err := memberlist.NewNetTransport(&memberlist.NetTransportConfig{
				BindAddrs: []string{ip}, BindPort: port, Logger: memberlistLogger(discardLogger)})
			if err != nil {
				return nil, 0, err
			}
			port = nt.GetAutoBindPort()
			return &cuttable{NetTransport: nt, nw: nw, self: net.JoinHostPort(ip, strconv.Itoa(port))}, port, nil
		}
	}
}

type cuttable struct {
	*memberlist.NetTransport
	nw   *network
	self string
}

func (c *cuttable) WriteTo(b []byte, addr string) (time.Time, error) {
	if c.nw.isCut(c.self, addr) {
		return time.Now(), nil // lost on the way
	}
	return c.NetTransport.WriteTo(b, addr)
}

func (c *cuttable) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	return c.WriteTo(b, a.Addr)
}

func (c *cuttable) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	if c.nw.isCut(c.self, addr) {
		return nil, fmt.Errorf("dial %s: partitioned", addr)
	}
	return c.NetTransport.DialTimeout(addr, timeout)
}

func (c *cuttable) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	return c.DialTimeout(a.Addr, timeout)
}

// TestRejoinAfterPartition splits four nodes in two halves long enough for
// each half to declare the other dead and forget it, then heals the
// network: only the rejoin of seeds can bring the halves together again.
func TestRejoinAfterPartition(t *testing.T) {
	nw := &network{}
	var nodes []testNode
	var seeds []string
	for i := range 4 {
		cfg := testConfig(fmt.Sprintf("n%d", i+1))
		cfg.DeadTimeout = 2 * time.Second // forget the other half quickly
		n := startNode(t, cfg, seeds, nw.option())
		if i == 0 {
			seeds = []string{n.Addr()}
		}
		nodes = append(nodes, n)
	}
	waitConverged(t, nodes...)
	left, right := nodes[:2], nodes[2:]

	nw.partition(left, right, true)
	for _, a := range left {
		for _, b := range right {
			clustertest.WaitFor(t, 30*time.Second, a.ID()+" and "+b.ID()+" to forget each other", func() bool {
				_, ab := a.Member(b.ID())
				_, ba := b.Member(a.ID())
				return !ab && !ba
			})
		}
	}
	for _, half := range [][]testNode{left, right} {
		if h := half[0].Health(); h.Status != Healthy || h.Alive != 2 {
			t.Errorf("%s: each half is a healthy cluster of 2 once the other is forgotten: %+v", half[0].ID(), h)
		}
	}

	healed := time.Now()
	nw.partition(left, right, false)
	waitConverged(t, nodes...)
	t.Logf("the halves merged %v after the network healed (rejoin interval %v)",
		time.Since(healed).Round(time.Millisecond), nodes[0].Config().RejoinInterval)
}
