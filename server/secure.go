package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"github.com/badbatch/badbatch/config"
)

// Secure by default: the cluster's ports are refused off loopback without
// their protection. Gossip decides where clients' credentials go (a rogue
// member advertising disruptor names receives them through forwarding)
// and who gets the replicated log (a rogue member advertising a Raft
// address); an open Raft port lets anyone send AppendEntries with a higher
// term, which truncates the log, committed entries included.

// loopbackHost reports whether host (an IP or a name) is loopback only.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// hostOf returns the host of host[:port] (the whole string without a
// port).
func hostOf(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return strings.Trim(addr, "[]")
}

// gossipLoopback reports whether the gossip port is reachable from
// loopback only: its bind IP is a loopback one.
func gossipLoopback(c config.Cluster) bool { return loopbackHost(hostOf(c.BindAddr)) }

// raftBind returns the address the Raft transport binds and what it
// advertises, given the gossip address the cluster node advertises
// (gossipAddr, empty before it started): raft_bind_addr when set, else
// raft_advertise_addr (a host name binds what it resolves to), else the
// gossip advertise IP with port [config.DefaultRaftPort].
func raftBind(rc config.Replication, gossipAddr string) (bind, advertise string) {
	bind, advertise = rc.RaftBindAddr, rc.RaftAdvertiseAddr
	switch {
	case bind != "":
	case advertise != "":
		bind = advertise
	default:
		bind = net.JoinHostPort(hostOf(gossipAddr), strconv.Itoa(config.DefaultRaftPort))
	}
	return bind, advertise
}

// raftLoopback reports whether the Raft port is reachable from loopback
// only, before the cluster node has started: by the address it will bind,
// the gossip advertise address standing for the default one.
func raftLoopback(c config.Cluster) bool {
	rc := c.Replication
	switch {
	case rc.RaftBindAddr != "":
		return loopbackHost(hostOf(rc.RaftBindAddr))
	case rc.RaftAdvertiseAddr != "":
		return loopbackHost(hostOf(rc.RaftAdvertiseAddr))
	case c.AdvertiseAddr != "":
		return loopbackHost(hostOf(c.AdvertiseAddr))
	}
	return gossipLoopback(c) // the gossip advertise IP is then the bind IP, or another interface's
}

// checkClusterSecurity refuses, with an error naming the missing
// settings, a clustered configuration that leaves the gossip or the Raft
// port open off loopback without its protection, unless cluster.insecure
// says the network is trusted; then it logs a warning per open port.
func checkClusterSecurity(cfg config.Config, log *slog.Logger) error {
	if !cfg.Server.ClusterMode {
		return nil
	}
	c := cfg.Cluster
	var open []string
	var errs []error
	if c.EncryptionKey == "" && !gossipLoopback(c) {
		open = append(open, "gossip")
		errs = append(errs, fmt.Errorf("cluster.encryption_key: gossip on %s is reachable off loopback and needs a key: "+
			"anyone who reaches it could join the cluster and receive clients' credentials through forwarding; "+
			"set cluster.encryption_key (base64 of 32 random bytes: head -c 32 /dev/urandom | base64), "+
			"bind cluster.bind_addr to loopback, or on a trusted network set cluster.insecure (--insecure-cluster)", c.BindAddr))
	}
	if c.Replication.Enabled && !c.Replication.TLS.Enabled() && !raftLoopback(c) {
		where := c.Replication.RaftBindAddr
		if where == "" {
			where = "the advertised address"
		}
		open = append(open, "raft")
		errs = append(errs, fmt.Errorf("cluster.replication.tls: Raft on %s is reachable off loopback and needs mutual TLS: "+
			"anyone who reaches it could truncate or rewrite the replicated log; "+
			"set cluster.replication.tls.ca_file, cert_file and key_file, or on a trusted network set cluster.insecure (--insecure-cluster)", where))
	}
	if len(errs) == 0 {
		return nil
	}
	if !c.Insecure {
		return invalid(errors.Join(errs...))
	}
	for _, err := range errs {
		log.Warn("INSECURE CLUSTER (cluster.insecure): a cluster port is open off loopback without protection", "port", open[0], "problem", err.Error())
		open = open[1:]
	}
	return nil
}
