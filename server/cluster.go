package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"

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
	node, err := cluster.New(cfg.Cluster.ClusterConfig(),
		cluster.WithAPI(scheme, advertised), cluster.WithVersion(version.Get().Version),
		cluster.WithLogger(acfg.Logger), cluster.WithRegisterer(acfg.Registry))
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
	return &member{node: node, fwd: fwd, log: acfg.Logger}, nil
}

// leave leaves the cluster gracefully, so that members show this node
// "left" rather than "dead"; a nil member does nothing.
func (m *member) leave() error {
	if m == nil {
		return nil
	}
	if err := m.node.Leave(cluster.DefaultLeaveTimeout); err != nil {
		m.log.Warn("cluster: leaving", "err", err)
		return nil // the node is shut down; members learn it from the failure detector
	}
	m.log.Info("cluster: left")
	return nil
}

// close stops the node (after leave, or on a failed start) and the
// forwarder; a nil member does nothing.
func (m *member) close() {
	if m == nil {
		return
	}
	m.fwd.Close()
	_ = m.node.Shutdown()
}
