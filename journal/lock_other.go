//go:build !unix

package journal

// lockFile is a no-op where flock does not exist: the data directory is
// not protected against a second process there.
func lockFile(File, string) error { return nil }
