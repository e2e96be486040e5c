package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
	"github.com/prometheus/client_golang/prometheus"
)

// Option configures a [Node] or a [Forwarder]: the rarely changed knobs
// and the injected observability. Options that do not concern the value
// being built are ignored.
type Option func(*options)

type options struct {
	logger   *slog.Logger
	reg      prometheus.Registerer
	observer func(MemberEvent)
	api      [2]string // scheme, addr
	version  string
	// transport, for tests, makes the memberlist transport bound to
	// ip:port and returns it with the port it bound.
	transport func(ip string, port int) (memberlist.NodeAwareTransport, int, error)
}

// WithLogger sends the node's and memberlist's logs to l. Nil (the
// default) means silent.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithRegisterer registers the node's (or forwarder's) Prometheus
// collector on r; it is unregistered by [Node.Shutdown] (or
// [Forwarder.Close]). Nil (the default) means no metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(o *options) { o.reg = r } }

// WithObserver has f called with every change of a member's state, in
// order, from one goroutine of the node's. It must not block for long and
// must not call [Node.Leave] or [Node.Shutdown]; reading the node is fine.
// Replication uses it to follow membership.
func WithObserver(f func(MemberEvent)) Option { return func(o *options) { o.observer = f } }

// WithAPI sets the REST API address (host:port) and scheme ("http" or
// "https") the node advertises; see also [Node.SetAPI].
func WithAPI(scheme, addr string) Option {
	return func(o *options) { o.api = [2]string{scheme, addr} }
}

// WithVersion sets the software version the node advertises.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// DefaultLeaveTimeout is the time [Node.Leave] takes at most when given
// none.
const DefaultLeaveTimeout = 5 * time.Second

// maxChecks bounds the check pings started per check interval.
const maxChecks = 4

// Node is this process's membership in the cluster: a memberlist instance
// plus the bookkeeping that gives every member a state with timestamps,
// the metadata the node gossips, and the loops that check silent members
// and rejoin seeds.
//
// Create it with [New], then [Node.Start]; stop it with [Node.Leave]
// (graceful: others see "left") or [Node.Shutdown] (others see "dead").
// All methods are safe for concurrent use. A Node must not be copied.
type Node struct {
	cfg      Config
	seeds    []string // host:port
	log      *slog.Logger
	reg      prometheus.Registerer
	observer func(MemberEvent)
	table    *table
	metrics  *nodeCollector
	newTrans func(ip string, port int) (memberlist.NodeAwareTransport, int, error)

	// metaMu serialises metadata changes; meta is the current value and
	// metaBytes its encoding, which memberlist reads without the lock.
	metaMu    sync.Mutex
	meta      Meta
	metaBytes atomic.Pointer[[]byte]
	metaDirty chan struct{} // cap 1: the metadata needs re-advertising
	// updateMu serialises memberlist.UpdateNode calls with the leave: a
	// second update, or the leave, would replace a queued update before
	// it is sent, and the members would not learn the node is leaving.
	updateMu sync.Mutex

	events eventQueue

	// ml and keys are set once by Start and read without a lock.
	ml   atomic.Pointer[memberlist.Memberlist]
	keys atomic.Pointer[memberlist.Keyring]

	// mu guards the lifecycle: Start, Join's goroutine accounting, Leave
	// and Shutdown (which hold it while memberlist leaves and stops).
	mu      sync.Mutex
	started bool
	closed  bool
	stop    chan struct{} // closed by Shutdown
	wg      sync.WaitGroup

	// running is true from Start to Shutdown.
	running atomic.Bool

	// self is the bound and advertised address, set once by Start.
	self atomic.Pointer[selfAddr]
}

// selfAddr is where the node listens and what it advertises.
type selfAddr struct {
	bindIP    net.IP
	port      int    // the bound port
	advertise net.IP // the advertised IP
	addr      string // the advertised host:port
}

// New validates cfg and returns a node ready to [Node.Start]. It registers
// the node's metrics when [WithRegisterer] is given.
func New(cfg Config, opts ...Option) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	n := &Node{
		cfg:       cfg,
		log:       o.logger,
		reg:       o.reg,
		observer:  o.observer,
		newTrans:  o.transport,
		table:     newTable(cfg.NodeID),
		metaDirty: make(chan struct{}, 1),
		stop:      make(chan struct{}),
	}
	if n.log == nil {
		n.log = discardLogger
	}
	n.cfg.SeedNodes = slices.Clone(cfg.SeedNodes)
	n.cfg.SecondaryKeys = slices.Clone(cfg.SecondaryKeys)
	for _, s := range cfg.SeedNodes {
		host, port, _ := splitHostPortDefault(s, DefaultPort)
		n.seeds = append(n.seeds, net.JoinHostPort(host, strconv.Itoa(port)))
	}
	n.events.init()
	meta := Meta{APIScheme: o.api[0], APIAddr: o.api[1], Version: o.version, State: NodeReady}
	if err := n.editMeta(func(m *Meta) { *m = meta }); err != nil {
		return nil, err
	}
	if n.reg != nil {
		n.metrics = newNodeCollector(n)
		if err := n.reg.Register(n.metrics); err != nil {
			return nil, fmt.Errorf("cluster: registering metrics: %w", err)
		}
	}
	return n, nil
}

// ID returns the node id.
func (n *Node) ID() string { return n.cfg.NodeID }

// LocalID returns the node id; with [Node.Owners] it makes a Node the
// [Directory] of a [Forwarder].
func (n *Node) LocalID() string { return n.cfg.NodeID }

// Config returns a copy of the node's configuration.
func (n *Node) Config() Config {
	c := n.cfg
	c.SeedNodes = slices.Clone(c.SeedNodes)
	c.SecondaryKeys = slices.Clone(c.SecondaryKeys)
	return c
}

// Addr returns the gossip address other nodes reach this one at
// (host:port), once started; "" before.
func (n *Node) Addr() string {
	if self := n.self.Load(); self != nil {
		return self.addr
	}
	return ""
}

// Start binds the gossip port, announces the node and joins the seeds. It
// returns once the first join attempt is over or ctx is done; seeds that
// cannot be reached are not an error (the first node of a cluster has no
// one to join): they are logged and retried every RejoinInterval. Errors
// are for what cannot work at all: the address is taken, the advertise
// host does not resolve. ctx bounds only the start, not the node's life.
//
// Start fails with [ErrAlreadyStarted] when called twice and [ErrClosed]
// after [Node.Shutdown].
func (n *Node) Start(ctx context.Context) error {
	if err := n.start(ctx); err != nil {
		return err
	}
	if len(n.seeds) == 0 {
		return nil
	}
	k, err := n.Join(ctx, n.seeds...)
	switch {
	case err == nil && k > 0:
		n.log.Info("cluster: joined", slog.Int("seeds_reached", k), slog.Int("members", len(n.Members())))
	case err == nil:
		n.log.Info("cluster: no seed to join but this node; waiting for others")
	case errors.Is(err, ErrNoSeeds):
		n.log.Warn("cluster: no seed reachable yet; will retry", slog.Any("error", err))
	case ctx.Err() != nil:
		n.log.Warn("cluster: start interrupted while joining; the join goes on in the background", slog.Any("error", err))
	default:
		return err
	}
	return nil
}

// start creates the memberlist and the loops.
func (n *Node) start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closed:
		return ErrClosed
	case n.started:
		return ErrAlreadyStarted
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	bindIP, bindPort, _ := parseBindAddr(n.cfg.BindAddr)
	advIP, advPort, err := resolveAdvertise(ctx, n.cfg.AdvertiseAddr, bindIP, bindPort, net.InterfaceAddrs)
	if err != nil {
		return fmt.Errorf("cluster: advertise address: %w", err)
	}
	keys, err := n.cfg.keys()
	if err != nil {
		return err
	}
	mc := n.memberlistConfig(bindIP, bindPort, advIP, advPort)
	if n.newTrans != nil {
		t, port, err := n.newTrans(bindIP, bindPort)
		if err != nil {
			return fmt.Errorf("cluster: transport: %w", err)
		}
		mc.Transport, mc.BindPort = t, port
		if advPort == 0 {
			mc.AdvertisePort = port
		}
	}
	if len(keys) > 0 {
		kr, err := memberlist.NewKeyring(keys[1:], keys[0])
		if err != nil {
			return fmt.Errorf("cluster: keyring: %w", err)
		}
		mc.Keyring = kr
		n.keys.Store(kr)
	} else {
		n.log.Warn("cluster: gossip is not encrypted (no encryption_key); only use this on a trusted network")
	}
	if err := n.editMeta(func(m *Meta) { m.StartedAt = time.Now().Truncate(time.Millisecond) }); err != nil {
		return err
	}
	ml, err := memberlist.Create(mc)
	if err != nil {
		return fmt.Errorf("cluster: starting memberlist on %s: %w", n.cfg.BindAddr, err)
	}
	n.ml.Store(ml)
	n.started = true
	n.running.Store(true)
	// memberlist.Create filled in the ports when bindPort was 0. (Its
	// LocalNode is not safe to read concurrently, so the address is kept
	// here.)
	self := &selfAddr{bindIP: net.ParseIP(bindIP), port: mc.BindPort, advertise: advIP,
		addr: net.JoinHostPort(advIP.String(), strconv.Itoa(mc.AdvertisePort))}
	n.self.Store(self)
	n.log.Info("cluster: node started", slog.String("id", n.cfg.NodeID),
		slog.String("bind", net.JoinHostPort(bindIP, strconv.Itoa(mc.BindPort))),
		slog.String("advertise", self.addr),
		slog.Bool("encrypted", len(keys) > 0), slog.String("label", n.cfg.Label))

	n.wg.Add(3)
	go n.dispatch()
	go n.checkLoop(ml)
	go n.metaLoop(ml)
	if n.cfg.RejoinInterval > 0 {
		n.wg.Add(1)
		go n.rejoinLoop(ml)
	}
	return nil
}

// memberlistConfig maps the config onto memberlist's.
func (n *Node) memberlistConfig(bindIP string, bindPort int, advIP net.IP, advPort int) *memberlist.Config {
	c := n.cfg
	mc := memberlist.DefaultLANConfig()
	mc.Name = c.NodeID
	mc.BindAddr = bindIP
	mc.BindPort = bindPort
	mc.AdvertiseAddr = advIP.String()
	mc.AdvertisePort = advPort
	mc.GossipInterval = c.GossipInterval
	mc.ProbeInterval = c.ProbeInterval
	mc.ProbeTimeout = c.ProbeTimeout
	mc.SuspicionMult = c.suspicionMult()
	mc.SuspicionMaxTimeoutMult = suspicionMaxMult
	mc.GossipToTheDeadTime = c.DeadTimeout
	mc.PushPullInterval = c.PushPullInterval
	mc.TCPTimeout = c.tcpTimeout()
	mc.EnableCompression = c.Compression
	mc.Label = c.Label
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	// A node restarted with the same id on another address takes the name
	// over as soon as its old incarnation is dead (left ones always can).
	mc.DeadNodeReclaimTime = time.Nanosecond
	mc.Logger = memberlistLogger(n.log)
	h := hooks{n}
	mc.Delegate = h
	mc.Events = h
	mc.Ping = h
	mc.Conflict = h
	return mc
}

// Join contacts the given gossip addresses (host[:port]) and merges their
// view of the cluster, returning how many answered. Addresses of this node
// are skipped. When none answers it fails with a [*JoinError] wrapping
// [ErrNoSeeds]. If ctx ends first it returns ctx's error; the attempt goes
// on in the background.
//
// Join fails with [ErrNotStarted] before [Node.Start] and [ErrClosed]
// after [Node.Shutdown].
func (n *Node) Join(ctx context.Context, addrs ...string) (int, error) {
	var targets []string
	for _, a := range addrs {
		host, port, err := splitHostPortDefault(a, DefaultPort)
		if err != nil {
			return 0, fmt.Errorf("cluster: join %q: %w", a, err)
		}
		if !n.isSelf(ctx, host, port) {
			targets = append(targets, net.JoinHostPort(host, strconv.Itoa(port)))
		}
	}
	n.mu.Lock()
	ml := n.ml.Load()
	switch {
	case n.closed:
		n.mu.Unlock()
		return 0, ErrClosed
	case ml == nil:
		n.mu.Unlock()
		return 0, ErrNotStarted
	case len(targets) == 0:
		n.mu.Unlock()
		return 0, nil
	}
	n.wg.Add(1)
	n.mu.Unlock()

	type result struct {
		k   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer n.wg.Done()
		k, err := ml.Join(targets)
		done <- result{k, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return r.k, &JoinError{Addrs: targets, Err: flatten(r.err)}
		}
		return r.k, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// flatten turns memberlist's multierror (one line per address, with a
// header) into a plain join of its errors.
func flatten(err error) error {
	if me, ok := err.(interface{ WrappedErrors() []error }); ok {
		return errors.Join(me.WrappedErrors()...)
	}
	return err
}

// isSelf reports whether host:port is this node's gossip address.
func (n *Node) isSelf(ctx context.Context, host string, port int) bool {
	self := n.self.Load()
	if self == nil || port != self.port {
		return false
	}
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		ctx, cancel := context.WithTimeout(ctx, n.cfg.tcpTimeout())
		defer cancel()
		addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
		if err != nil {
			return false
		}
		ips = ips[:0]
		for _, a := range addrs {
			ips = append(ips, a.IP)
		}
	}
	unspecified := self.bindIP.IsUnspecified()
	var local []net.Addr
	if unspecified {
		local, _ = net.InterfaceAddrs()
	}
	for _, ip := range ips {
		if ip.Equal(self.advertise) || ip.Equal(self.bindIP) || (unspecified && ip.IsLoopback()) {
			return true
		}
		for _, a := range local {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
				return true
			}
		}
	}
	return false
}

// Leave leaves the cluster gracefully and stops the node: it announces
// [NodeLeaving] (so that no more requests are routed to it and members
// will show it "left"), waits up to half the timeout for that news to
// spread, has memberlist broadcast its leave, waiting up to the rest, then
// calls [Node.Shutdown]. Members see the node as left, not dead. It
// returns the problems it met (a timeout means the news may reach some
// members only through the failure detector, which shows it dead); the
// node is shut down in any case. Before Start, or after Shutdown, it only
// shuts down. A timeout of 0 or less means [DefaultLeaveTimeout].
func (n *Node) Leave(timeout time.Duration) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ml := n.ml.Load()
	if n.closed || ml == nil {
		return n.shutdownLocked()
	}
	if timeout <= 0 {
		timeout = DefaultLeaveTimeout
	}
	deadline := time.Now().Add(timeout)
	var errs []error
	n.updateMu.Lock()
	if err := n.SetNodeState(NodeLeaving); err != nil {
		errs = append(errs, err)
	}
	// Wait until the update has been gossiped as many times as memberlist
	// gossips anything (its retransmit limit), so that the members know
	// the node is leaving before its leave message arrives.
	if err := ml.UpdateNode(timeout / 2); err != nil {
		errs = append(errs, fmt.Errorf("cluster: announcing the leave: %w", err))
	}
	if err := ml.Leave(max(time.Until(deadline), time.Millisecond)); err != nil {
		errs = append(errs, fmt.Errorf("cluster: leaving: %w", err))
	}
	n.updateMu.Unlock()
	if err := n.shutdownLocked(); err != nil {
		errs = append(errs, err)
	}
	n.log.Info("cluster: left the cluster", slog.Any("problems", errors.Join(errs...)))
	return errors.Join(errs...)
}

// Shutdown stops the node at once, without telling the cluster: members
// detect it as failed (suspect, then dead). It waits for the node's
// goroutines and unregisters its metrics. It is safe to call more than
// once; later calls return nil.
func (n *Node) Shutdown() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.shutdownLocked()
}

func (n *Node) shutdownLocked() error {
	if n.closed {
		return nil
	}
	n.closed = true
	n.running.Store(false)
	var err error
	if n.started {
		close(n.stop)
		if e := n.ml.Load().Shutdown(); e != nil {
			err = fmt.Errorf("cluster: memberlist shutdown: %w", e)
		}
		n.wg.Wait()
	}
	if n.metrics != nil {
		n.reg.Unregister(n.metrics)
	}
	return err
}

// stopped reports whether Shutdown has begun.
func (n *Node) stopped() bool {
	select {
	case <-n.stop:
		return true
	default:
		return false
	}
}

// checkLoop pings members that have been silent for longer than the check
// threshold (see [Timings]) and forgets long-dead members.
func (n *Node) checkLoop(ml *memberlist.Memberlist) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.checkInterval())
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case now := <-t.C:
			for _, target := range n.table.due(now, n.cfg.checkAfter(), maxChecks) {
				n.wg.Add(1)
				go n.check(ml, target)
			}
			n.table.forget(now, n.cfg.DeadTimeout)
		}
	}
}

// check pings one member with memberlist's own ping.
func (n *Node) check(ml *memberlist.Memberlist, target checkTarget) {
	defer n.wg.Done()
	defer n.table.done(target.name)
	addr, err := net.ResolveUDPAddr("udp", target.addr)
	if err != nil || n.stopped() {
		return
	}
	sent := time.Now()
	rtt, err := ml.Ping(target.name, addr)
	if n.stopped() {
		return
	}
	if err == nil {
		n.emit(n.table.ack(target.name, rtt, time.Now()))
		return
	}
	n.emit(n.table.missed(target.name, sent, time.Now()))
}

// metaLoop re-advertises the local metadata after each change.
func (n *Node) metaLoop(ml *memberlist.Memberlist) {
	defer n.wg.Done()
	for {
		select {
		case <-n.stop:
			return
		case <-n.metaDirty:
			// The update is queued for gossip at once; waiting for it to
			// be sent is not needed here, so the wait is short and its
			// timeout is not an error.
			n.updateMu.Lock()
			if !n.stopped() {
				_ = ml.UpdateNode(n.cfg.GossipInterval)
			}
			n.updateMu.Unlock()
		}
	}
}

// rejoinLoop joins again, every RejoinInterval, the seeds that are not
// alive members and the members recently declared dead: after a partition
// heals, the two sides have declared each other dead and would otherwise
// only meet again by chance.
func (n *Node) rejoinLoop(ml *memberlist.Memberlist) {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.RejoinInterval)
	defer t.Stop()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			targets := n.rejoinTargets()
			if len(targets) == 0 {
				continue
			}
			k, err := ml.Join(targets)
			n.log.Debug("cluster: rejoin", slog.Any("targets", targets), slog.Int("reached", k), slog.Any("error", err))
		}
	}
}

// rejoinTargets lists the seeds not matching an alive or suspect member,
// and the dead members' addresses.
func (n *Node) rejoinTargets() []string {
	present := make(map[string]bool)
	for _, a := range n.table.addrsOf(StateAlive, StateSuspect) {
		present[a] = true
	}
	ctx, cancel := context.WithTimeout(context.Background(), n.cfg.tcpTimeout())
	defer cancel()
	var out []string
	for _, s := range n.seeds {
		host, p, _ := net.SplitHostPort(s)
		port, _ := strconv.Atoi(p)
		if present[s] || n.isSelf(ctx, host, port) {
			continue
		}
		if net.ParseIP(host) == nil {
			if addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host); err == nil &&
				slices.ContainsFunc(addrs, func(a net.IPAddr) bool { return present[net.JoinHostPort(a.IP.String(), p)] }) {
				continue
			}
		}
		out = append(out, s)
	}
	for _, a := range n.table.addrsOf(StateDead) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// resolveAdvertise picks the IP and port to advertise (see
// [Config.AdvertiseAddr]).
func resolveAdvertise(ctx context.Context, adv, bindIP string, bindPort int, ifAddrs func() ([]net.Addr, error)) (net.IP, int, error) {
	if adv != "" {
		host, port, err := splitHostPortDefault(adv, bindPort)
		if err != nil {
			return nil, 0, err
		}
		ip := net.ParseIP(host)
		if ip == nil {
			addrs, err := net.DefaultResolver.LookupIPAddr(ctx, host)
			if err != nil {
				return nil, 0, err
			}
			ips := make([]net.IP, len(addrs))
			for i, a := range addrs {
				ips[i] = a.IP
			}
			if ip = pickIP(ips); ip == nil {
				return nil, 0, fmt.Errorf("%s resolves to no usable address", host)
			}
		}
		return ip, port, nil
	}
	if ip := net.ParseIP(bindIP); !ip.IsUnspecified() {
		return ip, bindPort, nil
	}
	addrs, err := ifAddrs()
	if err != nil {
		return nil, 0, fmt.Errorf("listing interface addresses: %w", err)
	}
	var ips []net.IP
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			ips = append(ips, ipn.IP)
		}
	}
	ip := pickIP(ips)
	if ip == nil {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return ip, bindPort, nil
}

// pickIP prefers, in order: a private IPv4 address, another global unicast
// IPv4, a private IPv6 one, another global unicast IPv6, a loopback one.
func pickIP(ips []net.IP) net.IP {
	rank := func(ip net.IP) int {
		v4 := ip.To4() != nil
		switch {
		case ip.IsPrivate() && v4:
			return 0
		case ip.IsGlobalUnicast() && v4:
			return 1
		case ip.IsPrivate():
			return 2
		case ip.IsGlobalUnicast():
			return 3
		case ip.IsLoopback():
			return 4
		}
		return -1
	}
	var best net.IP
	bestRank := 99
	for _, ip := range ips {
		if r := rank(ip); r >= 0 && r < bestRank {
			best, bestRank = ip, r
		}
	}
	return best
}

// eventQueue hands member events to the observer in order without making
// memberlist's callbacks wait for it.
type eventQueue struct {
	mu     sync.Mutex
	events []MemberEvent
	ready  chan struct{} // cap 1
}

func (q *eventQueue) init() { q.ready = make(chan struct{}, 1) }

// emit queues events for the observer (and nothing when there is none).
func (n *Node) emit(evs []MemberEvent) {
	if len(evs) == 0 {
		return
	}
	for _, e := range evs {
		n.log.Debug("cluster: member state", slog.String("member", e.Member.ID),
			slog.String("from", e.From.String()), slog.String("to", e.Member.State.String()))
	}
	if n.observer == nil {
		return
	}
	q := &n.events
	q.mu.Lock()
	q.events = append(q.events, evs...)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// dispatch delivers queued events to the observer until Shutdown.
func (n *Node) dispatch() {
	defer n.wg.Done()
	q := &n.events
	for {
		select {
		case <-n.stop:
			return
		case <-q.ready:
		}
		q.mu.Lock()
		evs := q.events
		q.events = nil
		q.mu.Unlock()
		for _, e := range evs {
			n.observer(e)
		}
	}
}
