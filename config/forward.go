package config

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// Forward is cluster.forward: how this node reaches the other members'
// REST APIs when it forwards a request to them (a disruptor hosted
// elsewhere, a change of a quorum disruptor for the Raft leader).
type Forward struct {
	// TLS is the client side of forwarding to members that serve HTTPS.
	TLS ForwardTLS `koanf:"tls"`
}

// ForwardTLS is cluster.forward.tls: what a node trusts and presents when
// it forwards to a member over HTTPS. A member is dialled at the API
// address it advertises (usually an IP), so its certificate must name
// that address.
type ForwardTLS struct {
	// CAFile (PEM) holds the CAs that sign the members' API certificates,
	// the only ones trusted for forwarding; empty means the system roots
	// (members with publicly trusted certificates).
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile (PEM) are the client certificate presented to
	// members that require one (security.tls.client_ca_file); both or
	// neither. Its common name is matched by the members'
	// security.client_certs like any client's, but a forwarded request
	// carries the client's own credentials and is authorised by them.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
}

// TLSConfig loads cluster.forward.tls into the forwarder's client
// configuration: TLS 1.2 or later, the CA file as the only roots when
// set, the client certificate when set. It returns nil when no file is
// set (the system roots, no client certificate), and an error wrapping
// [ErrInvalid] naming the key of each file that is missing or does not
// load.
func (f Forward) TLSConfig() (*tls.Config, error) {
	var errs keyErrors
	tc := f.loadTLS(&errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return tc, nil
}

func (f Forward) loadTLS(errs *keyErrors) *tls.Config {
	t := f.TLS
	if t.CAFile == "" && t.CertFile == "" && t.KeyFile == "" {
		return nil
	}
	const p = "cluster.forward.tls."
	n := len(*errs)
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pool := x509.NewCertPool()
		if pem, err := os.ReadFile(t.CAFile); err != nil {
			errs.add(p+"ca_file", t.CAFile, "cannot be read: %v", err)
		} else if !pool.AppendCertsFromPEM(pem) {
			errs.add(p+"ca_file", t.CAFile, "holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	switch {
	case t.CertFile == "" && t.KeyFile == "":
	case t.CertFile == "":
		errs.add(p+"cert_file", nil, "must be set with key_file")
	case t.KeyFile == "":
		errs.add(p+"key_file", nil, "must be set with cert_file")
	default:
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			errs.add(p+"cert_file", t.CertFile, "cannot load the certificate and key (key_file %s): %v", t.KeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if len(*errs) > n {
		return nil
	}
	return tc
}
