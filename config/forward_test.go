package config

import (
	"strings"
	"testing"

	"github.com/badbatch/badbatch/internal/testpki"
)

// TestForwardTLS: cluster.forward.tls loads the CA and the client
// certificate, and a file that is missing or alone is an error naming
// its key.
func TestForwardTLS(t *testing.T) {
	ca := testpki.New(t, "ca")
	c := ca.Peer(t, "n1", "127.0.0.1")
	if tc, err := (Forward{}).TLSConfig(); tc != nil || err != nil {
		t.Fatalf("no files: %v %v, want nil nil (the system roots)", tc, err)
	}
	tc, err := Forward{TLS: ForwardTLS{CAFile: ca.File, CertFile: c.CertFile, KeyFile: c.KeyFile}}.TLSConfig()
	if err != nil || tc.RootCAs == nil || len(tc.Certificates) != 1 {
		t.Fatalf("all files: %+v %v", tc, err)
	}
	for _, bad := range []struct {
		tls  ForwardTLS
		want string
	}{
		{ForwardTLS{CAFile: "/nonexistent/ca.pem"}, "cluster.forward.tls.ca_file"},
		{ForwardTLS{CAFile: c.KeyFile}, "cluster.forward.tls.ca_file: invalid value"},
		{ForwardTLS{CertFile: c.CertFile}, "cluster.forward.tls.key_file: must be set with cert_file"},
		{ForwardTLS{KeyFile: c.KeyFile}, "cluster.forward.tls.cert_file: must be set with key_file"},
		{ForwardTLS{CertFile: c.CertFile, KeyFile: ca.File}, "cluster.forward.tls.cert_file"},
	} {
		_, err := Forward{TLS: bad.tls}.TLSConfig()
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%+v: %v, want an error naming %s", bad.tls, err, bad.want)
		}
	}
	// Config.Validate reports them in cluster mode.
	cfg := Default()
	cfg.Server.ClusterMode = true
	cfg.Cluster.NodeID = "n1"
	cfg.Cluster.Forward.TLS.CAFile = "/nonexistent/ca.pem"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "cluster.forward.tls.ca_file") {
		t.Errorf("Validate: %v", err)
	}
}
