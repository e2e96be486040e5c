package server

import (
	"crypto/tls"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/badbatch/badbatch/config"
	"github.com/badbatch/badbatch/internal/clustertest"
	"github.com/badbatch/badbatch/internal/testpki"
)

// TestForwardOverTLS: two clustered servers serving HTTPS with
// certificates of a private CA, requiring client certificates, forward
// to each other with cluster.forward.tls (the CA and a client
// certificate). Without it the forward fails its handshake (502
// PEER_UNAVAILABLE), which is what every clustered HTTPS server did
// before the key existed.
func TestForwardOverTLS(t *testing.T) {
	ca := testpki.New(t, "cluster CA")
	tlsNode := func(id string, forward bool, seeds ...string) *Server {
		c := ca.Peer(t, id, "127.0.0.1")
		cfg := clusterConfig(id, seeds...)
		cfg.Security.TLS = config.TLS{CertFile: c.CertFile, KeyFile: c.KeyFile, ClientCAFile: ca.File}
		if forward {
			cfg.Cluster.Forward.TLS = config.ForwardTLS{CAFile: ca.File, CertFile: c.CertFile, KeyFile: c.KeyFile}
		}
		return startServer(t, cfg)
	}
	admin := ca.Client(t, "admin")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{admin.TLS}}}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	for _, forward := range []bool{true, false} {
		name := map[bool]string{true: "with", false: "without"}[forward]
		t.Run(name+" cluster.forward.tls", func(t *testing.T) {
			n1 := tlsNode("n1-"+name, forward)
			n2 := tlsNode("n2-"+name, forward, n1.gossipAddr())
			waitConverged(t, n1, n2)
			url1, url2 := "https://"+n1.Addr().String(), "https://"+n2.Addr().String()
			if st, body := do(t, c, "POST", url1+"/api/v1/disruptors", `{"name":"orders"}`); st != 201 {
				t.Fatalf("create on n1: %d %s", st, body)
			}
			clustertest.WaitFor(t, 20*time.Second, "n2 to learn that n1 hosts orders", func() bool {
				m, ok := n2.member.node.Member(n1.member.node.ID())
				return ok && m.Hosts("orders") && m.APIScheme == "https"
			})
			st, body := do(t, c, "GET", url2+"/api/v1/disruptors/orders", "")
			switch {
			case forward && (st != 200 || !strings.Contains(body, `"orders"`)):
				t.Fatalf("GET through n2: %d %s, want n1's 200", st, body)
			case !forward && (st != 502 || !strings.Contains(body, "PEER_UNAVAILABLE")):
				t.Fatalf("GET through n2 without a client configuration: %d %s, want 502 PEER_UNAVAILABLE", st, body)
			}
		})
	}
}
