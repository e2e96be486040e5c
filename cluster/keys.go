package cluster

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// GenerateKey returns a new random 32-byte gossip key (AES-256-GCM),
// base64-encoded as [Config.EncryptionKey] wants it.
func GenerateKey() (string, error) {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return "", fmt.Errorf("cluster: generating a key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(k), nil
}

// KeyFingerprint returns a short, non-secret fingerprint of a base64 key
// (the first 8 bytes of its SHA-256, in hex), to compare keyrings across
// nodes without showing the keys.
func KeyFingerprint(key string) (string, error) {
	k, err := decodeKey(key)
	if err != nil {
		return "", fmt.Errorf("cluster: %w", err)
	}
	return fingerprint(k), nil
}

func fingerprint(k []byte) string {
	sum := sha256.Sum256(k)
	return hex.EncodeToString(sum[:8])
}

// keyring is what this package uses of memberlist's keyring.
type keyring interface {
	AddKey([]byte) error
	UseKey([]byte) error
	RemoveKey([]byte) error
	GetKeys() [][]byte
	GetPrimaryKey() []byte
}

// keyring returns the running memberlist's keyring, or an error when the
// node is not running or gossips in clear text.
func (n *Node) keyring() (keyring, error) {
	if !n.running.Load() {
		n.mu.Lock()
		closed := n.closed
		n.mu.Unlock()
		if closed {
			return nil, ErrClosed
		}
		return nil, ErrNotStarted
	}
	kr := n.keys.Load()
	if kr == nil {
		return nil, fmt.Errorf("cluster: gossip encryption is off (no encryption_key): keys cannot be changed at run time")
	}
	return kr, nil
}

// InstallKey adds a base64 key to this node's keyring, for decryption
// only: step 1 of a rotation (see the package documentation). It acts on
// this node alone; run it on every node.
func (n *Node) InstallKey(key string) error {
	return n.withKey(key, keyring.AddKey)
}

// UseKey makes an installed key the one this node encrypts with: step 2 of
// a rotation, once every node has installed it.
func (n *Node) UseKey(key string) error {
	return n.withKey(key, keyring.UseKey)
}

// RemoveKey removes a key from this node's keyring: step 3 of a rotation,
// once every node uses the new key. The primary key cannot be removed.
func (n *Node) RemoveKey(key string) error {
	return n.withKey(key, keyring.RemoveKey)
}

// withKey decodes key and applies op to this node's keyring with it.
func (n *Node) withKey(key string, op func(keyring, []byte) error) error {
	kr, err := n.keyring()
	if err != nil {
		return err
	}
	k, err := decodeKey(key)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	return op(kr, k)
}

// KeyFingerprints returns the fingerprints (see [KeyFingerprint]) of this
// node's keys, the primary one first; none when encryption is off.
func (n *Node) KeyFingerprints() []string {
	kr := n.keys.Load()
	if kr == nil {
		return nil
	}
	primary := kr.GetPrimaryKey()
	out := []string{fingerprint(primary)}
	for _, k := range kr.GetKeys() {
		if f := fingerprint(k); f != out[0] {
			out = append(out, f)
		}
	}
	return out
}
