package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/badbatch/badbatch/api"
	"github.com/badbatch/badbatch/cluster"
	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/internal/version"
)

// member is a clustered server's membership: its node and the forwarder
// of requests for disruptors hosted elsewhere.
type member struct {
	node *cluster.Node
	fwd  *cluster.Forwarder
	log  *slog.Logger
	// changed is poked (cap 1) at every member state change, to wake the
	// autopilot.
	changed chan struct{}
}

// joinCluster starts the cluster node of a server in cluster mode and
// puts it, with its forwarder, in acfg; it returns nil otherwise. The node
// advertises the API served on apiAddr (with the gossip host when apiAddr
// is a wildcard address), and its metrics go to acfg.Registry.
func joinCluster(ctx context.Context, cfg config.Config, acfg *api.Config, apiAddr net.Addr) (*member, error) {
	if !cfg.Server.ClusterMode {
		return nil, nil
	}
	scheme := "http"
	if acfg.TLS.CertFile != "" {
		scheme = "https"
	}
	advertised := apiAddr.String()
	host, port, err := net.SplitHostPort(advertised)
	if err != nil {
		return nil, err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		advertised = "" // set once the gossip host is known
	}
	changed := make(chan struct{}, 1)
	node, err := cluster.New(cfg.Cluster.ClusterConfig(),
		cluster.WithAPI(scheme, advertised), cluster.WithVersion(version.Get().Version),
		cluster.WithLogger(acfg.Logger), cluster.WithRegisterer(acfg.Registry),
		cluster.WithObserver(func(cluster.MemberEvent) {
			select {
			case changed <- struct{}{}:
			default:
			}
		}))
	if err != nil {
		return nil, invalid(err)
	}
	if err := node.Start(ctx); err != nil {
		_ = node.Shutdown()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	if advertised == "" {
		gossipHost, _, _ := net.SplitHostPort(node.Addr())
		if err := node.SetAPI(scheme, net.JoinHostPort(gossipHost, port)); err != nil {
			_ = node.Shutdown()
			return nil, err
		}
	}
	fcfg := cluster.DefaultForwardConfig()
	fcfg.ErrorHandler = api.ForwardErrorHandler
	if fcfg.TLSClientConfig, err = cfg.Cluster.Forward.TLSConfig(); err != nil {
		_ = node.Shutdown()
		return nil, invalid(err)
	}
	if t := acfg.TLS; t.ClientCAFile != "" && !t.ClientCertOptional && cfg.Cluster.Forward.TLS.CertFile == "" {
		acfg.Logger.Warn("cluster: this node requires client certificates (security.tls.client_ca_file) but has none to forward with " +
			"(cluster.forward.tls.cert_file): forwards to members configured like it will fail their TLS handshake")
	}
	if tp := acfg.TracerProvider; tp != nil {
		fcfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
			return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tp))
		}
	}
	fwd, err := cluster.NewForwarder(node, fcfg, cluster.WithLogger(acfg.Logger), cluster.WithRegisterer(acfg.Registry))
	if err != nil {
		_ = node.Shutdown()
		return nil, err
	}
	acfg.ClusterNode, acfg.ClusterForwarder = node, fwd
	acfg.Logger.Info("cluster: API advertised", "node_id", node.ID(), "gossip_addr", node.Addr(), "api", node.Meta().APIAddr,
		"members", len(node.Members()))
	return &member{node: node, fwd: fwd, log: acfg.Logger, changed: changed}, nil
}

// leave leaves the cluster gracefully, so that members show this node
// "left" rather than "dead", within timeout (0: the default); a nil
// member does nothing. An error says the news may reach some members
// through the failure detector instead; the node is shut down anyway.
func (m *member) leave(timeout time.Duration) error {
	if m == nil {
		return nil
	}
	if err := m.node.Leave(timeout); err != nil {
		m.log.Warn("cluster: leaving", "err", err)
		return err
	}
	m.log.Info("cluster: left")
	return nil
}

// leaveCluster is the server's graceful leave, for a shutdown and for
// POST /api/v1/cluster/leave alike: a Raft leader first hands its
// leadership over (so the group does not wait for an election, and the
// new leader drops this node from the voters as soon as it sees it
// leave), then the node leaves the gossip cluster.
func leaveCluster(m *member, repl *replicator, timeout time.Duration) error {
	terr := repl.transferLeadership(5 * time.Second)
	return errors.Join(terr, m.leave(timeout))
}

// apiMember is the cluster node as the API server sees it: its leave
// (POST /api/v1/cluster/leave) is the server's [leaveCluster].
type apiMember struct {
	*cluster.Node
	m    *member
	repl *replicator
}

func (a apiMember) Leave(timeout time.Duration) error { return leaveCluster(a.m, a.repl, timeout) }

// close stops the node (after leave, or on a failed start) and the
// forwarder; a nil member does nothing.
func (m *member) close() {
	if m == nil {
		return
	}
	m.fwd.Close()
	_ = m.node.Shutdown()
}
